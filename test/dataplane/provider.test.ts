/**
 * Tests of dataplane/provider.ts (the WorkerRoutes dynamic provider) and dataplane/sync.ts against an
 * in-memory fake Data Plane API on 127.0.0.1: one transaction per apply, foreign entries kept, conflicts retried,
 * no stale transactions, rejections named by route, reload outcomes, drift on read, the diff; and the provider
 * serialized the way `pulumi.dynamic.Resource` does, loaded by Node's module loader in a plain `node` process.
 */
import { strict as assert } from "node:assert";
import { builtinModules } from "node:module";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import {
  checkWorkerRoutes,
  diffWorkerRoutes,
  endpointKey,
  workerRoutesProvider,
  type WorkerRoutesInputs,
  type WorkerRoutesOutputs,
} from "../../dataplane/provider";
import { DataplaneClient } from "../../dataplane/client";
import type { Backend } from "../../dataplane/routes";
import type { RouteSpec } from "../../config/routes";
import { cleanStaleTransactions, journalPath } from "../../dataplane/sync";
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

function inputs(fake: FakeDataplane, routes: Record<string, RouteSpec>): WorkerRoutesInputs {
  return {
    worker: "staging",
    url: fake.url,
    user: fake.user,
    password: fake.password,
    sshOpts: [],
    frontend: "fe_edge",
    routes,
  };
}

describe("dataplane/provider", () => {
  let fake: FakeDataplane;
  const provider = workerRoutesProvider({ reloadTimeoutMs: 5000, requestTimeoutMs: 2000 });

  beforeEach(async () => {
    fake = await new FakeDataplane().start();
    addForeignEntries(fake);
  });
  afterEach(async () => {
    await fake.stop();
    fs.rmSync(journalPath(endpointKey({ url: fake.url })), { force: true });
  });

  describe("create / update / delete", () => {
    it("creates every route in one transaction and one reload, next to the foreign entries", async () => {
      const v0 = fake.version;
      const res = await provider.create(inputs(fake, { app, api }));
      assert.equal(res.id, `staging@local|${fake.url}`);
      assert.deepEqual(res.outs?.routes, { api, app });
      assert.equal(fake.version, v0 + 1);
      assert.equal(fake.count("POST", /transactions$/), 1);
      assert.equal(fake.count("PUT", /transactions\/tx-/), 1);
      // Committed with force_reload: HAProxy reloaded before the answer, nothing to poll.
      assert.ok(fake.requests.some((r) => r.method === "PUT" && r.query.force_reload === "true"));
      assert.equal(fake.reloadsForced, 1);
      assert.equal(fake.count("GET", /reloads\//), 0);
      assert.deepEqual(ours(fake), ["route_api", "route_app"]);
      assert.deepEqual(
        fe(fake).acls.map((a) => a.acl_name),
        ["is_office", "route_api_host", "route_api_path", "route_app_host"],
      );
      assert.deepEqual(
        fe(fake).rules.map((r) => `${r.name} ${r.cond_test}`),
        ["be_manual is_office", "route_api route_api_host route_api_path", "route_app route_app_host"],
      );
      assert.deepEqual(fe(fake).rules[1].metadata, { managed_by: "haproxy-edge", route: "api" });
      assert.deepEqual(fake.openTransactions(), []);
      // POSTed with full_section so the servers come along.
      assert.ok(
        fake.requests.some(
          (r) => r.method === "POST" && r.path.endsWith("/backends") && r.query.full_section === "true",
        ),
      );
    });

    it("does nothing (no transaction, no reload) when the worker already holds the routes", async () => {
      await provider.create(inputs(fake, { app }));
      const before = { version: fake.version, requests: fake.requests.length };
      await provider.update("id", { ...inputs(fake, { app }) }, inputs(fake, { app }));
      assert.equal(fake.version, before.version);
      assert.equal(fake.count("POST", /transactions$/), 1);
    });

    it("replaces a changed backend with its servers at once, and only that one", async () => {
      await provider.create(inputs(fake, { app, api }));
      const changed = { ...app, servers: ["10.0.0.9:8080"] };
      await provider.update("id", inputs(fake, { app, api }), inputs(fake, { app: changed, api }));
      const puts = fake.requests.filter((r) => r.method === "PUT" && /\/backends\//.test(r.path));
      assert.deepEqual(
        puts.map((r) => [r.path.split("/").pop(), r.query.full_section]),
        [["route_app", "true"]],
      );
      const b = fake.config.backends.find((x) => x.name === "route_app") as Backend;
      assert.deepEqual(Object.keys(b.servers ?? {}), ["s1"]);
      assert.equal(b.servers?.s1.address, "10.0.0.9");
    });

    it("removes a route's rule, ACLs and backend, keeping foreign entries", async () => {
      await provider.create(inputs(fake, { app, api }));
      await provider.update("id", inputs(fake, { app, api }), inputs(fake, { app }));
      assert.deepEqual(ours(fake), ["route_app"]);
      assert.deepEqual(
        fe(fake).acls.map((a) => a.acl_name),
        ["is_office", "route_app_host"],
      );
      assert.deepEqual(
        fe(fake).rules.map((r) => r.name),
        ["be_manual", "route_app"],
      );
      // The backend goes after its rule (both within the one transaction).
      const i = fake.requests.findIndex((r) => r.method === "DELETE" && r.path.endsWith("/route_api"));
      const j = fake.requests
        .map((r) => r.method === "PUT" && r.path.endsWith("/backend_switching_rules"))
        .lastIndexOf(true);
      assert.ok(j >= 0 && i > j, `DELETE at ${i}, rules PUT at ${j}`);
    });

    it("delete removes only our entries", async () => {
      await provider.create(inputs(fake, { app, api }));
      await provider.delete("id", { ...inputs(fake, { app, api }) } as WorkerRoutesOutputs);
      assert.deepEqual(ours(fake), []);
      assert.deepEqual(fe(fake).acls, [foreignAcl]);
      assert.deepEqual(fe(fake).rules, [foreignRule]);
      assert.ok(fake.config.backends.some((b) => b.name === "be_manual"));
      assert.deepEqual(fake.openTransactions(), []);
    });

    it("fails clearly when the frontend does not exist", async () => {
      await assert.rejects(
        provider.create({ ...inputs(fake, { app }), frontend: "fe_nope" }),
        /frontend fe_nope does not exist/,
      );
    });
  });

  describe("server-only changes (production workers: no smoke check)", () => {
    const moved = { ...api, servers: ["10.0.0.4:9090"] };
    const production = (routes: Record<string, RouteSpec>) => ({
      ...inputs(fake, routes),
      smokeCheck: false,
    });

    it("moves a server to another address and port without a transaction or a reload (the runtime API's part)", async () => {
      await provider.create(production({ app, api }));
      const before = {
        version: fake.version,
        tx: fake.count("POST", /transactions$/),
        reloads: fake.reloadsForced,
      };
      await provider.update("id", production({ app, api }), production({ app, api: moved }));
      assert.equal(fake.count("POST", /transactions$/), before.tx, "no transaction");
      assert.equal(fake.reloadsForced, before.reloads, "no reload");
      assert.deepEqual(fake.serverChanges, [{ backend: "route_api", server: "s1", runtime: true }]);
      const put = fake.requests.find((r) => r.method === "PUT" && r.path.endsWith("/route_api/servers/s1"));
      assert.deepEqual([put?.query.version, put?.query.force_reload], [String(before.version), "true"]);
      const b = fake.config.backends.find((x) => x.name === "route_api") as Backend;
      assert.deepEqual([b.servers?.s1.address, b.servers?.s1.port], ["10.0.0.4", 9090]);
      assert.equal(fake.version, before.version + 1);
      // Read back exactly as applied: nothing for the next diff.
      const read = await provider.read("id", production({ app, api: moved }) as WorkerRoutesOutputs);
      assert.deepEqual((read.props as WorkerRoutesOutputs).routes.api, moved);
    });

    it("uses one transaction for anything more: a server added, a route's other fields, a new route", async () => {
      await provider.create(production({ app, api }));
      const cases: Record<string, RouteSpec>[] = [
        { app: { ...app, servers: [...app.servers, "10.0.0.5:8080"] }, api },
        { app: { ...app, servers: ["10.0.0.6:8080", "10.0.0.2:8080"], balance: "leastconn" }, api },
        { app, api: moved, extra: { ...api, hosts: ["extra.example.com"] } },
      ];
      let last: Record<string, RouteSpec> = { app, api };
      for (const next of cases) {
        const tx = fake.count("POST", /transactions$/);
        await provider.update("id", production(last), production(next));
        assert.equal(fake.count("POST", /transactions$/), tx + 1, JSON.stringify(next));
        last = next;
      }
      assert.deepEqual(fake.serverChanges, []);
    });

    it("on the staging worker (smoke check) uses a transaction: the reload checks every changed server afresh", async () => {
      await provider.create({ ...inputs(fake, { app, api }), smokeCheck: true });
      const tx = fake.count("POST", /transactions$/);
      await provider.update(
        "id",
        { ...inputs(fake, { app, api }), smokeCheck: true },
        { ...inputs(fake, { app, api: moved }), smokeCheck: true },
      );
      assert.equal(fake.count("POST", /transactions$/), tx + 1);
      assert.deepEqual(fake.serverChanges, []);
    });

    it("retries a version conflict from a fresh read, and falls back to one transaction when a server change fails", async () => {
      await provider.create(production({ app, api }));
      fake.injected.push({ method: "PUT", path: /\/servers\/s1$/, status: 409, message: "version mismatch" });
      await provider.update("id", production({ app, api }), production({ app, api: moved }));
      assert.equal(fake.count("PUT", /\/route_api\/servers\/s1$/), 2, "tried again after the conflict");
      const tx = fake.count("POST", /transactions$/);
      fake.injected.push({ method: "PUT", path: /\/servers\/s1$/, status: 500, message: "runtime API gone" });
      const back = { ...api, servers: ["10.0.0.3:8080"] };
      await provider.update("id", production({ app, api: moved }), production({ app, api: back }));
      assert.equal(fake.count("POST", /transactions$/), tx + 1, "the transaction took over");
      const b = fake.config.backends.find((x) => x.name === "route_api") as Backend;
      assert.equal(b.servers?.s1.address, "10.0.0.3");
      assert.deepEqual(fake.openTransactions(), []);
    });
  });

  describe("conflicts and failures", () => {
    it("retries with a fresh version when another writer commits first; both changes stay; nothing left open", async () => {
      let raced = false;
      const racing = workerRoutesProvider({
        reloadTimeoutMs: 5000,
        beforeCommit: async () => {
          if (raced) return;
          raced = true;
          fake.mutate((c) =>
            c.frontends.fe_edge.acls.push({ acl_name: "late", criterion: "src", value: "198.51.100.0/24" }),
          );
        },
      });
      await racing.create(inputs(fake, { app }));
      assert.ok(raced);
      assert.equal(fake.count("POST", /transactions$/), 2);
      assert.deepEqual(
        fe(fake).acls.map((a) => a.acl_name),
        ["is_office", "late", "route_app_host"],
      );
      assert.deepEqual(ours(fake), ["route_app"]);
      assert.deepEqual(fake.openTransactions(), []);
      assert.equal(fake.count("DELETE", /transactions\/tx-1$/), 1, "the outdated transaction is deleted");
    });

    it("starts over when another client's commit outdates its transaction while it is being staged (the API then answers 'does not exist')", async () => {
      let raced = false;
      fake.onRequest = (method, path) => {
        if (raced || method !== "POST" || !path.endsWith("/backends")) return;
        raced = true;
        fake.mutate((c) => c.backends.push({ name: "be_other", mode: "http" }));
      };
      await provider.create(inputs(fake, { app, api }));
      assert.ok(raced);
      assert.equal(fake.count("POST", /transactions$/), 2, "a second transaction");
      assert.deepEqual(ours(fake), ["route_api", "route_app"]);
      assert.ok(
        fake.config.backends.some((b) => b.name === "be_other"),
        "the other change is kept",
      );
      assert.deepEqual(fake.openTransactions(), []);
    });

    it("gives up after a bounded number of attempts when the configuration keeps changing", async () => {
      const busy = workerRoutesProvider({
        maxAttempts: 3,
        beforeCommit: async () => fake.mutate(() => undefined),
      });
      await assert.rejects(
        busy.create(inputs(fake, { app })),
        /gave up after 3 attempts, the configuration kept changing \(PUT \/services\/haproxy\/transactions\/tx-1: HTTP 406 transaction tx-1 is outdated/,
      );
      assert.equal(fake.count("PUT", /transactions\/tx-/), 3);
      assert.deepEqual(fake.openTransactions(), []);
      assert.deepEqual(ours(fake), []);
    });

    it("names the rejected route and HAProxy's reason, and changes nothing", async () => {
      await provider.create(inputs(fake, { app }));
      fake.validate = (raw) => {
        const lines = raw.split("\n");
        const n = lines.findIndex((l) => l.includes("nope.invalid")) + 1;
        return n > 0
          ? `[ALERT]    (7) : config : parsing [/tmp/tx.cfg:${n}] : 'server s1' : could not resolve address 'nope.invalid'.`
          : undefined;
      };
      const version = fake.version;
      const raw = fake.raw();
      const bad = { ...app, hosts: ["bad.example.com"], servers: ["nope.invalid:80"] };
      await assert.rejects(
        provider.update("id", inputs(fake, { app }), inputs(fake, { app, bad })),
        (e: Error) => {
          assert.match(e.message, /worker staging: HAProxy rejected the configuration for route bad;/);
          assert.match(e.message, /could not resolve address 'nope\.invalid'/);
          assert.ok(!e.message.includes(fake.password));
          return true;
        },
      );
      assert.equal(fake.version, version);
      assert.equal(fake.raw(), raw);
      assert.deepEqual(fake.openTransactions(), []);
      assert.equal(fake.transactions.size, 0, "the failed transaction is deleted too");
    });

    it("fails with HAProxy's output when the reload fails", async () => {
      fake.reloadOutcome = "failed";
      fake.reloadResponse = "[ALERT] (1) : Failed to bind 0.0.0.0:8080";
      await assert.rejects(
        provider.create(inputs(fake, { app })),
        /worker staging: HAProxy reload failed; the Data Plane API restored the last good configuration \(added app\)\. HAProxy said: \[ALERT\] \(1\) : Failed to bind/,
      );
      assert.deepEqual(fake.openTransactions(), []);
    });

    it("where the API only schedules the reload (202 + Reload-ID), waits until it succeeded or failed", async () => {
      fake.honorForceReload = false;
      await provider.create(inputs(fake, { app }));
      assert.ok(fake.count("GET", /reloads\//) >= 2, "waits until the reload succeeded");
      fake.reloadOutcome = "failed";
      fake.reloadResponse = "[ALERT] (1) : Failed to bind 0.0.0.0:8080";
      await assert.rejects(
        provider.create(inputs(fake, { app, api })),
        /reload 2026-01-01-2 failed.*Failed to bind/,
      );
    });

    it("deletes the transaction when staging a change fails, and reports method, path and status", async () => {
      fake.injected.push({ method: "PUT", path: /acls$/, status: 422, message: "invalid value for acl" });
      await assert.rejects(
        provider.create(inputs(fake, { app })),
        /worker staging: Data Plane API PUT \/services\/haproxy\/configuration\/frontends\/fe_edge\/acls\?transaction_id=tx-1: HTTP 422: invalid value for acl/,
      );
      assert.equal(fake.transactions.size, 0);
    });

    it("first deletes the transactions a killed run of ours left open (dead process): no 429, others' kept", async () => {
      fake.maxOpenTransactions = 2;
      const client = new DataplaneClient({ baseUrl: fake.url, user: fake.user, password: fake.password });
      const foreign = await client.startTransaction(fake.version);
      const stale = await client.startTransaction(fake.version);
      // Journal `stale` as opened by a process that is gone.
      const file = journalPath(endpointKey({ url: fake.url }));
      fs.mkdirSync(path.dirname(file), { recursive: true });
      const dead = await deadPid();
      fs.writeFileSync(
        file,
        JSON.stringify({ [stale.id]: { pid: dead, openedAt: new Date().toISOString() } }),
      );
      await provider.create(inputs(fake, { app }));
      // Deleted before ours was opened: the limit of 2 open transactions was never hit.
      assert.equal(fake.count("POST", /transactions$/), 3, "two by this test, one by the apply");
      // The foreign one is still there (outdated by our commit, as DPAPI does), the stale one of ours is gone.
      assert.deepEqual([...fake.transactions.keys()], [foreign.id]);
      assert.deepEqual(ours(fake), ["route_app"]);
      assert.deepEqual(JSON.parse(fs.readFileSync(file, "utf8")), {});
    });

    it("on 429 with no stale transaction of ours, says so", async () => {
      fake.maxOpenTransactions = 1;
      const client = new DataplaneClient({ baseUrl: fake.url, user: fake.user, password: fake.password });
      await client.startTransaction(fake.version);
      await assert.rejects(
        provider.create(inputs(fake, { app })),
        /too many open Data Plane API transactions \(429\)/,
      );
      assert.deepEqual(await cleanStaleTransactions(client, endpointKey({ url: fake.url })), []);
      assert.equal(fake.openTransactions().length, 1);
    });
  });

  describe("smoke check (staging)", () => {
    it("passes once every server of the new routes passed its check; waits while a check is pending", async () => {
      fake.serverHealth["route_app/s1"] = ["UP", "INI"];
      setTimeout(() => (fake.serverHealth["route_app/s1"] = ["UP", "L7OK"]), 400);
      const t0 = Date.now();
      await provider.create({ ...inputs(fake, { app }), smokeCheck: true });
      assert.ok(Date.now() - t0 >= 300, "waited for the first check");
      const stats = fake.requests.filter((r) => r.path.endsWith("/stats/native"));
      assert.ok(stats.length >= 2, `${stats.length} polls`);
    });

    it("fails at once naming the route, the server and HAProxy's check result; only new or changed routes count", async () => {
      const created = (await provider.create({ ...inputs(fake, { app }), smokeCheck: true }))
        .outs as WorkerRoutesOutputs;
      fake.serverHealth["route_app/s2"] = ["DOWN", "L4CON", "Connection refused"];
      // app is unchanged: its down server does not block adding api.
      const next = { ...inputs(fake, { app, api }), smokeCheck: true };
      await provider.update("id", created, next);
      fake.serverHealth["route_api/s1"] = ["DOWN", "L7STS", "HTTP status 503"];
      const changed = {
        ...inputs(fake, { app, api: { ...api, healthCheckPath: "/ready" } }),
        smokeCheck: true,
      };
      await assert.rejects(
        provider.update("id", { ...created, routes: next.routes }, changed),
        (e: Error) => {
          assert.match(e.message, /worker staging: smoke check failed, the rollout stops here/);
          assert.match(
            e.message,
            /route api server s1 \(10\.0\.0\.3:8080\): DOWN, check L7STS \(HTTP status 503\)/,
          );
          assert.doesNotMatch(e.message, /route app/);
          return true;
        },
      );
      // Without the check (production workers), the same apply succeeds.
      await provider.update("id", { ...created, routes: next.routes }, { ...changed, smokeCheck: false });
    });
  });

  describe("read (refresh)", () => {
    it("returns exactly the inputs when nothing changed out of band", async () => {
      const created = await provider.create(inputs(fake, { app, api }));
      const read = await provider.read("id", created.outs);
      assert.deepEqual(read.props?.routes, { api, app });
      assert.deepEqual(
        diffWorkerRoutes(read.props as WorkerRoutesOutputs, inputs(fake, { app, api })).changes,
        false,
      );
    });

    it("shows an out-of-band edit as drift that the next diff wants to undo", async () => {
      const created = await provider.create(inputs(fake, { app, api }));
      fake.mutate((c) => {
        const b = c.backends.find((x) => x.name === "route_app") as Backend;
        b.servers = {
          s1: { name: "s1", address: "10.6.6.6", port: 80, check: "enabled", inter: 1000, fastinter: 200 },
        };
        c.frontends.fe_edge.rules = c.frontends.fe_edge.rules.filter((r) => r.name !== "route_api");
      });
      const read = await provider.read("id", created.outs);
      const live = read.props as WorkerRoutesOutputs;
      assert.deepEqual(live.routes.app.servers, ["10.6.6.6:80"]);
      assert.deepEqual(live.routes.api.drift, ["use_backend route_api rule missing"]);
      assert.deepEqual(read.inputs?.routes, live.routes);
      const d = diffWorkerRoutes(live, inputs(fake, { app, api }));
      assert.deepEqual(d.detailedDiff, {
        "routes.api.drift": { kind: "DELETE", inputDiff: false },
        "routes.app.servers": { kind: "UPDATE", inputDiff: true },
      });
      await provider.update("id", live, inputs(fake, { app, api }));
      assert.deepEqual((await provider.read("id", created.outs)).props?.routes, { api, app });
    });
  });

  describe("diff and check", () => {
    const base = (routes: Record<string, RouteSpec>): WorkerRoutesInputs => ({
      worker: "prod-1",
      url: "http://127.0.0.1:5556",
      user: "u",
      password: "p",
      sshOpts: [],
      frontend: "fe_edge",
      routes,
    });

    it("reports changes per route and field, in place", () => {
      const d = diffWorkerRoutes(
        base({ app, api, old: app }),
        base({ app: { ...app, servers: ["1.1.1.1:80"] }, api: { ...api, pathPrefix: undefined }, shop: app }),
      );
      assert.deepEqual(d, {
        changes: true,
        replaces: [],
        deleteBeforeReplace: true,
        detailedDiff: {
          "routes.shop": { kind: "ADD", inputDiff: true },
          "routes.old": { kind: "DELETE", inputDiff: true },
          "routes.api.pathPrefix": { kind: "DELETE", inputDiff: true },
          "routes.app.servers": { kind: "UPDATE", inputDiff: true },
        },
      });
      assert.deepEqual(diffWorkerRoutes(base({ app }), base({ app: { ...app } })).changes, false);
      assert.deepEqual(Object.keys(diffWorkerRoutes(base({}), base({ "my-app": app })).detailedDiff), [
        'routes["my-app"]',
      ]);
    });

    it("replaces (delete first) only when the worker or endpoint changes", () => {
      const d = diffWorkerRoutes(base({ app }), { ...base({ app }), url: "http://127.0.0.1:5557" });
      assert.deepEqual(d.replaces, ["url"]);
      assert.equal(d.deleteBeforeReplace, true);
      assert.deepEqual(diffWorkerRoutes(base({}), { ...base({}), ssh: "deploy@docker-1" }).replaces, ["ssh"]);
      const pw = diffWorkerRoutes(base({}), { ...base({}), password: "new", instance: "c2" });
      assert.deepEqual(pw.replaces, []);
      assert.deepEqual(Object.keys(pw.detailedDiff), ["password", "instance"]);
    });

    it("through a router: a new router is another endpoint (replace), a new key is an update", () => {
      const router = { host: "192.168.88.1", port: 22, user: "pulumi" };
      const viaRouter = { ...base({ app }), url: "http://172.20.0.22:5555", router, routerKey: "k1" };
      assert.deepEqual(diffWorkerRoutes(base({ app }), viaRouter).replaces, ["url", "router"]);
      const moved = { ...viaRouter, router: { ...router, host: "192.168.88.2" } };
      assert.deepEqual(diffWorkerRoutes(viaRouter, moved).replaces, ["router"]);
      const rotated = diffWorkerRoutes(viaRouter, { ...viaRouter, routerKey: "k2" });
      assert.deepEqual(rotated.replaces, []);
      assert.deepEqual(Object.keys(rotated.detailedDiff), ["routerKey"]);
      // The same router with its host key newly pinned (or the opt-out set): an update, the routes stay served.
      const hostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
      for (const pinned of [
        { ...router, hostKey },
        { ...router, acceptAnyHostKey: true },
      ]) {
        const d = diffWorkerRoutes(viaRouter, { ...viaRouter, router: pinned });
        assert.deepEqual(d.replaces, [], JSON.stringify(pinned));
        assert.deepEqual(d.detailedDiff, { router: { kind: "UPDATE", inputDiff: true } });
      }
      assert.equal(
        endpointKey(viaRouter),
        "routeros://pulumi@192.168.88.1:22|http://172.20.0.22:5555",
        "the journal and queue key names the router, never the key",
      );
      assert.deepEqual(checkWorkerRoutes(viaRouter).failures, []);
      const noKey: WorkerRoutesInputs = { ...viaRouter };
      delete noKey.routerKey;
      assert.deepEqual(
        checkWorkerRoutes(noKey).failures?.map((f) => f.property),
        ["routerKey"],
      );
      assert.deepEqual(
        checkWorkerRoutes({ ...viaRouter, ssh: "deploy@docker-1" }).failures?.map((f) => f.property),
        ["router"],
      );
    });

    it("checks inputs and canonicalizes routes; unknown preview values pass", () => {
      const ok = checkWorkerRoutes(base({ app: { ...app, hosts: ["App.Example.com"] } }));
      assert.deepEqual(ok.failures, []);
      assert.deepEqual(ok.inputs?.routes.app.hosts, ["app.example.com"]);
      const bad = checkWorkerRoutes({
        ...base({
          Bad_Name: app,
          x: { ...app, servers: ["nohost"], balance: "weird", healthCheckPath: "x" },
        }),
        url: "http://user:pw@127.0.0.1:1",
        ssh: "not a target",
      });
      assert.deepEqual(
        bad.failures?.map((f) => f.property),
        ["url", "ssh", "routes.Bad_Name", "routes.x.servers", "routes.x.balance", "routes.x.healthCheckPath"],
      );
      // An ssh target that would read as an ssh option.
      for (const ssh of ["-Jevil.host", "-oProxyCommand=x@host", "deploy@-J.host"]) {
        assert.deepEqual(
          checkWorkerRoutes({ ...base({ app }), ssh }).failures?.map((f) => f.property),
          ["ssh"],
          ssh,
        );
      }
      assert.deepEqual(checkWorkerRoutes({ ...base({ app }), ssh: "deploy@docker-1.lan:2222" }).failures, []);
      const unknown = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
      assert.deepEqual(
        checkWorkerRoutes({ ...base({ app: { ...app, servers: [unknown] } }), url: unknown }).failures,
        [],
      );
    });
  });

  describe("as Pulumi serializes it", () => {
    it("serializes like pulumi.dynamic.Resource and works when loaded by Node's module loader in a plain node", async function () {
      this.timeout(60_000);
      // What pulumi.dynamic.Resource does: serializeFunction(() => provider, { allowSecrets: true }).
      const provider = workerRoutesProvider();
      const sf = await pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true });
      assert.ok(!sf.containsSecrets);
      const requires = [...sf.text.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1]);
      // Besides Node built-ins, only ssh2 (the router tunnel), which the engine's loader resolves from the
      // program's node_modules: it runs the provider with the program's directory as its working directory.
      assert.deepEqual(
        [...new Set(requires.filter((r) => !r.startsWith("node:") && !builtinModules.includes(r)))],
        ["ssh2"],
        "only Node built-ins and ssh2 are required at run time",
      );
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "worker-routes-provider-"));
      try {
        const file = path.join(dir, "provider.js");
        fs.writeFileSync(file, sf.text);
        // The engine's loader: require-from-string (Module#_compile), then `.handler()`. No tsx in this process.
        const script = `
          const requireFromString = require(${JSON.stringify(require.resolve("require-from-string"))});
          const text = require("node:fs").readFileSync(${JSON.stringify(file)}, "utf8");
          const provider = requireFromString(text).handler();
          // What the router tunnel requires resolves the way the engine's loader resolves it.
          requireFromString('module.exports = require("ssh2").Client');
          const inputs = JSON.parse(process.argv[1]);
          (async () => {
            const out = { methods: Object.keys(provider).sort() };
            out.check = await provider.check(inputs, inputs);
            out.diff = await provider.diff("id", inputs, { ...inputs, routes: { ...inputs.routes, app: { ...inputs.routes.app, servers: ["10.0.0.7:80"] } } });
            out.create = await provider.create(inputs);
            out.read = await provider.read(out.create.id, out.create.outs);
            await provider.delete(out.create.id, out.create.outs);
            // Errors keep their class and message through the serializer (the engine reports e.message).
            try {
              await provider.delete(out.create.id, { ...out.create.outs, url: "http://127.0.0.1:59999" });
            } catch (e) {
              out.error = { isError: e instanceof Error, message: String(e && e.message) };
            }
            process.stdout.write(JSON.stringify(out));
          })().catch((e) => { process.stderr.write(String(e && e.stack || e)); process.exit(1); });`;
        const child = await run(
          process.execPath,
          ["-e", script, JSON.stringify(inputs(fake, { app, api }))],
          30_000,
        );
        assert.equal(child.code, 0, child.stderr);
        assert.doesNotMatch(child.stderr, /tsx/);
        const out = JSON.parse(child.stdout) as Record<string, { [k: string]: unknown }>;
        assert.deepEqual(out.methods, ["check", "create", "delete", "diff", "read", "update"]);
        assert.deepEqual(out.check.failures, []);
        assert.deepEqual(out.diff.detailedDiff, {
          "routes.app.servers": { kind: "UPDATE", inputDiff: true },
        });
        assert.deepEqual((out.read.props as WorkerRoutesOutputs).routes, { api, app });
        assert.deepEqual(ours(fake), [], "deleted again");
        assert.ok(fake.count("PUT", /transactions\/tx-/) === 2);
        assert.equal(out.error.isError, true, JSON.stringify(out.error));
        assert.match(
          String(out.error.message),
          /^worker staging: Data Plane API GET \/services\/haproxy\/configuration\/frontends\/fe_edge: no answer: ECONNREFUSED/,
          JSON.stringify(out.error),
        );
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});

/** Runs a command with a deadline, collecting its output. */
function run(
  cmd: string,
  args: string[],
  timeoutMs: number,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      // The program's directory, as for the engine's dynamic provider process.
      cwd: path.join(__dirname, "..", ".."),
      stdio: ["ignore", "pipe", "pipe"],
      env: { PATH: process.env.PATH ?? "" },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
  await new Promise((r) => child.on("exit", r));
  return child.pid as number;
}

describe("dataplane/provider over an ssh tunnel", () => {
  let fake: FakeDataplane;
  let dir: string;
  const savedPath = process.env.PATH;

  before(async () => {
    fake = await new FakeDataplane().start();
    // A stand-in `ssh` on PATH: records its arguments, then forwards 127.0.0.1:<local> to 127.0.0.1:<remote>
    // the way `ssh -N -L 127.0.0.1:L:127.0.0.1:R` would (here the "remote host" is this machine's loopback).
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "worker-routes-ssh-"));
    const forwarder = `
      const net = require("node:net");
      const [local, remote] = process.argv.slice(2).map(Number);
      net.createServer((c) => { const u = net.connect(remote, "127.0.0.1"); c.pipe(u).pipe(c);
        u.on("error", () => c.destroy()); c.on("error", () => u.destroy()); }).listen(local, "127.0.0.1");`;
    fs.writeFileSync(path.join(dir, "forward.js"), forwarder);
    fs.writeFileSync(
      path.join(dir, "ssh"),
      `#!/bin/sh
printf '%s\\n' "$@" >> '${dir}/args'
for a in "$@"; do case "$a" in 127.0.0.1:*:127.0.0.1:*) spec="$a";; esac; done
case "$*" in *unreachable*) echo "ssh: connect to host unreachable port 22: Connection refused" >&2; exit 255;; esac
local=$(echo "$spec" | cut -d: -f2); remote=$(echo "$spec" | cut -d: -f4)
exec '${process.execPath}' '${dir}/forward.js' "$local" "$remote"
`,
      { mode: 0o755 },
    );
    process.env.PATH = `${dir}:${savedPath}`;
  });
  after(async () => {
    process.env.PATH = savedPath;
    for (const ssh of ["deploy@docker-1.lan:2222", "deploy@unreachable"]) {
      fs.rmSync(journalPath(endpointKey({ ssh, url: fake.url })), { force: true });
    }
    await fake.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("reaches a worker on a remote Docker host through ssh -L (BatchMode, bounded), and closes it", async () => {
    const provider = workerRoutesProvider({ reloadTimeoutMs: 5000 });
    const remote = {
      ...inputs(fake, { app }),
      ssh: "deploy@docker-1.lan:2222",
      sshOpts: ["-o", "StrictHostKeyChecking=yes"],
    };
    const res = await provider.create(remote);
    assert.equal(res.id, `staging@ssh://deploy@docker-1.lan:2222|${fake.url}`);
    assert.deepEqual(ours(fake), ["route_app"]);
    const args = fs.readFileSync(path.join(dir, "args"), "utf8").trim().split("\n");
    const port = new URL(fake.url).port;
    for (const expected of [
      "BatchMode=yes",
      "ExitOnForwardFailure=yes",
      "ConnectTimeout=10",
      "StrictHostKeyChecking=yes",
    ]) {
      assert.ok(args.includes(expected), `${expected} not in ${args.join(" ")}`);
    }
    assert.deepEqual(args.slice(args.indexOf("-p"), args.indexOf("-p") + 2), ["-p", "2222"]);
    assert.match(args[args.length - 2], new RegExp(`^127\\.0\\.0\\.1:\\d+:127\\.0\\.0\\.1:${port}$`));
    assert.equal(args[args.length - 1], "deploy@docker-1.lan");
    // ssh was stopped: its local port no longer accepts connections.
    const local = Number(args[args.length - 2].split(":")[1]);
    const refused = async () =>
      new Promise<boolean>((resolve) => {
        const s = net.connect({ host: "127.0.0.1", port: local });
        s.once("connect", () => (s.destroy(), resolve(false)));
        s.once("error", () => resolve(true));
      });
    let closed = false;
    for (let i = 0; i < 50 && !closed; i++) {
      closed = await refused();
      if (!closed) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(closed, `the tunnel on 127.0.0.1:${local} is still open`);
    const read = await provider.read(res.id, res.outs);
    assert.deepEqual(read.props?.routes, { app });
  });

  it("fails with ssh's own words when the tunnel cannot open", async () => {
    const provider = workerRoutesProvider();
    await assert.rejects(
      provider.create({ ...inputs(fake, { app }), ssh: "deploy@unreachable" }),
      /ssh tunnel to deploy@unreachable \(127\.0\.0\.1:\d+\): ssh exited with 255: ssh: connect to host unreachable port 22: Connection refused/,
    );
  });
});
