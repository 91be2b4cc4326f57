/**
 * An `ssh -L` tunnel to a Data Plane API published on a remote Docker host's 127.0.0.1, as
 * dataplane/check-worker.ts opens it: `BatchMode=yes` (never a prompt), `ExitOnForwardFailure=yes`, a bounded
 * connect time, and a local port on 127.0.0.1 only.
 *
 * Captured by the `WorkerRoutes` dynamic provider's closure: Node modules are required inside the functions.
 */
import { connectRouter, type RouterSsh } from "../routeros/ssh";

/** An open tunnel. */
export interface Tunnel {
  /** `http://127.0.0.1:<local port>`: the remote API through the tunnel. */
  url: string;
  /** Stops ssh. */
  close(): void;
}

/** `user@host[:port]` → ssh destination and port. */
export function parseSshTarget(target: string): { destination: string; port?: string } {
  // User and host start with a letter or digit: neither may read as an ssh option.
  const m = /^([A-Za-z0-9_][A-Za-z0-9._-]*@)?([A-Za-z0-9][A-Za-z0-9.-]*)(?::(\d{1,5}))?$/.exec(target);
  if (!m) throw new Error(`ssh target must be user@host[:port], got ${JSON.stringify(target)}`);
  return { destination: `${m[1] ?? ""}${m[2]}`, ...(m[3] ? { port: m[3] } : {}) };
}

/** The ssh arguments of a tunnel from 127.0.0.1:`localPort` to the remote host's 127.0.0.1:`remotePort`. */
export function tunnelArgs(
  target: string,
  sshOpts: readonly string[],
  localPort: number,
  remotePort: number,
) {
  const { destination, port } = parseSshTarget(target);
  return [
    "-N",
    "-o",
    "BatchMode=yes",
    "-o",
    "ExitOnForwardFailure=yes",
    "-o",
    "ConnectTimeout=10",
    "-o",
    "ServerAliveInterval=10",
    "-o",
    "ServerAliveCountMax=3",
    ...(port ? ["-p", port] : []),
    ...sshOpts,
    "-L",
    `127.0.0.1:${localPort}:127.0.0.1:${remotePort}`,
    destination,
  ];
}

/** A free TCP port on 127.0.0.1. */
async function freePort(): Promise<number> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const net = require("node:net") as typeof import("node:net");
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Does 127.0.0.1:port accept a connection (within 1 s)? */
export async function accepts(port: number): Promise<boolean> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const net = require("node:net") as typeof import("node:net");
  return new Promise((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1000, () => done(false));
    s.once("connect", () => done(true));
    s.once("error", () => done(false));
  });
}

/**
 * Opens a tunnel to `url`'s port on the remote host's loopback and resolves once it accepts connections.
 * @throws if ssh exits or the tunnel does not open within `timeoutMs` (ssh's own error output is included).
 */
export async function openTunnel(
  target: string,
  sshOpts: readonly string[],
  url: string,
  timeoutMs = 30_000,
): Promise<Tunnel> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { spawn } = require("node:child_process") as typeof import("node:child_process");
  const remotePort = Number(new URL(url).port || 80);
  const localPort = await freePort();
  const child = spawn("ssh", tunnelArgs(target, sshOpts, localPort, remotePort), {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  let exited: string | undefined;
  child.stderr?.setEncoding("utf8").on("data", (d: string) => {
    stderr = (stderr + d).slice(-2000);
  });
  child.on("error", (e) => (exited = `cannot run ssh: ${e.message}`));
  child.on("exit", (code, signal) => (exited = `ssh exited with ${code ?? signal}`));
  const close = () => {
    if (exited === undefined) child.kill();
  };
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; attempt < 10_000; attempt++) {
    if (exited !== undefined) break;
    if (await accepts(localPort)) return { url: `http://127.0.0.1:${localPort}`, close };
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  close();
  const why = exited ?? `not open after ${timeoutMs} ms`;
  throw new Error(
    `ssh tunnel to ${target} (127.0.0.1:${remotePort}): ${why}${stderr ? `: ${stderr.trim()}` : ""}`,
  );
}

/** An open tunnel through a router; `lastError` says why the router refused a forward, if it did. */
export interface RouterTunnel extends Tunnel {
  lastError(): string | undefined;
}

/** The hint for a refused forward (RouterOS' default is `forwarding-enabled=no`). */
export const ROUTER_FORWARDING_HINT =
  "the router refuses SSH port forwarding: enable it with `/ip ssh set forwarding-enabled=local`";

/**
 * Opens a tunnel to `url` (an address on the router's container bridge) through the router's SSH server
 * ({@link connectRouter}). Each local connection becomes one `direct-tcpip` channel. Resolves once SSH is
 * authenticated.
 * @throws as {@link connectRouter} does.
 */
export async function openRouterTunnel(
  router: RouterSsh,
  privateKey: string,
  url: string,
  timeoutMs = 30_000,
): Promise<RouterTunnel> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const net = require("node:net") as typeof import("node:net");
  const target = new URL(url);
  const remoteHost = target.hostname;
  const remotePort = Number(target.port || 80);
  let lastError: string | undefined;
  const conn = await connectRouter(router, privateKey, "ssh tunnel", timeoutMs);
  // Errors after the session is up (e.g. the router closed it) end the tunnel; they are reported per forward.
  conn.on("error", (e: Error) => (lastError = e.message));

  const server = net.createServer((socket) => {
    socket.on("error", () => socket.destroy());
    conn.forwardOut("127.0.0.1", 0, remoteHost, remotePort, (err, channel) => {
      if (err) {
        const reason = (err as Error & { reason?: number }).reason;
        // RFC 4254 §5.1: 1 = administratively prohibited (forwarding disabled), 2 = connect failed.
        lastError =
          reason === 1
            ? `${ROUTER_FORWARDING_HINT} (${err.message})`
            : `the router cannot reach ${remoteHost}:${remotePort}: ${err.message}`;
        socket.destroy();
        return;
      }
      socket.pipe(channel).pipe(socket);
      channel.on("error", () => socket.destroy());
      socket.on("close", () => channel.close());
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const addr = server.address();
  const localPort = typeof addr === "object" && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${localPort}`,
    lastError: () => lastError,
    close: () => {
      server.close();
      conn.end();
    },
  };
}
