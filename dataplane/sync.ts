/**
 * Brings a worker's routes to a desired set through its Data Plane API, one transaction per apply, and reads
 * them back. Used by the `WorkerRoutes` dynamic provider (and captured by its closure: Node modules are required
 * inside the functions, and no module-level mutable state is used).
 *
 * One apply:
 * 1. read the version, the backends and the frontend's ACLs and rules (a consistent snapshot); stop if they
 *    already are as desired (no transaction, no reload);
 * 2. open a transaction on that version;
 * 3. inside it, create or replace (`full_section=true`, servers included) each backend that is missing or
 *    differs;
 * 4. replace the frontend's whole ACL list, then its whole `use_backend` list, each recomputed from a fresh read
 *    inside the transaction (foreign entries kept in place);
 * 5. delete the backends of removed routes (their rules are gone by then);
 * 6. commit with `force_reload` (HAProxy reloads through the master socket before the answer; no reload delay),
 *    or, where the API only schedules the reload, wait until it has `succeeded` (or fail with HAProxy's output).
 *
 * With `runtimeServerChanges` (the production workers), a change that only moves servers of existing routes to
 * other addresses or ports skips the transaction: each server is replaced on its own with `force_reload`, which the
 * API applies through HAProxy's runtime API (`set server … addr … port …`) without a reload when it can (an IP
 * address), else by a reload before it answers. Not on the staging worker: its smoke check needs every changed
 * server freshly checked, and after a runtime change HAProxy's statistics keep the old address's check result
 * until the next check (up to the check interval); a reload checks every server within the fast interval. Should a
 * server change fail other than by a conflict, the apply goes on as one transaction.
 *
 * On 409 (version mismatch), 406 (outdated transaction) or a transaction another client's commit outdated meanwhile
 * (the API then answers `transaction … does not exist`), the transaction is deleted and the apply starts again
 * from a fresh read, a bounded number of times. A transaction we opened is always deleted when anything fails.
 * Transactions we opened are recorded in a journal by process id: an apply first deletes those of a process that
 * is gone (a killed `pulumi up`), and on 429 (too many open transactions) also deletes them, and goes on.
 */
import {
  DataplaneClient,
  dataplaneError,
  isDataplaneError,
  serialized,
  type Reload,
  type ServerStat,
  type Transaction,
} from "./client";
import {
  backendMatches,
  canonicalJson,
  desiredBackend,
  diffRoutes,
  describeDiff,
  haproxyReason,
  isOurBackend,
  liveRoutes,
  planAcls,
  planRules,
  routeOfBackend,
  routesInRejection,
  serverOnlyChanges,
  type Acl,
  type Backend,
  type LiveRoute,
  type Server,
  type RouteDiff,
  type SwitchingRule,
} from "./routes";
import { backendName, type RouteSpec } from "../config/routes";

/** Where and how to reach one worker's Data Plane API. */
export interface WorkerApi {
  /** Worker name, for messages. */
  worker: string;
  /** Base URL to call (through the tunnel, if any). */
  url: string;
  /** The logical endpoint (`ssh target|url`): key of the queues and of the transaction journal. */
  endpointKey: string;
  user: string;
  /** Secret. */
  password: string;
  /** The frontend our ACLs and rules go to. */
  frontend: string;
}

/** Tunables (defaults suit a worker on a LAN). */
export interface SyncOptions {
  /** Attempts on 409/406 conflicts (default 5). */
  maxAttempts?: number;
  /** Timeout of each request, ms (default 15000). */
  requestTimeoutMs?: number;
  /** How long to wait for the reload after a commit, ms (default 90000). */
  reloadTimeoutMs?: number;
  /** Apply server-only changes through the runtime API, without a transaction (see above). Default false. */
  runtimeServerChanges?: boolean;
  /** Called just before the commit (tests use it to race a concurrent change). */
  beforeCommit?: (attempt: number) => Promise<void>;
}

/** What an apply did. */
export interface SyncResult {
  /** False when the worker already was as desired (nothing written, no reload). */
  changed: boolean;
  /** Per-route difference between the worker before the apply and the desired routes. */
  diff: RouteDiff;
  /** Attempts used (1 without conflicts). */
  attempts: number;
  /** Configuration version after the commit. */
  version?: number;
  /** The reload that applied it. */
  reloadId?: string;
  /** Conflicts retried (e.g. `commit: HTTP 409 version mismatch …`), and a failed server-only change. */
  retried: string[];
}

/** A consistent read of what the route manager looks at. */
interface Snapshot {
  version: number;
  backends: Backend[];
  acls: Acl[];
  rules: SwitchingRule[];
}

/** What a transaction must change. */
interface Plan {
  upsert: { backend: Backend; exists: boolean }[];
  remove: string[];
  acls?: Acl[];
  rules?: SwitchingRule[];
}

function client(target: WorkerApi, opts: SyncOptions): DataplaneClient {
  return new DataplaneClient({
    baseUrl: target.url,
    user: target.user,
    password: target.password,
    endpointKey: target.endpointKey,
    timeoutMs: opts.requestTimeoutMs ?? 15_000,
  });
}

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** Reads version, backends, ACLs and rules until they all come from one configuration version (bounded). */
async function snapshot(api: DataplaneClient, frontend: string): Promise<Snapshot> {
  let last = "";
  for (let i = 0; i < 5; i++) {
    const version = await api.version();
    const [b, a, r] = [await api.backends(), await api.acls(frontend), await api.rules(frontend)];
    const seen = [b.version, a.version, r.version].filter((v): v is number => v !== undefined);
    if (seen.every((v) => v === version) && (await api.version()) === version) {
      return { version, backends: b.backends, acls: a.acls, rules: r.rules };
    }
    last = `versions ${[version, ...seen].join(", ")}`;
    await sleep(100 * (i + 1));
  }
  throw new Error(`the configuration kept changing while it was read (${last})`);
}

/** Backends to create or replace (missing or different) and backends of ours no route wants any more. */
function planBackends(
  backends: readonly Backend[],
  routes: Record<string, RouteSpec>,
): Pick<Plan, "upsert" | "remove"> {
  const live = new Map(backends.map((b) => [b.name, b]));
  const upsert: Plan["upsert"] = [];
  for (const name of Object.keys(routes).sort()) {
    const desired = desiredBackend(name, routes[name]);
    const existing = live.get(desired.name);
    if (!existing || !backendMatches(existing, desired))
      upsert.push({ backend: desired, exists: !!existing });
  }
  const wanted = new Set(Object.keys(routes).map(backendName));
  const remove = backends
    .filter((b) => isOurBackend(b) && routeOfBackend(b) !== undefined && !wanted.has(b.name))
    .map((b) => b.name);
  return { upsert, remove };
}

function plan(current: Snapshot, routes: Record<string, RouteSpec>): Plan {
  const out: Plan = planBackends(current.backends, routes);
  const acls = planAcls(current.acls, routes);
  if (canonicalJson(acls) !== canonicalJson(current.acls)) out.acls = acls;
  const rules = planRules(current.rules, routes);
  if (canonicalJson(rules) !== canonicalJson(current.rules)) out.rules = rules;
  return out;
}

function isEmptyPlan(p: Plan): boolean {
  return p.upsert.length === 0 && p.remove.length === 0 && !p.acls && !p.rules;
}

/** The servers to replace, when the plan changes nothing but servers' addresses and ports of existing routes. */
function serverOnlyPlan(current: Snapshot, p: Plan): { backend: string; server: Server }[] | undefined {
  if (p.remove.length > 0 || p.acls || p.rules || p.upsert.some((u) => !u.exists)) return undefined;
  const out: { backend: string; server: Server }[] = [];
  for (const { backend } of p.upsert) {
    const live = current.backends.find((b) => b.name === backend.name);
    const servers = live && serverOnlyChanges(live, backend);
    if (!servers) return undefined;
    out.push(...servers.map((server) => ({ backend: backend.name, server })));
  }
  return out;
}

/** Replaces the servers one by one, each on the version the previous one left; returns the last version. */
async function replaceServers(
  api: DataplaneClient,
  version: number,
  servers: { backend: string; server: Server }[],
): Promise<number> {
  let v = version;
  for (const { backend, server } of servers)
    v = (await api.replaceServer(backend, server, v)) ?? (await api.version());
  return v;
}

/** Reads the routes on a worker, normalized for comparison with the inputs (see {@link liveRoutes}). */
export async function readRoutes(
  target: WorkerApi,
  opts: SyncOptions = {},
): Promise<Record<string, LiveRoute>> {
  const api = client(target, opts);
  return serialized(`apply ${target.endpointKey}`, async () => {
    await cleanAfterKilledRuns(api, target.endpointKey);
    await requireFrontend(api, target);
    return liveRoutes(await snapshot(api, target.frontend));
  });
}

async function requireFrontend(api: DataplaneClient, target: WorkerApi): Promise<void> {
  if (!(await api.hasFrontend(target.frontend))) {
    throw new Error(`worker ${target.worker}: frontend ${target.frontend} does not exist (${target.url})`);
  }
}

/**
 * Makes the worker's routes exactly `routes` (ours only; foreign entries are kept), in one committed transaction,
 * and waits for the reload. Calls for one endpoint run one after the other.
 */
export async function applyRoutes(
  target: WorkerApi,
  routes: Record<string, RouteSpec>,
  opts: SyncOptions = {},
): Promise<SyncResult> {
  const api = client(target, opts);
  return serialized(`apply ${target.endpointKey}`, () =>
    applyOnce(api, target, routes, opts).finally(() => cleanOwnLeftovers(api, target.endpointKey)),
  );
}

/** {@link applyRoutes} inside its queue. */
async function applyOnce(
  api: DataplaneClient,
  target: WorkerApi,
  routes: Record<string, RouteSpec>,
  opts: SyncOptions,
): Promise<SyncResult> {
  await cleanAfterKilledRuns(api, target.endpointKey);
  await requireFrontend(api, target);
  const maxAttempts = opts.maxAttempts ?? 5;
  const retried: string[] = [];
  let runtime = opts.runtimeServerChanges === true;
  for (let attempt = 1; ; attempt++) {
    const before = await snapshot(api, target.frontend);
    const diff = diffRoutes(liveRoutes(before), routes);
    const p = plan(before, routes);
    if (isEmptyPlan(p)) return { changed: false, diff, attempts: attempt, retried };
    const servers = runtime ? serverOnlyPlan(before, p) : undefined;
    try {
      if (servers) {
        try {
          const version = await replaceServers(api, before.version, servers);
          return { changed: true, diff, attempts: attempt, retried, version };
        } catch (e) {
          if (isDataplaneError(e, 406, 409)) throw e;
          // The transaction brings every route where it belongs, whatever the server changes left.
          runtime = false;
          retried.push(`server change without a transaction: ${(e as Error).message}`);
          continue;
        }
      }
      const done = await transact(api, target, before.version, routes, diff, attempt, opts);
      return { changed: true, diff, attempts: attempt, retried, ...done };
    } catch (e) {
      if (isDataplaneError(e, 406, 409) && attempt < maxAttempts) {
        retried.push(`${e.method} ${e.path.split("?")[0]}: HTTP ${e.status} ${e.detail}`);
        await sleep(150 * attempt + Math.floor(Math.random() * 150));
        continue;
      }
      if (isDataplaneError(e, 406, 409)) {
        throw new Error(
          `worker ${target.worker}: gave up after ${attempt} attempts, the configuration kept changing ` +
            `(${[...retried, `HTTP ${e.status} ${e.detail}`].join("; ")})`,
        );
      }
      if (isDataplaneError(e)) throw new Error(`worker ${target.worker}: ${e.message}`, { cause: e });
      throw e;
    }
  }
}

/**
 * A transaction of this process whose delete failed (`discard` keeps it in the journal) would stay open on the
 * worker: delete it once the apply is over. Costs a request only when the journal holds such an entry.
 */
async function cleanOwnLeftovers(api: DataplaneClient, endpointKey: string): Promise<void> {
  const active = activeTransactions();
  const journal = Object.entries(readJournal(endpointKey));
  if (journal.some(([id, e]) => e.pid === process.pid && !active.has(id)))
    await cleanStaleTransactions(api, endpointKey).catch(() => undefined);
}

/** One transaction: stage, commit, wait for the reload. Deletes the transaction if anything fails before commit. */
async function transact(
  api: DataplaneClient,
  target: WorkerApi,
  version: number,
  routes: Record<string, RouteSpec>,
  diff: RouteDiff,
  attempt: number,
  opts: SyncOptions,
): Promise<{ version?: number; reloadId?: string }> {
  const tx = await openTransaction(api, target, version);
  let open = true;
  try {
    const p = planBackends((await api.backends(tx.id)).backends, routes);
    for (const { backend, exists } of p.upsert) {
      if (exists) await api.replaceBackend(backend, tx.id);
      else await api.createBackend(backend, tx.id);
    }
    // Fresh reads inside the transaction, so the lists we put are exactly the current ones with ours replaced.
    const acls = (await api.acls(target.frontend, tx.id)).acls;
    const wantedAcls = planAcls(acls, routes);
    if (canonicalJson(wantedAcls) !== canonicalJson(acls))
      await api.replaceAcls(target.frontend, wantedAcls, tx.id);
    const rules = (await api.rules(target.frontend, tx.id)).rules;
    const wantedRules = planRules(rules, routes);
    if (canonicalJson(wantedRules) !== canonicalJson(rules)) {
      await api.replaceRules(target.frontend, wantedRules, tx.id);
    }
    for (const name of p.remove) await api.deleteBackend(name, tx.id);

    // The transaction's file, to find which route a rejected line belongs to (best effort).
    let raw: string | undefined;
    try {
      raw = (await api.raw(tx.id)).text;
    } catch {
      raw = undefined;
    }
    if (opts.beforeCommit) await opts.beforeCommit(attempt);
    let committed: { transaction: Transaction; reloadId?: string };
    try {
      // Reloaded at once through the master socket, and answered when HAProxy has reloaded (or failed to):
      // no wait for the API's reload_delay, no polling.
      committed = await api.commitTransaction(tx.id, { forceReload: true });
    } catch (e) {
      if (outdatedAsConflict(e, tx.id) !== e) throw e;
      if (isDataplaneError(e, 400) && /^Reload failed/i.test(e.detail)) {
        open = false;
        forget(target.endpointKey, tx.id);
        throw reloadFailed(target, diff, e.detail.replace(/^Reload failed:?\s*/i, ""));
      }
      if (isDataplaneError(e, 400)) throw rejection(target, diff, e.detail, raw);
      throw e;
    }
    open = false;
    forget(target.endpointKey, tx.id);
    const reloadId = committed.reloadId;
    if (reloadId) await waitForReload(api, target, reloadId, diff, opts.reloadTimeoutMs ?? 90_000);
    return { version: await api.version(), ...(reloadId ? { reloadId } : {}) };
  } catch (e) {
    throw outdatedAsConflict(e, tx.id);
  } finally {
    if (open) await discard(api, target.endpointKey, tx.id);
  }
}

/**
 * A commit by another client marks every open transaction on the same or an older version outdated, and the API
 * moves it out of reach: a later request in it answers `transaction … does not exist` (400, or 404 on commit).
 * That is a conflict like a 406: the apply starts again from a fresh read.
 */
function outdatedAsConflict(e: unknown, id: string): unknown {
  if (isDataplaneError(e, 400, 404) && /\btransaction\b.*\bdoes not exist/i.test(e.detail)) {
    return dataplaneError(
      e.method,
      e.path,
      406,
      `transaction ${id} was outdated by another commit (${e.detail})`,
    );
  }
  return e;
}

/** The error for a reload that failed (the Data Plane API then puts the last good configuration back). */
function reloadFailed(
  target: Pick<WorkerApi, "worker">,
  diff: RouteDiff,
  output: string,
  id?: string,
): Error {
  return new Error(
    `worker ${target.worker}: HAProxy reload${id ? ` ${id}` : ""} failed; the Data Plane API restored the last ` +
      `good configuration (${describeDiff(diff)}). HAProxy said: ${output.trim() || "(no output)"}`,
  );
}

/** The error for a commit HAProxy refused: which route(s), and HAProxy's reason. */
function rejection(target: WorkerApi, diff: RouteDiff, message: string, raw?: string): Error {
  const touched = [...diff.added, ...diff.changed.map((c) => c.route), ...diff.removed].sort();
  const named = routesInRejection(message, raw);
  const which =
    named.length > 0
      ? `route${named.length > 1 ? "s" : ""} ${named.join(", ")}`
      : `one of the routes changed in this apply (${touched.join(", ") || "none"})`;
  return new Error(
    `worker ${target.worker}: HAProxy rejected the configuration for ${which}; nothing was changed ` +
      `(${describeDiff(diff)}). HAProxy said: ${haproxyReason(message)}`,
  );
}

/** Polls a reload until it succeeded (resolves) or failed (throws with HAProxy's output), within `timeoutMs`. */
export async function waitForReload(
  api: DataplaneClient,
  target: Pick<WorkerApi, "worker">,
  id: string,
  diff: RouteDiff,
  timeoutMs: number,
): Promise<Reload> {
  const deadline = Date.now() + timeoutMs;
  let last = "no answer yet";
  for (let i = 0; i < 100_000; i++) {
    try {
      const r = await api.reload(id);
      if (r.status === "succeeded") return r;
      if (r.status === "failed") throw reloadFailed(target, diff, r.response ?? "", id);
      last = r.status;
    } catch (e) {
      if (!isDataplaneError(e, 404)) throw e;
      last = "unknown reload id (404)";
    }
    if (Date.now() > deadline) break;
    await sleep(Math.min(1000, 100 * (i + 1)));
  }
  throw new Error(`worker ${target.worker}: reload ${id} did not finish within ${timeoutMs} ms (${last})`);
}

/**
 * The smoke check of a worker (the staging worker, before the rollout goes on): waits until every server of the
 * given routes passed its HTTP health check. Fails at once when a server's first check after the apply failed,
 * naming the route, the server and HAProxy's check result; fails after `timeoutMs` for servers still unchecked.
 */
export async function waitServersHealthy(
  target: WorkerApi,
  routes: readonly string[],
  opts: SyncOptions & { timeoutMs?: number; pollMs?: number } = {},
): Promise<void> {
  if (routes.length === 0) return;
  const api = client(target, opts);
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  const wanted = new Set(routes.map(backendName));
  let pending: string[] = [];
  for (let i = 0; i < 1_000_000; i++) {
    const stats = (await api.serverStats()).filter((s) => wanted.has(s.backend));
    const describe = (s: ServerStat) =>
      `route ${routeOfBackend({ name: s.backend }) ?? s.backend} server ${s.server} (${s.address}): ` +
      `${s.status}, check ${s.checkStatus || "not run"}${s.checkDesc ? ` (${s.checkDesc})` : ""}`;
    const missing = [...wanted].filter((b) => !stats.some((s) => s.backend === b));
    const checked = (s: ServerStat) => s.checkStatus !== "" && s.checkStatus !== "INI";
    const down = stats.filter((s) => checked(s) && !/^UP\b/.test(s.status));
    if (down.length > 0) {
      throw new Error(
        `worker ${target.worker}: smoke check failed, the rollout stops here: ${down.map(describe).join("; ")}`,
      );
    }
    pending = [
      ...missing.map((b) => `backend ${b} not in HAProxy's statistics yet`),
      ...stats.filter((s) => !checked(s) || s.status !== "UP").map(describe),
    ];
    if (pending.length === 0) return;
    if (Date.now() > deadline) break;
    await sleep(opts.pollMs ?? 250);
  }
  throw new Error(
    `worker ${target.worker}: smoke check failed, not healthy within ${timeoutMs} ms: ${pending.join("; ")}`,
  );
}

/** Opens a transaction; on 429 deletes our stale transactions once and tries again. */
async function openTransaction(
  api: DataplaneClient,
  target: WorkerApi,
  version: number,
): Promise<Transaction> {
  let tx: Transaction;
  try {
    tx = await api.startTransaction(version);
  } catch (e) {
    if (!isDataplaneError(e, 429)) throw e;
    const cleaned = await cleanStaleTransactions(api, target.endpointKey);
    if (cleaned.length === 0) {
      throw new Error(
        `worker ${target.worker}: too many open Data Plane API transactions (429), and none of them is a stale ` +
          `one of ours; list them with GET /v3/services/haproxy/transactions?status=in_progress`,
      );
    }
    tx = await api.startTransaction(version);
  }
  remember(target.endpointKey, tx.id);
  return tx;
}

async function discard(api: DataplaneClient, endpointKey: string, id: string): Promise<void> {
  try {
    await api.deleteTransaction(id);
    forget(endpointKey, id);
  } catch {
    // Left in the journal: a later 429 cleans it up once this process is gone.
  }
}

/**
 * Deletes the in_progress transactions our journal says we opened from a process that is gone (or from this
 * process, when no apply of it holds them any more). Returns their ids.
 */
export async function cleanStaleTransactions(api: DataplaneClient, endpointKey: string): Promise<string[]> {
  const journal = readJournal(endpointKey);
  const active = activeTransactions();
  const open = new Set((await api.transactions("in_progress")).map((t) => t.id));
  const cleaned: string[] = [];
  for (const [id, entry] of Object.entries(journal)) {
    const mine = entry.pid === process.pid;
    const stale = mine ? !active.has(id) : !processAlive(entry.pid);
    if (!stale) continue;
    if (open.has(id) && (await api.deleteTransaction(id))) cleaned.push(id);
    forget(endpointKey, id);
  }
  return cleaned;
}

/** An earlier run that was killed (its process is gone) may have left a transaction open: delete it. */
async function cleanAfterKilledRuns(api: DataplaneClient, endpointKey: string): Promise<void> {
  const journal = Object.values(readJournal(endpointKey));
  if (journal.some((e) => e.pid !== process.pid && !processAlive(e.pid))) {
    await cleanStaleTransactions(api, endpointKey);
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Transaction ids this process holds open right now (shared by every copy of this code). */
function activeTransactions(): Set<string> {
  const key = Symbol.for("haproxy-edge.dataplane.transactions");
  const g = globalThis as unknown as Record<symbol, Set<string> | undefined>;
  let set = g[key];
  if (!set) {
    set = new Set();
    g[key] = set;
  }
  return set;
}

interface JournalEntry {
  pid: number;
  openedAt: string;
}

/**
 * The journal of the transactions we opened on an endpoint: a small JSON file in this user's private directory
 * `<temp>/haproxy-edge-<uid>/dataplane` (each level mode 0700).
 */
export function journalPath(endpointKey: string): string {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const os = require("node:os") as typeof import("node:os");
  const path = require("node:path") as typeof import("node:path");
  const crypto = require("node:crypto") as typeof import("node:crypto");
  /* eslint-enable @typescript-eslint/no-require-imports */
  const digest = crypto.createHash("sha256").update(endpointKey).digest("hex").slice(0, 16);
  const uid = typeof process.getuid === "function" ? process.getuid() : 0;
  return path.join(os.tmpdir(), `haproxy-edge-${uid}`, "dataplane", `transactions-${digest}.json`);
}

/**
 * Why the journal's directories cannot be trusted (created when missing), or undefined: each must be a real
 * directory (no symlink), owned by this user and closed to everyone else. Another local user who made them first
 * could otherwise read, swap or plant the journal.
 */
export function journalDirProblem(file: string): string | undefined {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const fs = require("node:fs") as typeof import("node:fs");
  const path = require("node:path") as typeof import("node:path");
  /* eslint-enable @typescript-eslint/no-require-imports */
  const dataDir = path.dirname(file);
  const uid = typeof process.getuid === "function" ? process.getuid() : undefined;
  for (const dir of [path.dirname(dataDir), dataDir]) {
    try {
      fs.mkdirSync(dir, { mode: 0o700 });
    } catch (e) {
      if ((e as { code?: string }).code !== "EEXIST") return `cannot create ${dir}: ${String(e)}`;
    }
    const st = fs.lstatSync(dir);
    if (!st.isDirectory()) return `${dir} is not a directory`;
    if (uid !== undefined && st.uid !== uid) return `${dir} is owned by uid ${st.uid}, not ${uid}`;
    if ((st.mode & 0o077) !== 0) return `${dir} is open to others (mode ${(st.mode & 0o777).toString(8)})`;
  }
  return undefined;
}

function readJournal(endpointKey: string): Record<string, JournalEntry> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const fs = require("node:fs") as typeof import("node:fs");
  const file = journalPath(endpointKey);
  try {
    if (journalDirProblem(file) !== undefined) return {};
    const parsed = JSON.parse(fs.readFileSync(file, "utf8")) as unknown;
    return parsed && typeof parsed === "object" ? (parsed as Record<string, JournalEntry>) : {};
  } catch {
    return {};
  }
}

function writeJournal(endpointKey: string, journal: Record<string, JournalEntry>): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const fs = require("node:fs") as typeof import("node:fs");
  const file = journalPath(endpointKey);
  try {
    // An untrusted directory is not used: the journal only helps to clean up after a crash.
    if (journalDirProblem(file) !== undefined) return;
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(journal), { mode: 0o600 });
    fs.renameSync(tmp, file);
  } catch {
    // The journal only helps to clean up after a crash; never fail an apply over it.
  }
}

function remember(endpointKey: string, id: string): void {
  activeTransactions().add(id);
  const journal = readJournal(endpointKey);
  journal[id] = { pid: process.pid, openedAt: new Date().toISOString() };
  writeJournal(endpointKey, journal);
}

function forget(endpointKey: string, id: string): void {
  activeTransactions().delete(id);
  const journal = readJournal(endpointKey);
  if (id in journal)
    writeJournal(endpointKey, Object.fromEntries(Object.entries(journal).filter(([k]) => k !== id)));
}
