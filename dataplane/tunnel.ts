/**
 * An `ssh -L` tunnel to a Data Plane API published on a remote Docker host's 127.0.0.1, as
 * scripts/check-worker.mjs opens it: `BatchMode=yes` (never a prompt), `ExitOnForwardFailure=yes`, a bounded
 * connect time, and a local port on 127.0.0.1 only.
 *
 * Captured by the `WorkerRoutes` dynamic provider's closure: Node modules are required inside the functions.
 */

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

/** SSH access to a RouterOS router, as the stack configures it. */
export interface RouterSsh {
  host: string;
  port: number;
  user: string;
  /** The router's host key (`ssh-ed25519 AAAA...`); when given, any other key is refused. */
  hostKey?: string;
}

/** An open tunnel through a router; `lastError` says why the router refused a forward, if it did. */
export interface RouterTunnel extends Tunnel {
  lastError(): string | undefined;
}

/** The hint for a refused forward (RouterOS' default is `forwarding-enabled=no`). */
export const ROUTER_FORWARDING_HINT =
  "the router refuses SSH port forwarding: enable it with `/ip ssh set forwarding-enabled=local`";

/**
 * An authenticated SSH session with a router: the stack's key held in memory (never written to disk), the
 * router's host key pinned when it is known. `what` names the purpose in errors ("ssh tunnel", "sftp").
 * @throws if SSH does not connect and authenticate within `timeoutMs`, the host key does not match, or the
 * key is unusable (no key material is ever part of the message).
 */
export async function connectRouter(
  router: RouterSsh,
  privateKey: string,
  what: string,
  timeoutMs = 30_000,
): Promise<import("ssh2").Client> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Client } = require("ssh2") as typeof import("ssh2");
  const where = `${router.user}@${router.host}:${router.port}`;
  const pinned = router.hostKey ? Buffer.from(router.hostKey.split(/\s+/)[1] ?? "", "base64") : undefined;
  let hostKeyMismatch = false;
  const conn = new Client();
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      conn.end();
      reject(new Error(`${what} through ${where}: no SSH session within ${timeoutMs} ms`));
    }, timeoutMs);
    conn.once("ready", () => {
      clearTimeout(timer);
      resolve();
    });
    conn.once("error", (e: Error) => {
      clearTimeout(timer);
      const why = hostKeyMismatch
        ? "the router's host key does not match hosts.<router>.hostKey"
        : e.message.replace(/-----BEGIN[\s\S]*$/, "");
      reject(new Error(`${what} through ${where}: ${why}`));
    });
    try {
      conn.connect({
        host: router.host,
        port: router.port,
        username: router.user,
        privateKey,
        readyTimeout: timeoutMs,
        keepaliveInterval: 10_000,
        keepaliveCountMax: 3,
        ...(pinned
          ? {
              hostVerifier: (key: Buffer) => {
                hostKeyMismatch = !key.equals(pinned);
                return !hostKeyMismatch;
              },
            }
          : {}),
      });
    } catch (e) {
      // ssh2 parses the key synchronously: a bad key throws here, before any network traffic.
      clearTimeout(timer);
      reject(
        new Error(
          `${what} through ${where}: the router key is not a usable private key (${(e as Error).message})`,
        ),
      );
    }
  });
  return conn;
}

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
