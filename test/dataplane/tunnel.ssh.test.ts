/**
 * SSH tier of the router tunnel (dataplane/tunnel.ts `openRouterTunnel`), of the `WorkerRoutes` provider with a
 * `router`, and of dataplane/check-worker.ts with `DPAPI_ROUTER`: a worker's Data Plane API sidecar on a RouterOS
 * router is reached through an SSH local forward (`direct-tcpip`) on the router.
 *
 * The router is the RouterOS simulator behind a real OpenSSH sshd on 127.0.0.1 (test/support/routeros-sim), with
 * `forwarding: true` standing for `/ip ssh set forwarding-enabled=local` (sshd allows forwards to 127.0.0.1
 * only). The sidecar is the in-memory fake Data Plane API on 127.0.0.1: its URL stands for the sidecar's veth
 * address on the router's container bridge. A second simulator keeps RouterOS' default (forwarding refused), which
 * also proves that the provider and the check really go through the router: the fake stays reachable directly,
 * yet they fail with the router's hint.
 *
 * Needs /usr/sbin/sshd; not part of the unit tier (`*.ssh.test.ts`).
 *
 *   npx mocha --no-config --require tsx/cjs --timeout 600000 test/dataplane/tunnel.ssh.test.ts
 */
import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import {
  endpointKey,
  workerRoutesProvider,
  type WorkerRoutesInputs,
  type WorkerRoutesOutputs,
} from "../../dataplane/provider";
import type { Backend } from "../../dataplane/routes";
import type { RouteSpec } from "../../config/routes";
import { journalPath } from "../../dataplane/sync";
import { accepts, openRouterTunnel, openTunnel, ROUTER_FORWARDING_HINT } from "../../dataplane/tunnel";
import { sshArgsWithHostKeyChecking } from "../../config/host-keys";
import type { RouterSsh } from "../../routeros/ssh";
import { FakeDataplane } from "../support/fake-dataplane";
import {
  addForeignEntries,
  api,
  app,
  fe,
  foreignAcl,
  foreignRule,
  ours,
} from "../support/worker-routes-fixtures";
import { startRouterOsSim, type RouterOsSimServer } from "../support/routeros-sim/sshd";

const REPO = path.resolve(__dirname, "../..");
const CHECK_WORKER = path.join(REPO, "dataplane", "check-worker.ts");

/** The router as the stack configures it, host key pinned. */
function routerOf(sim: RouterOsSimServer, hostKey = sim.hostPublicKey): RouterSsh {
  return { host: sim.host, port: sim.port, user: sim.user, hostKey };
}

function inputs(
  fake: FakeDataplane,
  sim: RouterOsSimServer,
  routes: Record<string, RouteSpec>,
  router: RouterSsh = routerOf(sim),
): WorkerRoutesInputs {
  return {
    worker: "staging",
    url: fake.url,
    user: fake.user,
    password: fake.password,
    router,
    routerKey: sim.privateKey,
    frontend: "fe_edge",
    routes,
  };
}

/** Fails if `text` holds any part of the private key (its armour or any line of its base64 body). */
function assertNoKeyMaterial(text: string, privateKey: string): void {
  assert.doesNotMatch(text, /PRIVATE KEY/);
  const body = privateKey
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.length >= 16 && !l.startsWith("-----"));
  assert.ok(body.length > 0, "the key has a body");
  for (const line of body) assert.ok(!text.includes(line), "a line of the private key appears in the output");
  assert.ok(!text.includes(body.join("")), "the private key appears in the output");
}

/** One HTTP GET on a fresh connection (no keep-alive pool), bounded by `timeoutMs`. */
function httpGet(url: string, auth?: string, timeoutMs = 10_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      url,
      {
        agent: false,
        timeout: timeoutMs,
        headers: auth ? { authorization: `Basic ${Buffer.from(auth).toString("base64")}` } : {},
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`GET ${url}: no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
  });
}

/** Runs dataplane/check-worker.ts (as the check resource does) with a clean environment plus `env`; bounded by `timeoutMs` (then SIGKILL). */
function checkWorker(
  env: Record<string, string>,
  timeoutMs = 90_000,
): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", CHECK_WORKER], {
      cwd: REPO,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

function checkEnv(fake: FakeDataplane, sim: RouterOsSimServer, router: RouterSsh): Record<string, string> {
  return {
    WORKER_NAME: "staging",
    DPAPI_URL: fake.url,
    DPAPI_USER: fake.user,
    DPAPI_PASSWORD: fake.password,
    DPAPI_FRONTEND: "fe_edge",
    DPAPI_ROUTER: JSON.stringify(router),
    DPAPI_ROUTER_KEY: sim.privateKey,
    CHECK_TIMEOUT_SECONDS: "60",
  };
}

describe("dataplane/tunnel through a RouterOS router's SSH forward (tunnel.ssh)", function () {
  this.timeout(120_000);
  /** `/ip ssh set forwarding-enabled=local`. */
  let router: RouterOsSimServer;
  /** RouterOS' default: forwarding refused. */
  let closedRouter: RouterOsSimServer;
  let fake: FakeDataplane;
  const provider = workerRoutesProvider({ reloadTimeoutMs: 5000, requestTimeoutMs: 5000 });

  before(async () => {
    [router, closedRouter] = await Promise.all([
      startRouterOsSim({ version: "7.21", forwarding: true }),
      startRouterOsSim({ version: "7.21" }),
    ]);
  });
  after(async () => {
    await Promise.all([router?.stop(), closedRouter?.stop()]);
  });

  beforeEach(async () => {
    fake = await new FakeDataplane().start();
    addForeignEntries(fake);
  });
  afterEach(async () => {
    await fake.stop();
    for (const sim of [router, closedRouter]) {
      if (sim) fs.rmSync(journalPath(endpointKey({ url: fake.url, router: routerOf(sim) })), { force: true });
    }
  });

  it("the simulators' sshd configs: forwarding to 127.0.0.1 only when on, none by default", () => {
    const on = fs.readFileSync(path.join(router.dir, "sshd_config"), "utf8").split("\n");
    assert.ok(on.includes("AllowTcpForwarding local"));
    assert.ok(on.includes("PermitOpen 127.0.0.1:*"));
    const off = fs.readFileSync(path.join(closedRouter.dir, "sshd_config"), "utf8").split("\n");
    assert.ok(off.includes("AllowTcpForwarding no"));
    assert.ok(!off.some((l) => l.startsWith("PermitOpen")));
  });

  describe("openRouterTunnel", () => {
    it("carries an HTTP request to the API on the router's bridge", async () => {
      const tunnel = await openRouterTunnel(routerOf(router), router.privateKey, fake.url, 15_000);
      try {
        assert.match(tunnel.url, /^http:\/\/127\.0\.0\.1:\d+$/);
        assert.notEqual(tunnel.url, fake.url);
        const before = fake.requests.length;
        const res = await httpGet(`${tunnel.url}/v3/health`, `${fake.user}:${fake.password}`);
        assert.deepEqual([res.status, JSON.parse(res.body)], [200, { haproxy: "up" }]);
        assert.deepEqual(
          fake.requests.slice(before).map((r) => `${r.method} ${r.path} ${r.status}`),
          ["GET /v3/health 200"],
        );
        assert.equal(tunnel.lastError(), undefined);
      } finally {
        tunnel.close();
      }
    });

    it("carries 12 concurrent requests, each on its own connection and forward", async () => {
      const tunnel = await openRouterTunnel(routerOf(router), router.privateKey, fake.url, 15_000);
      try {
        const auth = `${fake.user}:${fake.password}`;
        const paths = Array.from({ length: 12 }, (_, i) =>
          i % 3 === 0
            ? "/v3/health"
            : i % 3 === 1
              ? "/v3/services/haproxy/configuration/frontends/fe_edge"
              : "/v3/services/haproxy/configuration/version",
        );
        const answers = await Promise.all(paths.map((p) => httpGet(`${tunnel.url}${p}`, auth)));
        assert.deepEqual(
          answers.map((a) => a.status),
          paths.map(() => 200),
        );
        answers.forEach((a, i) => {
          const body = JSON.parse(a.body) as unknown;
          if (i % 3 === 0) assert.deepEqual(body, { haproxy: "up" });
          else if (i % 3 === 1) assert.deepEqual(body, { name: "fe_edge", mode: "http" });
          else assert.equal(body, fake.version);
        });
        assert.equal(tunnel.lastError(), undefined);
      } finally {
        tunnel.close();
      }
    });

    it("close() closes the local port", async () => {
      const tunnel = await openRouterTunnel(routerOf(router), router.privateKey, fake.url, 15_000);
      const port = Number(new URL(tunnel.url).port);
      assert.equal((await httpGet(`${tunnel.url}/v3/health`, `${fake.user}:${fake.password}`)).status, 200);
      tunnel.close();
      let open = true;
      const deadline = Date.now() + 5000;
      for (let i = 0; i < 50 && open && Date.now() < deadline; i++) open = await accepts(port);
      assert.equal(open, false, `127.0.0.1:${port} still accepts connections after close()`);
    });

    it("with forwarding refused (RouterOS default), records the hint", async () => {
      const tunnel = await openRouterTunnel(
        routerOf(closedRouter),
        closedRouter.privateKey,
        fake.url,
        15_000,
      );
      try {
        await assert.rejects(httpGet(`${tunnel.url}/v3/health`, `${fake.user}:${fake.password}`));
        assert.ok(tunnel.lastError()?.startsWith(ROUTER_FORWARDING_HINT), tunnel.lastError());
        assert.match(tunnel.lastError() ?? "", /forwarding-enabled=local/);
        assert.equal(fake.requests.length, 0, "nothing reached the API");
      } finally {
        tunnel.close();
      }
    });

    it("refuses a router whose host key is not the pinned one, without key material in the error", async () => {
      const wrong = routerOf(router, closedRouter.hostPublicKey);
      const err = await openRouterTunnel(wrong, router.privateKey, fake.url, 15_000).then(
        () => assert.fail("the tunnel opened with a wrong host key"),
        (e: Error) => e,
      );
      assert.match(err.message, /host key does not match/);
      assert.match(err.message, new RegExp(`${router.user}@127\\.0\\.0\\.1:${router.port}`));
      assertNoKeyMaterial(`${err.message}\n${err.stack ?? ""}`, router.privateKey);
      assert.equal(fake.requests.length, 0);
    });

    it("refuses an unusable key at once, naming the router, and leaves no timer behind", async function () {
      this.timeout(30_000);
      const err = await openRouterTunnel(routerOf(router), "not a key", fake.url, 15_000).then(
        () => assert.fail("the tunnel opened with no key"),
        (e: Error) => e,
      );
      assert.match(err.message, /^ssh tunnel through .*: the router key is not a usable private key/);
      // In a process of its own: a pending 15 s timer would keep it (a `pulumi up`) alive for nothing.
      const script = `require(${JSON.stringify(path.join(REPO, "dataplane", "tunnel.ts"))})
        .openRouterTunnel({ host: "127.0.0.1", port: ${router.port}, user: "u" }, "not a key", "http://127.0.0.1:1", 15000)
        .catch(() => undefined);`;
      const started = Date.now();
      const code = await new Promise<number | null>((resolve, reject) => {
        const child = spawn(process.execPath, ["--require", "tsx/cjs", "-e", script], {
          cwd: REPO,
          stdio: "ignore",
        });
        const kill = setTimeout(() => child.kill("SIGKILL"), 25_000);
        child.on("error", reject);
        child.on("close", (c) => {
          clearTimeout(kill);
          resolve(c);
        });
      });
      assert.equal(code, 0);
      assert.ok(Date.now() - started < 10_000, `the process lived ${Date.now() - started} ms`);
    });
  });

  describe("workerRoutesProvider with router + routerKey", () => {
    it("create writes the routes through the router, and names the endpoint routeros://user@host:port", async () => {
      const via = `routeros://${router.user}@127.0.0.1:${router.port}`;
      assert.equal(endpointKey({ url: fake.url, router: routerOf(router) }), `${via}|${fake.url}`);
      const v0 = fake.version;
      const res = await provider.create(inputs(fake, router, { app, api }));
      assert.equal(res.id, `staging@${via}|${fake.url}`);
      assert.deepEqual(res.outs?.routes, { api, app });
      assert.equal(res.outs?.routerKey, router.privateKey, "kept as an input (the resource makes it secret)");
      assert.equal(fake.version, v0 + 1);
      assert.equal(fake.count("POST", /transactions$/), 1);
      assert.deepEqual(ours(fake), ["route_api", "route_app"]);
      assert.deepEqual(
        fe(fake).acls.map((a) => a.acl_name),
        ["is_office", "route_api_host", "route_api_path", "route_app_host"],
      );
      assert.deepEqual(
        fe(fake).rules.map((r) => `${r.name} ${r.cond_test}`),
        ["be_manual is_office", "route_api route_api_host route_api_path", "route_app route_app_host"],
      );
      const b = fake.config.backends.find((x) => x.name === "route_app") as Backend;
      assert.deepEqual(
        Object.values(b.servers ?? {}).map((s) => `${s.name} ${s.address}:${s.port}`),
        ["s1 10.0.0.1:8080", "s2 10.0.0.2:8080"],
      );
      assert.deepEqual(fake.openTransactions(), []);
    });

    it("read returns the routes through the router", async () => {
      const created = await provider.create(inputs(fake, router, { app, api }));
      const read = await provider.read(created.id, created.outs as WorkerRoutesOutputs);
      assert.equal(read.id, created.id);
      assert.deepEqual(read.props?.routes, { api, app });
      assert.deepEqual(read.props?.router, routerOf(router));
    });

    it("update changes a server through the router", async () => {
      const created = await provider.create(inputs(fake, router, { app, api }));
      const changed = { ...app, servers: ["10.0.0.9:8080"] };
      const res = await provider.update(
        created.id,
        created.outs as WorkerRoutesOutputs,
        inputs(fake, router, { app: changed, api }),
      );
      assert.deepEqual(res.outs?.routes, { api, app: changed });
      const b = fake.config.backends.find((x) => x.name === "route_app") as Backend;
      assert.deepEqual(
        Object.values(b.servers ?? {}).map((s) => `${s.name} ${s.address}:${s.port}`),
        ["s1 10.0.0.9:8080"],
      );
      const other = fake.config.backends.find((x) => x.name === "route_api") as Backend;
      assert.equal(other.servers?.s1.address, "10.0.0.3");
      assert.deepEqual(fake.openTransactions(), []);
    });

    it("delete removes the routes through the router, keeping foreign entries", async () => {
      const created = await provider.create(inputs(fake, router, { app, api }));
      await provider.delete(created.id, created.outs as WorkerRoutesOutputs);
      assert.deepEqual(ours(fake), []);
      assert.deepEqual(fe(fake).acls, [foreignAcl]);
      assert.deepEqual(fe(fake).rules, [foreignRule]);
      assert.ok(fake.config.backends.some((b) => b.name === "be_manual"));
      assert.deepEqual(fake.openTransactions(), []);
    });

    it("with forwarding refused (RouterOS default), create fails with the hint and writes nothing", async () => {
      const v0 = fake.version;
      const err = await provider.create(inputs(fake, closedRouter, { app })).then(
        () => assert.fail("create succeeded through a router that refuses forwarding"),
        (e: Error) => e,
      );
      assert.match(err.message, /forwarding-enabled=local/);
      assertNoKeyMaterial(`${err.message}\n${err.stack ?? ""}`, closedRouter.privateKey);
      assert.equal(fake.version, v0);
      assert.equal(fake.requests.length, 0, "nothing reached the API");
    });

    it("with a wrong pinned host key, create fails naming the host key, without key material", async () => {
      const wrong = routerOf(router, closedRouter.hostPublicKey);
      const err = await provider.create(inputs(fake, router, { app }, wrong)).then(
        () => assert.fail("create succeeded with a wrong host key"),
        (e: Error) => e,
      );
      assert.match(err.message, /host key does not match/);
      assertNoKeyMaterial(`${err.message}\n${err.stack ?? ""}`, router.privateKey);
      assert.equal(fake.requests.length, 0, "nothing reached the API");
    });
  });

  describe("dataplane/check-worker.ts with DPAPI_ROUTER", () => {
    it("passes against the API behind the router", async () => {
      const r = await checkWorker(checkEnv(fake, router, routerOf(router)));
      assert.equal(r.code, 0, r.stderr);
      assert.equal(
        r.stdout,
        "haproxy-edge check staging: HAProxy up, frontend fe_edge present, API requires auth\n",
      );
      assert.deepEqual(
        fake.requests.map((q) => `${q.method} ${q.path} ${q.status}`),
        [
          "GET /v3/health 200",
          "GET /v3/services/haproxy/configuration/frontends/fe_edge 200",
          "GET /v3/services/haproxy/configuration/version 401",
        ],
      );
      assertNoKeyMaterial(r.stdout + r.stderr, router.privateKey);
    });

    it("with forwarding refused (RouterOS default), fails at once with the hint", async () => {
      const r = await checkWorker(checkEnv(fake, closedRouter, routerOf(closedRouter)));
      assert.equal(r.code, 1, r.stdout);
      assert.ok(r.ms < 20_000, `took ${r.ms} ms of CHECK_TIMEOUT_SECONDS=60`);
      assert.match(r.stderr, /^haproxy-edge check staging: FAILED: .*forwarding-enabled=local/m);
      assert.equal(r.stdout, "");
      assertNoKeyMaterial(r.stderr, closedRouter.privateKey);
      assert.equal(fake.requests.length, 0, "nothing reached the API");
    });

    it("with a wrong pinned host key, fails naming the host key, without key material", async () => {
      const r = await checkWorker(checkEnv(fake, router, routerOf(router, closedRouter.hostPublicKey)));
      assert.equal(r.code, 1, r.stdout);
      assert.ok(r.ms < 20_000, `took ${r.ms} ms of CHECK_TIMEOUT_SECONDS=60`);
      assert.match(r.stderr, /^haproxy-edge check staging: FAILED: .*host key/im);
      assert.equal(r.stdout, "");
      assertNoKeyMaterial(r.stderr, router.privateKey);
      assert.equal(fake.requests.length, 0, "nothing reached the API");
    });

    it("with an unusable key, fails at once saying so", async () => {
      const r = await checkWorker({
        ...checkEnv(fake, router, routerOf(router)),
        DPAPI_ROUTER_KEY: "not a key",
      });
      assert.equal(r.code, 1, r.stdout);
      assert.ok(r.ms < 10_000, `took ${r.ms} ms of CHECK_TIMEOUT_SECONDS=60`);
      assert.match(
        r.stderr,
        /^haproxy-edge check staging: FAILED: .*the router key is not a usable private key/m,
      );
      assert.equal(fake.requests.length, 0, "nothing reached the API");
    });
  });
});

describe("dataplane/tunnel openTunnel (OpenSSH, ssh:// Docker hosts): host keys (ssh)", function () {
  this.timeout(120_000);
  let sim: RouterOsSimServer;
  let other: RouterOsSimServer;
  let dir: string;
  let keyFile: string;
  before(async () => {
    [sim, other] = await Promise.all([
      startRouterOsSim({ version: "7.21", forwarding: true }),
      startRouterOsSim({ version: "7.21" }),
    ]);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "haproxy-edge-hostkeys-"));
    keyFile = path.join(dir, "id_ed25519");
    fs.writeFileSync(keyFile, sim.privateKey, { mode: 0o600 });
  });
  after(async () => {
    await Promise.all([sim?.stop(), other?.stop()]);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** A known_hosts file pinning `line`'s key for the simulator's address and port. */
  function knownHosts(name: string, line: string): string {
    const file = path.join(dir, name);
    fs.writeFileSync(file, `[127.0.0.1]:${sim.port} ${line.split(/\s+/).slice(0, 2).join(" ")}\n`);
    return file;
  }

  /**
   * The tunnel the worker check and WorkerRoutes open for a stack whose sshOpts are `sshOpts`, as the model
   * passes them (config/host-keys.ts sshArgsWithHostKeyChecking); `extra` stands for the operator's
   * ~/.ssh/config (ssh reads the command line first). Resolves to the error, or undefined once it opened.
   */
  async function tunnel(sshOpts: string[], extra: string[] = []): Promise<string | undefined> {
    const args = [
      ...sshArgsWithHostKeyChecking(["-i", keyFile, "-o", "IdentitiesOnly=yes", ...sshOpts]),
      ...extra,
    ];
    try {
      const t = await openTunnel(`${sim.user}@127.0.0.1:${sim.port}`, args, "http://127.0.0.1:9", 20_000);
      t.close();
      return undefined;
    } catch (e) {
      return (e as Error).message;
    }
  }

  it("opens with the host pinned in known_hosts", async () => {
    assert.equal(
      await tunnel(["-o", `UserKnownHostsFile=${knownHosts("good", sim.hostPublicKey)}`]),
      undefined,
    );
  });

  it("refuses a host whose key is not the pinned one", async () => {
    const err = await tunnel(["-o", `UserKnownHostsFile=${knownHosts("wrong", other.hostPublicKey)}`]);
    assert.match(err ?? "opened", /Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/);
  });

  it("refuses a host that is not pinned at all, and adds nothing to known_hosts", async () => {
    const empty = knownHosts("empty", "");
    fs.writeFileSync(empty, "");
    const err = await tunnel([
      "-o",
      `UserKnownHostsFile=${empty}`,
      "-o",
      "GlobalKnownHostsFile=/nonexistent",
    ]);
    assert.match(err ?? "opened", /Host key verification failed/);
    assert.equal(fs.readFileSync(empty, "utf8"), "");
  });

  it("stays refused when ~/.ssh/config says StrictHostKeyChecking no (the program's yes comes first)", async () => {
    const config = path.join(dir, "ssh_config");
    fs.writeFileSync(config, "Host *\n  StrictHostKeyChecking no\n");
    const empty = path.join(dir, "empty2");
    fs.writeFileSync(empty, "");
    const err = await tunnel(
      ["-o", `UserKnownHostsFile=${empty}`, "-o", "GlobalKnownHostsFile=/nonexistent"],
      ["-F", config],
    );
    assert.match(err ?? "opened", /Host key verification failed/);
    assert.equal(fs.readFileSync(empty, "utf8"), "");
  });
});
