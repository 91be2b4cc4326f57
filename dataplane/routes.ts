/**
 * Routes → HAProxy Data Plane API (v3.2) objects, and back. Pure functions: no I/O, no Pulumi.
 *
 * A route `<name>` becomes, on a worker:
 * - a backend `route_<name>` (`mode http`, `balance`, `option httpchk GET <healthCheckPath>`, servers `s1..sN`
 *   with `check inter 1s fastinter 200ms`);
 * - in the worker frontend, an ACL `route_<name>_host` matching the route's hosts (case-insensitive, on the
 *   `Host` header without any `:port` suffix), plus `route_<name>_path` (`path_beg <pathPrefix>`) when the route
 *   has a path prefix;
 * - a rule `use_backend route_<name> if route_<name>_host [route_<name>_path]`;
 * - for an internal-only route, in its backend: `acl allowed_client src <networks>` and
 *   `http-request deny deny_status 403 unless allowed_client` (the worker sees the client's address through the
 *   load balancer's PROXY header);
 * - on the staging worker, the route's staging host in its host ACL and, in its backend, `acl staging_host ...` and
 *   `http-request set-header Host <first host> if staging_host`: the application sees its production host.
 *
 * So the load balancer holds no per-route state: a route change touches the workers only.
 *
 * Everything we write carries the metadata {@link MANAGED_BY_METADATA} (`{"managed_by":"haproxy-edge",
 * "route":"<name>"}`, stored by DPAPI as a JSON comment on the config line) and the `route_` name prefix, which is
 * reserved for haproxy-edge. An entry is ours if it has either mark (so an entry whose comment was lost is still
 * recognized and never duplicated). Entries that are not ours are kept untouched, in their order: our entries
 * form one block, placed where the first of our previous entries was (at the end if there was none).
 *
 * Rule order (first match wins): routes with a path prefix first, longer prefixes first, then by name; then the
 * host-only routes by name.
 */
import {
  ALLOWED_CLIENT_ACL,
  CHECK_FAST_INTERVAL_MS,
  CHECK_INTERVAL_MS,
  HOST_CRITERION,
  READY_ACL,
  ROUTE_PREFIX,
  STAGING_HOST_ACL,
  backendName,
  hostAclName,
  pathAclName,
  pathAclValue,
  routePlan,
  ruleOrder,
  type RouteSpec,
} from "../config/routes";

/** Value of `metadata.managed_by` on everything haproxy-edge writes. */
export const MANAGED_BY = "haproxy-edge";
/** Route-spec fields compared by {@link diffRoutes}, in display order. */
export const ROUTE_FIELDS = [
  "hosts",
  "servers",
  "pathPrefix",
  "balance",
  "healthCheckPath",
  "allowFrom",
  "stagingHost",
] as const;
/** One field of a route. */
export type RouteField = (typeof ROUTE_FIELDS)[number];

/**
 * A route as read back from a worker. `drift` lists what differs from what haproxy-edge writes and cannot be
 * expressed in the other fields (a missing rule, a disabled check, settings added by hand, ...); it is absent when
 * the route is exactly as written.
 */
export interface LiveRoute extends RouteSpec {
  drift?: string[];
}

/** DPAPI `metadata` (v3.2+): a JSON object stored as a comment on the config line. */
export type Metadata = Record<string, unknown>;

/** DPAPI `acl`. */
export interface Acl {
  acl_name: string;
  criterion: string;
  value?: string;
  metadata?: Metadata;
}

/** DPAPI `backend_switching_rule` (`use_backend`). */
export interface SwitchingRule {
  name: string;
  cond?: "if" | "unless";
  cond_test?: string;
  metadata?: Metadata;
}

/** DPAPI `http_request_rule` (only the fields we set are typed). */
export interface HttpRequestRule {
  type: string;
  cond?: "if" | "unless";
  cond_test?: string;
  deny_status?: number;
  hdr_name?: string;
  hdr_format?: string;
  [field: string]: unknown;
}

/** DPAPI `server` (only the fields we set are typed). */
export interface Server {
  name: string;
  address: string;
  port?: number;
  check?: "enabled" | "disabled";
  /** Health-check interval, ms. */
  inter?: number;
  /** Health-check interval while the server's state is in transition, ms. */
  fastinter?: number;
  metadata?: Metadata;
  [field: string]: unknown;
}

/** DPAPI `backend`, as sent and read with `full_section=true` (only the fields we set are typed). */
export interface Backend {
  name: string;
  mode?: string;
  balance?: { algorithm: string; [field: string]: unknown };
  adv_check?: string;
  httpchk_params?: { method?: string; uri?: string; version?: string; host?: string };
  metadata?: Metadata;
  servers?: Record<string, Server>;
  /** Backend-local ACLs and `http-request` rules (access and staging rules of the route). */
  acl_list?: Acl[];
  http_request_rule_list?: HttpRequestRule[];
  [field: string]: unknown;
}

/** The metadata of every entry of route `route`. */
export function managedMetadata(route: string): Metadata {
  return { managed_by: MANAGED_BY, route };
}

const BACKEND_NAME = /^route_([a-z0-9][a-z0-9-]*)$/;
const ACL_NAME = /^route_([a-z0-9][a-z0-9-]*)_(host|path)$/;

function markedRoute(metadata: Metadata | undefined): string | undefined {
  if (!metadata || metadata.managed_by !== MANAGED_BY) return undefined;
  return typeof metadata.route === "string" ? metadata.route : "";
}

/** Is this backend ours (metadata or name prefix)? */
export function isOurBackend(b: Pick<Backend, "name" | "metadata">): boolean {
  return markedRoute(b.metadata) !== undefined || b.name.startsWith(ROUTE_PREFIX);
}

/** Is this ACL ours (metadata or name prefix)? */
export function isOurAcl(a: Acl): boolean {
  return markedRoute(a.metadata) !== undefined || a.acl_name.startsWith(ROUTE_PREFIX);
}

/** Is this `use_backend` rule ours (metadata, or our backend prefix with a condition made of our ACLs only)? */
export function isOurRule(r: SwitchingRule): boolean {
  if (markedRoute(r.metadata) !== undefined) return true;
  if (!r.name.startsWith(ROUTE_PREFIX)) return false;
  const terms = (r.cond_test ?? "").trim().split(/\s+/).filter(Boolean);
  return terms.length > 0 && terms.every((t) => ACL_NAME.test(t));
}

/** The route a backend of ours belongs to. */
export function routeOfBackend(b: Pick<Backend, "name" | "metadata">): string | undefined {
  return markedRoute(b.metadata) || BACKEND_NAME.exec(b.name)?.[1];
}

/** The route an ACL of ours belongs to. */
export function routeOfAcl(a: Acl): string | undefined {
  return markedRoute(a.metadata) || ACL_NAME.exec(a.acl_name)?.[1];
}

/** The route a rule of ours belongs to. */
export function routeOfRule(r: SwitchingRule): string | undefined {
  return markedRoute(r.metadata) || BACKEND_NAME.exec(r.name)?.[1];
}

/** The backend of a route, as sent with `full_section=true` (servers `s1..sN` replace the old ones at once). */
export function desiredBackend(route: string, spec: RouteSpec): Backend {
  const metadata = managedMetadata(route);
  const plan = routePlan(route, spec).backend;
  const rules: HttpRequestRule[] = [];
  if (plan.deny) {
    rules.push({
      type: "deny",
      deny_status: plan.deny.status,
      ...(plan.deny.unless ? { cond: "unless", cond_test: plan.deny.unless } : {}),
    });
  }
  if (plan.setHost) {
    rules.push({
      type: "set-header",
      hdr_name: "Host",
      hdr_format: plan.setHost.host,
      cond: "if",
      cond_test: plan.setHost.acl,
    });
  }
  return {
    name: plan.name,
    mode: "http",
    balance: { algorithm: plan.balance },
    adv_check: "httpchk",
    httpchk_params: { method: "GET", uri: plan.healthCheckPath },
    metadata,
    servers: Object.fromEntries(
      plan.servers.map((sv) => [
        sv.name,
        {
          name: sv.name,
          address: sv.address,
          port: sv.port,
          check: "enabled",
          inter: sv.inter,
          fastinter: sv.fastinter,
          metadata,
        },
      ]),
    ),
    ...(plan.acls.length > 0
      ? { acl_list: plan.acls.map((a) => ({ acl_name: a.name, criterion: a.criterion, value: a.value })) }
      : {}),
    ...(rules.length > 0 ? { http_request_rule_list: rules } : {}),
  };
}

/** The ACLs of a route in the worker frontend. */
export function desiredAcls(route: string, spec: RouteSpec): Acl[] {
  const metadata = managedMetadata(route);
  return routePlan(route, spec).acls.map((a) => ({
    acl_name: a.name,
    criterion: a.criterion,
    value: a.value,
    metadata,
  }));
}

/** The `use_backend` rule of a route. */
export function desiredRule(route: string, spec: RouteSpec): SwitchingRule {
  const { rule } = routePlan(route, spec);
  return { name: rule.backend, cond: "if", cond_test: rule.condition, metadata: managedMetadata(route) };
}

/**
 * `current` with our entries replaced by `ours`: foreign entries keep their order; our block goes where the first
 * of our current entries was, or at the end.
 */
export function mergeOwned<T>(current: readonly T[], ours: readonly T[], isOurs: (e: T) => boolean): T[] {
  const first = current.findIndex(isOurs);
  const foreign = current.filter((e) => !isOurs(e));
  const at = first < 0 ? foreign.length : current.slice(0, first).filter((e) => !isOurs(e)).length;
  return [...foreign.slice(0, at), ...ours, ...foreign.slice(at)];
}

/** The frontend's whole ACL list: the current one with ours replaced by those of `routes`. */
export function planAcls(current: readonly Acl[], routes: Record<string, RouteSpec>): Acl[] {
  const names = Object.keys(routes).sort();
  return mergeOwned(
    current,
    names.flatMap((n) => desiredAcls(n, routes[n])),
    isOurAcl,
  ).map((a) => (a.acl_name === READY_ACL ? { ...a, criterion: "always_true" } : a));
}

/** The frontend's whole `use_backend` list: the current one with ours replaced by those of `routes`, in order. */
export function planRules(
  current: readonly SwitchingRule[],
  routes: Record<string, RouteSpec>,
): SwitchingRule[] {
  return mergeOwned(
    current,
    ruleOrder(routes).map((n) => desiredRule(n, routes[n])),
    isOurRule,
  );
}

/** JSON with object keys sorted: equal values give equal strings. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.keys(value as object)
        .sort()
        .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

/** Drops what DPAPI returns as "nothing": undefined/null, empty arrays and empty objects. */
function isEmpty(v: unknown): boolean {
  return (
    v === undefined ||
    v === null ||
    (Array.isArray(v) && v.length === 0) ||
    (typeof v === "object" && !Array.isArray(v) && Object.keys(v as object).length === 0)
  );
}

function compact<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => !isEmpty(v))) as T;
}

// Arrays, not Sets: module-level values are captured by Pulumi's closure serializer, which cannot rebuild a Set.
const BACKEND_FIELDS = [
  "name",
  "mode",
  "balance",
  "adv_check",
  "httpchk_params",
  "metadata",
  "servers",
  "acl_list",
  "http_request_rule_list",
];
const SERVER_FIELDS = ["name", "address", "port", "check", "inter", "fastinter", "metadata"];

/**
 * A backend reduced to what we compare: the empty children `full_section` returns are dropped, everything else is
 * kept (so a setting added by hand makes it differ from the desired one and gets overwritten).
 */
export function normalizeBackend(b: Backend): Backend {
  const out = compact({ ...b });
  if (b.servers) {
    const servers: Record<string, Server> = {};
    for (const [k, s] of Object.entries(b.servers)) servers[k] = compact({ ...s });
    out.servers = servers;
  }
  if (b.httpchk_params) out.httpchk_params = compact({ ...b.httpchk_params });
  if (b.acl_list && b.acl_list.length > 0) out.acl_list = b.acl_list.map((a) => compact({ ...a }));
  if (b.http_request_rule_list && b.http_request_rule_list.length > 0) {
    out.http_request_rule_list = b.http_request_rule_list.map((r) => compact({ ...r }));
  }
  return out;
}

/** Does a live backend (from `GET ?full_section=true`) equal the one we would write? */
export function backendMatches(live: Backend, desired: Backend): boolean {
  return canonicalJson(normalizeBackend(live)) === canonicalJson(normalizeBackend(desired));
}

/**
 * The servers to replace when a live backend differs from the desired one only in its servers' addresses and
 * ports (same server names, every other setting equal): what HAProxy's runtime API can change without a reload.
 * Undefined when anything else differs, or nothing does.
 */
export function serverOnlyChanges(live: Backend, desired: Backend): Server[] | undefined {
  const { servers: liveServers = {}, ...liveRest } = normalizeBackend(live);
  const { servers: wanted = {}, ...wantedRest } = normalizeBackend(desired);
  if (canonicalJson(liveRest) !== canonicalJson(wantedRest)) return undefined;
  const names = Object.keys(wanted).sort();
  if (canonicalJson(Object.keys(liveServers).sort()) !== canonicalJson(names)) return undefined;
  const changed: Server[] = [];
  for (const name of names) {
    const [was, want] = [liveServers[name], wanted[name]];
    if (canonicalJson(was) === canonicalJson(want)) continue;
    if (canonicalJson({ ...was, address: want.address, port: want.port }) !== canonicalJson(want))
      return undefined;
    changed.push(want);
  }
  return changed.length > 0 ? changed : undefined;
}

function serverOrder(a: string, b: string): number {
  const na = /^s(\d+)$/.exec(a);
  const nb = /^s(\d+)$/.exec(b);
  if (na && nb) return Number(na[1]) - Number(nb[1]);
  if (na || nb) return na ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The hosts of a host ACL value (`-i a b` → `[a, b]`), and any flag we did not write. */
function parseHostValue(value: string | undefined): { hosts: string[]; flags: string[] } {
  const tokens = (value ?? "").trim().split(/\s+/).filter(Boolean);
  const flags = tokens.filter((t) => t.startsWith("-") && t !== "-i");
  return { hosts: tokens.filter((t) => !t.startsWith("-")), flags };
}

/** What a worker holds, as fetched: backends (full sections), and the frontend's ACLs and rules. */
export interface LiveConfig {
  backends: readonly Backend[];
  acls: readonly Acl[];
  rules: readonly SwitchingRule[];
}

/**
 * Reads our routes back from a worker's configuration, in the shape of {@link RouteSpec}, so that a refresh can be
 * compared with the inputs. A route exists if any of its entries exist; whatever differs from what we write and
 * has no field of its own is described in `drift`.
 */
export function liveRoutes(live: LiveConfig): Record<string, LiveRoute> {
  const names = new Set<string>();
  const backends = new Map<string, Backend>();
  for (const b of live.backends) {
    if (!isOurBackend(b)) continue;
    const r = routeOfBackend(b);
    if (r) {
      names.add(r);
      backends.set(r, b);
    }
  }
  const acls = new Map<string, Acl[]>();
  for (const a of live.acls) {
    if (!isOurAcl(a)) continue;
    const r = routeOfAcl(a);
    if (r) {
      names.add(r);
      acls.set(r, [...(acls.get(r) ?? []), a]);
    }
  }
  const rules = new Map<string, SwitchingRule[]>();
  for (const rule of live.rules) {
    if (!isOurRule(rule)) continue;
    const r = routeOfRule(rule);
    if (r) {
      names.add(r);
      rules.set(r, [...(rules.get(r) ?? []), rule]);
    }
  }

  const out: Record<string, LiveRoute> = {};
  for (const name of [...names].sort()) {
    out[name] = liveRoute(name, backends.get(name), acls.get(name) ?? [], rules.get(name) ?? []);
  }
  const order = live.rules.filter(isOurRule).map(routeOfRule);
  const expected = ruleOrder(out).filter((n) => (rules.get(n) ?? []).length > 0);
  if (order.join(" ") !== expected.join(" ")) {
    for (const n of expected) {
      out[n].drift = [...(out[n].drift ?? []), `use_backend rules out of order (${order.join(", ")})`];
    }
  }
  return out;
}

function liveRoute(
  name: string,
  backend: Backend | undefined,
  acls: Acl[],
  rules: SwitchingRule[],
): LiveRoute {
  const drift: string[] = [];
  const route: LiveRoute = { hosts: [], servers: [], balance: "", healthCheckPath: "" };

  if (!backend) {
    drift.push(`backend ${backendName(name)} missing`);
  } else {
    route.balance = backend.balance?.algorithm ?? "";
    route.healthCheckPath = backend.adv_check === "httpchk" ? (backend.httpchk_params?.uri ?? "") : "";
    const servers = Object.values(backend.servers ?? {}).sort((a, b) => serverOrder(a.name, b.name));
    route.servers = servers.map((s) => (s.port === undefined ? s.address : `${s.address}:${s.port}`));
    if (backend.mode !== "http") drift.push(`backend mode is ${backend.mode ?? "unset"}, not http`);
    if (backend.adv_check !== "httpchk") drift.push("HTTP health check disabled");
    servers.forEach((s, i) => {
      if (s.name !== `s${i + 1}`) drift.push(`server ${s.name} not named s${i + 1}`);
      if (s.check !== "enabled") drift.push(`server ${s.name}: health check disabled`);
      else if (s.inter !== CHECK_INTERVAL_MS)
        drift.push(`server ${s.name}: check interval ${s.inter ?? "default"} ms`);
      else if (s.fastinter !== CHECK_FAST_INTERVAL_MS)
        drift.push(`server ${s.name}: fast check interval ${s.fastinter ?? "default"} ms`);
      const extra = Object.keys(compact({ ...s })).filter((k) => !SERVER_FIELDS.includes(k));
      if (extra.length > 0) drift.push(`server ${s.name}: extra settings ${extra.sort().join(", ")}`);
    });
    const extra = Object.keys(normalizeBackend(backend)).filter((k) => !BACKEND_FIELDS.includes(k));
    if (extra.length > 0) drift.push(`backend ${backend.name}: extra settings ${extra.sort().join(", ")}`);
    if ((backend.http_request_rule_list ?? []).some((r) => r.type === "deny")) route.allowFrom = [];
    for (const a of backend.acl_list ?? []) {
      const tokens = (a.value ?? "").trim().split(/\s+/).filter(Boolean);
      if (a.acl_name === ALLOWED_CLIENT_ACL) route.allowFrom = tokens;
      if (a.acl_name === STAGING_HOST_ACL)
        route.stagingHost = tokens.filter((t) => !t.startsWith("-")).join(" ");
    }
  }

  const hostAcls = acls.filter((a) => a.acl_name === hostAclName(name));
  const pathAcls = acls.filter((a) => a.acl_name === pathAclName(name));
  const others = acls.filter((a) => a.acl_name !== hostAclName(name) && a.acl_name !== pathAclName(name));
  if (hostAcls.length === 0) drift.push(`ACL ${hostAclName(name)} missing`);
  if (hostAcls.length > 1) drift.push(`ACL ${hostAclName(name)} defined ${hostAcls.length} times`);
  for (const a of hostAcls) {
    const { hosts, flags } = parseHostValue(a.value);
    route.hosts.push(...hosts.filter((h) => h !== route.stagingHost));
    if (a.criterion !== HOST_CRITERION) drift.push(`ACL ${a.acl_name} matches ${a.criterion}`);
    if (flags.length > 0) drift.push(`ACL ${a.acl_name} has flags ${flags.join(" ")}`);
  }
  if (pathAcls.length > 1) drift.push(`ACL ${pathAclName(name)} defined ${pathAcls.length} times`);
  for (const a of pathAcls) {
    const tokens = (a.value ?? "").trim().split(/\s+/).filter(Boolean);
    route.pathPrefix = tokens.filter((t) => !t.startsWith("-")).join(" ");
    if (a.criterion !== "path_beg") drift.push(`ACL ${a.acl_name} matches ${a.criterion}`);
  }
  // Read after the backend gave allowFrom: an internal-only prefix must match in any case, a public one exactly.
  for (const a of pathAcls) {
    const want = pathAclValue(route);
    if ((a.value ?? "").trim().split(/\s+/).join(" ") !== want)
      drift.push(`ACL ${a.acl_name} is "${a.value ?? ""}", not "${want}"`);
  }
  for (const a of others) drift.push(`unexpected ACL ${a.acl_name}`);
  if (backend && route.hosts.length > 0) {
    // The access and staging rules must be exactly those the read-back fields give.
    const want = normalizeBackend(desiredBackend(name, route));
    const got = normalizeBackend(backend);
    for (const k of ["acl_list", "http_request_rule_list"] as const) {
      if (canonicalJson(got[k] ?? []) !== canonicalJson(want[k] ?? [])) {
        drift.push(`backend ${backend.name}: ${k.replace(/_/g, " ")} differs from what haproxy-edge writes`);
      }
    }
  }

  const expectedRule = desiredRule(name, route);
  if (rules.length === 0) drift.push(`use_backend ${backendName(name)} rule missing`);
  if (rules.length > 1) drift.push(`use_backend ${backendName(name)} defined ${rules.length} times`);
  for (const r of rules) {
    if (r.name !== expectedRule.name || r.cond !== "if" || r.cond_test !== expectedRule.cond_test) {
      drift.push(`use_backend ${r.name} ${r.cond ?? ""} ${r.cond_test ?? ""}`.replace(/\s+/g, " ").trim());
    }
  }
  if (drift.length > 0) route.drift = drift;
  return route;
}

/** Per-route difference between two route maps. */
export interface RouteDiff {
  added: string[];
  removed: string[];
  /** Changed routes and their changed fields (`drift` when the old side had drift). */
  changed: { route: string; fields: (RouteField | "drift")[] }[];
}

/** Which routes were added, removed or changed (and which fields), each list sorted by name. */
export function diffRoutes(
  olds: Record<string, LiveRoute | RouteSpec>,
  news: Record<string, LiveRoute | RouteSpec>,
): RouteDiff {
  const diff: RouteDiff = { added: [], removed: [], changed: [] };
  for (const name of Object.keys(news).sort()) if (!(name in olds)) diff.added.push(name);
  for (const name of Object.keys(olds).sort()) {
    if (!(name in news)) {
      diff.removed.push(name);
      continue;
    }
    const o = olds[name] as LiveRoute;
    const n = news[name] as LiveRoute;
    const fields: (RouteField | "drift")[] = ROUTE_FIELDS.filter(
      (f) => canonicalJson(o[f] ?? null) !== canonicalJson(n[f] ?? null),
    );
    if (canonicalJson(o.drift ?? []) !== canonicalJson(n.drift ?? [])) fields.push("drift");
    if (fields.length > 0) diff.changed.push({ route: name, fields });
  }
  return diff;
}

/** Is a diff empty? */
export function isEmptyDiff(d: RouteDiff): boolean {
  return d.added.length === 0 && d.removed.length === 0 && d.changed.length === 0;
}

/** One line for people: `added shop; changed app (servers, hosts); removed old`, or `no route changes`. */
export function describeDiff(d: RouteDiff): string {
  const parts: string[] = [];
  if (d.added.length > 0) parts.push(`added ${d.added.join(", ")}`);
  if (d.changed.length > 0) {
    parts.push(`changed ${d.changed.map((c) => `${c.route} (${c.fields.join(", ")})`).join(", ")}`);
  }
  if (d.removed.length > 0) parts.push(`removed ${d.removed.join(", ")}`);
  return parts.length > 0 ? parts.join("; ") : "no route changes";
}

/** The route names in a piece of text that mentions our objects (`route_app`, `route_app_host`, ...). */
export function routesMentioned(text: string): string[] {
  const out = new Set<string>();
  for (const m of text.matchAll(/\broute_([a-z0-9][a-z0-9-]*?)(?:_(?:host|path))?(?![a-z0-9_-])/g))
    out.add(m[1]);
  return [...out].sort();
}

/** The routes a configuration line belongs to: our names on it, or our metadata comment. */
function routesOfLine(line: string): string[] {
  const [code, ...comment] = line.split("#");
  const out = new Set(routesMentioned(code));
  const note = comment.join("#");
  const m = /"route":\s*"([a-z0-9][a-z0-9-]*)"/.exec(note);
  if (m && note.includes(`"${MANAGED_BY}"`)) out.add(m[1]);
  return [...out];
}

/**
 * The routes HAProxy's validation error is about: the routes named in the message, and the routes owning the
 * configuration lines it cites (`[file:53]` or `line=53`), found in `rawConfig` (the transaction's file, fetched
 * before the commit). Empty when nothing points at a route.
 */
export function routesInRejection(message: string, rawConfig?: string): string[] {
  const out = new Set(routesMentioned(message));
  if (rawConfig !== undefined) {
    const lines = rawConfig.split("\n");
    const cited = new Set<number>();
    for (const m of message.matchAll(/:(\d+)\]/g)) cited.add(Number(m[1]));
    for (const m of message.matchAll(/\bline[= ](\d+)/g)) cited.add(Number(m[1]));
    for (const n of cited) {
      if (n < 1 || n > lines.length) continue;
      const own = routesOfLine(lines[n - 1]);
      if (own.length > 0) {
        own.forEach((r) => out.add(r));
        continue;
      }
      // Not on the line itself: the section the line is in.
      for (let i = n - 1; i >= 0; i--) {
        if (/^\S/.test(lines[i])) {
          const m = /^backend\s+route_([a-z0-9][a-z0-9-]*)(?=\s|$)/.exec(lines[i]);
          if (m) out.add(m[1]);
          break;
        }
      }
    }
  }
  return [...out].sort();
}

/** HAProxy's own words from a DPAPI validation error: its ALERT lines (or the message), on one line each. */
export function haproxyReason(message: string): string {
  const text = message.replace(/\\n/g, "\n").replace(/\\"/g, '"');
  const alerts = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => /\[(ALERT|WARNING)\]|msg=/.test(l))
    .map((l) => l.replace(/^.*?\[(ALERT|WARNING)\]\s*(\(\d+\)\s*)?:?\s*/, "[$1] ").replace(/^.*?msg="?/, ""));
  const reason = alerts.length > 0 ? alerts.join(" | ") : text.replace(/\s+/g, " ").trim();
  return reason.length > 2000 ? `${reason.slice(0, 2000)}…` : reason;
}
