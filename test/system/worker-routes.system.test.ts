/**
 * System tier: what the WorkerRoutes dynamic provider writes, in a REAL worker, started with the docker CLI from the
 * project's own rendered files (see worker-lab.ts): HAProxy 3.0 and the Data Plane API 3.2.7 sidecar, demo
 * backends on a network of the test's own (wr-systest, 172.31.77.0/24), the worker's PROXY port and the API
 * published on 127.0.0.1 only. Traffic goes to 127.0.0.1 with a PROXY v2 header, as the load balancer sends it
 * (the connection's real source, the network's gateway, is a trusted source of the worker).
 * The provider itself against a real Data Plane API is in worker-routes.live.test.ts (`npm run test:live`).
 *
 * "The objects it writes, served by HAProxy 3.0": the ACLs, rules and backends dataplane/routes.ts
 *    produces, written the way the Data Plane API writes them (with their metadata comments), in a real
 *    HAProxy: Host matching with case and `:port`, path prefixes before host-only routes, the 404 page.
 */
import { strict as assert } from "node:assert";
import { FILES } from "../../config/model";
import { desiredBackend, planAcls, planRules } from "../../dataplane/routes";
import { type RouteSpec } from "../../config/routes";
import { BACKENDS, HOSTS, IMAGES, WorkerLab, expectServed, proxyRequest } from "./worker-lab";

describe("WorkerRoutes against a real worker", function () {
  this.timeout(600_000);

  describe("the objects it writes, served by HAProxy 3.0 (no Data Plane API needed)", () => {
    const lab = new WorkerLab({
      name: "wr-systest-cfg",
      subnet: "172.31.78.0/24",
      backends: BACKENDS,
      haproxyImage: IMAGES.haproxy,
      dataplaneApiImage: IMAGES.dataplaneApi,
      backendImage: IMAGES.backend,
      withApi: false,
    });
    const spec = (hosts: string[], servers: string[], extra: Partial<RouteSpec> = {}): RouteSpec => ({
      hosts,
      servers: servers.map((s) => lab.backendAddress[s]),
      balance: "roundrobin",
      healthCheckPath: "/healthz",
      ...extra,
    });

    before(async function () {
      this.timeout(300_000);
      const routes = {
        app: spec([HOSTS.app, HOSTS.www], ["be1"]),
        api: spec([HOSTS.app], ["be2"], { pathPrefix: "/api" }),
        "api-v2": spec([HOSTS.app], ["be3"], { pathPrefix: "/api/v2" }),
      };
      lab.bootstrapExtra = (cfg) => withRoutes(cfg, routes);
      try {
        await lab.start();
      } catch (e) {
        await lab.destroy();
        throw e;
      }
    });
    after(async function () {
      this.timeout(120_000);
      await lab.destroy();
    });

    it("matches hosts case-insensitively, with or without a :port, and falls back to the 404 page", async () => {
      await expectServed(lab, HOSTS.app, "/", "be1");
      await expectServed(lab, "WWW.Example.Test", "/", "be1");
      await expectServed(lab, `${HOSTS.www}:443`, "/", "be1");
      const other = await proxyRequest(lab.workerPort, "app.example.test.evil", "/");
      assert.equal(other.status, 404);
    });

    it("sends path prefixes first, the longest first, then host-only routes", async () => {
      await expectServed(lab, HOSTS.app, "/api/v2/items", "be3");
      await expectServed(lab, HOSTS.app, "/api/v1/items", "be2");
      await expectServed(lab, HOSTS.app, "/apx", "be1");
      // A path prefix applies to its route's hosts only.
      await expectServed(lab, HOSTS.www, "/api/v2/items", "be1");
    });
  });
});

/**
 * The bootstrap configuration plus `routes`, written as the Data Plane API writes these objects: ACLs and
 * `use_backend` rules in the worker frontend (before its `default_backend`), a backend per route, each line with
 * its metadata as a JSON comment.
 */
function withRoutes(cfg: string, routes: Record<string, RouteSpec>): string {
  const meta = (m: unknown) => (m ? ` # ${JSON.stringify(m)}` : "");
  const front = [
    ...planAcls([], routes).map(
      (a) => `    acl ${a.acl_name} ${a.criterion} ${a.value ?? ""}${meta(a.metadata)}`,
    ),
    ...planRules([], routes).map(
      (r) => `    use_backend ${r.name} ${r.cond} ${r.cond_test}${meta(r.metadata)}`,
    ),
  ];
  const backends = Object.keys(routes)
    .sort()
    .flatMap((n) => {
      const b = desiredBackend(n, routes[n]);
      return [
        "",
        `backend ${b.name}${meta(b.metadata)}`,
        `    mode ${b.mode}`,
        `    balance ${b.balance?.algorithm}`,
        `    option httpchk ${b.httpchk_params?.method} ${b.httpchk_params?.uri}`,
        ...Object.values(b.servers ?? {}).map(
          (s) =>
            `    server ${s.name} ${s.address}:${s.port}${s.check === "enabled" ? " check" : ""}${meta(s.metadata)}`,
        ),
      ];
    });
  const marker = "    default_backend be_not_found";
  if (!cfg.includes(marker))
    throw new Error(`the bootstrap has no "${marker.trim()}" line (${FILES.workerBootstrap})`);
  return `${cfg.replace(marker, [...front, marker].join("\n")).trimEnd()}\n${backends.join("\n")}\n`;
}
