/**
 * Routes and foreign entries shared by the tests that drive the `WorkerRoutes` provider against the fake Data
 * Plane API (directly in test/dataplane/provider.test.ts, through a router in test/dataplane/tunnel.ssh.test.ts).
 */
import type { Acl, SwitchingRule } from "../../dataplane/routes";
import type { RouteSpec } from "../../config/routes";
import type { FakeDataplane } from "./fake-dataplane";

export const app: RouteSpec = {
  hosts: ["app.example.com"],
  servers: ["10.0.0.1:8080", "10.0.0.2:8080"],
  balance: "roundrobin",
  healthCheckPath: "/healthz",
};

export const api: RouteSpec = {
  hosts: ["app.example.com"],
  servers: ["10.0.0.3:8080"],
  pathPrefix: "/api",
  balance: "leastconn",
  healthCheckPath: "/",
};

/** Entries somebody else made on the worker: the provider must keep them. */
export const foreignAcl: Acl = { acl_name: "is_office", criterion: "src", value: "192.0.2.0/24" };
export const foreignRule: SwitchingRule = { name: "be_manual", cond: "if", cond_test: "is_office" };

/** Adds the foreign backend, ACL and rule to the fake's configuration. */
export function addForeignEntries(fake: FakeDataplane): void {
  fake.mutate((c) => {
    c.backends.push({ name: "be_manual", mode: "http" });
    c.frontends.fe_edge.acls.push(foreignAcl);
    c.frontends.fe_edge.rules.push(foreignRule);
  });
}

/** The backends the provider owns on the fake. */
export const ours = (fake: FakeDataplane): string[] =>
  fake.config.backends.filter((b) => b.name.startsWith("route_")).map((b) => b.name);

/** The worker frontend on the fake. */
export const fe = (fake: FakeDataplane) => fake.config.frontends.fe_edge;
