/**
 * The program (index.ts) under Pulumi runtime mocks, for both example stacks: what it declares, how the
 * resources hang together, what the rollout order is, and that secrets stay secret.
 */
import { strict as assert } from "node:assert";
import * as pulumi from "@pulumi/pulumi";
import { FILES, TMPFS } from "../config/model";
import { FILES_LABEL } from "../docker/service";
import { ConfigError } from "../config/parse";
import { ROUTER_MOUNT_IDS } from "../config/schema";
import {
  ROUTER_COMMAND,
  plain,
  runProgram,
  secretPaths,
  withoutSecrets,
  type ProgramRun,
  type Registered,
} from "./support/program";
import { checkRouterOutput } from "../routeros/commands";
import { SimFactory, VERSIONS, versionOf } from "./support/routeros-sim/helpers";
import { TEST_SECRETS, loadStackFile, projectDefaults } from "./support/stack-config";

const NS = "haproxy-edge:";
/** The load balancer's live configuration and lists (docker/lb-live.ts). */
const LB_LIVE = "pulumi-nodejs:dynamic/docker:LoadBalancerLive";
const SERVICE_FILES = "pulumi-nodejs:dynamic/docker:ServiceFiles";
const CONTAINER_LIMITS = "pulumi-nodejs:dynamic/docker:ContainerLimits";
/** The example host key Pulumi.prod.yaml pins for its router. */
const PROD_HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

async function run(stack: "dev" | "prod", preview = false): Promise<ProgramRun> {
  const file = loadStackFile(stack);
  return runProgram({
    stack,
    config: file.config,
    secretKeys: [...file.secretKeys].map((k) => `${NS}${k}`),
    preview,
  });
}

/**
 * The ConfigError a run stopped with: the program throws it to Pulumi as the `cause` of a RunError with the same
 * message, which Pulumi prints as it is, without a stack trace.
 */
function configErrorOf(e: unknown): ConfigError {
  assert.ok(pulumi.RunError.isInstance(e), `not a RunError: ${String(e)}`);
  const cause = (e as Error).cause;
  assert.ok(cause instanceof ConfigError, `cause: ${String(cause)}`);
  assert.equal((e as Error).message, cause.message);
  return cause;
}

function countByType(resources: Registered[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of resources) out[r.type] = (out[r.type] ?? 0) + 1;
  return out;
}

/** Every string anywhere in a value. */
function strings(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (value && typeof value === "object") return Object.values(value).flatMap(strings);
  return [];
}

/** Custom resources below a component (any depth). */
function descendants(runResult: ProgramRun, componentName: string): Registered[] {
  const root = runResult.byName(componentName).urn;
  const byUrn = new Map(runResult.resources.map((r) => [r.urn, r]));
  const isBelow = (r: Registered): boolean => {
    for (let p = r.parent; p; p = byUrn.get(p)?.parent ?? "") if (p === root) return true;
    return false;
  };
  return runResult.resources.filter((r) => r.custom && isBelow(r));
}

/**
 * The load balancer goes first and on its own: none of its resources waits for a worker (its changes never wait
 * for the worker rollout), and every resource of the first worker (staging) waits for all of them.
 */
function assertLoadBalancerFirst(r: ProgramRun, stack: string): void {
  const lb = descendants(r, `${stack}-lb`);
  assert.ok(lb.length > 0);
  const workers = ["staging", "prod-1", "prod-2"]
    .flatMap((w) => descendants(r, `${stack}-${w}`))
    .map((x) => x.urn);
  for (const res of lb)
    assert.ok(!res.dependencies.some((d) => workers.includes(d)), `${res.name} waits for a worker`);
  for (const res of descendants(r, `${stack}-staging`))
    for (const l of lb)
      assert.ok(res.dependencies.includes(l.urn), `${res.name} does not wait for ${l.name}`);
}

const MOCK_PASSWORDS = ["mock-password-"];

/** What both example stacks have: one Docker host with its provider, network and two images, the certificate,
 * and three workers with their generated API password and salt. */
const EVERY_STACK = {
  "haproxy-edge:index:Edge": 1,
  "haproxy-edge:docker:Host": 1,
  "pulumi:providers:docker": 1,
  "docker:index/network:Network": 1,
  "docker:index/remoteImage:RemoteImage": 2,
  "pulumi-nodejs:dynamic/tls:SelfSignedCertificate": 1,
  "haproxy-edge:worker:Worker": 3,
  "random:index/randomPassword:RandomPassword": 3,
  "random:index/randomString:RandomString": 3,
};

describe("index.ts under Pulumi mocks", () => {
  const runs: Partial<Record<"dev" | "prod", ProgramRun>> = {};
  before(async () => {
    runs.dev = await run("dev");
    runs.prod = await run("prod");
  });
  const get = (s: "dev" | "prod") => runs[s] as ProgramRun;

  it("dev declares exactly the expected resources", () => {
    assert.deepEqual(countByType(get("dev").resources), {
      ...EVERY_STACK,
      // 3 per worker (config, master socket, API state) + certificates + LB runtime socket, and one files
      // volume per container
      "docker:index/volume:Volume": 20,
      // what writes each container's files into its files volume, and its pids limit
      [SERVICE_FILES]: 9,
      [CONTAINER_LIMITS]: 9,
      // HAProxy + Data Plane API per worker, the load balancer, and the two demo backends
      "docker:index/container:Container": 9,
      "haproxy-edge:demo:Backend": 2,
      "command:local:Command": 3,
      // each worker's routes, through its Data Plane API
      "pulumi-nodejs:dynamic/dataplane:WorkerRoutes": 3,
      "haproxy-edge:loadbalancer:LoadBalancer": 1,
      // the load balancer's configuration and lists, applied to the running container
      [LB_LIVE]: 1,
    });
  });

  it("dev runs a demo backend at each route server, on the edge network, from the HAProxy image, waiting for nothing", () => {
    const dev = get("dev");
    const demos = dev
      .ofType("docker:index/container:Container")
      .filter((c) => String(plain(c.wire.name)).startsWith("dev-demo-"));
    const network = dev.ofType("docker:index/network:Network")[0];
    const image = dev
      .ofType("docker:index/remoteImage:RemoteImage")
      .find((i) => plain(i.wire.name) === "haproxy:3.0");
    assert.ok(image);
    assert.deepEqual(
      demos.map((d) => [
        plain(d.wire.name),
        (plain(d.wire.networksAdvanced) as { ipv4Address: string }[])[0].ipv4Address,
      ]),
      [
        ["dev-demo-172-29-80-100-8080", "172.29.80.100"],
        ["dev-demo-172-29-80-101-8080", "172.29.80.101"],
      ],
    );
    for (const d of demos) {
      assert.deepEqual(plain(d.wire.command), ["-W", "-db", "-f", FILES.demoBackendConfig]);
      assert.equal(plain(d.wire.user), "haproxy");
      assert.equal(plain(d.wire.image), plain(`sha256:mock-haproxy:3.0`));
      // Only its host's provider, network and image, and its own files: no worker or load balancer waits for it,
      // nor it for them.
      const own = descendants(dev, String(d.name).replace(/-haproxy$/, "")).map((x) => x.urn);
      const deps = d.dependencies.filter((u) => !u.includes("providers:docker"));
      assert.ok(
        deps.every((u) => u === network.urn || u === image.urn || own.includes(u)),
        deps.join("\n"),
      );
    }
  });

  it("dev: a blocklist or rate-limit change leaves the load balancer's container and files volume as they were", async () => {
    const file = loadStackFile("dev");
    const lb = async (extra: Record<string, string>) => {
      const r = await runProgram({
        stack: "dev",
        config: { ...file.config, ...extra },
        secretKeys: [...file.secretKeys].map((k) => `${NS}${k}`),
      });
      const wire = (name: string, type: string) =>
        plain(r.resources.find((x) => x.name === name && x.type === type)?.wire);
      return {
        container: wire("dev-lb-haproxy", "docker:index/container:Container"),
        files: wire("dev-lb-haproxy-files", SERVICE_FILES),
        live: wire("dev-lb-live", LB_LIVE),
      };
    };
    const before = await lb({});
    const after = await lb({
      [`${NS}blocklistCidrs`]: JSON.stringify(["192.0.2.0/24", "198.51.100.7/32"]),
      [`${NS}rateLimitRequests`]: "201",
    });
    assert.ok(before.container && before.files && before.live);
    assert.deepEqual(after.container, before.container);
    // Its live files are in its files volume's inputs only as seeds (written when the volume is new); the
    // provider's diff does not look at them.
    const written = (f: unknown) => ({ ...(f as Record<string, unknown>), seedFiles: undefined });
    assert.deepEqual(written(after.files), written(before.files));
    assert.notDeepEqual(after.files, before.files);
    assert.notDeepEqual(after.live, before.live);
  });

  it("dev: a route added on an existing demo backend's server, or a route changed, leaves every demo backend as it was", async () => {
    const file = loadStackFile("dev");
    const routes = JSON.parse(file.config[`${NS}routes`]) as { name: string; servers: string[] }[];
    const demos = async (changed: unknown[]) => {
      const r = await runProgram({
        stack: "dev",
        config: { ...file.config, [`${NS}routes`]: JSON.stringify(changed) },
        secretKeys: [...file.secretKeys].map((k) => `${NS}${k}`),
      });
      return r
        .ofType("docker:index/container:Container")
        .filter((c) => String(plain(c.wire.name)).startsWith("dev-demo-"))
        .map((c) => [c.name, plain(c.wire)]);
    };
    const before = await demos(routes);
    assert.equal(before.length, 2);
    const added = [
      ...routes,
      { name: "extra", hosts: ["extra.lab.example.com"], servers: routes[0].servers },
    ];
    assert.deepEqual(await demos(added), before, "a route added on an existing server");
    const swapped = routes.map((r, i) =>
      i === 0 ? { ...r, servers: [...r.servers, ...routes[1].servers] } : r,
    );
    assert.deepEqual(await demos(swapped), before, "routes sharing their servers");
  });

  it("prod places the load balancer and certbot on the router and the workers on the ssh Docker host", () => {
    const prod = get("prod");
    assert.deepEqual(countByType(prod.resources), {
      ...EVERY_STACK,
      "haproxy-edge:routeros:Host": 1,
      "docker:index/volume:Volume": 15,
      [SERVICE_FILES]: 6,
      [CONTAINER_LIMITS]: 6,
      "docker:index/container:Container": 6,
      "command:local:Command": 3,
      // each worker's routes, through its Data Plane API
      "pulumi-nodejs:dynamic/dataplane:WorkerRoutes": 3,
      "haproxy-edge:loadbalancer:LoadBalancer": 1,
      "haproxy-edge:certbot:Certbot": 1,
      "haproxy-edge:routeros:Container": 2,
      "haproxy-edge:routeros:Schedule": 1,
      [ROUTER_COMMAND]: 29,
      // the load balancer: haproxy.cfg, blocklist.acl, internal.acl, start.sh, placeholder.pem; certbot: 5
      // (rfc2136.ini, deploy-hook.sh, renew.sh, pem-check.py, health.sh)
      "pulumi-nodejs:dynamic/routeros:SftpFile": 10,
    });
    const provider = prod.ofType("pulumi:providers:docker")[0];
    assert.equal(plain(provider.wire.host), "ssh://deploy@docker-1.lan");
    const containers = prod.ofType("docker:index/container:Container").map((c) => plain(c.wire.name));
    assert.deepEqual(containers.sort(), [
      "prod-prod-1",
      "prod-prod-1-dataplaneapi",
      "prod-prod-2",
      "prod-prod-2-dataplaneapi",
      "prod-staging",
      "prod-staging-dataplaneapi",
    ]);
  });

  for (const stack of ["dev", "prod"] as const) {
    describe(`${stack} stack`, () => {
      it("parents every resource to one of our components, the Edge to the stack", () => {
        const r = get(stack);
        const byUrn = new Map(r.resources.map((x) => [x.urn, x]));
        for (const res of r.resources) {
          if (res.type === "haproxy-edge:index:Edge") {
            // Under mocks there is no stack resource: the Edge is top-level (the engine parents it to the stack).
            assert.ok(res.parent === "" || /pulumi:pulumi:Stack/.test(res.parent), res.parent);
            continue;
          }
          const parent = byUrn.get(res.parent);
          assert.ok(parent, `${res.type} ${res.name} has parent ${res.parent}, not one of ours`);
          assert.match(parent.type, /^haproxy-edge:/, `${res.name}'s parent is ${parent.type}`);
        }
        for (const w of ["staging", "prod-1", "prod-2"]) {
          const names = descendants(r, `${stack}-${w}`).map((x) => x.name);
          assert.ok(
            names.includes(`${stack}-${w}-haproxy`) && names.includes(`${stack}-${w}-check`),
            names.join(),
          );
        }
      });

      it("rolls out load balancer → staging → its check → prod-1 → its check → prod-2", () => {
        const r = get(stack);
        const check = (w: string) => r.byName(`${stack}-${w}-check`).urn;
        for (const res of descendants(r, `${stack}-prod-1`)) {
          assert.ok(
            res.dependencies.includes(check("staging")),
            `${res.name} does not wait for the staging check`,
          );
        }
        for (const res of descendants(r, `${stack}-prod-2`)) {
          assert.ok(
            res.dependencies.includes(check("prod-1")),
            `${res.name} does not wait for prod-1's check`,
          );
        }
        for (const res of descendants(r, `${stack}-staging`)) {
          const prodUrns = [...descendants(r, `${stack}-prod-1`), ...descendants(r, `${stack}-prod-2`)].map(
            (x) => x.urn,
          );
          assert.ok(
            !res.dependencies.some((d) => prodUrns.includes(d)),
            `${res.name} waits for a production worker`,
          );
        }
        assertLoadBalancerFirst(r, stack);
        // Within a worker: API after HAProxy, check after both, routes after the check.
        const api = r.byName(`${stack}-staging-dataplaneapi`);
        assert.ok(api.dependencies.includes(r.byName(`${stack}-staging-haproxy`).urn));
        const chk = r.byName(`${stack}-staging-check`);
        assert.ok(chk.dependencies.includes(api.urn));
        assert.ok(chk.dependencies.includes(r.byName(`${stack}-staging-haproxy`).urn));
        for (const w of ["staging", "prod-1", "prod-2"]) {
          assert.ok(
            r.byName(`${stack}-${w}-routes`).dependencies.includes(check(w)),
            `${w} routes before its check`,
          );
        }
      });

      it("applies each worker's routes before the next worker starts", () => {
        const r = get(stack);
        const routes = (w: string) => r.byName(`${stack}-${w}-routes`).urn;
        for (const res of descendants(r, `${stack}-prod-1`)) {
          assert.ok(
            res.dependencies.includes(routes("staging")),
            `${res.name} does not wait for staging's routes`,
          );
        }
        for (const res of descendants(r, `${stack}-prod-2`)) {
          assert.ok(
            res.dependencies.includes(routes("prod-1")),
            `${res.name} does not wait for prod-1's routes`,
          );
        }
      });

      it("gives every worker the stack's routes, its own API endpoint and a secret password", () => {
        const r = get(stack);
        const file = loadStackFile(stack);
        const names = (JSON.parse(file.config[`${NS}routes`]) as { name: string }[])
          .map((x) => x.name)
          .sort();
        r.ofType("pulumi-nodejs:dynamic/dataplane:WorkerRoutes").forEach((res, i) => {
          const w = ["staging", "prod-1", "prod-2"][i];
          assert.equal(res.name, `${stack}-${w}-routes`);
          assert.equal(res.parent, r.byName(`${stack}-${w}`).urn);
          const wire = plain(res.wire) as Record<string, unknown>;
          assert.equal(wire.worker, w);
          assert.equal(wire.url, `http://127.0.0.1:${5555 + i}`);
          assert.equal(wire.frontend, "fe_edge");
          assert.equal(wire.ssh, stack === "prod" ? "deploy@docker-1.lan" : undefined);
          assert.deepEqual(Object.keys(wire.routes as object), names);
          assert.ok(secretPaths(res.wire).includes("password"), `${w}: the password input is not secret`);
          assert.ok(res.additionalSecretOutputs.includes("password"));
          assert.equal(typeof wire.__provider, "string");
        });
      });

      it("keeps secrets secret: API passwords, userlists, the placeholder key, TSIG and SSH keys", () => {
        const r = get(stack);
        for (const w of ["staging", "prod-1", "prod-2"]) {
          const api = r.byName(`${stack}-${w}-dataplaneapi-files`);
          const files = api.wire.files as { path: string }[];
          const userlist = files.findIndex((u) => plain(u.path) === "userlist.cfg");
          assert.ok(
            userlist >= 0 && secretPaths(api.wire).includes(`files[${userlist}].content`),
            `${w} userlist is not secret`,
          );
          const chk = r.byName(`${stack}-${w}-check`);
          assert.ok(
            secretPaths(chk.wire).some((p) => p.startsWith("environment")),
            `${w} check env is not secret`,
          );
          assert.ok(!strings(plain(chk.wire.create)).some((s) => s.includes("mock-password")));
        }
        const cert = r.ofType("pulumi-nodejs:dynamic/tls:SelfSignedCertificate")[0];
        assert.ok(cert.additionalSecretOutputs.includes("pem"));
        const secrets = [
          ...MOCK_PASSWORDS,
          TEST_SECRETS.acmeTsigSecret,
          TEST_SECRETS.routerPrivateKey.split("\n")[1],
        ];
        for (const res of r.resources) {
          for (const s of strings(withoutSecrets(res.wire))) {
            for (const secret of secrets) {
              assert.ok(
                !s.includes(secret),
                `${res.type} ${res.name} holds a secret in clear: ${s.slice(0, 80)}`,
              );
            }
          }
        }
        if (stack === "dev") {
          const lb = r.byName("dev-lb-haproxy-files");
          const files = lb.wire.files as { path: string }[];
          const i = files.findIndex((u) => plain(u.path) === "placeholder.pem");
          assert.ok(i >= 0 && secretPaths(lb.wire).includes(`files[${i}].content`));
        } else {
          const files = r.ofType("pulumi-nodejs:dynamic/routeros:SftpFile");
          for (const res of [...r.ofType(ROUTER_COMMAND), ...files])
            assert.ok(secretPaths(res.wire).includes("privateKey"), `${res.name}: the SSH key is not secret`);
          const ini = files.find((c) => String(plain(c.wire.path)).endsWith("/rfc2136.ini"));
          assert.ok(ini, "rfc2136.ini is uploaded to the router");
          assert.ok(secretPaths(ini.wire).includes("content"), "rfc2136.ini content is not secret");
        }
      });

      it("has no TCP admin socket and mounts no docker socket anywhere", () => {
        const r = get(stack);
        for (const res of r.resources) {
          // The Docker provider and the load balancer's live files talk to the engine's own socket, as clients.
          if ([LB_LIVE, SERVICE_FILES, CONTAINER_LIMITS, "pulumi:providers:docker"].includes(res.type))
            continue;
          for (const s of strings(plain(res.wire))) {
            for (const line of s.split("\n")) {
              const m = /^\s*stats socket\s+(\S+)/.exec(line);
              if (m) assert.match(m[1], /^\//, `${res.name}: stats socket ${m[1]} is not a unix socket`);
              assert.doesNotMatch(line, /docker\.sock/, `${res.name} references the docker socket`);
            }
          }
        }
        for (const c of r.ofType("docker:index/container:Container")) {
          for (const v of (plain(c.wire.volumes) as { hostPath?: string }[] | undefined) ?? []) {
            assert.equal(v.hostPath, undefined, `${c.name} bind-mounts ${v.hostPath}`);
          }
        }
      });

      it("gives every container a healthcheck, a restart policy and delete-before-replace", () => {
        for (const c of get(stack).ofType("docker:index/container:Container")) {
          assert.ok(c.deleteBeforeReplace, `${c.name} lacks deleteBeforeReplace`);
          assert.equal(plain(c.wire.restart), "unless-stopped", c.name);
          const hc = plain(c.wire.healthcheck) as { tests: string[] };
          assert.ok(hc.tests.length >= 2, `${c.name} lacks a healthcheck`);
          assert.equal(plain(c.wire.wait), true, `${c.name} does not wait until healthy`);
        }
      });

      it("hardens every container: capabilities dropped but its own, no new privileges, memory limit", () => {
        const containers = get(stack).ofType("docker:index/container:Container");
        assert.ok(containers.length >= 6);
        const haproxy = ["CAP_KILL", "CAP_SETGID", "CAP_SETUID"];
        for (const c of containers) {
          const name = String(plain(c.wire.name));
          const api = name.endsWith("-dataplaneapi");
          const demo = name.includes("-demo-");
          const caps = plain(c.wire.capabilities) as { drops: string[]; adds?: string[] };
          assert.deepEqual(caps.drops, ["ALL"], name);
          // dev: the load balancer on 8080/8443 and the workers on 8080, so no NET_BIND_SERVICE.
          assert.deepEqual(caps.adds ?? [], api || demo ? [] : haproxy, name);
          assert.deepEqual(plain(c.wire.securityOpts), ["no-new-privileges:true"], name);
          assert.equal(plain(c.wire.memory), 512, name);
          assert.equal(plain(c.wire.memorySwap), 512, name);
          // The pids limit, set on the running container by its own resource.
          const limits = get(stack).resources.find(
            (x) => x.type === CONTAINER_LIMITS && x.name === `${c.name}-limits` && x.parent === c.parent,
          );
          assert.ok(limits, `${name} has no pids limit`);
          assert.equal(plain(limits.wire.pidsLimit), 512, name);
          assert.equal(plain(limits.wire.container), name);
          assert.ok(limits.dependencies.includes(c.urn), `${name}: its limit does not wait for it`);
          assert.equal(plain(c.wire.user), demo ? "haproxy" : "root", name);
        }
      });

      it("gives every container a read-only root, tmpfs where it writes, and its files from a volume of its own", () => {
        const r = get(stack);
        for (const c of r.ofType("docker:index/container:Container")) {
          const name = String(plain(c.wire.name));
          assert.equal(plain(c.wire.readOnly), true, name);
          assert.equal(plain(c.wire.uploads), undefined, `${name} has uploads`);
          const tmpfs = Object.keys((plain(c.wire.tmpfs) as Record<string, string>) ?? {});
          const expected = name.endsWith("-dataplaneapi")
            ? TMPFS.dataplaneApi
            : name.endsWith("-certbot")
              ? TMPFS.certbot
              : name.includes("-demo-")
                ? TMPFS.none
                : TMPFS.haproxy;
          assert.deepEqual(tmpfs, [...expected], name);
          // Its files volume, written by its own ServiceFiles, whose digest it carries as a label.
          const writer = r.resources.find(
            (x) => x.type === SERVICE_FILES && x.name === `${c.name}-files` && x.parent === c.parent,
          );
          assert.ok(writer, `${name} has no ServiceFiles`);
          assert.ok(c.dependencies.includes(writer.urn), `${name} does not wait for its files`);
          const mounts = plain(c.wire.volumes) as {
            volumeName: string;
            containerPath: string;
            readOnly?: boolean;
          }[];
          const files = mounts.find((m) => m.volumeName === plain(writer.wire.volume));
          assert.ok(files, `${name} does not mount its files volume`);
          // Read-only but where something writes while it runs: the load balancer's live files, certbot's certs mount.
          const writable = c.name.endsWith("-lb-haproxy") || name.endsWith("-certbot");
          assert.equal(files.readOnly, !writable, name);
          const labels = plain(c.wire.labels) as { label: string; value: string }[];
          assert.deepEqual(
            labels.filter((l) => l.label === FILES_LABEL).map((l) => l.value),
            [plain(writer.wire.digest)],
            name,
          );
        }
      });

      it("gives each custom resource a provider of its own package (a dynamic resource never the Docker provider)", () => {
        for (const res of get(stack).resources.filter(
          (x) => x.custom && !x.type.startsWith("pulumi:providers:"),
        )) {
          const pkg = res.type.split(":")[0];
          if (res.provider === "") continue;
          assert.match(res.provider, new RegExp(`[:$]pulumi:providers:${pkg}::`), `${res.type} ${res.name}`);
        }
      });

      it("publishes the Data Plane APIs on 127.0.0.1 only", () => {
        const apis = get(stack)
          .ofType("docker:index/container:Container")
          .filter((c) => String(plain(c.wire.name)).endsWith("-dataplaneapi"));
        assert.equal(apis.length, 3);
        apis.forEach((c) => {
          const ports = plain(c.wire.ports) as { ip: string; internal: number; external: number }[];
          assert.deepEqual(
            ports.map((p) => p.ip),
            ["127.0.0.1"],
          );
          assert.equal(ports[0].internal, 5555);
        });
      });

      it("exports URLs, endpoints without passwords, worker names and file hashes", () => {
        const o = get(stack).outputs;
        assert.deepEqual(o.workerNames, ["staging", "prod-1", "prod-2"]);
        const endpoints = JSON.stringify(o.dataplaneApiEndpoints);
        assert.match(endpoints, /127\.0\.0\.1:5555/);
        assert.doesNotMatch(endpoints, /password|mock-password/i);
        const hashes = o.fileHashes as Record<string, Record<string, string>>;
        assert.deepEqual(
          Object.keys(hashes).sort(),
          stack === "dev"
            ? ["loadBalancer", "prod-1", "prod-2", "staging"]
            : ["certbot", "loadBalancer", "prod-1", "prod-2", "staging"],
        );
        for (const group of Object.values(hashes)) {
          for (const h of Object.values(group)) assert.match(h, /^[0-9a-f]{64}$/);
        }
        assert.ok(Object.keys(hashes.loadBalancer).includes("haproxy.cfg"));
        assert.ok(Object.keys(o.urls as object).length > 0);
        assert.deepEqual(
          o.retainedVolumes,
          stack === "dev" ? ["dev-certs"] : ["prod-certs", "prod-letsencrypt"],
        );
      });
    });
  }

  it("keeps certificates and ACME state on destroy, and nothing else", () => {
    const retained = get("dev")
      .ofType("docker:index/volume:Volume")
      .filter((v) => v.retainOnDelete)
      .map((v) => plain(v.wire.name));
    assert.deepEqual(retained, ["dev-certs"]);
  });

  it("declares byte-identical inputs on a second run (no diff on a second pulumi up)", async () => {
    const again = await run("dev");
    const snapshot = (r: ProgramRun) =>
      r.resources.map((x) => JSON.stringify({ t: x.type, n: x.name, w: x.wire })).sort();
    assert.deepEqual(snapshot(again), snapshot(get("dev")));
  });

  it("registers the same resources in preview", async () => {
    const preview = await run("prod", true);
    assert.deepEqual(countByType(preview.resources), countByType(get("prod").resources));
  });

  it("stops with every config problem before registering any resource", async () => {
    const file = loadStackFile("dev");
    const config = {
      ...file.config,
      [`${NS}httpPort`]: "0",
      [`${NS}productionWorkerHosts`]: "[]",
      [`${NS}routes`]: JSON.stringify([{ name: "bad name", hosts: ["app.lab.example.com"], servers: [] }]),
      // A misspelled namespace: Pulumi would hand this key to nobody.
      "haproxy_edge:rateLimitRequests": "10",
    };
    const registered: Registered[] = [];
    await assert.rejects(runProgram({ stack: "dev", config, sink: registered }), (e: unknown) => {
      const paths = configErrorOf(e).issues.map((i) => i.path);
      for (const p of [
        "httpPort",
        "productionWorkerHosts",
        "routes[0].name",
        "routes[0].servers",
        "haproxy_edge:rateLimitRequests",
      ]) {
        assert.ok(paths.includes(p), `${p} missing from ${paths.join(", ")}`);
      }
      return true;
    });
    assert.deepEqual(
      registered.map((r) => r.name),
      [],
    );
  });

  it("names the key a misspelled top-level key means, with Pulumi.yaml's defaults in the config as the engine passes them", async () => {
    const file = loadStackFile("dev");
    const config: Record<string, string> = {
      ...projectDefaults(),
      ...file.config,
      [`${NS}rateLimitRequest`]: "50",
      [`${NS}maxConnection`]: "1000",
      [`${NS}timeoutClient`]: "30 s",
      // Other namespaces are the providers' and Pulumi's, not misspellings.
      "docker:host": "unix:///var/run/docker.sock",
      "pulumi:tags": "{}",
    };
    // The dev stack sets rateLimitRequests; maxConnections is there only as Pulumi.yaml's default.
    assert.equal(config[`${NS}rateLimitRequests`], "200");
    assert.equal(config[`${NS}maxConnections`], "4096");
    const registered: Registered[] = [];
    await assert.rejects(runProgram({ stack: "dev", config, sink: registered }), (e: unknown) => {
      assert.equal(
        configErrorOf(e).message,
        [
          "Invalid stack configuration (3 problems); nothing was deployed:",
          "  - maxConnection: unknown key: did you mean maxConnections? (got 1000)",
          "  - rateLimitRequest: unknown key: did you mean rateLimitRequests? (got 50)",
          '  - timeoutClient: must be an HAProxy time: a positive whole number and a unit (ms, s, m, h, d), e.g. 5s (got "30 s")',
        ].join("\n"),
      );
      return true;
    });
    assert.deepEqual(registered, []);
  });
});

describe("index.ts under Pulumi mocks, routeUpdates: restart", () => {
  let r: ProgramRun;
  before(async () => {
    const file = loadStackFile("dev", { routeUpdates: "restart" });
    r = await runProgram({
      stack: "dev",
      config: file.config,
      secretKeys: [...file.secretKeys].map((k) => `${NS}${k}`),
    });
  });

  it("declares workers without Data Plane API sidecars, passwords or API checks", () => {
    const counts = countByType(r.resources);
    assert.equal(
      counts["docker:index/container:Container"],
      6,
      "3 HAProxy workers, the load balancer, 2 demo backends",
    );
    assert.equal(
      counts["docker:index/volume:Volume"],
      14,
      "config + master per worker, certs, LB runtime, and the files of each of the 6 containers",
    );
    for (const t of [
      "random:index/randomPassword:RandomPassword",
      "random:index/randomString:RandomString",
      "command:local:Command",
    ])
      assert.equal(counts[t], undefined, t);
    assert.deepEqual(
      r.ofType("docker:index/remoteImage:RemoteImage").map((i) => plain(i.wire.name)),
      ["haproxy:3.0"],
      "the Data Plane API image is not pulled",
    );
    assert.deepEqual(r.outputs.dataplaneApiEndpoints, {});
  });

  it("uploads each worker's routes in its configuration, and still rolls out LB → staging → prod-1 → prod-2", () => {
    const haproxy = (w: string) => r.byName(`dev-${w}-haproxy-files`);
    for (const w of ["staging", "prod-1", "prod-2"]) {
      const files = plain(haproxy(w).wire.files) as { path: string; content: string }[];
      const cfg = files.find((u) => u.path === "haproxy.cfg");
      assert.ok(cfg, w);
      assert.match(cfg.content, /^backend route_app$/m, w);
      assert.match(cfg.content, /^ {4}use_backend route_admin if route_admin_host$/m, w);
    }
    const workerUrns = (w: string) => descendants(r, `dev-${w}`).map((x) => x.urn);
    for (const res of descendants(r, "dev-prod-1"))
      assert.ok(
        res.dependencies.some((d) => workerUrns("staging").includes(d)),
        `${res.name} does not wait for staging`,
      );
    for (const res of descendants(r, "dev-prod-2"))
      assert.ok(
        res.dependencies.some((d) => workerUrns("prod-1").includes(d)),
        `${res.name} does not wait for prod-1`,
      );
    assertLoadBalancerFirst(r, "dev");
  });
});

describe("index.ts under Pulumi mocks, every service on the router (live route updates)", () => {
  const ROUTER = "edge-router";
  const onRouter = (overrides: Record<string, unknown> = {}) => {
    const file = loadStackFile("prod", {
      stagingWorkerHost: ROUTER,
      productionWorkerHosts: [ROUTER, ROUTER],
      ...overrides,
    });
    return runProgram({
      stack: "prod",
      config: file.config,
      secretKeys: [...file.secretKeys].map((k) => `${NS}${k}`),
    });
  };
  const WORKERS = ["staging", "prod-1", "prod-2"];
  let r: ProgramRun;
  before(async () => {
    r = await onRouter();
  });

  it("takes the longest stack name whose router tags fit in 63 characters, and refuses one more before registering anything", async () => {
    const file = loadStackFile("prod", {
      stagingWorkerHost: ROUTER,
      productionWorkerHosts: [ROUTER, ROUTER],
    });
    const run = (stack: string) =>
      runProgram({ stack, config: file.config, secretKeys: [...file.secretKeys].map((k) => `${NS}${k}`) });
    // The longest tag: haproxy-edge:<stack>:mnt-<stack>-certbot-letsencrypt (2 × 12 + 39 = 63).
    await run("s".repeat(12));
    const registered: Registered[] = [];
    await assert.rejects(
      runProgram({
        stack: "s".repeat(13),
        config: file.config,
        secretKeys: [...file.secretKeys].map((k) => `${NS}${k}`),
        sink: registered,
      }),
      (e: unknown) => {
        assert.deepEqual(
          configErrorOf(e).issues.map((i) => i.path),
          ["(stack name)"],
        );
        assert.match(
          (e as Error).message,
          /is too long for a RouterOS router: .* 64 characters, RouterOS allows 63; use a stack name 1 character shorter/,
        );
        return true;
      },
    );
    assert.deepEqual(registered, []);
  });

  it("tags every mount row with a mount id of ROUTER_MOUNT_IDS, which the stack-name check in config relies on", () => {
    const known = new Set<string>(Object.values(ROUTER_MOUNT_IDS).flat());
    const tags = r.resources.flatMap(
      (res) => JSON.stringify(res.wire ?? {}).match(/haproxy-edge:prod:mnt-[A-Za-z0-9._-]+/g) ?? [],
    );
    assert.ok(new Set(tags).size >= 2 + 2 * WORKERS.length, `${new Set(tags).size} mount tags`);
    for (const t of tags) assert.ok(known.has(t.split("-").pop() ?? ""), t);
  });

  it("declares no Docker host at all: HAProxy and an API sidecar per worker as RouterOS containers", () => {
    const counts = countByType(r.resources);
    for (const t of [
      "pulumi:providers:docker",
      "docker:index/container:Container",
      "docker:index/volume:Volume",
    ])
      assert.equal(counts[t], undefined, t);
    assert.equal(counts["haproxy-edge:routeros:Container"], 2 + 2 * WORKERS.length);
    assert.equal(counts["command:local:Command"], WORKERS.length, "one API check per worker");
    assert.equal(counts["pulumi-nodejs:dynamic/dataplane:WorkerRoutes"], WORKERS.length);
  });

  it("limits every container's memory on the router (7.21: memory-high, no memory-max yet)", () => {
    const containers = r.resources.filter(
      (c) => c.name.endsWith("-container-container") || c.name.endsWith("-dataplaneapi-container"),
    );
    assert.equal(containers.length, 2 + 2 * WORKERS.length);
    for (const c of containers) {
      const create = String(plain(c.wire.create));
      assert.match(create, /\/container\/add [^;]* memory-high=512M /, c.name);
      assert.doesNotMatch(create, /memory-max/, c.name);
    }
  });

  it("mounts the worker's config and master-socket lists into its API sidecar, which goes after it", () => {
    for (const w of WORKERS) {
      const create = String(plain(r.byName(`prod-${w}-dataplaneapi-container`).wire.create));
      assert.ok(
        create.includes(
          `mountlists="prod-${w}-api-edge,prod-${w}-api-state,prod-${w}-config,prod-${w}-master"`,
        ),
        create,
      );
      assert.ok(create.includes(`interface="edge-api${WORKERS.indexOf(w)}"`), create);
      const worker = String(plain(r.byName(`prod-${w}-container-container`).wire.create));
      assert.ok(worker.includes(`mountlists="prod-${w}-edge,prod-${w}-config,prod-${w}-master"`), worker);
      // The sidecar (all of its objects) waits for the worker's container: destroy removes it first.
      const workerContainer = r.byName(`prod-${w}-container-container`).urn;
      for (const res of descendants(r, `prod-${w}-dataplaneapi`))
        assert.ok(res.dependencies.includes(workerContainer), `${res.name} does not wait for ${w}`);
    }
  });

  it("checks and writes the routes through an SSH forward on the router, the key a secret", () => {
    WORKERS.forEach((w, i) => {
      const check = r.byName(`prod-${w}-check`);
      const env = check.wire.environment as Record<string, unknown>;
      assert.equal(plain(env.DPAPI_URL), `http://172.20.0.${21 + i}:5555`);
      assert.deepEqual(JSON.parse(String(plain(env.DPAPI_ROUTER))), {
        host: "192.168.88.1",
        port: 22,
        user: "pulumi",
        hostKey: PROD_HOST_KEY,
      });
      assert.equal(env.DPAPI_SSH, undefined);
      assert.deepEqual(secretPaths(env).sort(), ["DPAPI_PASSWORD", "DPAPI_ROUTER_KEY"]);
      assert.equal(plain(env.DPAPI_ROUTER_KEY), TEST_SECRETS.routerPrivateKey);

      const routes = r.byName(`prod-${w}-routes`);
      assert.equal(plain(routes.wire.url), `http://172.20.0.${21 + i}:5555`);
      assert.deepEqual(plain(routes.wire.router), {
        host: "192.168.88.1",
        port: 22,
        user: "pulumi",
        hostKey: PROD_HOST_KEY,
      });
      assert.ok(secretPaths(routes.wire).includes("routerKey"), JSON.stringify(secretPaths(routes.wire)));
      assert.ok(routes.additionalSecretOutputs.includes("routerKey"));
      assert.equal(routes.wire.ssh, undefined);
    });
  });

  it("points the load balancer at the workers' veths and each worker's PROXY frontend at the load balancer's", () => {
    const uploads = r.ofType("pulumi-nodejs:dynamic/routeros:SftpFile");
    const file = (remotePath: RegExp) => {
      const u = uploads.find((x) => remotePath.test(String(plain(x.wire.path))));
      assert.ok(u, String(remotePath));
      return String(plain(u.wire.content));
    };
    const lbCfg = file(/\/lb-edge\/haproxy\.cfg$/);
    WORKERS.forEach((w, i) => {
      assert.match(lbCfg, new RegExp(`^ +server ${w} 172\\.20\\.0\\.${4 + i}:8080$`, "m"), w);
      const bootstrap = file(new RegExp(`/${w}-edge/haproxy\\.cfg$`));
      assert.match(bootstrap, /tcp-request connection reject if !\{ src 172\.20\.0\.2\/32 \}/, w);
    });
  });

  it("keeps secrets out of every command string", () => {
    const secrets = [TEST_SECRETS.routerPrivateKey.split("\n")[1], ...MOCK_PASSWORDS];
    for (const c of r.ofType(ROUTER_COMMAND))
      for (const s of strings(withoutSecrets(c.wire)))
        for (const secret of secrets) assert.ok(!s.includes(secret), `${c.name}: ${secret}`);
  });

  it("rolls out load balancer → staging → prod-1 → prod-2, each worker after the previous worker's routes", () => {
    const routesOf = (w: string) => r.byName(`prod-${w}-routes`).urn;
    for (const [prev, next] of [
      ["staging", "prod-1"],
      ["prod-1", "prod-2"],
    ])
      for (const res of descendants(r, `prod-${next}`))
        assert.ok(
          res.dependencies.includes(routesOf(prev)),
          `${res.name} does not wait for ${prev}'s routes`,
        );
    assertLoadBalancerFirst(r, "prod");
  });

  for (const version of VERSIONS) {
    it(`RouterOS ${version} accepts every command in order, the sidecars' shared mounts included, restarts certbot on schedule, and deletes back to empty`, async () => {
      const run = await onRouter({ hosts: routerHosts(version) });
      const sims = new SimFactory();
      try {
        // The example connects as `pulumi`, a user in a group with the policies the stack needs.
        const sim = sims.make(version, { users: { pulumi: "full" } }, ["usb1"]);
        const commands = run.ofType(ROUTER_COMMAND);
        for (const c of commands) {
          const out = sim.run(String(plain(c.wire.create)));
          assert.doesNotThrow(() => checkRouterOutput(out), `${c.name}: ${out}`);
        }
        const containers = sim.state.tables["/container"].items.map((i) => i.props);
        const key = versionOf(version).containerMountsKey;
        const sidecar = containers.find((c) => c.comment?.endsWith(":ctr-prod-prod-1-api"));
        assert.ok(sidecar, JSON.stringify(containers));
        assert.deepEqual(sidecar[key]?.split(","), [
          "prod-prod-1-api-edge",
          "prod-prod-1-api-state",
          "prod-prod-1-config",
          "prod-prod-1-master",
        ]);
        assert.equal(containers.length, 2 + 2 * WORKERS.length);
        // The program's renewal schedule, run by the router's clock, starts the certbot container again (found by
        // its tag: before 7.19 its name is a UUID).
        const certbot = () =>
          sim.state.tables["/container"].items.find((i) => i.props.comment?.endsWith(":ctr-prod-certbot"));
        assert.equal(
          sim.run(`/container/stop [find where comment="${certbot()?.props.comment}"]; :delay 5s`),
          "",
        );
        assert.equal(certbot()?.container?.phase, "stopped");
        sim.advance(86_400_000);
        assert.equal(certbot()?.container?.phase, "running", JSON.stringify(sim.state.log.slice(-3)));
        for (const c of [...commands].reverse()) {
          const out = sim.run(String(plain(c.wire.delete)));
          assert.doesNotThrow(() => checkRouterOutput(out), `${c.name} delete: ${out}`);
        }
        for (const [menu, table] of Object.entries(sim.state.tables)) assert.deepEqual(table.items, [], menu);
      } finally {
        sims.cleanup();
      }
    });
  }
});

/** The prod stack's hosts with the router at another RouterOS version. */
function routerHosts(version: string): Record<string, unknown> {
  const file = loadStackFile("prod");
  const hosts = JSON.parse(file.config[`${NS}hosts`]) as Record<string, Record<string, unknown>>;
  return { ...hosts, "edge-router": { ...hosts["edge-router"], version } };
}

describe("index.ts under Pulumi mocks, SSH host keys", () => {
  /** Runs the prod stack with `hosts` changed by `edit`; returns the run and what the program warned. */
  async function runWarned(edit: (hosts: Record<string, Record<string, unknown>>) => void) {
    const file = loadStackFile("prod");
    const hosts = JSON.parse(file.config[`${NS}hosts`]) as Record<string, Record<string, unknown>>;
    edit(hosts);
    const config = { ...file.config, [`${NS}hosts`]: JSON.stringify(hosts) };
    // Without an engine (mocks), pulumi.log.warn writes `warning: [runtime] <message>` to console.warn.
    const warned: string[] = [];
    const original = console.warn;
    console.warn = (...args: unknown[]) => warned.push(args.map(String).join(" "));
    try {
      const run = await runProgram({
        stack: "prod",
        config,
        secretKeys: [...file.secretKeys].map((k) => `${NS}${k}`),
      });
      return { run, warned: warned.filter((w) => w.includes("host key")) };
    } finally {
      console.warn = original;
    }
  }

  it("with the router's key pinned, warns nothing and every router session carries the key", async () => {
    const { run, warned } = await runWarned(() => undefined);
    assert.deepEqual(warned, []);
    const commands = run.ofType(ROUTER_COMMAND);
    assert.ok(commands.length > 0);
    for (const c of commands)
      assert.deepEqual(plain(c.wire.router), {
        host: "192.168.88.1",
        port: 22,
        user: "pulumi",
        hostKey: PROD_HOST_KEY,
      });
  });

  it("with insecureAcceptAnyHostKey, warns naming the router on every run, and the sessions say so", async () => {
    const { run, warned } = await runWarned((hosts) => {
      delete hosts["edge-router"].hostKey;
      hosts["edge-router"].insecureAcceptAnyHostKey = true;
    });
    assert.deepEqual(warned, [
      "warning: [runtime] host edge-router: the router's SSH host key is not verified " +
        "(hosts.edge-router.insecureAcceptAnyHostKey: true): whoever answers at its address receives its secrets; " +
        "pin the key instead (docs/operations.md#ssh-host-keys)",
    ]);
    for (const c of run.ofType(ROUTER_COMMAND))
      assert.deepEqual(plain(c.wire.router), {
        host: "192.168.88.1",
        port: 22,
        user: "pulumi",
        acceptAnyHostKey: true,
      });
  });

  it("gives a remote Docker host's provider StrictHostKeyChecking=yes unless its sshOpts set it", async () => {
    const { run, warned } = await runWarned((hosts) => {
      hosts["docker-1"].sshOpts = ["-o", "BatchMode=yes"];
    });
    assert.deepEqual(warned, []);
    const provider = run
      .ofType("pulumi:providers:docker")
      .find((p) => plain(p.wire.host) === "ssh://deploy@docker-1.lan");
    assert.ok(provider);
    assert.deepEqual(JSON.parse(String(plain(provider.wire.sshOpts))), [
      "-o",
      "StrictHostKeyChecking=yes",
      "-o",
      "BatchMode=yes",
    ]);
  });

  it("refuses a router without hostKey before registering anything", async () => {
    const sink: Registered[] = [];
    const file = loadStackFile("prod");
    const hosts = JSON.parse(file.config[`${NS}hosts`]) as Record<string, Record<string, unknown>>;
    delete hosts["edge-router"].hostKey;
    await assert.rejects(
      runProgram({
        stack: "prod",
        config: { ...file.config, [`${NS}hosts`]: JSON.stringify(hosts) },
        secretKeys: [...file.secretKeys].map((k) => `${NS}${k}`),
        sink,
      }),
      (e: unknown) => /hosts\.edge-router\.hostKey: is required/.test(configErrorOf(e).message),
    );
    assert.deepEqual(sink, []);
  });
});
