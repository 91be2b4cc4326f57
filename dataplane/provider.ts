/**
 * `WorkerRoutes`: a dynamic resource that owns one worker's routes through its HAProxy Data Plane API.
 *
 * Each route becomes a backend, ACLs in the worker frontend and a `use_backend` rule (see dataplane/routes.ts),
 * written in one DPAPI transaction per apply (see dataplane/sync.ts). Route changes are in-place updates: no
 * restart, one reload, and the resource succeeds only once that reload succeeded. Only the worker/endpoint
 * identity (worker, url, ssh, frontend) forces a replacement.
 *
 * The provider's functions are serialized by Pulumi's closure serializer and run in the dynamic-provider process:
 * what they use from other modules of this program is captured with them, Node modules are `require`d inside the
 * functions, and nothing depends on module-level mutable state.
 */
import * as pulumi from "@pulumi/pulumi";
import { WORKER_FRONTEND } from "../config/model";
import { applyRoutes, readRoutes, waitServersHealthy, type SyncOptions, type WorkerApi } from "./sync";
import { diffRoutes, type LiveRoute } from "./routes";
import { normalizeRouteSpec, routeNameProblem, routeSpecProblems, type RouteSpec } from "../config/routes";
import { openRouterTunnel, openTunnel, parseSshTarget, type Tunnel } from "./tunnel";
import type { RouterSsh } from "../routeros/ssh";

/** One route as a worker needs it: a {@link RouteSpec} whose fields may be Outputs. */
export type WorkerRouteArgs = { [K in keyof RouteSpec]: pulumi.Input<RouteSpec[K]> };

/** Inputs of {@link WorkerRoutes}. */
export interface WorkerRoutesArgs {
  /** The worker's name (`staging`, `prod-1`, ...): part of the resource's identity, and used in messages. */
  worker: pulumi.Input<string>;
  /**
   * The Data Plane API as reached from the machine running Pulumi: `http://127.0.0.1:<publishedPort>`. With
   * {@link WorkerRoutesArgs.ssh}, the same URL on the remote host (reached through an `ssh -L` tunnel).
   */
  url: pulumi.Input<string>;
  /** Data Plane API user. */
  user: pulumi.Input<string>;
  /** Data Plane API password: pass a secret. It is kept secret in the state and never shown in errors. */
  password: pulumi.Input<string>;
  /** `user@host[:port]` of a remote Docker host whose loopback publishes the API (opens an `ssh -L` tunnel). */
  ssh?: pulumi.Input<string>;
  /** Extra `ssh` arguments, e.g. `["-o", "StrictHostKeyChecking=yes"]` (`BatchMode=yes` is always set). */
  sshOpts?: pulumi.Input<pulumi.Input<string>[]>;
  /**
   * A RouterOS router whose container bridge holds the API (`url` is then the sidecar's veth address): the
   * routes go through an SSH forward on the router, authenticated with {@link WorkerRoutesArgs.routerKey}.
   */
  router?: pulumi.Input<RouterSsh>;
  /** The router's SSH private key (with `router`): pass a secret. It is kept in memory only. */
  routerKey?: pulumi.Input<string>;
  /** Frontend that gets the ACLs and `use_backend` rules (default `fe_edge`). */
  frontend?: pulumi.Input<string>;
  /**
   * An opaque token that changes when the worker is re-created (e.g. its HAProxy container's id): a change
   * re-applies every route, since a new container may start from a fresh bootstrap configuration.
   */
  instance?: pulumi.Input<string>;
  /** The routes, keyed by route name (so a preview diff reads `routes.app.servers`). */
  routes: pulumi.Input<Record<string, pulumi.Input<WorkerRouteArgs>>>;
  /**
   * The staging worker's smoke check: after each apply, every server of each added or changed route (compared with
   * the last successful apply) must pass its HTTP health check, or the apply fails naming the route, the server
   * and HAProxy's check result, and whatever depends on this resource (the production workers) is not touched.
   */
  smokeCheck?: pulumi.Input<boolean>;
}

/** Resolved inputs, as the provider sees them. */
export interface WorkerRoutesInputs {
  worker: string;
  url: string;
  user: string;
  password: string;
  ssh?: string;
  sshOpts?: string[];
  router?: RouterSsh;
  routerKey?: string;
  /** Always set (the resource defaults it to `fe_edge`): the provider itself never imports the model. */
  frontend: string;
  smokeCheck?: boolean;
  instance?: string;
  routes: Record<string, RouteSpec>;
}

/** Outputs: the inputs, with `routes` as last applied or, after a refresh, as read from the worker. */
export interface WorkerRoutesOutputs extends Omit<WorkerRoutesInputs, "routes"> {
  routes: Record<string, LiveRoute>;
}

/** A property diff as the Pulumi engine understands it (`kind`: ADD, DELETE, UPDATE, *_REPLACE). */
export interface PropertyDiff {
  kind: "ADD" | "DELETE" | "UPDATE" | "ADD_REPLACE" | "DELETE_REPLACE" | "UPDATE_REPLACE";
  inputDiff: boolean;
}

/** The provider's diff: Pulumi's, plus a detailed diff per route and field. */
export interface WorkerRoutesDiff extends pulumi.dynamic.DiffResult {
  detailedDiff: Record<string, PropertyDiff>;
}

/** Inputs whose change means another worker or endpoint: the resource is replaced (deleted first). */
export const IDENTITY_FIELDS = ["worker", "url", "ssh", "router", "frontend"] as const;
const UPDATE_FIELDS = ["user", "password", "sshOpts", "routerKey", "instance", "smokeCheck"] as const;

/** `routes.app` or `routes["my-app"]`: a Pulumi property path. */
function routePath(route: string, field?: string): string {
  const base = /^[A-Za-z_][A-Za-z0-9_]*$/.test(route)
    ? `routes.${route}`
    : `routes[${JSON.stringify(route)}]`;
  return field ? `${base}.${field}` : base;
}

/** The diff of two states: per route and field, replacement only for a new identity. */
export function diffWorkerRoutes(olds: WorkerRoutesOutputs, news: WorkerRoutesInputs): WorkerRoutesDiff {
  const detailedDiff: Record<string, PropertyDiff> = {};
  const replaces: string[] = [];
  const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
  // A router is the same router at the same address, port and user; a newly pinned host key only updates.
  const endpoint = (r: WorkerRoutesInputs["router"]) => r && { host: r.host, port: r.port, user: r.user };
  for (const f of IDENTITY_FIELDS) {
    const a = f === "router" ? endpoint(olds.router) : olds[f];
    const b = f === "router" ? endpoint(news.router) : news[f];
    if (!same(a, b)) {
      replaces.push(f);
      detailedDiff[f] = { kind: "UPDATE_REPLACE", inputDiff: true };
    } else if (f === "router" && !same(olds.router, news.router))
      detailedDiff.router = { kind: "UPDATE", inputDiff: true };
  }
  for (const f of UPDATE_FIELDS) {
    const a = f === "sshOpts" ? (olds.sshOpts ?? []) : olds[f];
    const b = f === "sshOpts" ? (news.sshOpts ?? []) : news[f];
    if (!same(a, b)) detailedDiff[f] = { kind: "UPDATE", inputDiff: true };
  }
  const d = diffRoutes(olds.routes ?? {}, news.routes ?? {});
  for (const r of d.added) detailedDiff[routePath(r)] = { kind: "ADD", inputDiff: true };
  for (const r of d.removed) detailedDiff[routePath(r)] = { kind: "DELETE", inputDiff: true };
  for (const c of d.changed) {
    const o = olds.routes[c.route];
    const n = news.routes[c.route];
    for (const f of c.fields) {
      // `drift` exists on the old (read) side only; the optional fields may be added or removed.
      const kind = f === "drift" || n[f] === undefined ? "DELETE" : o[f] === undefined ? "ADD" : "UPDATE";
      detailedDiff[routePath(c.route, f)] = { kind, inputDiff: f !== "drift" };
    }
  }
  return {
    changes: Object.keys(detailedDiff).length > 0,
    replaces,
    deleteBeforeReplace: true,
    detailedDiff,
  };
}

const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

/** Validates the known inputs (unknown ones, during a preview, are left alone); canonical route specs. */
export function checkWorkerRoutes(news: WorkerRoutesInputs): pulumi.dynamic.CheckResult<WorkerRoutesInputs> {
  const failures: pulumi.dynamic.CheckFailure[] = [];
  const fail = (property: string, reason: string) => failures.push({ property, reason });
  const known = (v: unknown): v is string => typeof v === "string" && v !== UNKNOWN;
  if (known(news.url)) {
    let ok = false;
    try {
      const u = new URL(news.url);
      ok = u.protocol === "http:" && !u.username && !u.password && (u.pathname === "/" || u.pathname === "");
    } catch {
      ok = false;
    }
    if (!ok) fail("url", `must be http://host:port without credentials or path (got ${news.url})`);
  }
  if (known(news.ssh)) {
    try {
      parseSshTarget(news.ssh);
    } catch (e) {
      fail("ssh", (e as Error).message);
    }
  }
  if (news.router !== undefined) {
    if (news.ssh !== undefined) fail("router", "give either ssh (a Docker host) or router, not both");
    if (news.routerKey === undefined) fail("routerKey", "is required with router (the router's SSH key)");
  }
  const routes: Record<string, RouteSpec> = {};
  if (news.routes && typeof news.routes === "object") {
    for (const [name, spec] of Object.entries(news.routes)) {
      if (!spec || typeof spec !== "object" || !Array.isArray(spec.hosts) || !Array.isArray(spec.servers)) {
        const problem = routeNameProblem(name);
        if (problem) fail(`routes.${name}`, problem);
        routes[name] = spec;
        continue;
      }
      // The config's own rules (config/routes.ts).
      for (const p of routeSpecProblems(name, spec, UNKNOWN)) {
        fail(p.field ? routePath(name, p.field) : `routes.${name}`, p.reason);
      }
      const allKnown = [
        ...spec.hosts,
        ...spec.servers,
        spec.balance,
        spec.healthCheckPath,
        ...(Array.isArray(spec.allowFrom) ? spec.allowFrom : []),
        ...(spec.stagingHost !== undefined ? [spec.stagingHost] : []),
      ].every(known);
      routes[name] = allKnown ? normalizeRouteSpec(spec) : spec;
    }
  }
  return { inputs: { ...news, routes }, failures };
}

/** The worker's logical endpoint: the queue and journal key (never includes the password). */
export function endpointKey(inputs: Pick<WorkerRoutesInputs, "ssh" | "url" | "router">): string {
  const via = inputs.router
    ? `routeros://${inputs.router.user}@${inputs.router.host}:${inputs.router.port}`
    : inputs.ssh
      ? `ssh://${inputs.ssh}`
      : "local";
  return `${via}|${inputs.url}`;
}

/**
 * Runs `fn` against the worker's API: through an SSH forward on the router for a worker on a router, through an
 * `ssh -L` tunnel for a worker on a remote Docker host, directly otherwise.
 */
export async function withWorker<T>(
  inputs: WorkerRoutesInputs,
  fn: (t: WorkerApi) => Promise<T>,
): Promise<T> {
  const target: WorkerApi = {
    worker: inputs.worker,
    url: inputs.url,
    endpointKey: endpointKey(inputs),
    user: inputs.user,
    password: inputs.password,
    frontend: inputs.frontend,
  };
  const tunnel: (Tunnel & { lastError?: () => string | undefined }) | undefined = inputs.router
    ? await openRouterTunnel(inputs.router, inputs.routerKey ?? "", inputs.url)
    : inputs.ssh
      ? await openTunnel(inputs.ssh, inputs.sshOpts ?? [], inputs.url)
      : undefined;
  // Every error names the worker it is about.
  const named = (e: unknown) => {
    if (e instanceof Error && !e.message.startsWith(`worker ${inputs.worker}`)) {
      e.message = `worker ${inputs.worker}: ${e.message}`;
    }
    return e;
  };
  if (!tunnel) {
    try {
      return await fn(target);
    } catch (e) {
      throw named(e);
    }
  }
  try {
    return await fn({ ...target, url: tunnel.url });
  } catch (e) {
    // The HTTP error alone ("socket hang up") would hide why: the router's reason comes first.
    const why = tunnel.lastError?.();
    if (why && e instanceof Error) e.message = `${why}; ${e.message}`;
    throw named(e);
  } finally {
    tunnel.close();
  }
}

/**
 * The smoke check; when it fails, the worker is put back to `lastGood` (the routes of the last successful apply,
 * which the state still holds) before the error is raised, so that the worker and the state agree and the next
 * `pulumi up` applies and checks the change again.
 */
export async function smokeCheckOrRevert(
  t: WorkerApi,
  routes: string[],
  lastGood: Record<string, RouteSpec>,
  options: SyncOptions,
): Promise<void> {
  try {
    await waitServersHealthy(t, routes, options);
  } catch (e) {
    try {
      await applyRoutes(t, lastGood, options);
    } catch (revert) {
      throw new Error(
        `${(e as Error).message}; putting back the last applied routes failed too: ${(revert as Error).message}`,
      );
    }
    throw new Error(`${(e as Error).message}; the worker is back on its last applied routes`);
  }
}

/** Resource id: stable for one worker endpoint. */
function resourceId(inputs: WorkerRoutesInputs): string {
  return `${inputs.worker}@${endpointKey(inputs)}`;
}

/** State outputs: the inputs, with routes canonical. */
function outputsOf(inputs: WorkerRoutesInputs): WorkerRoutesOutputs {
  const routes: Record<string, RouteSpec> = {};
  for (const name of Object.keys(inputs.routes).sort())
    routes[name] = normalizeRouteSpec(inputs.routes[name]);
  return { ...inputs, routes };
}

/**
 * Creates the provider. `options` are for tests (e.g. shorter timeouts, a hook before the commit); the resource
 * uses the defaults.
 */
export function workerRoutesProvider(
  options: SyncOptions = {},
): Required<
  Pick<
    pulumi.dynamic.ResourceProvider<WorkerRoutesInputs, WorkerRoutesOutputs>,
    "check" | "diff" | "create" | "read" | "update" | "delete"
  >
> {
  return {
    async check(_olds, news) {
      return checkWorkerRoutes(news);
    },
    async diff(_id, olds, news) {
      return diffWorkerRoutes(olds, news);
    },
    async create(inputs) {
      const { routes } = outputsOf(inputs);
      await withWorker(inputs, async (t) => {
        await applyRoutes(t, routes, options);
        if (inputs.smokeCheck) await smokeCheckOrRevert(t, Object.keys(routes), {}, options);
      });
      return { id: resourceId(inputs), outs: outputsOf(inputs) };
    },
    async update(_id, olds, news) {
      const { routes } = outputsOf(news);
      // Checked: what is new since the last successful apply.
      const d = diffRoutes(olds.routes ?? {}, routes);
      const changed = [...d.added, ...d.changed.map((c) => c.route)];
      await withWorker(news, async (t) => {
        // A production worker takes a server-only change without a reload; staging reloads for its smoke check.
        await applyRoutes(t, routes, { runtimeServerChanges: !news.smokeCheck, ...options });
        if (news.smokeCheck) await smokeCheckOrRevert(t, changed, olds.routes ?? {}, options);
      });
      return { outs: outputsOf(news) };
    },
    async delete(_id, props) {
      await withWorker({ ...props, routes: {} }, (t) => applyRoutes(t, {}, options));
    },
    async read(id, props) {
      if (!props || !props.url)
        throw new Error(`WorkerRoutes ${id}: cannot read without its url and credentials`);
      const inputs = { ...props, routes: {} } as WorkerRoutesInputs;
      const routes = await withWorker(inputs, (t) => readRoutes(t, options));
      const state = { ...props, routes };
      // The refreshed routes are also the inputs later diffs start from, so drift shows per route and field.
      return { id, props: state, inputs: state };
    },
  };
}

/** The provider every {@link WorkerRoutes} uses. */
const provider = workerRoutesProvider();

/** The routes of one worker, owned through its Data Plane API (dynamic resource). */
export class WorkerRoutes extends pulumi.dynamic.Resource {
  /** The routes as last applied (or read back by a refresh). */
  declare public readonly routes: pulumi.Output<Record<string, LiveRoute>>;
  declare public readonly worker: pulumi.Output<string>;

  constructor(name: string, args: WorkerRoutesArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      provider,
      name,
      {
        ...args,
        frontend: args.frontend ?? WORKER_FRONTEND,
        sshOpts: args.sshOpts ?? [],
        password: pulumi.secret(args.password),
        ...(args.routerKey !== undefined ? { routerKey: pulumi.secret(args.routerKey) } : {}),
      },
      { ...opts, additionalSecretOutputs: ["password", "routerKey"] },
      "dataplane",
      "WorkerRoutes",
    );
  }
}
