/**
 * RouterOS components (routeros/components.ts) under Pulumi runtime mocks: what they register, parents,
 * ordering, options, and that secrets never reach a command string.
 */
import { strict as assert } from "node:assert";
import * as pulumi from "@pulumi/pulumi";
import type { RouterOsHostModel } from "../../config/model";
import { RouterOsContainer, RouterOsHost, RouterOsSchedule } from "../../routeros/components";

const SECRET = "TOP-SECRET-123";
const KEY = "KEY-SECRET-456";
/** Pulumi's wire marker of a secret value (`{ [SIG]: SECRET_SIG, value }`). */
const SIG = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
const COMMAND = "pulumi-nodejs:dynamic/routeros:Command";

interface Registration {
  type: string;
  name: string;
  parent: string;
  deps: string[];
  deleteBeforeReplace: boolean;
  /** The serialized inputs as sent to the engine (secrets still wrapped). */
  raw: Record<string, unknown>;
}

const regs: Registration[] = [];
const inputs = new Map<string, Record<string, unknown>>();

/** Resolves an output, rejecting if it rejects (apply alone would swallow the error). */
function settle<T>(o: pulumi.Output<T>): Promise<T> {
  return (o as unknown as { promise(): Promise<T> }).promise();
}

const isSecretWrapper = (v: unknown): boolean =>
  typeof v === "object" && v !== null && (v as Record<string, unknown>)[SIG] === SECRET_SIG;

/** Every string in a serialized value that is not inside a secret wrapper. */
function plainStrings(v: unknown, out: string[] = []): string[] {
  if (typeof v === "string") out.push(v);
  else if (Array.isArray(v)) v.forEach((x) => plainStrings(x, out));
  else if (typeof v === "object" && v !== null && !isSecretWrapper(v)) {
    Object.values(v as Record<string, unknown>).forEach((x) => plainStrings(x, out));
  }
  return out;
}

const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
const router: RouterOsHostModel = {
  kind: "routeros",
  name: "mt",
  address: "192.168.88.1",
  port: 22,
  user: "admin",
  disk: "disk1",
  bridge: "br-edge",
  subnet: "172.20.0.0/24",
  vethPrefix: "edge-",
  version: "7.21",
  wanInterfaceList: "WAN",
  registryUrl: "https://registry-1.docker.io",
  hostKey: HOST_KEY,
  insecureAcceptAnyHostKey: false,
  bridgeAddress: "172.20.0.1",
  prefixLength: 24,
  versionParts: [7, 21, 0],
  renewsCertificates: true,
  ssh: { host: "192.168.88.1", port: 22, user: "admin", hostKey: HOST_KEY },
};

describe("routeros/components", function () {
  let host: RouterOsHost;
  let ctr: RouterOsContainer;
  let schedule: RouterOsSchedule;

  const byName = (name: string) => {
    const r = regs.find((x) => x.name === name);
    assert.ok(r, `${name} registered`);
    return r;
  };
  const nameOf = (urn: string) => urn.split("::").pop() ?? "";

  before(async () => {
    await pulumi.runtime.setMocks(
      {
        newResource: (a) => {
          inputs.set(a.name, a.inputs);
          return { id: `${a.name}-id`, state: a.inputs };
        },
        call: () => ({}),
      },
      "haproxy-edge",
      "prod",
      false,
    );
    type Req = {
      getType(): string;
      getName(): string;
      getParent(): string;
      getDependenciesList(): string[];
      getDeletebeforereplace(): boolean;
      getObject(): { toJavaScript(): Record<string, unknown> } | undefined;
    };
    const monitor = pulumi.runtime.getMonitor() as unknown as {
      registerResource(req: Req, cb: unknown): unknown;
    };
    const original = monitor.registerResource.bind(monitor);
    monitor.registerResource = (req: Req, cb: unknown) => {
      regs.push({
        type: req.getType(),
        name: req.getName(),
        parent: req.getParent(),
        deps: req.getDependenciesList(),
        deleteBeforeReplace: req.getDeletebeforereplace(),
        raw: req.getObject()?.toJavaScript() ?? {},
      });
      return original(req, cb);
    };

    const common = {
      router,
      stack: "prod",
      ssh: { host: router.address, port: router.port, user: router.user },
      privateKey: pulumi.secret(KEY),
    };
    host = new RouterOsHost("mt", common);
    ctr = new RouterOsContainer(
      "lb",
      {
        ...common,
        containerName: "prod-lb",
        image: "haproxy:3.0",
        veth: { name: "edge-lb", address: "172.20.0.2" },
        entrypoint: "/bin/sh",
        cmd: "/usr/local/etc/haproxy-edge/start.sh",
        user: "0:0",
        env: { TZ: "UTC" },
        mounts: [
          {
            id: "edge",
            dir: "disk1/haproxy-edge/prod/lb-edge",
            dst: "/usr/local/etc/haproxy-edge",
            readOnly: true,
          },
          {
            id: "certs",
            dir: "disk1/haproxy-edge/prod/certs",
            dst: "/usr/local/etc/haproxy/certs",
            readOnly: false,
          },
        ],
        files: [
          { mountId: "edge", name: "haproxy.cfg", content: "global\n  log stdout local0\n" },
          { mountId: "edge", name: "placeholder.pem", content: pulumi.output(SECRET), secret: true },
        ],
        start: true,
        ports: [{ id: "lb-https", port: 443, toPort: 443 }],
        rootDir: "disk1/haproxy-edge/prod/lb-root",
      },
      { dependsOn: host.ready },
    );
    schedule = new RouterOsSchedule("renew", {
      ...common,
      name: "prod-certbot-renew",
      source: `${ctr.startScript}\n:log info "renew started"`,
      interval: "1d",
      startTime: "03:17:00",
      policy: ["read", "write", "test"],
    });
    // Every command and upload is registered once these resolve.
    const children = [...host.ready, ctr.container, ...(ctr.started ? [ctr.started] : []), ...ctr.files];
    await Promise.all([...children, schedule.script, schedule.scheduler].map((r) => settle(r.urn)));
  });

  it("registers the expected resources", () => {
    const count = (type: string) => regs.filter((r) => r.type === type).length;
    assert.equal(count("haproxy-edge:routeros:Host"), 1);
    assert.equal(count("haproxy-edge:routeros:Container"), 1);
    assert.equal(count("haproxy-edge:routeros:Schedule"), 1);
    assert.equal(count("pulumi-nodejs:dynamic/routeros:SftpFile"), 2);
    const commands = regs.filter((r) => r.type === COMMAND).map((r) => r.name);
    assert.deepEqual(commands.sort(), [
      "lb-bridge-port",
      "lb-container",
      "lb-dirs",
      "lb-env-TZ",
      "lb-files-cleanup",
      "lb-mount-certs",
      "lb-mount-edge",
      "lb-nat-lb-https",
      "lb-start",
      "lb-veth",
      "mt-bridge",
      "mt-bridge-address",
      "mt-container-config",
      "mt-dirs",
      "mt-masquerade",
      "mt-prerequisites",
      "renew-scheduler",
      "renew-script",
    ]);
  });

  it("parents every child to its component", () => {
    const parents: Record<string, string> = {
      mt: "haproxy-edge:routeros:Host",
      lb: "haproxy-edge:routeros:Container",
      renew: "haproxy-edge:routeros:Schedule",
    };
    for (const r of regs.filter((x) => x.type === COMMAND)) {
      const component = ["renew", "mt", "lb"].find((c) => r.name.startsWith(`${c}-`));
      assert.ok(component, r.name);
      assert.ok(r.parent.endsWith(`${parents[component]}::${component}`), `${r.name} parent ${r.parent}`);
    }
  });

  it("orders the container after its veth, bridge port, directories, files, mounts and envs", () => {
    const deps = byName("lb-container").deps.map(nameOf);
    for (const d of [
      "lb-veth",
      "lb-bridge-port",
      "lb-dirs",
      "lb-file-edge-haproxy.cfg",
      "lb-file-edge-placeholder.pem",
      "lb-mount-edge",
      "lb-mount-certs",
      "lb-env-TZ",
    ]) {
      assert.ok(deps.includes(d), `lb-container depends on ${d}: ${deps.join(", ")}`);
    }
    assert.ok(byName("lb-bridge-port").deps.map(nameOf).includes("lb-veth"));
    assert.ok(byName("lb-file-edge-haproxy.cfg").deps.map(nameOf).includes("lb-dirs"));
    // Destroy order: each file removes itself, then the cleanup command removes what an interrupted run left.
    for (const f of ["lb-file-edge-haproxy.cfg", "lb-file-edge-placeholder.pem"]) {
      assert.ok(byName(f).deps.map(nameOf).includes("lb-files-cleanup"), f);
    }
    const cleanup = String(inputs.get("lb-files-cleanup")?.delete);
    for (const f of ["lb-file-edge-haproxy.cfg", "lb-file-edge-placeholder.pem"]) {
      const remotePath = String(inputs.get(f)?.path);
      assert.ok(cleanup.includes(`"${remotePath}"`), `${f}: ${remotePath} not removed by ${cleanup}`);
    }
    assert.ok(byName("lb-mount-edge").deps.map(nameOf).includes("lb-dirs"));
    assert.ok(byName("lb-start").deps.map(nameOf).includes("lb-container"));
    assert.ok(byName("mt-bridge-address").deps.map(nameOf).includes("mt-bridge"));
    assert.ok(byName("mt-container-config").deps.map(nameOf).includes("mt-dirs"));
    assert.ok(byName("renew-scheduler").deps.map(nameOf).includes("renew-script"));
    // The prerequisites are checked before anything on the router changes.
    for (const r of ["mt-dirs", "mt-bridge", "lb-veth", "lb-dirs", "lb-container"])
      assert.ok(byName(r).deps.map(nameOf).includes("mt-prerequisites"), r);
    assert.equal(byName("mt-prerequisites").deps.length, 0);
  });

  it("forwards the component's dependsOn to every child", () => {
    for (const r of regs.filter((x) => x.type === COMMAND && x.name.startsWith("lb-"))) {
      const deps = r.deps.map(nameOf);
      for (const d of ["mt-container-config", "mt-bridge", "mt-bridge-address", "mt-masquerade"]) {
        assert.ok(deps.includes(d), `${r.name} depends on ${d}`);
      }
    }
    // The safe delete order: containers → mounts/envs → NAT → bridge ports → veths.
    assert.ok(byName("lb-nat-lb-https").deps.map(nameOf).includes("lb-veth"));
    assert.ok(byName("lb-nat-lb-https").deps.map(nameOf).includes("lb-bridge-port"));
    for (const r of ["lb-mount-edge", "lb-mount-certs", "lb-env-TZ"])
      assert.ok(byName(r).deps.map(nameOf).includes("lb-nat-lb-https"), r);
  });

  it("sets the mandatory options on every RouterOS command", () => {
    const commands = regs.filter((r) => r.type === COMMAND);
    assert.equal(commands.length, 18);
    for (const r of commands) {
      const i = inputs.get(r.name);
      assert.ok(i);
      assert.equal(r.deleteBeforeReplace, true, r.name);
      assert.ok(typeof i.timeoutSeconds === "number" && i.timeoutSeconds >= 60, `${r.name} is bounded`);
      for (const s of [i.create, i.delete, i.update].filter((x) => x !== undefined)) {
        assert.equal(typeof s, "string", r.name);
        assert.ok(!/[\r\n]/.test(s as string), `${r.name}: raw newline`);
        assert.ok((s as string).includes(':put "PULUMI-OK"'), `${r.name}: sentinel`);
      }
    }
  });

  it("keeps secrets out of every command string and every plain input", () => {
    for (const r of regs) {
      const i = inputs.get(r.name) ?? {};
      for (const key of ["create", "delete", "update"]) {
        const s = i[key];
        if (typeof s === "string") {
          assert.ok(!s.includes(SECRET) && !s.includes(KEY), `${r.name}.${key}`);
        }
      }
      for (const s of plainStrings(r.raw)) {
        assert.ok(
          !s.includes(SECRET) && !s.includes(KEY),
          `${r.name}: secret in plain input ${s.slice(0, 80)}`,
        );
      }
    }
  });

  it("uploads the secret file as a secret, and triggers restarts on a secret hash", async () => {
    const secretFile = byName("lb-file-edge-placeholder.pem");
    assert.ok(isSecretWrapper(secretFile.raw.content), "content is a secret");
    assert.ok(isSecretWrapper(secretFile.raw.privateKey), "the SSH key is a secret");
    assert.equal(secretFile.raw.path, "disk1/haproxy-edge/prod/lb-edge/placeholder.pem");
    const plainFile = byName("lb-file-edge-haproxy.cfg");
    assert.ok(!isSecretWrapper(plainFile.raw.content), "a plain file stays readable in diffs");
    assert.ok(isSecretWrapper(plainFile.raw.privateKey), "the SSH key is a secret");
    assert.ok(JSON.stringify(plainFile.raw.content).includes("log stdout local0"));

    const triggers = byName("lb-start").raw.triggers;
    assert.ok(JSON.stringify(triggers).includes(SECRET_SIG), "the secret file's hash is a secret");
    assert.ok(!JSON.stringify(inputs.get("lb-start")?.triggers).includes(SECRET));
    // The hashes are in the start command's triggers: a changed file restarts the container.
    assert.ok(JSON.stringify(inputs.get("lb-start")?.triggers).includes("lb-edge/haproxy.cfg:"));
  });

  it("keeps the private key a secret, and the endpoint readable", () => {
    for (const r of regs.filter((x) => x.type === COMMAND)) {
      assert.ok(isSecretWrapper(r.raw.privateKey), r.name);
      assert.deepEqual(r.raw.router, { host: router.address, port: router.port, user: router.user }, r.name);
    }
  });

  it("bounds each command by the waits it makes on the router", () => {
    // The container's create waits up to 900 s for the extraction and 60 s for the start.
    assert.ok(Number(inputs.get("lb-container")?.timeoutSeconds) > 960);
    assert.ok(Number(inputs.get("lb-start")?.timeoutSeconds) > 120);
    assert.equal(inputs.get("mt-bridge")?.timeoutSeconds, 60);
  });

  it("builds the commands for the router's version", () => {
    const create = inputs.get("lb-container")?.create as string;
    assert.ok(create.includes('mountlists="prod-lb-edge,prod-lb-certs" envlists="prod-lb"'));
    assert.ok(create.includes("start-on-boot=yes"));
    assert.ok(!create.includes("/container/start"), "the start command starts it");
    assert.ok((inputs.get("lb-start")?.create as string).includes("/container/start"));
    assert.equal(inputs.get("lb-start")?.update, ':put "PULUMI-OK"');
    assert.ok((inputs.get("lb-mount-edge")?.create as string).includes('list="prod-lb-edge"'));
    assert.ok((inputs.get("lb-mount-edge")?.create as string).includes("read-only=yes"));
    assert.ok((inputs.get("lb-mount-certs")?.create as string).includes("read-only=no"));
    // The scheduled script finds the container by its tag (its name cannot be set before 7.19).
    assert.ok(
      (inputs.get("renew-script")?.create as string).includes(
        'comment=\\"haproxy-edge:prod:ctr-prod-lb\\"]}\\n:log info \\"renew started\\"',
      ),
    );
  });

  it("refuses bad arguments before registering anything", () => {
    const before = regs.length;
    const access = { ssh: { host: "192.0.2.1", port: 22, user: "admin" }, privateKey: "k" };
    assert.throws(
      () =>
        new RouterOsHost("old", {
          router: { ...router, versionParts: [7, 15, 0] },
          stack: "prod",
          ...access,
        }),
      /not supported/,
    );
    assert.throws(
      () =>
        new RouterOsContainer("bad", {
          router,
          stack: "prod",
          ...access,
          containerName: "prod-x",
          image: "haproxy:3.0",
          veth: { name: "edge-x", address: "172.20.0.9" },
          mounts: [],
          files: [{ mountId: "nope", name: "a", content: "a" }],
          start: false,
          rootDir: "disk1/haproxy-edge/prod/x-root",
        }),
      /unknown mount nope/,
    );
    // Only the component resources themselves may have been registered.
    assert.ok(regs.slice(before).every((r) => r.type.startsWith("haproxy-edge:")));
  });
});
