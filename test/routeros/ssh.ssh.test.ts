/**
 * routeros/ssh.ts `connectRouter` (every RouterOS command, SFTP upload and router tunnel opens its session with
 * it) against a real OpenSSH sshd (the RouterOS simulator's, test/support/routeros-sim): a router whose host key
 * is not pinned is refused before any connection unless the stack opted out; a pinned key that does not match is
 * refused; a pinned RSA key (RouterOS' default host key type) is checked even when the server prefers ed25519,
 * because only the pinned key's algorithms are offered.
 *
 * Needs /usr/sbin/sshd; not part of the unit tier (`*.ssh.test.ts`).
 */
import { strict as assert } from "node:assert";
import * as net from "node:net";
import { connectRouter, type RouterSsh } from "../../routeros/ssh";
import { startRouterOsSim, type RouterOsSimServer } from "../support/routeros-sim/sshd";

/** `<type> <base64>` of an OpenSSH public key line. */
const keyOf = (line: string) => line.split(/\s+/).slice(0, 2).join(" ");

describe("routeros/ssh connectRouter against a real sshd: host keys (ssh)", function () {
  this.timeout(60_000);
  let sim: RouterOsSimServer;
  let other: RouterOsSimServer;
  before(async () => {
    // ed25519 and RSA host keys, as a RouterOS router that has both; a second router for keys that are not this one's.
    [sim, other] = await Promise.all([
      startRouterOsSim({ version: "7.21", rsaHostKey: true }),
      startRouterOsSim({ version: "7.21", rsaHostKey: true }),
    ]);
  });
  after(async () => {
    await Promise.all([sim?.stop(), other?.stop()]);
  });

  const router = (extra: Partial<RouterSsh>): RouterSsh => ({
    host: sim.host,
    port: sim.port,
    user: sim.user,
    ...extra,
  });

  /** Connects, runs one command, closes: the session is really usable. */
  async function run(r: RouterSsh): Promise<string> {
    const conn = await connectRouter(r, sim.privateKey, "test", 15_000);
    try {
      return await new Promise<string>((resolve, reject) => {
        conn.exec(':put "PULUMI-OK"', (err, stream) => {
          if (err) return reject(err);
          let out = "";
          stream.on("data", (d: Buffer) => (out += d.toString()));
          stream.on("close", () => resolve(out.trim()));
        });
      });
    } finally {
      conn.end();
    }
  }

  it("connects with the pinned ed25519 key, and with the pinned RSA key although the server prefers ed25519", async () => {
    assert.equal(await run(router({ hostKey: keyOf(sim.hostPublicKey) })), "PULUMI-OK");
    assert.ok(sim.hostRsaPublicKey?.startsWith("ssh-rsa "));
    assert.equal(await run(router({ hostKey: keyOf(sim.hostRsaPublicKey ?? "") })), "PULUMI-OK");
  });

  it("refuses another router's key of either type, naming the mismatch", async () => {
    for (const line of [other.hostPublicKey, other.hostRsaPublicKey ?? ""]) {
      await assert.rejects(
        connectRouter(router({ hostKey: keyOf(line) }), sim.privateKey, "test", 15_000),
        (e: Error) => {
          assert.match(e.message, /^test through .*@127\.0\.0\.1:\d+: the router's host key does not match/);
          return true;
        },
      );
    }
  });

  it("refuses a pinned key of a type the router does not offer", async () => {
    const edOnly = await startRouterOsSim({ version: "7.21" });
    try {
      await assert.rejects(
        connectRouter(
          {
            host: edOnly.host,
            port: edOnly.port,
            user: edOnly.user,
            hostKey: keyOf(sim.hostRsaPublicKey ?? ""),
          },
          edOnly.privateKey,
          "test",
          15_000,
        ),
        /the router offers no ssh-rsa host key, the type of hosts.<router>.hostKey/,
      );
    } finally {
      await edOnly.stop();
    }
  });

  it("refuses an unpinned router before opening any connection", async () => {
    // A listener that counts connections: connectRouter must not even open one.
    let connections = 0;
    const server = net.createServer((s) => {
      connections++;
      s.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as net.AddressInfo).port;
    try {
      await assert.rejects(
        connectRouter({ host: "127.0.0.1", port, user: sim.user }, sim.privateKey, "test", 5_000),
        /the router's SSH host key is not pinned \(hosts.<router>.hostKey\); refusing to connect/,
      );
      await assert.rejects(
        connectRouter(router({}), sim.privateKey, "test", 5_000),
        /host key is not pinned/,
      );
      await assert.rejects(
        connectRouter(router({ acceptAnyHostKey: false }), sim.privateKey, "test", 5_000),
        /host key is not pinned/,
      );
      assert.equal(connections, 0);
    } finally {
      server.close();
    }
  });

  it("accepts any key only with acceptAnyHostKey (hosts.<name>.insecureAcceptAnyHostKey)", async () => {
    assert.equal(await run(router({ acceptAnyHostKey: true })), "PULUMI-OK");
  });

  it("a pinned key is checked even if acceptAnyHostKey is set too", async () => {
    await assert.rejects(
      connectRouter(
        router({ hostKey: keyOf(other.hostPublicKey), acceptAnyHostKey: true }),
        sim.privateKey,
        "test",
        15_000,
      ),
      /host key does not match/,
    );
  });
});
