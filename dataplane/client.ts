/**
 * A small HAProxy Data Plane API v3 client over Node's global `fetch`.
 *
 * - HTTP basic auth; the password never appears in an error, a path or a log line.
 * - Every request has a timeout (`AbortSignal.timeout`).
 * - Requests to one endpoint are serialized: a promise queue per endpoint key, kept on `globalThis` so that every
 *   copy of this code (a Pulumi dynamic provider is deserialized once per resource) shares it.
 * - `Configuration-Version` and `Reload-ID` are read case-insensitively (`Headers.get`; DPAPI sends `Reload-Id`).
 *
 * This module is captured by the `WorkerRoutes` dynamic provider's closure: it must not rely on module-level
 * mutable state, and requires nothing at load time.
 */
import type { Acl, Backend, Server, SwitchingRule } from "./routes";

/**
 * An error answer of the Data Plane API (or no answer at all: `status` 0). A plain `Error` with these fields, made
 * by {@link dataplaneError}: not a subclass, because Pulumi's closure serializer turns classes into functions
 * that call `Error` without `new`, which loses the message (the dynamic provider's errors would read "Unknown
 * Error").
 */
export interface DataplaneError extends Error {
  name: "DataplaneError";
  /** HTTP method. */
  method: string;
  /** Path below `/v3`, with the query string. */
  path: string;
  /** HTTP status; 0 when there was no answer (connection refused, timeout, ...). */
  status: number;
  /** DPAPI's `message` (or the body's text, or the network error). */
  detail: string;
}

/** A {@link DataplaneError}. */
export function dataplaneError(method: string, path: string, status: number, detail: string): DataplaneError {
  const e = new Error(
    `Data Plane API ${method} ${path}: ${status === 0 ? "no answer" : `HTTP ${status}`}: ${detail}`,
  ) as DataplaneError;
  e.name = "DataplaneError";
  e.method = method;
  e.path = path;
  e.status = status;
  e.detail = detail;
  return e;
}

/** Is this a {@link DataplaneError} with one of these statuses? */
export function isDataplaneError(e: unknown, ...statuses: number[]): e is DataplaneError {
  return (
    e instanceof Error &&
    e.name === "DataplaneError" &&
    (statuses.length === 0 || statuses.includes((e as DataplaneError).status))
  );
}

/** Connection settings of a {@link DataplaneClient}. */
export interface DataplaneClientOptions {
  /** `http://127.0.0.1:5555` (no path, no credentials). */
  baseUrl: string;
  user: string;
  /** Secret: only ever sent in the `Authorization` header. */
  password: string;
  /** Timeout of each request, ms (default 15000). */
  timeoutMs?: number;
  /** Key of the per-endpoint queue (default `baseUrl`); give the logical endpoint when `baseUrl` is a tunnel. */
  endpointKey?: string;
}

/** One answer. */
export interface DataplaneResponse<T> {
  status: number;
  body: T;
  /** `Configuration-Version`, when present. */
  version?: number;
  /** `Reload-ID`, when present (a reload was scheduled). */
  reloadId?: string;
}

/** A DPAPI transaction. */
export interface Transaction {
  _version: number;
  id: string;
  status: "failed" | "outdated" | "in_progress" | "success";
}

/** A server as HAProxy's statistics show it. */
export interface ServerStat {
  backend: string;
  server: string;
  /** `address:port`. */
  address: string;
  /** `UP`, `DOWN`, `UP 1/2` (going down), `DOWN 1/2` (going up), `MAINT`, `no check`, ... */
  status: string;
  /** Last check's result: `L7OK`, `L4CON`, `L7STS`, ...; `INI` (or empty) before the first check. */
  checkStatus: string;
  checkDesc: string;
}

/** A DPAPI reload. */
export interface Reload {
  id: string;
  status: "in_progress" | "succeeded" | "failed";
  response?: string;
  reload_timestamp?: number;
}

interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  /** Expect (and send) text/plain. */
  text?: boolean;
  timeoutMs?: number;
}

/** The queue key → tail promise map shared by every copy of this code in the process. */
function queues(): Map<string, Promise<unknown>> {
  const key = Symbol.for("haproxy-edge.dataplane.queues");
  const g = globalThis as unknown as Record<symbol, Map<string, Promise<unknown>> | undefined>;
  let map = g[key];
  if (!map) {
    map = new Map();
    g[key] = map;
  }
  return map;
}

/**
 * Runs `fn` after every earlier call with the same `key` has settled (success or failure), so that calls with
 * one key never overlap. The queue lives on `globalThis`.
 */
export function serialized<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const map = queues();
  const previous = map.get(key) ?? Promise.resolve();
  const run = previous.then(fn, fn);
  const tail = run.then(
    () => undefined,
    () => undefined,
  );
  map.set(key, tail);
  void tail.then(() => {
    if (map.get(key) === tail) map.delete(key);
  });
  return run;
}

/** A header, case-insensitively (`Headers.get` is, by the Fetch standard). */
export function header(headers: Headers, name: string): string | undefined {
  return headers.get(name) ?? undefined;
}

const CONFIG = "/services/haproxy/configuration";

/** Typed access to the endpoints the route manager needs. */
export class DataplaneClient {
  private readonly options: Required<DataplaneClientOptions>;

  constructor(options: DataplaneClientOptions) {
    const url = new URL(options.baseUrl);
    if (url.username || url.password) throw new Error("the Data Plane API URL must not contain credentials");
    this.options = {
      timeoutMs: 15_000,
      endpointKey: options.baseUrl,
      ...options,
      baseUrl: options.baseUrl.replace(/\/+$/, ""),
    };
  }

  /** The queue key of this endpoint. */
  get endpointKey(): string {
    return this.options.endpointKey;
  }

  /** One request below `/v3`, queued behind the other requests to this endpoint. */
  request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<DataplaneResponse<T>> {
    return serialized(`request ${this.options.endpointKey}`, () => this.send<T>(method, path, opts));
  }

  private async send<T>(method: string, path: string, opts: RequestOptions): Promise<DataplaneResponse<T>> {
    const query = Object.entries(opts.query ?? {})
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
      .join("&");
    const shown = query ? `${path}?${query}` : path;
    const timeoutMs = opts.timeoutMs ?? this.options.timeoutMs;
    const auth = Buffer.from(`${this.options.user}:${this.options.password}`).toString("base64");
    const headers: Record<string, string> = {
      authorization: `Basic ${auth}`,
      accept: opts.text ? "text/plain" : "application/json",
    };
    let body: string | undefined;
    if (opts.body !== undefined) {
      headers["content-type"] = opts.text ? "text/plain" : "application/json";
      body = opts.text ? String(opts.body) : JSON.stringify(opts.body);
    }
    let res: Response;
    let text: string;
    try {
      res = await fetch(`${this.options.baseUrl}/v3${shown}`, {
        method,
        headers,
        body,
        signal: AbortSignal.timeout(timeoutMs),
      });
      text = await res.text();
    } catch (e) {
      const err = e as Error & { cause?: { code?: string; message?: string } };
      const why =
        err.name === "TimeoutError" || err.name === "AbortError"
          ? `timed out after ${timeoutMs} ms`
          : (err.cause?.code ?? err.cause?.message ?? err.message);
      throw dataplaneError(method, shown, 0, `${why} (${this.options.endpointKey})`);
    }
    if (res.status >= 400) throw dataplaneError(method, shown, res.status, errorMessage(text));
    let parsed: unknown = text;
    if (!opts.text && text.trim() !== "") {
      try {
        parsed = JSON.parse(text);
      } catch {
        throw dataplaneError(method, shown, res.status, `not JSON: ${text.slice(0, 200)}`);
      }
    }
    const version = header(res.headers, "Configuration-Version");
    const reloadId = header(res.headers, "Reload-ID");
    return {
      status: res.status,
      body: parsed as T,
      ...(version !== undefined && /^\d+$/.test(version) ? { version: Number(version) } : {}),
      ...(reloadId ? { reloadId } : {}),
    };
  }

  /** Every server's state and last health check, from HAProxy's own statistics (`show stat`). */
  async serverStats(): Promise<ServerStat[]> {
    type Native = {
      type?: string;
      name?: string;
      backend_name?: string;
      stats?: { status?: string; check_status?: string; check_desc?: string; addr?: string };
    };
    const res = await this.request<{ stats?: Native[]; error?: string }>(
      "GET",
      "/services/haproxy/stats/native",
      {
        query: { type: "server" },
      },
    );
    if (res.body?.error) throw new Error(`HAProxy statistics: ${res.body.error}`);
    return (res.body?.stats ?? [])
      .filter((s) => s.type === "server")
      .map((s) => ({
        backend: s.backend_name ?? "",
        server: s.name ?? "",
        address: s.stats?.addr ?? "",
        status: s.stats?.status ?? "",
        checkStatus: s.stats?.check_status ?? "",
        checkDesc: s.stats?.check_desc ?? "",
      }));
  }

  /** `GET /v3/health`. */
  async health(): Promise<{ haproxy?: string }> {
    return (await this.request<{ haproxy?: string }>("GET", "/health")).body;
  }

  /** The on-disk configuration version. */
  async version(): Promise<number> {
    const res = await this.request<number>("GET", `${CONFIG}/version`);
    if (typeof res.body !== "number") throw new Error(`unexpected configuration version ${String(res.body)}`);
    return res.body;
  }

  /** The raw configuration file (of a transaction, if given) and its version. */
  async raw(transactionId?: string): Promise<{ text: string; version?: number }> {
    const res = await this.request<string>("GET", `${CONFIG}/raw`, {
      query: { transaction_id: transactionId },
      text: true,
    });
    return { text: res.body, version: res.version };
  }

  /** Does the frontend exist? */
  async hasFrontend(name: string, transactionId?: string): Promise<boolean> {
    try {
      await this.request("GET", `${CONFIG}/frontends/${encodeURIComponent(name)}`, {
        query: { transaction_id: transactionId },
      });
      return true;
    } catch (e) {
      if (isDataplaneError(e, 404)) return false;
      throw e;
    }
  }

  /** Every backend with its children (`full_section=true`), and the version they were read at. */
  async backends(transactionId?: string): Promise<{ backends: Backend[]; version?: number }> {
    const res = await this.request<Backend[]>("GET", `${CONFIG}/backends`, {
      query: { full_section: true, transaction_id: transactionId },
    });
    return { backends: res.body ?? [], version: res.version };
  }

  /** Creates a backend with its servers (`full_section=true`). */
  async createBackend(backend: Backend, transactionId: string): Promise<void> {
    await this.request("POST", `${CONFIG}/backends`, {
      query: { full_section: true, transaction_id: transactionId },
      body: backend,
    });
  }

  /** Replaces a backend and all its servers at once (`full_section=true`). */
  async replaceBackend(backend: Backend, transactionId: string): Promise<void> {
    await this.request("PUT", `${CONFIG}/backends/${encodeURIComponent(backend.name)}`, {
      query: { full_section: true, transaction_id: transactionId },
      body: backend,
    });
  }

  /**
   * Replaces one server outside any transaction, on configuration `version`, with `force_reload`: the API writes
   * the file and, when only settings HAProxy's runtime API can change differ (address, port, weight), changes them
   * in the running HAProxy without a reload; otherwise it reloads before it answers. Returns the new version.
   */
  async replaceServer(backend: string, server: Server, version: number): Promise<number | undefined> {
    const res = await this.request(
      "PUT",
      `${CONFIG}/backends/${encodeURIComponent(backend)}/servers/${encodeURIComponent(server.name)}`,
      {
        query: { version, force_reload: true },
        body: server,
        timeoutMs: Math.max(this.options.timeoutMs, 60_000),
      },
    );
    return res.version;
  }

  /** Deletes a backend. */
  async deleteBackend(name: string, transactionId: string): Promise<void> {
    await this.request("DELETE", `${CONFIG}/backends/${encodeURIComponent(name)}`, {
      query: { transaction_id: transactionId },
    });
  }

  /** A frontend's ACLs, in order. */
  async acls(frontend: string, transactionId?: string): Promise<{ acls: Acl[]; version?: number }> {
    const res = await this.request<Acl[]>("GET", `${CONFIG}/frontends/${encodeURIComponent(frontend)}/acls`, {
      query: { transaction_id: transactionId },
    });
    return { acls: res.body ?? [], version: res.version };
  }

  /** Replaces a frontend's whole ACL list. */
  async replaceAcls(frontend: string, acls: Acl[], transactionId: string): Promise<void> {
    await this.request("PUT", `${CONFIG}/frontends/${encodeURIComponent(frontend)}/acls`, {
      query: { transaction_id: transactionId },
      body: acls,
    });
  }

  /** A frontend's `use_backend` rules, in order. */
  async rules(
    frontend: string,
    transactionId?: string,
  ): Promise<{ rules: SwitchingRule[]; version?: number }> {
    const res = await this.request<SwitchingRule[]>(
      "GET",
      `${CONFIG}/frontends/${encodeURIComponent(frontend)}/backend_switching_rules`,
      { query: { transaction_id: transactionId } },
    );
    return { rules: res.body ?? [], version: res.version };
  }

  /** Replaces a frontend's whole `use_backend` list. */
  async replaceRules(frontend: string, rules: SwitchingRule[], transactionId: string): Promise<void> {
    await this.request("PUT", `${CONFIG}/frontends/${encodeURIComponent(frontend)}/backend_switching_rules`, {
      query: { transaction_id: transactionId },
      body: rules,
    });
  }

  /** Opens a transaction on `version` (409 if the configuration moved on, 429 if too many are open). */
  async startTransaction(version: number): Promise<Transaction> {
    return (await this.request<Transaction>("POST", "/services/haproxy/transactions", { query: { version } }))
      .body;
  }

  /** Commits a transaction; the reload it scheduled, if any. */
  async commitTransaction(
    id: string,
    opts: { forceReload?: boolean } = {},
  ): Promise<{ transaction: Transaction; reloadId?: string }> {
    const res = await this.request<Transaction>(
      "PUT",
      `/services/haproxy/transactions/${encodeURIComponent(id)}`,
      {
        query: { force_reload: opts.forceReload ? true : undefined },
        timeoutMs: Math.max(this.options.timeoutMs, 60_000),
      },
    );
    return { transaction: res.body, reloadId: res.reloadId };
  }

  /** Deletes a transaction; false if it did not exist. */
  async deleteTransaction(id: string): Promise<boolean> {
    try {
      await this.request("DELETE", `/services/haproxy/transactions/${encodeURIComponent(id)}`);
      return true;
    } catch (e) {
      if (isDataplaneError(e, 404)) return false;
      throw e;
    }
  }

  /** Transactions, optionally only those with a status. */
  async transactions(status?: Transaction["status"]): Promise<Transaction[]> {
    return (
      (await this.request<Transaction[]>("GET", "/services/haproxy/transactions", { query: { status } }))
        .body ?? []
    );
  }

  /** One reload. */
  async reload(id: string): Promise<Reload> {
    return (await this.request<Reload>("GET", `/services/haproxy/reloads/${encodeURIComponent(id)}`)).body;
  }
}

/** DPAPI's `message` from an error body, or the body itself (shortened). */
function errorMessage(text: string): string {
  try {
    const parsed = JSON.parse(text) as { message?: unknown };
    if (parsed && typeof parsed.message === "string") return parsed.message;
  } catch {
    // not JSON
  }
  const t = text.trim();
  return t.length > 500 ? `${t.slice(0, 500)}…` : t || "(empty body)";
}
