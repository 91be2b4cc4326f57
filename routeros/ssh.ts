/**
 * SSH to a RouterOS router: the one session every RouterOS call (commands, sftp) and every tunnel to a worker's
 * Data Plane API on a router opens. The key stays in memory; the router's host key is pinned, and without a pinned
 * key no session is opened unless the stack opted out (`acceptAnyHostKey`).
 *
 * Captured by the dynamic providers' closures: Node modules are required inside the functions.
 */

/** SSH access to a RouterOS router, as the stack configures it. */
export interface RouterSsh {
  host: string;
  port: number;
  user: string;
  /** The router's host key (`ssh-rsa AAAA...`, `ssh-ed25519 AAAA...`); any other key is refused. */
  hostKey?: string;
  /** Without `hostKey`: accept any host key (`hosts.<name>.insecureAcceptAnyHostKey`); else nothing connects. */
  acceptAnyHostKey?: boolean;
}

/**
 * An authenticated SSH session with a router: the stack's key held in memory (never written to disk), the
 * router's host key pinned: only the pinned key's algorithms are offered, and any other key is refused.
 * `what` names the purpose in errors ("ssh tunnel", "sftp").
 * @throws if no host key is pinned and `acceptAnyHostKey` is not set (before any connection), if SSH does not
 * connect and authenticate within `timeoutMs`, the host key does not match, or the key is unusable (no key
 * material is ever part of the message).
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
  const [keyType, keyBase64] = (router.hostKey ?? "").split(/\s+/);
  const pinned = router.hostKey ? Buffer.from(keyBase64 ?? "", "base64") : undefined;
  if (!pinned && router.acceptAnyHostKey !== true)
    throw new Error(
      `${what} through ${where}: the router's SSH host key is not pinned (hosts.<router>.hostKey); ` +
        "refusing to connect to whatever answers there",
    );
  // RFC 8332: an ssh-rsa key signs with rsa-sha2-512/256 (or SHA-1 ssh-rsa on old servers).
  type HostKeyAlgorithm = import("ssh2").ServerHostKeyAlgorithm;
  const algorithms: Record<string, HostKeyAlgorithm[]> = {
    "ssh-rsa": ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"],
    "ssh-ed25519": ["ssh-ed25519"],
    "ecdsa-sha2-nistp256": ["ecdsa-sha2-nistp256"],
  };
  const serverHostKey = pinned ? (Object.hasOwn(algorithms, keyType) ? algorithms[keyType] : []) : [];
  if (pinned && serverHostKey.length === 0)
    throw new Error(`${what} through ${where}: hosts.<router>.hostKey has an unknown key type`);
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
      // A refused handshake may be followed by the socket's own error (ECONNRESET): not an uncaught one.
      conn.on("error", () => undefined);
      conn.end();
      const why = hostKeyMismatch
        ? "the router's host key does not match hosts.<router>.hostKey"
        : pinned && /host key/i.test(e.message)
          ? `the router offers no ${keyType} host key, the type of hosts.<router>.hostKey (${e.message})`
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
              algorithms: { serverHostKey },
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
