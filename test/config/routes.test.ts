/**
 * Tests of config/routes.ts: the route plan (what both the Data Plane API mapping and the worker template render)
 * and the route rules the `WorkerRoutes` provider checks, which must be the config schema's own.
 */
import { strict as assert } from "node:assert";
import {
  BALANCE_ALGORITHMS,
  routePlan,
  routeSpecProblems,
  workerRoutesPlan,
  type RouteSpec,
} from "../../config/routes";
import { routeSchema } from "../../config/schema";

const app: RouteSpec = {
  hosts: ["app.example.com"],
  servers: ["10.0.0.1:8080", "app-2:8080"],
  balance: "roundrobin",
  healthCheckPath: "/healthz",
};

describe("config/routes", () => {
  it("plans a route's backend, servers, frontend ACLs and rule", () => {
    assert.deepEqual(routePlan("app", { ...app, pathPrefix: "/api" }), {
      name: "app",
      acls: [
        { name: "route_app_host", criterion: "req.hdr(host),field(1,:)", value: "-i app.example.com" },
        { name: "route_app_path", criterion: "path_beg", value: "/api" },
      ],
      rule: { backend: "route_app", condition: "route_app_host route_app_path" },
      backend: {
        name: "route_app",
        balance: "roundrobin",
        healthCheckPath: "/healthz",
        acls: [],
        servers: [
          { name: "s1", address: "10.0.0.1", port: 8080, inter: 1000, fastinter: 200 },
          { name: "s2", address: "app-2", port: 8080, inter: 1000, fastinter: 200 },
        ],
      },
    });
  });

  it("plans the access rules of internal-only routes and staging hosts", () => {
    const staged = routePlan("app", {
      ...app,
      allowFrom: ["10.0.0.0/8"],
      stagingHost: "app.staging.example.com",
    });
    assert.deepEqual(staged.acls[0].value, "-i app.example.com app.staging.example.com");
    assert.deepEqual(staged.backend.acls, [
      { name: "allowed_client", criterion: "src", value: "10.0.0.0/8" },
      { name: "staging_host", criterion: "req.hdr(host),field(1,:)", value: "-i app.staging.example.com" },
    ]);
    assert.deepEqual(staged.backend.deny, { status: 403, unless: "allowed_client" });
    assert.deepEqual(staged.backend.setHost, { host: "app.example.com", acl: "staging_host" });
    // Internal-only without any internal network: nobody.
    assert.deepEqual(routePlan("app", { ...app, allowFrom: [] }).backend.deny, { status: 403 });
  });

  it("orders a worker's rules: path prefixes first, longest first, then by name", () => {
    const plan = workerRoutesPlan({
      b: app,
      a: app,
      short: { ...app, pathPrefix: "/a" },
      long: { ...app, pathPrefix: "/a/b" },
    });
    assert.deepEqual(
      plan.rules.map((r) => r.backend),
      ["route_long", "route_short", "route_a", "route_b"],
    );
    assert.deepEqual(
      plan.backends.map((b) => b.name),
      ["route_a", "route_b", "route_long", "route_short"],
    );
  });

  describe("the provider's rules are the config schema's", () => {
    /** Whether the schema accepts a route with `field` set to `value`, and whether routeSpecProblems does. */
    function verdicts(
      field: "hosts" | "servers" | "balance" | "healthCheckPath" | "pathPrefix",
      value: unknown,
    ) {
      const route = { name: "app", hosts: app.hosts, servers: app.servers, [field]: value };
      const schema = routeSchema.safeParse(route).success;
      const parsed = routeSchema.safeParse({ name: "app", hosts: app.hosts, servers: app.servers });
      assert.ok(parsed.success);
      const spec = { ...app, [field]: value } as RouteSpec;
      const provider = routeSpecProblems("app", spec).length === 0;
      return { schema, provider };
    }

    const cases: [Parameters<typeof verdicts>[0], unknown[]][] = [
      ["balance", [...BALANCE_ALGORITHMS, "static-rr", "random", "weird", ""]],
      [
        "servers",
        [["h:1"], ["10.0.0.1:80"], ["nohost"], ["h:0"], ["h:65536"], ["-x:80"], ["a..b:80"], ["APP:80"], []],
      ],
      [
        "hosts",
        [["app.example.com"], ["App.Example.com"], ["*.example.com"], ["1.2.3.4"], ["a_b.example.com"], []],
      ],
      ["healthCheckPath", ["/", "/healthz", "healthz", "/a b", '/a"b', "/a#b"]],
      ["pathPrefix", ["/api", "/a/b.c~d", "api", "/a b", "/a$b"]],
    ];
    for (const [field, values] of cases) {
      it(`${field}: accepted and refused alike`, () => {
        for (const v of values) {
          const { schema, provider } = verdicts(field, v);
          assert.equal(
            provider,
            schema,
            `${field} = ${JSON.stringify(v)}: schema ${schema}, provider ${provider}`,
          );
        }
      });
    }

    it("route names and CIDRs", () => {
      for (const name of ["app", "a-b", "Bad_Name", "-x", "x".repeat(33)]) {
        const schema = routeSchema.safeParse({ name, hosts: app.hosts, servers: app.servers }).success;
        assert.equal(routeSpecProblems(name, app).length === 0, schema, name);
      }
      assert.deepEqual(routeSpecProblems("app", { ...app, allowFrom: ["10.0.0.0/8", "::1/128"] }), []);
      assert.deepEqual(
        routeSpecProblems("app", { ...app, allowFrom: ["10.0.0.1/8", "x"] }).map((p) => p.field),
        ["allowFrom", "allowFrom"],
      );
    });

    it("values not yet known (a preview) are not checked", () => {
      const unknown = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
      assert.deepEqual(
        routeSpecProblems(
          "app",
          { ...app, servers: [unknown], balance: unknown, stagingHost: unknown },
          unknown,
        ),
        [],
      );
    });
  });
});
