/**
 * Worker readiness check, run by each worker's `check` resource (command.local.Command) during `pulumi up` as
 * `node --import tsx dataplane/check-worker.ts`. The next rollout step (the next worker, then the load balancer)
 * waits until it passes.
 *
 * It proves, through the worker's Data Plane API: HAProxy is up (`/v3/health`), the worker's frontend exists,
 * and the API refuses requests without credentials (401). It reaches the API through the same tunnels as the
 * `WorkerRoutes` provider (./tunnel.ts): `ssh -L` to a remote Docker host's 127.0.0.1, or an SSH forward on a
 * router to the API sidecar's veth address (the key stays in memory).
 *
 * Environment: WORKER_NAME, DPAPI_URL, DPAPI_USER, DPAPI_PASSWORD (secret: never printed),
 * DPAPI_FRONTEND, DPAPI_SSH ("user@host[:port]" or empty), DPAPI_SSH_OPTS (JSON array),
 * DPAPI_ROUTER (JSON {host, port, user, hostKey?} or empty), DPAPI_ROUTER_KEY (secret: the router's SSH key),
 * CHECK_TIMEOUT_SECONDS (total budget, default 120).
 */
import type { RouterSsh } from "../routeros/ssh";
import {
  openRouterTunnel,
  openTunnel,
  ROUTER_FORWARDING_HINT,
  type RouterTunnel,
  type Tunnel,
} from "./tunnel";

const REQUEST_TIMEOUT_MS = 5000;

/** A failed check: its message is printed as `haproxy-edge check <worker>: FAILED: <message>`. */
class CheckFailed extends Error {}

function required(env: NodeJS.ProcessEnv, key: string): string {
  const v = env[key];
  if (!v) throw new CheckFailed(`${key} is not set`);
  return v;
}

async function get(url: string, auth: string | undefined) {
  const headers = auth ? { authorization: `Basic ${Buffer.from(auth).toString("base64")}` } : undefined;
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  return { status: res.status, body: await res.text() };
}

/** Runs the check; resolves with the success line, rejects with why it failed. */
export async function checkWorker(env: NodeJS.ProcessEnv): Promise<string> {
  const deadline = Date.now() + Number(env.CHECK_TIMEOUT_SECONDS ?? "120") * 1000;
  const apiUrl = required(env, "DPAPI_URL").replace(/\/$/, "");
  const auth = `${required(env, "DPAPI_USER")}:${required(env, "DPAPI_PASSWORD")}`;
  const frontend = required(env, "DPAPI_FRONTEND");
  const budget = () => Math.max(1000, Math.min(30_000, deadline - Date.now()));
  let tunnel: Tunnel | undefined;
  let viaRouter: RouterTunnel | undefined;
  if (env.DPAPI_ROUTER) {
    const router = JSON.parse(env.DPAPI_ROUTER) as RouterSsh;
    viaRouter = await openRouterTunnel(router, required(env, "DPAPI_ROUTER_KEY"), apiUrl, budget());
    tunnel = viaRouter;
  } else if (env.DPAPI_SSH) {
    const sshOpts = JSON.parse(env.DPAPI_SSH_OPTS || "[]") as string[];
    tunnel = await openTunnel(env.DPAPI_SSH, sshOpts, apiUrl, budget());
  }
  const base = tunnel?.url ?? apiUrl;
  try {
    let last = "no answer yet";
    for (;;) {
      try {
        const health = await get(`${base}/v3/health`, auth);
        if (health.status === 200 && (JSON.parse(health.body) as { haproxy?: string }).haproxy === "up")
          break;
        last = `GET /v3/health: ${health.status} ${health.body.trim()}`;
      } catch (e) {
        last = `GET /v3/health: ${(e as Error).message}`;
        const refused = viaRouter?.lastError();
        // Forwarding disabled on the router will not fix itself: fail at once instead of at the deadline.
        if (refused?.startsWith(ROUTER_FORWARDING_HINT)) throw new CheckFailed(refused);
        if (refused) last = `${refused}; ${last}`;
      }
      if (Date.now() > deadline)
        throw new CheckFailed(`the Data Plane API at ${apiUrl} is not ready: ${last}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    const fe = await get(`${base}/v3/services/haproxy/configuration/frontends/${frontend}`, auth);
    if (fe.status !== 200)
      throw new CheckFailed(`frontend ${frontend} is missing: ${fe.status} ${fe.body.trim()}`);
    const anonymous = await get(`${base}/v3/services/haproxy/configuration/version`, undefined);
    if (anonymous.status !== 401) {
      throw new CheckFailed(`the Data Plane API answered ${anonymous.status} without credentials`);
    }
    return `HAProxy up, frontend ${frontend} present, API requires auth`;
  } finally {
    tunnel?.close();
  }
}

if (require.main === module) {
  const name = process.env.WORKER_NAME ?? "worker";
  checkWorker(process.env).then(
    (ok) => process.stdout.write(`haproxy-edge check ${name}: ${ok}\n`),
    (e: unknown) => {
      process.stderr.write(`haproxy-edge check ${name}: FAILED: ${(e as Error).message}\n`);
      process.exitCode = 1;
    },
  );
}
