/**
 * Tests of dataplane/client.ts against local HTTP servers on 127.0.0.1: errors carry method, path, status and
 * DPAPI's message but never the password; every call has a timeout; calls to one endpoint never overlap; the
 * version and reload headers are read whatever their case.
 */
import { strict as assert } from "node:assert";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { DataplaneClient, isDataplaneError, serialized } from "../../dataplane/client";

const PASSWORD = "very-secret-password";

/** A throwaway server; `handler` answers each request. */
async function serve(handler: http.RequestListener): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

describe("dataplane/client", () => {
  it("sends basic auth and reads Configuration-Version and Reload-ID in any case", async () => {
    let auth = "";
    const srv = await serve((req, res) => {
      auth = req.headers.authorization ?? "";
      res.writeHead(202, {
        "content-type": "application/json",
        "configuration-version": "42",
        "RELOAD-ID": "2026-01-01-3",
      });
      res.end(JSON.stringify({ id: "t1", _version: 41, status: "success" }));
    });
    try {
      const c = new DataplaneClient({ baseUrl: `${srv.url}/`, user: "u", password: PASSWORD });
      const res = await c.request("PUT", "/services/haproxy/transactions/t1");
      assert.equal(res.version, 42);
      assert.equal(res.reloadId, "2026-01-01-3");
      assert.equal(auth, `Basic ${Buffer.from(`u:${PASSWORD}`).toString("base64")}`);
      const commit = await c.commitTransaction("t1");
      assert.equal(commit.reloadId, "2026-01-01-3");
    } finally {
      await srv.close();
    }
  });

  it("turns an error answer into a DataplaneError with method, path, status and DPAPI's message", async () => {
    const srv = await serve((_req, res) => {
      res.writeHead(409, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          code: 409,
          message: "version mismatch: version in configuration file is 8, given version is 7",
        }),
      );
    });
    try {
      const c = new DataplaneClient({ baseUrl: srv.url, user: "u", password: PASSWORD });
      const e: unknown = await c.startTransaction(7).then(
        () => undefined,
        (err: unknown) => err,
      );
      assert.ok(e instanceof Error && isDataplaneError(e));
      assert.equal(isDataplaneError(e, 406), false);
      assert.ok(isDataplaneError(e, 409));
      assert.equal(e.method, "POST");
      assert.equal(e.path, "/services/haproxy/transactions?version=7");
      assert.equal(e.status, 409);
      assert.match(e.detail, /^version mismatch/);
      assert.match(
        e.message,
        /POST \/services\/haproxy\/transactions\?version=7: HTTP 409: version mismatch/,
      );
      assert.ok(!String(e.stack).includes(PASSWORD) && !JSON.stringify(e).includes(PASSWORD));
    } finally {
      await srv.close();
    }
  });

  it("times out a request that gets no answer, with a useful message and no password", async () => {
    const srv = await serve(() => {
      // never answers
    });
    try {
      const c = new DataplaneClient({ baseUrl: srv.url, user: "u", password: PASSWORD, timeoutMs: 200 });
      const started = Date.now();
      await assert.rejects(c.version(), (e: unknown) => {
        assert.ok(isDataplaneError(e, 0), String(e));
        assert.match(
          (e as Error).message,
          /GET \/services\/haproxy\/configuration\/version: no answer: timed out after 200 ms/,
        );
        assert.ok(!(e as Error).message.includes(PASSWORD));
        return true;
      });
      assert.ok(Date.now() - started < 2000);
    } finally {
      await srv.close();
    }
  });

  it("reports a refused connection as no answer", async () => {
    const srv = await serve(() => undefined);
    const url = srv.url;
    await srv.close();
    const c = new DataplaneClient({ baseUrl: url, user: "u", password: PASSWORD, timeoutMs: 2000 });
    await assert.rejects(c.health(), /no answer: ECONNREFUSED/);
  });

  it("refuses a URL with credentials", () => {
    assert.throws(
      () => new DataplaneClient({ baseUrl: "http://a:b@127.0.0.1:1", user: "u", password: "p" }),
      /credentials/,
    );
  });

  it("never has two requests to one endpoint in flight, even from separate clients", async () => {
    let inFlight = 0;
    let max = 0;
    const srv = await serve((_req, res) => {
      inFlight++;
      max = Math.max(max, inFlight);
      setTimeout(() => {
        inFlight--;
        res.writeHead(200, { "content-type": "application/json" });
        res.end("7");
      }, 10);
    });
    try {
      const a = new DataplaneClient({ baseUrl: srv.url, user: "u", password: "p" });
      const b = new DataplaneClient({ baseUrl: srv.url, user: "u", password: "p" });
      const all = await Promise.all([...Array(10)].map((_, i) => (i % 2 ? a : b).version()));
      assert.deepEqual(all, Array(10).fill(7));
      assert.equal(max, 1);
    } finally {
      await srv.close();
    }
  });

  it("serialized(): runs calls with one key in order, goes on after a failure, keeps keys independent", async () => {
    const log: string[] = [];
    const step =
      (name: string, ms: number, fail = false) =>
      async () => {
        log.push(`start ${name}`);
        await new Promise((r) => setTimeout(r, ms));
        log.push(`end ${name}`);
        if (fail) throw new Error(name);
        return name;
      };
    const results = await Promise.allSettled([
      serialized("k", step("a", 20, true)),
      serialized("k", step("b", 1)),
      serialized("other", step("c", 1)),
    ]);
    assert.equal(results[0].status, "rejected");
    assert.deepEqual(results[1], { status: "fulfilled", value: "b" });
    assert.ok(log.indexOf("end a") < log.indexOf("start b"), log.join());
    assert.ok(log.indexOf("end c") < log.indexOf("end a"), log.join());
  });
});
