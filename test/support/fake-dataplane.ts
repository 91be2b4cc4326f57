/**
 * An in-memory fake of the HAProxy Data Plane API v3 endpoints the route manager uses, on 127.0.0.1, for fast
 * unit tests: versions, transactions (409 on a version mismatch, 406 on an outdated one, 429 over the limit),
 * backends with `full_section`, frontend ACL and `use_backend` lists, the raw configuration, and reloads.
 *
 * It follows the Data Plane API v3 specification (its OpenAPI document); what it proves is checked against the
 * real API 3.2.7 in test/system/worker-routes.system.test.ts. Tests can change the
 * configuration "out of band" ({@link FakeDataplane.mutate}), reject commits the way `haproxy -c` would
 * ({@link FakeDataplane.validate}), fail reloads, and inject errors.
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import type { Acl, Backend, Server, SwitchingRule } from "../../dataplane/routes";

/** The configuration the fake holds. */
export interface FakeConfig {
  backends: Backend[];
  frontends: Record<string, { acls: Acl[]; rules: SwitchingRule[] }>;
}

interface FakeTransaction {
  id: string;
  _version: number;
  status: "in_progress" | "success" | "failed" | "outdated";
  config: FakeConfig;
}

/** One request the fake answered. */
export interface FakeRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  status: number;
}

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

/** Renders the configuration the way the raw endpoint would (enough for line-number mapping). */
export function renderFakeConfig(c: FakeConfig, version: number): string {
  const lines = [`# _version=${version}`, "global", "    master-worker", "", "defaults", "    mode http", ""];
  const meta = (m: unknown) => (m ? ` # ${JSON.stringify(m)}` : "");
  for (const [name, fe] of Object.entries(c.frontends)) {
    lines.push(`frontend ${name}`, "    bind :8080 accept-proxy");
    for (const a of fe.acls)
      lines.push(`    acl ${a.acl_name} ${a.criterion} ${a.value ?? ""}${meta(a.metadata)}`);
    for (const r of fe.rules) {
      lines.push(`    use_backend ${r.name}${r.cond ? ` ${r.cond} ${r.cond_test}` : ""}${meta(r.metadata)}`);
    }
    lines.push("    default_backend be_not_found", "");
  }
  for (const b of c.backends) {
    lines.push(`backend ${b.name}${meta(b.metadata)}`);
    if (b.mode) lines.push(`    mode ${b.mode}`);
    if (b.balance) lines.push(`    balance ${b.balance.algorithm}`);
    if (b.adv_check === "httpchk")
      lines.push(`    option httpchk ${b.httpchk_params?.method} ${b.httpchk_params?.uri}`);
    for (const s of Object.values(b.servers ?? {})) {
      lines.push(
        `    server ${s.name} ${s.address}:${s.port}${s.check === "enabled" ? " check" : ""}${meta(s.metadata)}`,
      );
    }
    lines.push("");
  }
  return lines.join("\n");
}

/** The fake server. */
export class FakeDataplane {
  readonly user = "admin";
  readonly password = "fake-secret-password";
  version = 1;
  config: FakeConfig;
  transactions = new Map<string, FakeTransaction>();
  requests: FakeRequest[] = [];
  /** Return an error message to reject a commit (as `haproxy -c` would), given the file it would write. */
  validate: (raw: string, config: FakeConfig) => string | undefined = () => undefined;
  /** Status of reloads: each is `in_progress` this many polls, then `reloadOutcome`. */
  reloadPolls = 1;
  reloadOutcome: "succeeded" | "failed" = "succeeded";
  reloadResponse = "";
  maxOpenTransactions = 20;
  /** Servers replaced outside a transaction, and whether the runtime API could take the change (no reload). */
  serverChanges: { backend: string; server: string; runtime: boolean }[] = [];
  /** Reloads done during a commit (`force_reload=true`). */
  reloadsForced = 0;
  /** False: `force_reload` is ignored, every commit only schedules a reload (202 + Reload-ID). */
  honorForceReload = true;
  /** Errors to answer instead of the real thing, matched in order, each once. */
  injected: { method: string; path: RegExp; status: number; message: string }[] = [];
  /**
   * HAProxy's view of a server's health for `GET /v3/services/haproxy/stats/native`, keyed `<backend>/<server>`:
   * `[status, check_status, check_desc]` (default `UP`, `L7OK`).
   */
  serverHealth: Record<string, [string, string, string?]> = {};
  /** Hook run before a request is handled (e.g. to race a concurrent change). */
  onRequest?: (method: string, path: string, query: Record<string, string>) => Promise<void> | void;
  /** Highest number of requests handled at the same time. */
  maxConcurrent = 0;
  private concurrent = 0;
  private reloads = new Map<string, { polls: number; status: string; response: string }>();
  private nextTx = 1;
  private nextReload = 1;
  private server?: http.Server;

  constructor(frontend = "fe_edge", initial?: Partial<FakeConfig>) {
    this.config = {
      backends: initial?.backends ?? [{ name: "be_not_found", mode: "http" }],
      frontends: initial?.frontends ?? { [frontend]: { acls: [], rules: [] } },
    };
  }

  /** `http://127.0.0.1:<port>` once started. */
  url = "";

  /** Starts listening on 127.0.0.1 (a free port). */
  async start(): Promise<this> {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server?.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  /** Stops the server. */
  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** An out-of-band change (as another DPAPI client would make with `?version=`): bumps the version. */
  mutate(fn: (c: FakeConfig) => void): void {
    fn(this.config);
    this.version++;
    this.outdate(this.version - 1);
  }

  /** The raw configuration on "disk". */
  raw(): string {
    return renderFakeConfig(this.config, this.version);
  }

  /** Transactions still in progress. */
  openTransactions(): FakeTransaction[] {
    return [...this.transactions.values()].filter((t) => t.status === "in_progress");
  }

  /** Requests whose method and path match. */
  count(method: string, path: RegExp): number {
    return this.requests.filter((r) => r.method === method && path.test(r.path)).length;
  }

  private outdate(upTo: number): void {
    for (const t of this.transactions.values()) {
      if (t.status === "in_progress" && t._version <= upTo) t.status = "outdated";
    }
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    this.concurrent++;
    this.maxConcurrent = Math.max(this.maxConcurrent, this.concurrent);
    const url = new URL(req.url ?? "/", "http://fake");
    const query = Object.fromEntries(url.searchParams.entries());
    const method = req.method ?? "GET";
    const path = url.pathname;
    let body = "";
    for await (const chunk of req) body += String(chunk);
    let status = 500;
    const send = (code: number, payload: unknown, headers: Record<string, string> = {}) => {
      status = code;
      const text =
        typeof payload === "string" && headers["content-type"] === "text/plain"
          ? payload
          : JSON.stringify(payload);
      res.writeHead(code, { "content-type": "application/json", ...headers });
      res.end(code === 204 ? undefined : text);
    };
    try {
      // Let a concurrent request overlap if the client does not serialize.
      await new Promise((r) => setImmediate(r));
      if (this.onRequest) await this.onRequest(method, path, query);
      const expected = `Basic ${Buffer.from(`${this.user}:${this.password}`).toString("base64")}`;
      if (req.headers.authorization !== expected) return send(401, { code: 401, message: "unauthorized" });
      const inj = this.injected.findIndex((i) => i.method === method && i.path.test(path));
      if (inj >= 0) {
        const [i] = this.injected.splice(inj, 1);
        return send(i.status, { code: i.status, message: i.message });
      }
      this.route(method, path, query, body, send);
    } catch (e) {
      send(500, { code: 500, message: (e as Error).message });
    } finally {
      this.concurrent--;
      this.requests.push({ method, path, query, status });
    }
  }

  private route(
    method: string,
    path: string,
    query: Record<string, string>,
    body: string,
    send: (code: number, payload: unknown, headers?: Record<string, string>) => void,
  ): void {
    const C = "/v3/services/haproxy/configuration";
    const err = (code: number, message: string) => send(code, { code, message });
    let m: RegExpExecArray | null;

    if (method === "GET" && path === "/v3/health") return send(200, { haproxy: "up" });
    if (method === "GET" && path === "/v3/services/haproxy/stats/native") {
      const stats = this.config.backends.flatMap((b) =>
        Object.values(b.servers ?? {}).map((sv) => {
          const [status, check, desc] = this.serverHealth[`${b.name}/${sv.name}`] ?? ["UP", "L7OK"];
          return {
            type: "server",
            name: sv.name,
            backend_name: b.name,
            stats: { status, check_status: check, check_desc: desc, addr: `${sv.address}:${sv.port ?? ""}` },
          };
        }),
      );
      return send(200, { runtimeAPI: "/var/run/haproxy-master/master.sock", stats });
    }
    if (path === "/v3/services/haproxy/transactions") {
      if (method === "GET") {
        const all = [...this.transactions.values()].filter((t) => !query.status || t.status === query.status);
        return send(
          200,
          all.map(({ id, _version, status }) => ({ id, _version, status })),
        );
      }
      if (method === "POST") {
        const v = Number(query.version);
        if (v !== this.version) {
          return err(
            409,
            `version mismatch: version in configuration file is ${this.version}, given version is ${v}`,
          );
        }
        if (this.openTransactions().length >= this.maxOpenTransactions)
          return err(429, "too many open transactions");
        const t: FakeTransaction = {
          id: `tx-${this.nextTx++}`,
          _version: v,
          status: "in_progress",
          config: clone(this.config),
        };
        this.transactions.set(t.id, t);
        return send(201, { id: t.id, _version: t._version, status: t.status }, this.versionHeader(t));
      }
    }
    if ((m = /^\/v3\/services\/haproxy\/transactions\/([^/]+)$/.exec(path))) {
      const t = this.transactions.get(m[1]);
      if (!t) return err(404, `transaction ${m[1]} does not exist`);
      if (method === "DELETE") {
        this.transactions.delete(t.id);
        return send(204, "");
      }
      if (method === "GET") return send(200, { id: t.id, _version: t._version, status: t.status });
      if (method === "PUT") return this.commit(t, send, query.force_reload === "true");
    }
    if ((m = /^\/v3\/services\/haproxy\/reloads\/([^/]+)$/.exec(path)) && method === "GET") {
      const r = this.reloads.get(m[1]);
      if (!r) return err(404, `Reload with ID ${m[1]} does not exist`);
      if (r.polls > 0) {
        r.polls--;
        return send(200, { id: m[1], status: "in_progress" });
      }
      return send(200, { id: m[1], status: r.status, response: r.response });
    }

    // Configuration endpoints: inside a transaction or on "disk".
    let cfg = this.config;
    let tx: FakeTransaction | undefined;
    if (query.transaction_id) {
      tx = this.transactions.get(query.transaction_id);
      if (!tx) return err(404, `transaction ${query.transaction_id} does not exist`);
      // As the real API: an outdated transaction was moved to its `outdated` folder, out of reach.
      if (tx.status === "outdated") return err(400, `transaction ${tx.id} does not exist`);
      if (tx.status !== "in_progress") return err(406, `transaction ${tx.id} is ${tx.status}`);
      cfg = tx.config;
    } else if (method !== "GET") {
      if (query.version === undefined) return err(400, "version or transaction not specified");
      if (Number(query.version) !== this.version) {
        return err(
          409,
          `version mismatch: version in configuration file is ${this.version}, given version is ${query.version}`,
        );
      }
    }
    const headers = this.versionHeader(tx);
    const written = (code: number, payload: unknown) => {
      if (!tx) {
        this.version++;
        this.outdate(this.version - 1);
        return send(code === 202 ? 202 : code, payload, this.versionHeader());
      }
      return send(202, payload, headers);
    };

    if (method === "GET" && path === `${C}/version`) return send(200, this.version, headers);
    if (method === "GET" && path === `${C}/raw`) {
      const text = renderFakeConfig(cfg, tx ? tx._version : this.version);
      return send(200, text, { ...headers, "content-type": "text/plain" });
    }
    if ((m = /^\/v3\/services\/haproxy\/configuration\/frontends\/([^/]+)$/.exec(path)) && method === "GET") {
      return cfg.frontends[m[1]]
        ? send(200, { name: m[1], mode: "http" }, headers)
        : err(404, `missing object: frontend ${m[1]} does not exist`);
    }
    if (path === `${C}/backends`) {
      if (method === "GET") {
        const full = query.full_section === "true";
        return send(
          200,
          cfg.backends.map((b) => (full ? b : { ...b, servers: undefined })),
          headers,
        );
      }
      if (method === "POST") {
        const b = JSON.parse(body) as Backend;
        if (cfg.backends.some((x) => x.name === b.name))
          return err(409, `object already exists: backend ${b.name} already exists`);
        cfg.backends.push(b);
        return written(201, b);
      }
    }
    if ((m = /^\/v3\/services\/haproxy\/configuration\/backends\/([^/]+)$/.exec(path))) {
      const name = decodeURIComponent(m[1]);
      const i = cfg.backends.findIndex((b) => b.name === name);
      if (i < 0) return err(404, `missing object: backend ${name} does not exist`);
      if (method === "GET") return send(200, cfg.backends[i], headers);
      if (method === "PUT") {
        cfg.backends[i] = JSON.parse(body) as Backend;
        return written(200, cfg.backends[i]);
      }
      if (method === "DELETE") {
        cfg.backends.splice(i, 1);
        return written(204, "");
      }
    }
    if ((m = /^\/v3\/services\/haproxy\/configuration\/backends\/([^/]+)\/servers\/([^/]+)$/.exec(path))) {
      const b = cfg.backends.find((x) => x.name === decodeURIComponent(m?.[1] ?? ""));
      const name = decodeURIComponent(m[2]);
      const old = b?.servers?.[name];
      if (!b || !old) return err(404, `missing object: server ${name} does not exist`);
      if (method === "GET") return send(200, old, headers);
      if (method === "PUT") {
        const next = JSON.parse(body) as Server;
        (b.servers as Record<string, Server>)[name] = next;
        // As the real API: only address and port changed → the runtime API, no reload; else a (forced) reload.
        const runtime =
          JSON.stringify({ ...old, address: next.address, port: next.port }) === JSON.stringify(next);
        if (!tx) {
          this.serverChanges.push({ backend: b.name, server: name, runtime });
          if (!runtime && query.force_reload === "true") this.reloadsForced++;
        }
        return written(200, next);
      }
    }
    if (
      (m =
        /^\/v3\/services\/haproxy\/configuration\/frontends\/([^/]+)\/(acls|backend_switching_rules)$/.exec(
          path,
        ))
    ) {
      const fe = cfg.frontends[decodeURIComponent(m[1])];
      const key = m[2] === "acls" ? "acls" : "rules";
      if (method === "GET") return send(200, fe ? fe[key] : [], headers);
      if (!fe) return err(400, `missing parent: frontend ${m[1]} does not exist`);
      if (method === "PUT") {
        (fe as Record<string, unknown>)[key] = JSON.parse(body);
        return written(200, fe[key]);
      }
    }
    return err(404, `no such path ${method} ${path}`);
  }

  private commit(
    t: FakeTransaction,
    send: (code: number, payload: unknown, headers?: Record<string, string>) => void,
    force: boolean,
  ) {
    const err = (code: number, message: string) => send(code, { code, message });
    if (t.status === "outdated" || t.status === "failed") {
      return err(406, `transaction ${t.id} is ${t.status} and cannot be committed`);
    }
    if (t._version !== this.version) {
      t.status = "outdated";
      return err(
        409,
        `version mismatch: version mismatch, transaction version: ${t._version}, configured version: ${this.version}`,
      );
    }
    const raw = renderFakeConfig(t.config, t._version);
    const problem = this.validate(raw, t.config);
    if (problem) {
      t.status = "failed";
      return err(400, `validation error: exit status 1: err transactionId=${t.id} \n${problem}`);
    }
    // DPAPI removes a committed transaction.
    t.status = "success";
    this.transactions.delete(t.id);
    if (force && this.honorForceReload) {
      // force_reload: reloaded before the answer; a failed reload puts the last good configuration back.
      this.reloadsForced++;
      if (this.reloadOutcome !== "succeeded") return err(400, `Reload failed: ${this.reloadResponse}`);
      this.config = t.config;
      this.version++;
      this.outdate(this.version - 1);
      return send(200, { id: t.id, _version: t._version, status: "success" }, this.versionHeader());
    }
    const id = `2026-01-01-${this.nextReload++}`;
    this.reloads.set(id, {
      polls: this.reloadPolls,
      status: this.reloadOutcome,
      response: this.reloadResponse,
    });
    // A failed reload: DPAPI puts the last known good configuration (and its version) back.
    if (this.reloadOutcome === "succeeded") {
      this.config = t.config;
      this.version++;
      this.outdate(this.version - 1);
    }
    return send(
      202,
      { id: t.id, _version: t._version, status: "success" },
      { ...this.versionHeader(), "Reload-ID": id },
    );
  }

  private versionHeader(tx?: FakeTransaction): Record<string, string> {
    return { "Configuration-Version": String(tx ? tx._version : this.version) };
  }
}
