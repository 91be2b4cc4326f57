/**
 * The system tier's load generator (test/system/load.ts) against local HTTP servers: its rate, a server that says
 * `Connection: close` after every answer (as a reloading HAProxy does) costs no request and no false latency,
 * and a request the server drops without an answer, or answers slowly, is counted as it happened.
 */
import { strict as assert } from "node:assert";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { startLoad } from "./load";

describe("test/system/load: startLoad", () => {
  let server: http.Server;
  let url: string;
  let handler: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  let connections: number;

  beforeEach(async () => {
    connections = 0;
    server = http.createServer((req, res) => handler(req, res));
    server.on("connection", () => connections++);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/x`;
  });

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const run = async (rate: number | undefined, seconds: number) => {
    const l = startLoad({ url, host: "app.test", connections: 4, maxSeconds: 30, overallRate: rate });
    await new Promise((r) => setTimeout(r, seconds * 1000));
    return l.stop();
  };

  it("keeps its rate over keep-alive connections, and sends the Host it is given", async () => {
    const hosts = new Set<string | undefined>();
    handler = (req, res) => {
      hosts.add(req.headers.host);
      res.end("ok");
    };
    const l = await run(40, 1.5);
    assert.ok(l.requests >= 50 && l.requests <= 70, JSON.stringify(l));
    assert.deepEqual([l.errors, l.non2xx], [0, 0]);
    assert.deepEqual([...hosts], ["app.test"]);
    assert.equal(connections, 4, "one keep-alive connection each");
  });

  it("a server that closes after every answer (`Connection: close`) costs no request and adds no latency", async () => {
    handler = (_req, res) => {
      res.setHeader("Connection", "close");
      res.end("ok");
    };
    const l = await run(40, 1.5);
    assert.ok(l.requests >= 50, JSON.stringify(l));
    assert.deepEqual([l.errors, l.non2xx], [0, 0]);
    assert.ok(l.max_ms < 200, JSON.stringify(l));
    assert.ok(connections >= l.requests, `${connections} connections for ${l.requests} requests`);
  });

  it("counts a dropped request as an error, a slow answer at its latency, a 503 as non-2xx", async () => {
    let n = 0;
    handler = (req, res) => {
      n++;
      if (n === 3) req.socket.destroy();
      else if (n === 5) setTimeout(() => res.end("late"), 600);
      else {
        if (n === 7) res.statusCode = 503;
        res.end("ok");
      }
    };
    const l = await run(20, 1.5);
    assert.equal(l.errors, 1, JSON.stringify(l));
    assert.equal(l.non2xx, 1, JSON.stringify(l));
    assert.deepEqual(l.failed, { ECONNRESET: 1, "503": 1 });
    assert.ok(l.max_ms >= 600 && l.max_ms < 900, JSON.stringify(l));
  });

  it("without a rate, sends the next request as soon as the answer came", async () => {
    handler = (_req, res) => res.end("ok");
    const l = await run(undefined, 0.5);
    assert.ok(l.requests > 200, JSON.stringify(l));
  });
});
