/**
 * The route plan: one worker's routes as HAProxy objects (backend, servers, ACLs, `use_backend` rule), built once
 * from a route's worker view ({@link RouteSpec}). Both realisations render it directly: the Data Plane API
 * mapping (dataplane/routes.ts, `routeUpdates: live`) and the worker template (templates/worker-haproxy.cfg,
 * `routeUpdates: restart`). The rules a route must follow are the config's own (config/validators.ts); the
 * `WorkerRoutes` provider checks its inputs with {@link routeSpecProblems}.
 *
 * Pure and self-contained: the provider's closure captures these functions, so they use no module state.
 */
import { cidrProblem, isHostname, NAME, PATH_PREFIX, serverProblem } from "./validators";

/** Load-balancing algorithms a route may use (HAProxy `balance`). */
export const BALANCE_ALGORITHMS = ["roundrobin", "leastconn", "source", "first", "uri"] as const;
export type BalanceAlgorithm = (typeof BALANCE_ALGORITHMS)[number];

/**
 * Health-check interval of route servers (HAProxy's default is 2 s): a down server is found within 3 s, and the
 * staging smoke check waits at most about this long for a new server's first check.
 */
export const CHECK_INTERVAL_MS = 1000;
/**
 * Health-check interval while a server's state is in transition, which includes the start of every HAProxy process:
 * HAProxy spreads the first checks of all servers over the shortest interval in use, so after a reload every server
 * is checked within about this long (measured with HAProxy 3.0: 3 servers all checked after ~140 ms, ~680 ms
 * without it), and a failing server is marked down after 3 failed checks at this pace.
 */
export const CHECK_FAST_INTERVAL_MS = 200;
/**
 * The ACL of a worker's main frontend that its load balancer health check needs: `always_false` in the bootstrap
 * of a worker whose routes the Data Plane API applies (a new container starts from it, with no route, and would
 * answer 404 to everything), set `always_true` by the first apply of its routes; `always_true` where the routes are
 * in the bootstrap (`routeUpdates: restart`).
 */
export const READY_ACL = "edge_routes_applied";
/** Name prefix of our backends and ACLs (reserved for haproxy-edge on the workers). */
export const ROUTE_PREFIX = "route_";
/** Sample of the host ACL: the `Host` header without a `:port` suffix (matched with `-i`). */
export const HOST_CRITERION = "req.hdr(host),field(1,:)";
/** Backend-local ACL of an internal-only route: the client networks allowed to use it. */
export const ALLOWED_CLIENT_ACL = "allowed_client";
/** Backend-local ACL of a route on the staging worker: requests by its staging host name. */
export const STAGING_HOST_ACL = "staging_host";

/** One route as one worker serves it: the `WorkerRoutes` resource's input (plain strings, canonical case). */
export interface RouteSpec {
  /** Exact host names, lower case. */
  hosts: string[];
  /** Servers as `host:port`, in order: they become `s1..sN`. */
  servers: string[];
  /** Only requests whose path starts with this (HAProxy `path_beg`). */
  pathPrefix?: string;
  /** HAProxy balance algorithm. */
  balance: string;
  /** Path of the HTTP health check (`option httpchk GET <path>`). */
  healthCheckPath: string;
  /** Internal-only route: only clients from these networks (CIDRs) may use it; the others get 403. */
  allowFrom?: string[];
  /**
   * Staging worker only: the host name the route is previewed by (lower case). It also selects the route, and
   * such requests reach the servers with the route's first host in `Host`.
   */
  stagingHost?: string;
}

/** `acl <name> <criterion> <value>`. */
export interface AclPlan {
  name: string;
  criterion: string;
  value: string;
}

/** `server <name> <address>:<port> check inter <inter> fastinter <fastinter>`. */
export interface ServerPlan {
  name: string;
  address: string;
  port: number;
  inter: number;
  fastinter: number;
}

/** A route's backend. */
export interface BackendPlan {
  name: string;
  balance: string;
  /** `option httpchk GET <healthCheckPath>`. */
  healthCheckPath: string;
  /** Backend-local ACLs ({@link ALLOWED_CLIENT_ACL}, {@link STAGING_HOST_ACL}). */
  acls: AclPlan[];
  /** `http-request deny deny_status <status> [unless <unless>]`: internal-only routes (no `unless`: nobody). */
  deny?: { status: number; unless?: string };
  /** `http-request set-header Host <host> if <acl>`: staging requests reach the servers as the first host. */
  setHost?: { host: string; acl: string };
  servers: ServerPlan[];
}

/** `use_backend <backend> if <condition>` in the worker frontend. */
export interface RulePlan {
  backend: string;
  condition: string;
}

/** One route on one worker. */
export interface RoutePlan {
  name: string;
  /** Its ACLs in the worker frontend (host, then path). */
  acls: AclPlan[];
  rule: RulePlan;
  backend: BackendPlan;
}

/** All routes of one worker, in configuration order. */
export interface WorkerRoutesPlan {
  /** Frontend ACLs, by route name. */
  acls: AclPlan[];
  /** `use_backend` rules in {@link ruleOrder}. */
  rules: RulePlan[];
  /** Backends, by route name. */
  backends: BackendPlan[];
}

/** `route_<name>`. */
export function backendName(route: string): string {
  return `${ROUTE_PREFIX}${route}`;
}

/** `route_<name>_host`. */
export function hostAclName(route: string): string {
  return `${ROUTE_PREFIX}${route}_host`;
}

/** `route_<name>_path`. */
export function pathAclName(route: string): string {
  return `${ROUTE_PREFIX}${route}_path`;
}

/** `host:port` → address and port (the last `:` separates them). */
export function parseServer(server: string): { address: string; port: number } {
  const i = server.lastIndexOf(":");
  const port = Number(server.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`server must be host:port, got ${JSON.stringify(server)}`);
  }
  return { address: server.slice(0, i), port };
}

/**
 * The value of a route's path ACL: an internal-only prefix matches in any letter case (`/ADMIN` is `/admin` to a
 * case-insensitive application), a public one exactly.
 */
export function pathAclValue(spec: Pick<RouteSpec, "pathPrefix" | "allowFrom">): string {
  return spec.allowFrom ? `-i ${spec.pathPrefix}` : (spec.pathPrefix ?? "");
}

/** The plan of route `name` from its worker view. */
export function routePlan(name: string, spec: RouteSpec): RoutePlan {
  const acls: AclPlan[] = [];
  let deny: BackendPlan["deny"];
  let setHost: BackendPlan["setHost"];
  if (spec.allowFrom && spec.allowFrom.length > 0) {
    acls.push({ name: ALLOWED_CLIENT_ACL, criterion: "src", value: spec.allowFrom.join(" ") });
    deny = { status: 403, unless: ALLOWED_CLIENT_ACL };
  } else if (spec.allowFrom) {
    // Internal-only with no internal network: nobody.
    deny = { status: 403 };
  }
  if (spec.stagingHost) {
    acls.push({ name: STAGING_HOST_ACL, criterion: HOST_CRITERION, value: `-i ${spec.stagingHost}` });
    setHost = { host: spec.hosts[0], acl: STAGING_HOST_ACL };
  }
  const frontendAcls: AclPlan[] = [
    {
      name: hostAclName(name),
      criterion: HOST_CRITERION,
      value: `-i ${[...spec.hosts, ...(spec.stagingHost ? [spec.stagingHost] : [])].join(" ")}`,
    },
  ];
  if (spec.pathPrefix)
    frontendAcls.push({ name: pathAclName(name), criterion: "path_beg", value: pathAclValue(spec) });
  return {
    name,
    acls: frontendAcls,
    rule: {
      backend: backendName(name),
      condition: spec.pathPrefix ? `${hostAclName(name)} ${pathAclName(name)}` : hostAclName(name),
    },
    backend: {
      name: backendName(name),
      balance: spec.balance,
      healthCheckPath: spec.healthCheckPath,
      acls,
      ...(deny ? { deny } : {}),
      ...(setHost ? { setHost } : {}),
      servers: spec.servers.map((s, i) => ({
        name: `s${i + 1}`,
        ...parseServer(s),
        inter: CHECK_INTERVAL_MS,
        fastinter: CHECK_FAST_INTERVAL_MS,
      })),
    },
  };
}

/** Route names in rule order: path-prefix routes first (longest prefix first, then by name), then by name. */
export function ruleOrder(routes: Record<string, Pick<RouteSpec, "pathPrefix">>): string[] {
  return Object.keys(routes).sort((a, b) => {
    const pa = routes[a].pathPrefix ?? "";
    const pb = routes[b].pathPrefix ?? "";
    if ((pa === "") !== (pb === "")) return pa ? -1 : 1;
    if (pa.length !== pb.length) return pb.length - pa.length;
    return a < b ? -1 : a > b ? 1 : 0;
  });
}

/** The plan of all routes of one worker. */
export function workerRoutesPlan(routes: Record<string, RouteSpec>): WorkerRoutesPlan {
  const names = Object.keys(routes).sort();
  const plans = Object.fromEntries(names.map((n) => [n, routePlan(n, routes[n])]));
  return {
    acls: names.flatMap((n) => plans[n].acls),
    rules: ruleOrder(routes).map((n) => plans[n].rule),
    backends: names.map((n) => plans[n].backend),
  };
}

/** A route's spec in the canonical shape (lower-case hosts and servers; no empty pathPrefix). */
export function normalizeRouteSpec(spec: RouteSpec): RouteSpec {
  const out: RouteSpec = {
    hosts: spec.hosts.map((h) => h.toLowerCase()),
    servers: spec.servers.map((s) => s.toLowerCase()),
    balance: spec.balance,
    healthCheckPath: spec.healthCheckPath,
  };
  if (spec.pathPrefix) out.pathPrefix = spec.pathPrefix;
  if (spec.allowFrom) out.allowFrom = spec.allowFrom.map((c) => c.toLowerCase());
  if (spec.stagingHost) out.stagingHost = spec.stagingHost.toLowerCase();
  return out;
}

/** Why `name` cannot be a route name (the config's `name` rule), or undefined. */
export function routeNameProblem(name: string): string | undefined {
  return NAME.test(name) ? undefined : "route names are a-z, 0-9 and inner '-', 1 to 32 characters";
}

/**
 * What is wrong with a route spec, by field, by the config's own rules (see config/schema.ts `routeSchema`).
 * Values equal to `unknown` (not yet known during a preview) are not checked.
 */
export function routeSpecProblems(
  name: string,
  spec: RouteSpec,
  unknown?: string,
): { field?: keyof RouteSpec; reason: string }[] {
  const out: { field?: keyof RouteSpec; reason: string }[] = [];
  const known = (v: unknown): v is string => typeof v === "string" && v !== unknown;
  const nameProblem = routeNameProblem(name);
  if (nameProblem) out.push({ reason: nameProblem });
  if (spec.hosts.length === 0) out.push({ field: "hosts", reason: "must list at least one host" });
  for (const h of spec.hosts) {
    if (known(h) && !isHostname(h.toLowerCase()))
      out.push({ field: "hosts", reason: `not a host name: ${h}` });
  }
  if (spec.servers.length === 0) out.push({ field: "servers", reason: "must list at least one server" });
  for (const s of spec.servers) {
    const problem = known(s) ? serverProblem(s.toLowerCase()) : undefined;
    if (problem) out.push({ field: "servers", reason: `${s}: ${problem}` });
  }
  if (known(spec.balance) && !(BALANCE_ALGORITHMS as readonly string[]).includes(spec.balance)) {
    out.push({ field: "balance", reason: `must be one of ${BALANCE_ALGORITHMS.join(", ")}` });
  }
  if (known(spec.healthCheckPath) && !PATH_PREFIX.test(spec.healthCheckPath)) {
    out.push({ field: "healthCheckPath", reason: "must be a URL path such as /healthz" });
  }
  if (known(spec.pathPrefix) && spec.pathPrefix !== "" && !PATH_PREFIX.test(spec.pathPrefix)) {
    out.push({ field: "pathPrefix", reason: "must be a URL path such as /api" });
  }
  if (spec.allowFrom !== undefined) {
    if (!Array.isArray(spec.allowFrom)) out.push({ field: "allowFrom", reason: "must be a list of CIDRs" });
    else {
      for (const c of spec.allowFrom) {
        const problem = known(c) ? cidrProblem(c) : undefined;
        if (problem) out.push({ field: "allowFrom", reason: `not a CIDR: ${c} (${problem})` });
      }
    }
  }
  if (known(spec.stagingHost) && !isHostname(spec.stagingHost.toLowerCase())) {
    out.push({ field: "stagingHost", reason: `not a host name: ${spec.stagingHost}` });
  }
  return out;
}
