#!/usr/bin/env node
// @ts-check
/**
 * Worker readiness check, run by each worker's `check` resource (command.local.Command) during `pulumi up`.
 * The next rollout step (the next worker, then the load balancer) waits until it passes.
 *
 * It proves, through the worker's Data Plane API: HAProxy is up (`/v3/health`), the worker's frontend exists,
 * and the API refuses requests without credentials (401). For a worker on a remote Docker host it reaches the
 * API (published on that host's 127.0.0.1) through an `ssh -L` tunnel; for a worker on a RouterOS router, through
 * an SSH forward on the router to the API sidecar's veth address (the key stays in memory).
 *
 * Environment: WORKER_NAME, DPAPI_URL, DPAPI_USER, DPAPI_PASSWORD (secret: never printed),
 * DPAPI_FRONTEND, DPAPI_SSH ("user@host[:port]" or empty), DPAPI_SSH_OPTS (JSON array),
 * DPAPI_ROUTER (JSON {host, port, user, hostKey?} or empty), DPAPI_ROUTER_KEY (secret: the router's SSH key),
 * CHECK_TIMEOUT_SECONDS (total budget, default 120).
 */
import { spawn } from "node:child_process";
import { createServer, connect } from "node:net";
import { Client } from "ssh2";

const env = process.env;
const name = env.WORKER_NAME ?? "worker";
const deadline = Date.now() + Number(env.CHECK_TIMEOUT_SECONDS ?? "120") * 1000;
const REQUEST_TIMEOUT_MS = 5000;

/** @param {string} message */
function fail(message) {
  process.stderr.write(`haproxy-edge check ${name}: FAILED: ${message}\n`);
  process.exit(1);
}

/** @param {string} key */
function required(key) {
  const v = env[key];
  if (!v) fail(`${key} is not set`);
  return /** @type {string} */ (v);
}

/** A free local TCP port (for the SSH tunnel). @returns {Promise<number>} */
function freePort() {
  return new Promise((ok, ko) => {
    const srv = createServer();
    srv.on("error", ko);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => ok(port));
    });
  });
}

/** Resolves once 127.0.0.1:port accepts a connection. @param {number} port */
async function waitForPort(port) {
  for (;;) {
    const open = await new Promise((ok) => {
      const s = connect({ host: "127.0.0.1", port });
      s.once("connect", () => {
        s.destroy();
        ok(true);
      });
      s.once("error", () => ok(false));
    });
    if (open) return;
    if (Date.now() > deadline) fail(`the SSH tunnel to ${env.DPAPI_SSH} did not open`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** @param {string} url @param {string | undefined} auth */
async function get(url, auth) {
  const headers = auth ? { authorization: `Basic ${Buffer.from(auth).toString("base64")}` } : undefined;
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  return { status: res.status, body: await res.text() };
}

/**
 * A local port forwarded through the router's SSH server to `url`'s host and port.
 * @param {string} url
 * @returns {Promise<{ base: string, close: () => void, lastError: () => string }>}
 */
async function routerTunnel(url) {
  const router = JSON.parse(required("DPAPI_ROUTER"));
  const where = `${router.user}@${router.host}:${router.port}`;
  const target = new URL(url);
  const pinned = router.hostKey
    ? Buffer.from(String(router.hostKey).split(/\s+/)[1] ?? "", "base64")
    : undefined;
  const conn = new Client();
  let lastError = "";
  let hostKeyMismatch = false;
  await new Promise((ok) => {
    const budget = Math.max(1000, Math.min(30_000, deadline - Date.now()));
    const timer = setTimeout(
      () => fail(`no SSH session with the router ${where} within ${budget} ms`),
      budget,
    );
    conn.once("ready", () => {
      clearTimeout(timer);
      ok(undefined);
    });
    conn.once("error", (e) =>
      fail(
        `SSH to the router ${where}: ${
          hostKeyMismatch
            ? "the router's host key does not match hosts.<router>.hostKey"
            : e.message.replace(/-----BEGIN[\s\S]*$/, "")
        }`,
      ),
    );
    try {
      conn.connect({
        host: router.host,
        port: router.port,
        username: router.user,
        privateKey: required("DPAPI_ROUTER_KEY"),
        readyTimeout: budget,
        ...(pinned
          ? {
              hostVerifier: (/** @type {Buffer} */ key) => {
                hostKeyMismatch = !key.equals(pinned);
                return !hostKeyMismatch;
              },
            }
          : {}),
      });
    } catch (e) {
      // ssh2 parses the key synchronously: a bad key throws here, before any network traffic.
      fail(`DPAPI_ROUTER_KEY is not a usable private key: ${e instanceof Error ? e.message : String(e)}`);
    }
  });
  const server = createServer((socket) => {
    socket.on("error", () => socket.destroy());
    conn.forwardOut("127.0.0.1", 0, target.hostname, Number(target.port || 80), (err, channel) => {
      if (err) {
        const reason = /** @type {{ reason?: number }} */ (err).reason;
        // Forwarding disabled will not fix itself: fail at once instead of retrying until the deadline.
        if (reason === 1)
          fail(
            `the router refuses SSH port forwarding: enable it with \`/ip ssh set forwarding-enabled=local\` (${err.message})`,
          );
        lastError = `the router cannot reach ${target.host}: ${err.message}`;
        socket.destroy();
        return;
      }
      socket.pipe(channel).pipe(socket);
      channel.on("error", () => socket.destroy());
    });
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", () => ok(undefined)));
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  return {
    base: `http://127.0.0.1:${port}`,
    lastError: () => lastError,
    close: () => {
      server.close();
      conn.end();
    },
  };
}

async function main() {
  let base = required("DPAPI_URL").replace(/\/$/, "");
  const auth = `${required("DPAPI_USER")}:${required("DPAPI_PASSWORD")}`;
  const frontend = required("DPAPI_FRONTEND");
  /** @type {import("node:child_process").ChildProcess | undefined} */
  let tunnel;
  /** @type {Awaited<ReturnType<typeof routerTunnel>> | undefined} */
  let viaRouter;
  if (env.DPAPI_ROUTER) {
    viaRouter = await routerTunnel(base);
    base = viaRouter.base;
  } else if (env.DPAPI_SSH) {
    const m = /^([A-Za-z0-9_][A-Za-z0-9._-]*@)?([A-Za-z0-9][A-Za-z0-9.-]*)(?::(\d{1,5}))?$/.exec(
      env.DPAPI_SSH,
    );
    if (!m) fail(`DPAPI_SSH must be user@host[:port], got ${env.DPAPI_SSH}`);
    const target = /** @type {RegExpExecArray} */ (m);
    const remotePort = new URL(base).port;
    const localPort = await freePort();
    const sshOpts = JSON.parse(env.DPAPI_SSH_OPTS || "[]");
    const args = ["-N", "-o", "BatchMode=yes", "-o", "ExitOnForwardFailure=yes", "-o", "ConnectTimeout=10"];
    if (target[3]) args.push("-p", target[3]);
    args.push(
      ...sshOpts,
      "-L",
      `127.0.0.1:${localPort}:127.0.0.1:${remotePort}`,
      `${target[1] ?? ""}${target[2]}`,
    );
    tunnel = spawn("ssh", args, { stdio: ["ignore", "ignore", "inherit"] });
    tunnel.on("exit", (code) => {
      if (code !== null && code !== 0) fail(`ssh ${env.DPAPI_SSH} exited with ${code}`);
    });
    await waitForPort(localPort);
    base = `http://127.0.0.1:${localPort}`;
  }
  try {
    let last = "no answer yet";
    for (;;) {
      try {
        const health = await get(`${base}/v3/health`, auth);
        if (health.status === 200 && JSON.parse(health.body).haproxy === "up") break;
        last = `GET /v3/health: ${health.status} ${health.body.trim()}`;
      } catch (e) {
        last = `GET /v3/health: ${e instanceof Error ? e.message : String(e)}`;
        if (viaRouter?.lastError()) last = `${viaRouter.lastError()}; ${last}`;
      }
      if (Date.now() > deadline) fail(`the Data Plane API at ${env.DPAPI_URL} is not ready: ${last}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    const fe = await get(`${base}/v3/services/haproxy/configuration/frontends/${frontend}`, auth);
    if (fe.status !== 200) fail(`frontend ${frontend} is missing: ${fe.status} ${fe.body.trim()}`);
    const anonymous = await get(`${base}/v3/services/haproxy/configuration/version`, undefined);
    if (anonymous.status !== 401) fail(`the Data Plane API answered ${anonymous.status} without credentials`);
    process.stdout.write(
      `haproxy-edge check ${name}: HAProxy up, frontend ${frontend} present, API requires auth\n`,
    );
  } finally {
    tunnel?.kill();
    viaRouter?.close();
  }
}

main().catch((e) => fail(e instanceof Error ? e.message : String(e)));
