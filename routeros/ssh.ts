/**
 * SSH to a RouterOS router: the one session every RouterOS call (commands, sftp) and every tunnel to a worker's
 * Data Plane API on a router opens. The key stays in memory; the router's host key is pinned when known.
 *
 * Captured by the dynamic providers' closures: Node modules are required inside the functions.
 */

/** SSH access to a RouterOS router, as the stack configures it. */
export interface RouterSsh {
  host: string;
  port: number;
  user: string;
  /** The router's host key (`ssh-ed25519 AAAA...`); when given, any other key is refused. */
  hostKey?: string;
}

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
