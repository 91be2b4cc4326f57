/**
 * Tests of dataplane/routes.ts: route model → DPAPI v3.2 objects, ownership, list merging and rule order, the
 * per-route diff, reading routes back (drift), and mapping an HAProxy rejection to route names. Pure: no I/O.
 */
import { strict as assert } from "node:assert";
import {
  MANAGED_BY,
  backendMatches,
  describeDiff,
  desiredAcls,
  desiredBackend,
  desiredRule,
  diffRoutes,
  haproxyReason,
  isEmptyDiff,
  isOurAcl,
  isOurBackend,
  isOurRule,
  liveRoutes,
  mergeOwned,
  normalizeBackend,
  planAcls,
  planRules,
  routeOfAcl,
  routeOfBackend,
  routeOfRule,
  routesInRejection,
  routesMentioned,
  serverOnlyChanges,
  type Acl,
  type Backend,
  type SwitchingRule,
} from "../../dataplane/routes";
import {
  HOST_CRITERION,
  backendName,
  hostAclName,
  normalizeRouteSpec,
  parseServer,
  pathAclName,
  ruleOrder,
  type RouteSpec,
} from "../../config/routes";

const app: RouteSpec = {
  hosts: ["app.example.com", "www.example.com"],
  servers: ["10.0.0.1:8080", "backend.lan:9000"],
  balance: "roundrobin",
  healthCheckPath: "/healthz",
};
const api: RouteSpec = {
  hosts: ["app.example.com"],
  servers: ["10.0.0.2:8080"],
  pathPrefix: "/api",
  balance: "leastconn",
  healthCheckPath: "/",
};
const apiV2: RouteSpec = { ...api, pathPrefix: "/api/v2", servers: ["10.0.0.3:8080"] };

const meta = (route: string) => ({ managed_by: MANAGED_BY, route });
const foreignAcl: Acl = { acl_name: "is_admin", criterion: "src", value: "10.0.0.0/8" };
const foreignRule: SwitchingRule = { name: "be_manual", cond: "if", cond_test: "is_admin" };

/** Everything desired for `routes`, as a worker would hold it after an apply. */
function applied(routes: Record<string, RouteSpec>, acls: Acl[] = [], rules: SwitchingRule[] = []) {
  return {
    backends: [
      { name: "be_not_found", mode: "http" } as Backend,
      ...Object.keys(routes).map((n) => desiredBackend(n, routes[n])),
    ],
    acls: planAcls(acls, routes),
    rules: planRules(rules, routes),
  };
}

describe("dataplane/routes", () => {
  describe("names and ownership", () => {
    it("derives backend and ACL names with the route_ prefix", () => {
      assert.equal(backendName("my-app"), "route_my-app");
      assert.equal(hostAclName("my-app"), "route_my-app_host");
      assert.equal(pathAclName("my-app"), "route_my-app_path");
    });

    it("recognizes ours by metadata or by prefix, and maps entries back to their route", () => {
      assert.ok(isOurBackend({ name: "route_app" }));
      assert.ok(isOurBackend({ name: "legacy", metadata: meta("app") }));
      assert.ok(!isOurBackend({ name: "be_not_found" }));
      assert.ok(!isOurBackend({ name: "be_x", metadata: { managed_by: "someone-else" } }));
      assert.equal(routeOfBackend({ name: "route_my-app" }), "my-app");
      assert.equal(routeOfBackend({ name: "legacy", metadata: meta("app") }), "app");

      assert.ok(isOurAcl({ acl_name: "route_app_host", criterion: "hdr(host)" }));
      assert.ok(!isOurAcl(foreignAcl));
      assert.equal(routeOfAcl({ acl_name: "route_a-b_path", criterion: "path_beg" }), "a-b");

      assert.ok(isOurRule({ name: "route_app", cond: "if", cond_test: "route_app_host route_app_path" }));
      assert.ok(isOurRule({ name: "x", metadata: meta("x") }));
      // A hand-written rule to our backend with its own condition is not ours.
      assert.ok(!isOurRule({ name: "route_app", cond: "if", cond_test: "{ path_beg /x }" }));
      assert.ok(!isOurRule({ name: "route_app", cond: "if", cond_test: "route_app_host is_admin" }));
      assert.ok(!isOurRule(foreignRule));
      assert.equal(routeOfRule({ name: "route_app", cond: "if", cond_test: "route_app_host" }), "app");
    });

    it("parses host:port servers (the last colon separates the port)", () => {
      assert.deepEqual(parseServer("10.0.0.1:8080"), { address: "10.0.0.1", port: 8080 });
      assert.deepEqual(parseServer("backend.lan:1"), { address: "backend.lan", port: 1 });
      for (const bad of ["10.0.0.1", ":80", "h:0", "h:65536", "h:x"]) {
        assert.throws(() => parseServer(bad), /host:port/, bad);
      }
    });
  });

  describe("desired objects", () => {
    it("builds the backend: http, balance, HTTP check, servers s1..sN with check, metadata everywhere", () => {
      assert.deepEqual(desiredBackend("app", app), {
        name: "route_app",
        mode: "http",
        balance: { algorithm: "roundrobin" },
        adv_check: "httpchk",
        httpchk_params: { method: "GET", uri: "/healthz" },
        metadata: meta("app"),
        servers: {
          s1: {
            name: "s1",
            address: "10.0.0.1",
            port: 8080,
            check: "enabled",
            inter: 1000,
            fastinter: 200,
            metadata: meta("app"),
          },
          s2: {
            name: "s2",
            address: "backend.lan",
            port: 9000,
            check: "enabled",
            inter: 1000,
            fastinter: 200,
            metadata: meta("app"),
          },
        },
      });
    });

    it("matches hosts case-insensitively without the port, and adds path_beg only with a pathPrefix", () => {
      assert.deepEqual(desiredAcls("app", app), [
        {
          acl_name: "route_app_host",
          criterion: HOST_CRITERION,
          value: "-i app.example.com www.example.com",
          metadata: meta("app"),
        },
      ]);
      assert.equal(HOST_CRITERION, "req.hdr(host),field(1,:)");
      assert.deepEqual(desiredAcls("api", api)[1], {
        acl_name: "route_api_path",
        criterion: "path_beg",
        value: "/api",
        metadata: meta("api"),
      });
      assert.deepEqual(desiredRule("app", app), {
        name: "route_app",
        cond: "if",
        cond_test: "route_app_host",
        metadata: meta("app"),
      });
      assert.equal(desiredRule("api", api).cond_test, "route_api_host route_api_path");
    });

    it("orders rules: path prefixes first (longest first, then name), then host-only routes by name", () => {
      const routes = { zeta: app, app, api, "api-v2": apiV2, beta: { ...api, pathPrefix: "/b" } };
      assert.deepEqual(ruleOrder(routes), ["api-v2", "api", "beta", "app", "zeta"]);
      // Independent of key order.
      const reversed = Object.fromEntries(Object.entries(routes).reverse());
      assert.deepEqual(ruleOrder(reversed), ruleOrder(routes));
    });
  });

  describe("internal-only routes and staging hosts", () => {
    const internal: RouteSpec = { ...app, allowFrom: ["10.0.0.0/8", "fd00::/8"] };
    const staged: RouteSpec = { ...internal, stagingHost: "app.staging.example.com" };

    it("refuses clients outside allowFrom with 403 in the route's own backend", () => {
      const b = desiredBackend("app", internal);
      assert.deepEqual(b.acl_list, [
        { acl_name: "allowed_client", criterion: "src", value: "10.0.0.0/8 fd00::/8" },
      ]);
      assert.deepEqual(b.http_request_rule_list, [
        { type: "deny", deny_status: 403, cond: "unless", cond_test: "allowed_client" },
      ]);
      assert.equal(desiredBackend("app", app).acl_list, undefined);
      assert.equal(desiredBackend("app", app).http_request_rule_list, undefined);
    });

    it("refuses everyone when an internal-only route has no allowed network", () => {
      const b = desiredBackend("app", { ...app, allowFrom: [] });
      assert.equal(b.acl_list, undefined);
      assert.deepEqual(b.http_request_rule_list, [{ type: "deny", deny_status: 403 }]);
      assert.deepEqual(liveRoutes(applied({ app: { ...app, allowFrom: [] } })).app, {
        ...app,
        allowFrom: [],
      });
    });

    it("on staging, selects the route by its staging host too and serves it with the first host", () => {
      const [hostAcl] = desiredAcls("app", staged);
      assert.equal(hostAcl.value, "-i app.example.com www.example.com app.staging.example.com");
      const b = desiredBackend("app", staged);
      assert.deepEqual(b.acl_list?.[1], {
        acl_name: "staging_host",
        criterion: HOST_CRITERION,
        value: "-i app.staging.example.com",
      });
      assert.deepEqual(b.http_request_rule_list?.[1], {
        type: "set-header",
        hdr_name: "Host",
        hdr_format: "app.example.com",
        cond: "if",
        cond_test: "staging_host",
      });
    });

    it("reads both back exactly, and a changed access rule as drift", () => {
      const routes = { app: staged, api };
      assert.deepEqual(liveRoutes(applied(routes)), routes);
      const live = applied(routes);
      const b = live.backends.find((x) => x.name === "route_app") as Backend;
      b.http_request_rule_list = [];
      assert.deepEqual(liveRoutes(live).app.drift, [
        "backend route_app: http request rule list differs from what haproxy-edge writes",
      ]);
      const widened = applied(routes);
      (widened.backends.find((x) => x.name === "route_app") as Backend).acl_list = [
        { acl_name: "allowed_client", criterion: "src", value: "0.0.0.0/0" },
        { acl_name: "staging_host", criterion: HOST_CRITERION, value: "-i app.staging.example.com" },
      ];
      assert.deepEqual(liveRoutes(widened).app.allowFrom, ["0.0.0.0/0"]);
      assert.deepEqual(diffRoutes(liveRoutes(widened), routes).changed, [
        { route: "app", fields: ["allowFrom"] },
      ]);
    });

    it("compares DPAPI's answer with what we send, ignoring its empty fields", () => {
      const b = desiredBackend("app", staged);
      const echoed: Backend = {
        ...b,
        acl_list: b.acl_list?.map((a) => ({ ...a, metadata: {} })),
        http_request_rule_list: b.http_request_rule_list?.map((r) => ({ ...r, return_hdrs: [] })),
      };
      assert.ok(backendMatches(echoed, b));
    });
  });

  describe("merging with entries we do not own", () => {
    const isOurs = (s: string) => s.startsWith("o");
    it("puts our block where the first of ours was, keeping foreign entries in order", () => {
      assert.deepEqual(mergeOwned(["a", "o1", "b", "o2", "c"], ["oX", "oY"], isOurs), [
        "a",
        "oX",
        "oY",
        "b",
        "c",
      ]);
      assert.deepEqual(mergeOwned(["o1", "a"], ["oX"], isOurs), ["oX", "a"]);
    });
    it("appends when there was none of ours, removes when there is none any more", () => {
      assert.deepEqual(mergeOwned(["a", "b"], ["oX"], isOurs), ["a", "b", "oX"]);
      assert.deepEqual(mergeOwned(["a", "o1", "b"], [], isOurs), ["a", "b"]);
      assert.deepEqual(mergeOwned([], [], isOurs), []);
    });

    it("plans the whole ACL and rule lists, foreign entries untouched and in place", () => {
      const acls = planAcls([foreignAcl, { acl_name: "route_old_host", criterion: "x" }, foreignAcl], {
        app,
        api,
      });
      assert.deepEqual(
        acls.map((a) => a.acl_name),
        ["is_admin", "route_api_host", "route_api_path", "route_app_host", "is_admin"],
      );
      assert.deepEqual(acls[0], foreignAcl);
      const rules = planRules([foreignRule], { app, api, "api-v2": apiV2 });
      assert.deepEqual(
        rules.map((r) => r.name),
        ["be_manual", "route_api-v2", "route_api", "route_app"],
      );
      assert.deepEqual(rules[0], foreignRule);
      assert.deepEqual(planRules(rules, {}), [foreignRule]);
      assert.deepEqual(planAcls(acls, {}), [foreignAcl, foreignAcl]);
    });

    it("sets the worker's readiness ACL true (the bootstrap's `always_false`), in place, and nothing else of it", () => {
      const ready = { acl_name: "edge_routes_applied", criterion: "always_false", value: "" };
      const acls = planAcls([ready, foreignAcl], { app });
      assert.deepEqual(acls[0], { ...ready, criterion: "always_true" });
      assert.deepEqual(
        acls.map((a) => a.acl_name),
        ["edge_routes_applied", "is_admin", "route_app_host"],
      );
      // Also with no route at all: the worker is then ready, answering 404 to every host as it should.
      assert.deepEqual(planAcls([ready], {}), [{ ...ready, criterion: "always_true" }]);
      assert.deepEqual(planAcls(acls, { app }), acls, "idempotent");
    });

    it("is idempotent: planning again from the result changes nothing", () => {
      const first = applied({ app, api }, [foreignAcl], [foreignRule]);
      assert.deepEqual(planAcls(first.acls, { app, api }), first.acls);
      assert.deepEqual(planRules(first.rules, { app, api }), first.rules);
    });
  });

  describe("comparing backends", () => {
    it("ignores the empty children full_section returns, but not a setting added by hand", () => {
      const desired = desiredBackend("app", app);
      const live = {
        ...desired,
        acl_list: [],
        http_request_rule_list: [],
        server_templates: {},
        servers: { ...desired.servers },
      };
      assert.ok(backendMatches(live, desired));
      assert.ok(!backendMatches({ ...live, server_timeout: 1000 }, desired));
      assert.ok(!backendMatches({ ...live, balance: { algorithm: "leastconn" } }, desired));
      const oneServer = {
        ...live,
        servers: { s1: desired.servers?.s1 as NonNullable<Backend["servers"]>[string] },
      };
      assert.ok(!backendMatches(oneServer, desired));
      assert.deepEqual(Object.keys(normalizeBackend(live)).sort(), Object.keys(desired).sort());
    });
  });

  describe("reading routes back", () => {
    it("gives back exactly the inputs when the worker holds what we wrote", () => {
      const routes = { app, api, "api-v2": apiV2 };
      assert.deepEqual(liveRoutes(applied(routes, [foreignAcl], [foreignRule])), routes);
      assert.deepEqual(liveRoutes(applied({})), {});
    });

    it("shows out-of-band changes in the fields they affect", () => {
      const live = applied({ app });
      const b = live.backends[1];
      b.servers = {
        ...b.servers,
        s3: { name: "s3", address: "10.9.9.9", port: 80, check: "enabled", inter: 1000, fastinter: 200 },
      };
      b.balance = { algorithm: "source" };
      live.acls[0] = { ...live.acls[0], value: "-i app.example.com" };
      const read = liveRoutes(live);
      assert.deepEqual(read.app, {
        ...app,
        hosts: ["app.example.com"],
        servers: [...app.servers, "10.9.9.9:80"],
        balance: "source",
      });
    });

    it("describes what has no field of its own as drift", () => {
      const live = applied({ app, api });
      live.rules = live.rules.filter((r) => r.name !== "route_app");
      const b = live.backends.find((x) => x.name === "route_api") as Backend;
      b.server_timeout = 5000;
      (b.servers as Record<string, { check?: string }>).s1.check = "disabled";
      const read = liveRoutes(live);
      assert.deepEqual(read.app.drift, ["use_backend route_app rule missing"]);
      assert.deepEqual(read.api.drift, [
        "server s1: health check disabled",
        "backend route_api: extra settings server_timeout",
      ]);
    });

    it("finds server-only changes: same servers by name, only addresses and ports differ", () => {
      const live = desiredBackend("app", app);
      const moved = desiredBackend("app", { ...app, servers: ["10.0.0.1:8080", "10.0.0.7:9000"] });
      assert.deepEqual(serverOnlyChanges(live, moved), [moved.servers?.s2]);
      assert.equal(serverOnlyChanges(live, desiredBackend("app", app)), undefined, "nothing differs");
      for (const other of [
        { ...app, servers: [...app.servers, "10.0.0.8:80"] },
        { ...app, servers: ["10.0.0.1:8080"] },
        { ...app, servers: ["10.0.0.9:1", "10.0.0.9:2"], balance: "leastconn" },
        { ...app, servers: ["10.0.0.9:1", "10.0.0.9:2"], healthCheckPath: "/other" },
      ]) {
        assert.equal(serverOnlyChanges(live, desiredBackend("app", other)), undefined, JSON.stringify(other));
      }
      const slow = desiredBackend("app", app);
      (slow.servers as Record<string, { inter?: number }>).s1.inter = 5000;
      assert.equal(serverOnlyChanges(slow, moved), undefined, "a server setting other than address and port");
    });

    it("reports a server's health-check interval changed by hand as drift", () => {
      const live = applied({ app });
      (live.backends[1].servers as Record<string, { inter?: number }>).s2.inter = 5000;
      assert.deepEqual(liveRoutes(live).app.drift, ["server s2: check interval 5000 ms"]);
    });

    it("reports a server's fast check interval changed or removed by hand as drift", () => {
      const live = applied({ app });
      const servers = live.backends[1].servers as Record<string, { fastinter?: number }>;
      servers.s1.fastinter = 1000;
      delete servers.s2.fastinter;
      assert.deepEqual(liveRoutes(live).app.drift, [
        "server s1: fast check interval 1000 ms",
        "server s2: fast check interval default ms",
      ]);
    });

    it("finds a route from any of its leftovers (a backend alone, an ACL alone)", () => {
      const read = liveRoutes({
        backends: [desiredBackend("old", app)],
        acls: [{ acl_name: "route_gone_host", criterion: HOST_CRITERION, value: "-i gone.example.com" }],
        rules: [],
      });
      assert.deepEqual(Object.keys(read), ["gone", "old"]);
      assert.ok(read.old.drift?.includes("ACL route_old_host missing"));
      assert.ok(read.gone.drift?.includes("backend route_gone missing"));
      assert.deepEqual(read.gone.hosts, ["gone.example.com"]);
    });

    it("reports rules out of order", () => {
      const live = applied({ app, api });
      live.rules = [...live.rules].reverse();
      const read = liveRoutes(live);
      assert.match(read.api.drift?.[0] ?? "", /out of order/);
    });
  });

  describe("per-route diff", () => {
    it("lists added, removed and changed routes with the changed fields", () => {
      const olds = { app, api, old: app };
      const news = {
        app: { ...app, servers: ["10.0.0.9:8080"], hosts: ["new.example.com"] },
        api: { ...api, pathPrefix: undefined },
        shop: app,
      };
      const d = diffRoutes(olds, news);
      assert.deepEqual(d, {
        added: ["shop"],
        removed: ["old"],
        changed: [
          { route: "api", fields: ["pathPrefix"] },
          { route: "app", fields: ["hosts", "servers"] },
        ],
      });
      assert.equal(
        describeDiff(d),
        "added shop; changed api (pathPrefix), app (hosts, servers); removed old",
      );
      assert.ok(isEmptyDiff(diffRoutes({ app }, { app: { ...app } })));
      assert.equal(describeDiff(diffRoutes({}, {})), "no route changes");
    });

    it("treats drift read from the worker as a change", () => {
      const d = diffRoutes({ app: { ...app, drift: ["use_backend route_app rule missing"] } }, { app });
      assert.deepEqual(d.changed, [{ route: "app", fields: ["drift"] }]);
    });

    it("normalizes route inputs (lower case, no empty pathPrefix)", () => {
      assert.deepEqual(normalizeRouteSpec({ ...app, hosts: ["App.Example.COM"], pathPrefix: "" }), {
        ...app,
        hosts: ["app.example.com"],
      });
    });
  });

  describe("HAProxy rejections", () => {
    const raw = [
      "# _version=3", // 1
      "frontend fe_edge", // 2
      "    acl route_app_host req.hdr(host),field(1,:) -i app.example.com", // 3
      "    use_backend route_app if route_app_host", // 4
      "", // 5
      "backend route_shop", // 6
      "    mode http", // 7
      "    server s1 nope.invalid:80 check", // 8
      "", // 9
    ].join("\n");

    it("names routes mentioned in the message", () => {
      assert.deepEqual(routesMentioned("proxy 'route_my-app': unknown ACL route_api_path; be_route_x"), [
        "api",
        "my-app",
      ]);
    });

    it("maps cited line numbers to the route of the line or of its section", () => {
      const msg =
        "[ALERT]    (42) : config : parsing [/tmp/haproxy.cfg:8] : 'server s1' : could not resolve address 'nope.invalid'.";
      assert.deepEqual(routesInRejection(msg, raw), ["shop"]);
      assert.deepEqual(routesInRejection('line=3 msg="bad acl"', raw), ["app"]);
      assert.deepEqual(routesInRejection("line=7 x", raw), ["shop"]);
      assert.deepEqual(routesInRejection("line=2 x", raw), []);
      assert.deepEqual(routesInRejection("line=99 x", raw), []);
      assert.deepEqual(routesInRejection("no line at all", undefined), []);
    });

    it("keeps HAProxy's alert lines as the reason", () => {
      const msg =
        "validation error: exit status 1: err transactionId=abc \n[NOTICE] (1) : haproxy version\n[ALERT]    (1) : config : parsing [/x.cfg:8] : could not resolve address 'nope.invalid'.\n[ALERT]    (1) : config : Fatal errors found in configuration.";
      assert.equal(
        haproxyReason(msg),
        "[ALERT] config : parsing [/x.cfg:8] : could not resolve address 'nope.invalid'. | [ALERT] config : Fatal errors found in configuration.",
      );
      assert.equal(haproxyReason("plain   message\n here"), "plain message here");
    });
  });
});
