/**
 * System tier, several Docker hosts: the load balancer on the local engine, the staging and production workers
 * on a second engine reached over `ssh://` (test/system/remote-docker.ts: its own dockerd and OpenSSH server in
 * a network namespace, host key pinned), applied by `pulumi up`. Real traffic through the load balancer on
 * 127.0.0.1 reaches the workers on the other host and their backends there; the rollout order (load balancer →
 * staging → prod-1 → prod-2) holds across the two engines; `pulumi destroy` empties both.
 */
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { FILES } from "../../config/model";
import { DockerApi } from "../../docker/api";
import { loadStackFile } from "../support/stack-config";
import type { Engine } from "./engine";
import { LOCAL_ADDRESS, RemoteDocker, REMOTE_ADDRESS } from "./remote-docker";
import {
  IMAGES,
  NETWORK,
  STACK,
  STACK_FILE,
  assertNoChanges,
  demoBackendRun,
  header,
  httpsRequest,
  removeLeftovers,
  run,
  stackObjects,
  systemEngine,
  until,
  type Echo,
} from "./support";

const log = process.env.SYSTEM_TEST_VERBOSE ? (l: string) => console.log(`      ${l}`) : undefined;
/** The edge network's subnet on the second host, and its demo backends there. */
const REMOTE_SUBNET = "172.31.90.0/24";
const BACKENDS = [
  { name: "app-1", ip: "172.31.90.100" },
  { name: "app-2", ip: "172.31.90.101" },
];
const APP = "app.systest.example.com";
const STAGING_APP = "app.staging.systest.example.com";

/** The system stack with its workers on the second host and one route to the backends there. */
function overrides(remote: RemoteDocker): Record<string, unknown> {
  const local = JSON.parse(loadStackFile(STACK_FILE).config["haproxy-edge:hosts"]) as Record<string, object>;
  return {
    hosts: {
      // The address the second host sees the load balancer's connections from (masqueraded onto the veth).
      local: { ...local.local, address: LOCAL_ADDRESS },
      remote: {
        kind: "docker",
        url: remote.url,
        sshOpts: remote.sshOpts,
        address: REMOTE_ADDRESS,
        subnet: REMOTE_SUBNET,
      },
    },
    stagingWorkerHost: "remote",
    productionWorkerHosts: ["remote", "remote"],
    routes: [
      {
        name: "app",
        hosts: [APP],
        servers: BACKENDS.map((b) => `${b.ip}:8080`),
        healthCheckPath: "/healthz",
      },
    ],
  };
}

/** The containers on the second host, in rollout order: each worker, then its Data Plane API sidecar. */
const ROLLOUT = [
  "staging",
  "staging-dataplaneapi",
  "prod-1",
  "prod-1-dataplaneapi",
  "prod-2",
  "prod-2-dataplaneapi",
];

/** `docker inspect` creation times (ms) of containers on one engine. */
async function createdAt(
  docker: (args: string[]) => Promise<{ code: number; stdout: string }>,
  names: string[],
) {
  const r = await docker(["inspect", "--format", "{{.Name}} {{.Created}}", ...names]);
  assert.equal(r.code, 0, r.stdout);
  return Object.fromEntries(
    r.stdout
      .trim()
      .split("\n")
      .map((l) => {
        const [name, created] = l.split(" ");
        return [name.replace(/^\//, ""), Date.parse(created)];
      }),
  );
}

describe("system: several Docker hosts (workers on a second engine over ssh://) through the real engine", function () {
  this.timeout(900_000);
  let remote: RemoteDocker | undefined;
  let engine: Engine | undefined;
  let ca = "";

  before(async function () {
    await removeLeftovers();
    remote = await RemoteDocker.start([IMAGES.haproxy, IMAGES.demo, IMAGES.dataplaneApi]);
    const r = remote;
    engine = await systemEngine(overrides(r), log);
    // The demo backends join the edge network on the second host as soon as `up` has made it.
    await engine.mustUp(async (done) => {
      while (!done.aborted && (await r.docker(["network", "inspect", NETWORK])).code !== 0)
        await new Promise((resolve) => setTimeout(resolve, 200));
      if (done.aborted) return;
      for (const b of BACKENDS) {
        const started = await r.docker(demoBackendRun(b));
        assert.equal(started.code, 0, started.stderr);
      }
    });
    const cert = (await engine.resources()).find((c) => c.name === `${STACK}-certificate`);
    assert.ok(cert, "no certificate resource");
    const pem = String(cert.outputs.pem);
    ca = pem.slice(0, pem.indexOf("-----END CERTIFICATE-----") + 26);
  });

  after(async function () {
    await engine?.dispose().catch((e) => console.error(e));
    await remote?.stop().catch((e: unknown) => console.error(e));
    await removeLeftovers();
  });

  it("`pulumi preview --expect-no-changes` right after `pulumi up` finds nothing to do", async () => {
    await assertNoChanges(engine as Engine);
  });

  it("runs the load balancer on the local engine and every worker on the second one", async () => {
    assert.deepEqual((await stackObjects()).containers, [`${STACK}-lb`]);
    const r = await (remote as RemoteDocker).docker([
      "ps",
      "--format",
      "{{.Names}}",
      "--filter",
      `label=haproxy-edge.stack=${STACK}`,
    ]);
    assert.deepEqual(r.stdout.trim().split("\n").sort(), ROLLOUT.map((w) => `${STACK}-${w}`).sort());
    // Their files volumes were written, and their pids limits set, over ssh: read-only roots, 512 processes.
    const inspected = await (remote as RemoteDocker).docker([
      "inspect",
      "--format",
      "{{.Name}} {{.HostConfig.ReadonlyRootfs}} {{.HostConfig.PidsLimit}}",
      ...ROLLOUT.map((w) => `${STACK}-${w}`),
    ]);
    assert.deepEqual(
      inspected.stdout.trim().split("\n").sort(),
      ROLLOUT.map((w) => `/${STACK}-${w} true 512`).sort(),
    );
  });

  it("serves traffic through the load balancer to the workers and backends on the other host", async () => {
    const seen = new Set<string>();
    const workers = new Set<string>();
    await until(
      "both backends and both production workers serve",
      async () => {
        const reply = await httpsRequest(APP, "/over-ssh", { ca });
        if (reply.status !== 200) return undefined;
        const e = JSON.parse(reply.body) as Echo;
        seen.add(e.backend);
        workers.add(header(e, "X-Edge-Worker"));
        return seen.size === 2 && workers.size === 2 ? true : undefined;
      },
      60_000,
      100,
    );
    assert.deepEqual([...seen].sort(), ["app-1", "app-2"]);
    assert.deepEqual([...workers].sort(), ["prod-1", "prod-2"]);
    const staging = await httpsRequest(STAGING_APP, "/", { ca });
    assert.equal(staging.status, 200, staging.body);
    assert.equal(header(JSON.parse(staging.body) as Echo, "X-Edge-Worker"), "staging");
  });

  it("rolled out the load balancer, then staging, then prod-1, then prod-2 (each with its API sidecar), across both engines", async () => {
    const r = remote as RemoteDocker;
    const names = ROLLOUT.map((w) => `${STACK}-${w}`);
    const workers = await createdAt((args) => r.docker(args), names);
    const local = await createdAt((args) => run("docker", args, 30_000), [`${STACK}-lb`]);
    const order = [local[`${STACK}-lb`], ...names.map((n) => workers[n])];
    assert.ok(
      order.every((t) => Number.isFinite(t)),
      JSON.stringify(order),
    );
    for (let i = 1; i < order.length; i++)
      assert.ok(order[i - 1] < order[i], `rollout order: ${JSON.stringify(order)}`);
  });

  it("the engine API client (the load balancer's live files) reaches the second host over ssh with its pinned key, and refuses another key", async () => {
    const r = remote as RemoteDocker;
    const api = new DockerApi({ url: r.url, sshArgs: r.sshOpts });
    const cat = await api.exec(`${STACK}-prod-1`, ["cat", FILES.workerBootstrap]);
    assert.equal(cat.exitCode, 0, cat.stderr);
    assert.match(cat.stdout, /frontend fe_edge/);
    // A known_hosts that pins another key for the same address: refused before any request.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "he-known-"));
    try {
      execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path.join(dir, "other")]);
      const other = fs.readFileSync(path.join(dir, "other.pub"), "utf8").split(" ").slice(0, 2).join(" ");
      fs.writeFileSync(path.join(dir, "known_hosts"), `${REMOTE_ADDRESS} ${other}\n`);
      const args = r.sshOpts.map((a) =>
        a.startsWith("UserKnownHostsFile=") ? `UserKnownHostsFile=${path.join(dir, "known_hosts")}` : a,
      );
      await assert.rejects(
        new DockerApi({ url: r.url, sshArgs: args }).exec(`${STACK}-prod-1`, ["true"], 20_000),
        (e: Error) =>
          /ssh: .*(Host key verification failed|HOST IDENTIFICATION HAS CHANGED)/s.test(e.message) ||
          assert.fail(e.message),
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("`pulumi destroy` leaves neither engine a container or network of the stack", async () => {
    const e = engine as Engine;
    const r = remote as RemoteDocker;
    for (const b of BACKENDS) await r.docker(["rm", "-f", `${STACK}-demo-${b.name}`]); // they hold the network
    const destroyed = await e.destroy();
    assert.equal(destroyed.code, 0, destroyed.stdout);
    const left = await stackObjects();
    assert.deepEqual([left.containers, left.networks], [[], []]);
    assert.deepEqual(left.volumes, [`${STACK}-certs`]);
    const remoteLeft = await r.docker(["ps", "-aq", "--filter", `label=haproxy-edge.stack=${STACK}`]);
    assert.equal(remoteLeft.stdout.trim(), "");
    const networks = await r.docker(["network", "ls", "-q", "--filter", `label=haproxy-edge.stack=${STACK}`]);
    assert.equal(networks.stdout.trim(), "");
  });
});
