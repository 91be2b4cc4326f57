/**
 * Live tier (`npm run test:live`, needs the real Data Plane API image): the WorkerRoutes dynamic provider
 * against a REAL worker, started with the docker CLI from the
 * project's own rendered files (see worker-lab.ts): HAProxy 3.0 and the Data Plane API 3.2.7 sidecar, demo
 * backends on a network of the test's own (wr-systest, 172.31.77.0/24), the worker's PROXY port and the API
 * published on 127.0.0.1 only. Traffic goes to 127.0.0.1 with a PROXY v2 header, as the load balancer sends it
 * (the connection's real source, the network's gateway, is a trusted source of the worker).
 *
 * 1. "with the Data Plane API": create / update / diff / read / delete through the provider: routes served,
 *    changes served without a restart, a rejected route named with HAProxy's reason and nothing changed, an
 *    out-of-band edit shown as drift, a concurrent edit retried with both changes kept, no transaction left.
 *    Needs the image haproxy-edge/dataplaneapi:3.2.7 with the real binary (scripts/images.sh); it waits for
 *    the image at most WORKER_ROUTES_IMAGE_WAIT_SECONDS (default 600; 0 on CI, where images are built first).
 * The same objects in HAProxy without the API: worker-routes.system.test.ts.
 */
import { strict as assert } from "node:assert";
import {
  workerRoutesProvider,
  type WorkerRoutesInputs,
  type WorkerRoutesOutputs,
} from "../../dataplane/provider";
import { WORKER_FRONTEND } from "../../config/model";
import { type RouteSpec } from "../../config/routes";
import { servingPid } from "./haproxy-cli";
import {
  BACKENDS,
  HOSTS,
  IMAGES,
  WorkerLab,
  docker,
  expectServed,
  imageIsReal,
  proxyRequest,
  servedBy,
  until,
  type HttpAnswer,
} from "./worker-lab";

const SUBNET = "172.31.77.0/24";

describe("WorkerRoutes against a real worker", function () {
  this.timeout(600_000);

  describe("with the Data Plane API (HAProxy 3.0 + Data Plane API 3.2.7)", () => {
    const lab = new WorkerLab({
      name: "wr-systest",
      subnet: SUBNET,
      backends: BACKENDS,
      haproxyImage: IMAGES.haproxy,
      dataplaneApiImage: IMAGES.dataplaneApi,
      backendImage: IMAGES.backend,
    });
    const provider = workerRoutesProvider({ reloadTimeoutMs: 60_000 });
    let startedAt = "";
    let state: WorkerRoutesOutputs;
    const timings: Record<string, number> = {};

    const inputs = (routes: Record<string, RouteSpec>): WorkerRoutesInputs => ({
      worker: lab.worker.name,
      url: lab.apiUrl,
      user: lab.worker.dataplaneApi.user,
      password: lab.password,
      sshOpts: [],
      frontend: WORKER_FRONTEND,
      routes,
    });
    const route = (hosts: string[], servers: string[], extra: Partial<RouteSpec> = {}): RouteSpec => ({
      hosts,
      servers: servers.map((s) => lab.backendAddress[s]),
      balance: "roundrobin",
      healthCheckPath: "/healthz",
      ...extra,
    });
    const timed = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
      const t0 = Date.now();
      try {
        return await fn();
      } finally {
        timings[what] = Date.now() - t0;
      }
    };
    const version = async () =>
      Number((await lab.api("GET", "/services/haproxy/configuration/version")).text);
    const raw = async () => (await lab.api("GET", "/services/haproxy/configuration/raw")).text;
    const workerPid = () => servingPid(lab.haproxyContainer);
    const reloadIds = async () =>
      (JSON.parse((await lab.api("GET", "/services/haproxy/reloads")).text) as { id: string }[]).map(
        (r) => r.id,
      );
    const openTransactions = async () =>
      JSON.parse(
        (await lab.api("GET", "/services/haproxy/transactions?status=in_progress")).text,
      ) as unknown[];

    before(async function () {
      this.timeout(900_000);
      const waitSeconds = Number(
        process.env.WORKER_ROUTES_IMAGE_WAIT_SECONDS ?? (process.env.CI === "true" ? "0" : "600"),
      );
      await until(
        `image ${IMAGES.dataplaneApi} (built by scripts/images.sh from the dataplaneapi binary of ` +
          "scripts/dataplaneapi.sh, which needs the Go module proxy or HAPROXY_EDGE_DATAPLANEAPI_BIN)",
        async () =>
          (await docker(["image", "inspect", "--format", "{{.Id}}", IMAGES.dataplaneApi])) ? true : undefined,
        waitSeconds * 1000,
        5000,
      );
      await imageIsReal(IMAGES.dataplaneApi);
      try {
        await lab.start();
      } catch (e) {
        await lab.destroy();
        throw e;
      }
      startedAt = await lab.startedAt(lab.haproxyContainer);
    });

    after(async function () {
      this.timeout(120_000);
      if (Object.keys(timings).length > 0) console.log(`      apply times (ms): ${JSON.stringify(timings)}`);
      await lab.destroy();
    });

    afterEach(async () => {
      assert.deepEqual(await openTransactions(), [], "no transaction left in progress");
      assert.equal(await lab.startedAt(lab.haproxyContainer), startedAt, "HAProxy was not restarted");
    });

    it("answers 401 to a wrong password and to no credentials at all", async () => {
      const url = `${lab.apiUrl}/v3/services/haproxy/configuration/version`;
      const wrong = Buffer.from(`${lab.worker.dataplaneApi.user}:not-the-password`).toString("base64");
      for (const headers of [{ authorization: `Basic ${wrong}` }, {}] as Record<string, string>[]) {
        const res = await fetch(url, { headers, signal: AbortSignal.timeout(10_000) });
        assert.equal(res.status, 401, JSON.stringify(Object.keys(headers)));
      }
    });

    it("creates routes: each host and path reaches its backend, other hosts get the 404 page", async () => {
      const v0 = await version();
      const res = await timed("create", () =>
        provider.create(
          inputs({
            app: route([HOSTS.app], ["be1"]),
            api: route([HOSTS.app], ["be2"], {
              pathPrefix: "/api",
              balance: "leastconn",
              healthCheckPath: "/",
            }),
          }),
        ),
      );
      state = res.outs as WorkerRoutesOutputs;
      assert.equal(await version(), v0 + 1, "one transaction, one new version");
      await expectServed(lab, HOSTS.app, "/", "be1");
      await expectServed(lab, "APP.Example.TEST:8443", "/x", "be1");
      await expectServed(lab, HOSTS.app, "/api/users", "be2");
      const other = await proxyRequest(lab.workerPort, "nothing.example.test", "/");
      assert.equal(other.status, 404);
      assert.match(other.body, /<html/i);
      const cfg = await raw();
      assert.match(cfg, /^backend route_app\b/m);
      assert.match(cfg, /"managed_by":"haproxy-edge"/);
    });

    it("reads back exactly what it wrote (no drift), and diffs per route and field", async () => {
      const read = await provider.read("id", state);
      assert.deepEqual(read.props?.routes, state.routes);
      const d = await provider.diff("id", state, {
        ...inputs(state.routes),
        routes: { ...state.routes, app: { ...state.routes.app, servers: [lab.backendAddress.be3] } },
      });
      assert.deepEqual(Object.keys((d as { detailedDiff: object }).detailedDiff), ["routes.app.servers"]);
      assert.deepEqual(d.replaces, []);
    });

    it("updates servers and hosts in place: the new ones are served, no restart", async () => {
      const next = inputs({
        app: route([HOSTS.app, HOSTS.www], ["be3"]),
        api: state.routes.api,
      });
      const res = await timed("update", () => provider.update("id", state, next));
      state = res.outs as WorkerRoutesOutputs;
      await expectServed(lab, HOSTS.app, "/", "be3");
      await expectServed(lab, HOSTS.www, "/", "be3");
      await expectServed(lab, HOSTS.app, "/api/x", "be2");
    });

    it("moves a route's server through HAProxy's runtime API when it is the only change: no reload, the new server answers the next request", async () => {
      const pid = await workerPid();
      assert.ok(pid, "no serving HAProxy process");
      const reloads = (await reloadIds()).length;
      const be1 = lab.backendAddress.be1;
      const next = inputs({ ...state.routes, api: { ...state.routes.api, servers: [be1] } });
      const res = await timed("server-only update", () => provider.update("id", state, next));
      state = res.outs as WorkerRoutesOutputs;
      assert.equal(servedBy(await proxyRequest(lab.workerPort, HOSTS.app, "/api/x")), "be1");
      assert.equal(await workerPid(), pid, "the same HAProxy process serves: no reload");
      assert.equal((await reloadIds()).length, reloads, "the Data Plane API made no reload");
      // Written to the file as well, so a later reload keeps it; read back as applied.
      assert.match(await raw(), new RegExp(`^\\s*server s1 ${be1.replace(/\./g, "\\.")}\\b`, "m"));
      assert.deepEqual((await provider.read("id", state)).props?.routes, state.routes);
    });

    it("names a route HAProxy rejects, with HAProxy's reason, and changes nothing", async () => {
      const v = await version();
      const before = await raw();
      const bad = inputs({ ...state.routes, bad: route([HOSTS.shop], []) });
      bad.routes.bad.servers = ["nope.invalid:80"];
      await assert.rejects(
        timed("rejected", () => provider.update("id", state, bad)),
        (e: Error) => {
          assert.match(e.message, /HAProxy rejected the configuration for route bad\b/);
          assert.match(e.message, /nope\.invalid/);
          assert.ok(!e.message.includes(lab.password));
          return true;
        },
      );
      assert.equal(await version(), v);
      assert.equal(await raw(), before);
      await expectServed(lab, HOSTS.app, "/", "be3");
    });

    it("shows an out-of-band edit as drift on read, and the next update undoes it", async () => {
      const v = await version();
      const edit = await lab.api(
        "PUT",
        `/services/haproxy/configuration/backends/route_app/servers/s1?version=${v}`,
        {
          name: "s1",
          address: lab.backendAddress.be1.split(":")[0],
          port: 8080,
          check: "enabled",
        },
      );
      assert.ok(edit.status < 300, `out-of-band edit: ${edit.status} ${edit.text}`);
      await until("the edit is on disk", async () => ((await version()) > v ? true : undefined), 10_000);
      const read = await provider.read("id", state);
      const live = read.props as WorkerRoutesOutputs;
      assert.deepEqual(live.routes.app.servers, [lab.backendAddress.be1]);
      const d = await provider.diff("id", live, inputs(state.routes));
      assert.ok("routes.app.servers" in (d as { detailedDiff: object }).detailedDiff);
      await timed("undo drift", () => provider.update("id", live, inputs(state.routes)));
      assert.deepEqual((await provider.read("id", state)).props?.routes, state.routes);
      await expectServed(lab, HOSTS.app, "/", "be3");
    });

    it("retries when another client commits during its apply; both changes stay", async () => {
      let raced = 0;
      const racing = workerRoutesProvider({
        reloadTimeoutMs: 60_000,
        beforeCommit: async () => {
          if (raced++ > 0) return;
          const v = await version();
          const b = await lab.api("POST", `/services/haproxy/configuration/backends?version=${v}`, {
            name: "be_manual",
            mode: "http",
          });
          assert.ok(b.status < 300, `concurrent edit: ${b.status} ${b.text}`);
          await until(
            "the concurrent edit is on disk",
            async () => ((await version()) > v ? true : undefined),
            10_000,
          );
        },
      });
      const next = inputs({ ...state.routes, shop: route([HOSTS.shop], ["be1", "be2"]) });
      const res = await timed("update with a concurrent edit", () => racing.update("id", state, next));
      state = res.outs as WorkerRoutesOutputs;
      assert.ok(raced >= 2, `committed after a retry (${raced} attempts)`);
      const cfg = await raw();
      assert.match(cfg, /^backend be_manual\b/m);
      assert.match(cfg, /^backend route_shop\b/m);
      const seen = new Set<string>();
      for (let i = 0; i < 40 && seen.size < 2; i++)
        seen.add(servedBy(await expectServedAny(lab, HOSTS.shop)));
      assert.deepEqual([...seen].sort(), ["be1", "be2"], "round robin over both servers");
    });

    it("removes a route: its host gets the 404 page; the foreign backend stays", async () => {
      const { shop, ...rest } = state.routes;
      assert.ok(shop);
      const res = await timed("remove", () => provider.update("id", state, inputs(rest)));
      state = res.outs as WorkerRoutesOutputs;
      await until(
        "shop removed",
        async () => ((await proxyRequest(lab.workerPort, HOSTS.shop, "/")).status === 404 ? true : undefined),
        10_000,
      );
      assert.match(await raw(), /^backend be_manual\b/m);
    });

    it("an internal-only route refuses other clients (403) by the PROXY header's address; a staging host is served with the production Host", async () => {
      const next = inputs({
        ...state.routes,
        admin: route(["admin.example.test"], ["be2"], {
          allowFrom: ["10.0.0.0/8"],
          stagingHost: "admin.staging.example.test",
        }),
      });
      const res = await timed("internal+staging", () => provider.update("id", state, next));
      state = res.outs as WorkerRoutesOutputs;
      assert.deepEqual((await provider.read("id", state)).props?.routes, state.routes, "read back, no drift");
      const inside = await until(
        "admin served to 10.1.2.3",
        async () => {
          const a = await proxyRequest(lab.workerPort, "admin.staging.example.test", "/", "10.1.2.3");
          if (servedBy(a) !== "be2") throw new Error(`served by ${servedBy(a)}`);
          return a;
        },
        20_000,
        200,
      );
      assert.equal((JSON.parse(inside.body) as { host: string }).host, "admin.example.test");
      const direct = await proxyRequest(lab.workerPort, "admin.example.test", "/", "10.200.0.1");
      assert.equal((JSON.parse(direct.body) as { host: string }).host, "admin.example.test");
      const outside = await proxyRequest(lab.workerPort, "admin.example.test", "/", "203.0.113.9");
      assert.equal(outside.status, 403);
      const outsideStaging = await proxyRequest(
        lab.workerPort,
        "admin.staging.example.test",
        "/",
        "203.0.113.9",
      );
      assert.equal(outsideStaging.status, 403);
      const { admin, ...rest } = state.routes;
      assert.ok(admin);
      state = (await provider.update("id", state, inputs(rest))).outs as WorkerRoutesOutputs;
    });

    it("decides internal-only per request path, on the normalised path: an internal path on a public host is refused to others whatever its spelling, and the other way round", async () => {
      const outside = "203.0.113.9";
      const inside = "10.1.2.3";
      const next = inputs({
        ...state.routes,
        console: route([HOSTS.app], ["be2"], { pathPrefix: "/console", allowFrom: ["10.0.0.0/8"] }),
        shop: route([HOSTS.shop], ["be1"], { allowFrom: ["10.0.0.0/8"] }),
        "shop-public": route([HOSTS.shop], ["be2"], { pathPrefix: "/pub" }),
      });
      state = (await timed("internal paths", () => provider.update("id", state, next)))
        .outs as WorkerRoutesOutputs;
      assert.deepEqual((await provider.read("id", state)).props?.routes, state.routes, "read back, no drift");
      const answer = async (host: string, path: string, from: string) =>
        servedBy(await proxyRequest(lab.workerPort, host, path, from));
      await until(
        "the new routes served",
        async () => ((await answer(HOSTS.app, "/console/x", inside)) === "be2" ? true : undefined),
        20_000,
        200,
      );
      assert.equal(await answer(HOSTS.app, "/console/x", outside), "HTTP 403");
      assert.equal(await answer(HOSTS.app, "/", outside), "be3", "the rest of the host stays public");
      assert.equal(await answer(HOSTS.shop, "/", outside), "HTTP 403");
      assert.equal(await answer(HOSTS.shop, "/", inside), "be1");
      assert.equal(await answer(HOSTS.shop, "/pub/x", outside), "be2", "a public path on an internal host");
      // Set-up 1: a public host (app → be3) with an internal-only /console (→ be2). Every probe is a spelling of
      // /console/x that some application server resolves to it.
      const setup1 = [
        "//console/x",
        "///console/x",
        "/./console/x",
        "/.//console/x",
        "/x/../console/x",
        "/x/./../console/x",
        "/x//../console/x",
        "/a/b/../../console/x",
        "/../console/x",
        "/%63onsole/x",
        "/%63%6F%6E%73%6F%6C%65/x",
        "/%2e/console/x",
        "/%2E%2E/console/x",
        "/x/%2e%2e/console/x",
        "/x/.%2e/console/x",
        "/x/%2e./console/x",
        "/%2fconsole/x",
        "/%2Fconsole/x",
        "/x/..%2fconsole/x",
        "/%5cconsole/x",
        "/x/..%5cconsole/x",
        "/\\console/x",
        "/x/..\\console/x",
        "/CONSOLE/x",
        "/Console/x",
        "/%43ONSOLE/x",
        "/cOnSoLe/x",
        "/;/console/x",
        "/;x=1/console/x",
        "/..;/console/x",
        "/x/..;/console/x",
        "/.;/console/x",
        "/x/%252e%252e/console/x",
        "/%252fconsole/x",
        "/%2563onsole/x",
        "/x/%c0%ae%c0%ae/console/x",
        "/x/..%c0%afconsole/x",
        "/console%2fx",
        "/console;/x",
        "/console%00/x",
        "/x/%2e%2e%2fconsole/x",
        "/%2e%2e;/console/x",
      ];
      // Set-up 2: an internal-only host (shop → be1) with a public /pub (→ be2). Every probe starts with /pub but
      // some application server resolves it outside /pub.
      const setup2 = [
        "/pub/../secret",
        "/pub/%2e%2e/secret",
        "/pub/%2E%2E/secret",
        "/pub/.%2e/secret",
        "/pub/..%2fsecret",
        "/pub/..%2Fsecret",
        "/pub%2f../secret",
        "/pub/..%5csecret",
        "/pub\\..\\secret",
        "/pub/..\\secret",
        "/pub/..;/secret",
        "/pub/.;/../secret",
        "/pub/%252e%252e/secret",
        "/pub/%252e%252e%252fsecret",
        "/pub//../secret",
        "/pub/./../secret",
        "/pub/x/../../secret",
        "/pub/%2e%2e%2fsecret",
        "/PUB/../secret",
        "/pub;/../secret",
        "/pub/x;/../../secret",
        "/pub/%c0%ae%c0%ae/secret",
        "/pub/..%00/secret",
      ];
      const probes = [
        ...setup1.map((p) => ({
          host: HOSTS.app,
          path: p,
          internal: (r: string) => r.startsWith("/console"),
        })),
        ...setup2.map((p) => ({ host: HOSTS.shop, path: p, internal: (r: string) => !r.startsWith("/pub") })),
      ];
      assert.ok(probes.length >= 60, `${probes.length} probes`);
      const outcomes: string[] = [];
      const leaks: string[] = [];
      for (const probe of probes) {
        const inArea = appResolutions(probe.path).some(probe.internal);
        assert.ok(inArea, `probe ${probe.path} is not a spelling of an internal-only path: fix the table`);
        const a = await proxyRequest(lab.workerPort, probe.host, probe.path, outside);
        outcomes.push(`${probe.host} ${probe.path} → ${servedBy(a)}`);
        if (a.status === 400 || a.status === 403) continue;
        const uri = a.status === 200 ? (JSON.parse(a.body) as { uri: string }).uri : "";
        if (a.status !== 200 || appResolutions(uri).some(probe.internal))
          leaks.push(`${probe.host} ${probe.path} → ${servedBy(a)} with ${JSON.stringify(uri)}`);
      }
      if (process.env.SYSTEM_TEST_VERBOSE) console.log(outcomes.map((o) => `      ${o}`).join("\n"));
      assert.deepEqual(
        leaks,
        [],
        `reached a server from outside with an internal-only path:\n${leaks.join("\n")}`,
      );
      // Ordinary paths still reach their routes, with the path as sent.
      for (const [host, path, from, want] of [
        [HOSTS.app, "/", outside, "be3"],
        [HOSTS.app, "/public/page;jsessionid=1", outside, "be3"],
        [HOSTS.app, "/100%25off", outside, "be3"],
        [HOSTS.app, "/Console-docs", outside, "HTTP 403"],
        [HOSTS.app, "/console/x", inside, "be2"],
        [HOSTS.app, "/CONSOLE/x", inside, "be2"],
        [HOSTS.shop, "/pub/x", outside, "be2"],
        [HOSTS.shop, "/pub/x/../y", outside, "be2"],
        [HOSTS.shop, "/secret", inside, "be1"],
      ] as const) {
        const a = await proxyRequest(lab.workerPort, host, path, from);
        assert.equal(servedBy(a), want, `${host}${path} from ${from}`);
      }
      const direct = await proxyRequest(lab.workerPort, HOSTS.shop, "/pub/x/../y", outside);
      assert.equal(
        (JSON.parse(direct.body) as { uri: string }).uri,
        "/pub/y",
        "the server gets the normalised path",
      );
      const rest = Object.fromEntries(
        Object.entries(state.routes).filter(([n]) => !["console", "shop", "shop-public"].includes(n)),
      );
      state = (await provider.update("id", state, inputs(rest))).outs as WorkerRoutesOutputs;
    });

    it("smoke check: a route whose server is down fails, naming the route, the server and HAProxy's check; a healthy one passes", async () => {
      const ip = lab.backendAddress.be1.split(":")[0];
      const broken = inputs({ ...state.routes, broken: route(["broken.example.test"], [], {}) });
      broken.routes.broken.servers = [`${ip}:9`];
      broken.smokeCheck = true;
      const t0 = Date.now();
      await assert.rejects(provider.update("id", state, broken), (e: Error) => {
        assert.match(e.message, /smoke check failed/);
        assert.match(
          e.message,
          new RegExp(`route broken server s1 \\(${ip.replace(/\./g, "\\.")}:9\\): DOWN`),
        );
        assert.match(e.message, /check L4CON/);
        return true;
      });
      timings["smoke check (down)"] = Date.now() - t0;
      // Back to the last good routes (nothing new to check), then a healthy route with the check.
      state = (await provider.update("id", state, { ...inputs(state.routes), smokeCheck: true }))
        .outs as WorkerRoutesOutputs;
      const healthy = {
        ...inputs({ ...state.routes, extra: route(["extra.example.test"], ["be3"]) }),
        smokeCheck: true,
      };
      const t1 = Date.now();
      state = (await provider.update("id", state, healthy)).outs as WorkerRoutesOutputs;
      timings["smoke check (healthy)"] = Date.now() - t1;
      await expectServed(lab, "extra.example.test", "/", "be3");
      const { extra, ...rest } = state.routes;
      assert.ok(extra);
      state = (await provider.update("id", state, inputs(rest))).outs as WorkerRoutesOutputs;
    });

    it("delete removes every entry of ours and nothing else", async () => {
      await timed("delete", () => provider.delete("id", state));
      const cfg = await raw();
      assert.doesNotMatch(cfg, /route_/);
      assert.match(cfg, /^backend be_manual\b/m);
      assert.match(cfg, /^backend be_not_found\b/m);
      assert.equal((await proxyRequest(lab.workerPort, HOSTS.app, "/")).status, 404);
    });
  });
});

/** Any 200 answer for `host` (the server varies with round robin). */
async function expectServedAny(lab: WorkerLab, host: string): Promise<HttpAnswer> {
  return until(
    `${host} served`,
    async () => {
      const a = await proxyRequest(lab.workerPort, host, "/");
      if (a.status !== 200) throw new Error(`HTTP ${a.status}`);
      return a;
    },
    20_000,
    200,
  );
}

/**
 * Every path some application server could make of a request target: percent-decoded zero to three times,
 * cut at a NUL byte, backslashes read as slashes, `;` parameters dropped, any letter case, slashes merged or not, dot segments
 * resolved. A probe is a spelling of a path when one of these is it.
 */
function appResolutions(target: string): string[] {
  const out = new Set<string>();
  let decoded = target.split("?")[0];
  for (let round = 0; round < 4; round++) {
    for (const merge of [true, false]) {
      // A server written in C stops at a NUL byte.
      let p = decoded.split("\0")[0].replace(/\\/g, "/").toLowerCase();
      p = p.replace(/;[^/]*/g, "");
      if (merge) p = p.replace(/\/{2,}/g, "/");
      const segs: string[] = [];
      for (const seg of p.split("/").slice(1)) {
        if (seg === ".") continue;
        if (seg === "..") segs.pop();
        else segs.push(seg);
      }
      out.add(`/${segs.join("/")}`);
    }
    // Overlong UTF-8 (%C0%AE is '.', %C0%AF '/') as old decoders read it, then one more decoding round.
    decoded = decoded
      .replace(/%c0%ae/gi, ".")
      .replace(/%c0%af/gi, "/")
      .replace(/%([0-9a-f]{2})/gi, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
  }
  return [...out];
}
