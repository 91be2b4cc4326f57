/**
 * Bounded HTTP load through the load balancer, shared by the system tests and the bench: every error, timeout and
 * non-2xx answer counts as a failure. `startLoad` is a keep-alive client of our own (see there why not autocannon);
 * `loadOf` reads the bench's autocannon throughput runs, where the server never closes a connection.
 */
import autocannon from "autocannon";

/** What a load run measured. */
export interface Load {
  rps: number;
  p50_ms: number;
  p99_ms: number;
  /** The slowest request: a multi-second stall shows here, whatever the percentiles say. */
  max_ms: number;
  /** Connection errors and timeouts. */
  errors: number;
  non2xx: number;
  requests: number;
  /** The failed requests by status code or error (`404`, `ECONNRESET`, `timeout`), where the generator knows. */
  failed?: Record<string, number>;
}

/** autocannon's result in our terms. */
export function loadOf(result: autocannon.Result): Load {
  return {
    rps: result.requests.average,
    p50_ms: result.latency.p50,
    p99_ms: result.latency.p99,
    max_ms: result.latency.max,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    requests: result.requests.total,
  };
}

/** Options of {@link startLoad}. */
export interface LoadOptions {
  url: string;
  /** `Host` and SNI. */
  host: string;
  connections: number;
  /** Stops by itself after this long (the bound), unless stopped first. */
  maxSeconds: number;
  /** Requests per second over all connections (unbounded if absent). */
  overallRate?: number;
}

/** A running load: `stop()` ends it and gives what it measured. */
export interface RunningLoad {
  stop(): Promise<Load>;
}

/**
 * Starts a bounded load; the returned handle stops it (at the latest, it stops after `maxSeconds`).
 *
 * Each connection is a keep-alive client of its own (Node's https, one socket) that sends one request at a time:
 * at its share of `overallRate`, else as soon as the last answer came. It honours `Connection: close` (HAProxy says
 * it on a keep-alive connection of a process that is reloading) and opens a new connection for the next request,
 * as browsers and HTTP libraries do. Every request counts: an answer (2xx or not), or an error or timeout.
 *
 * Not autocannon: at a fixed rate it keeps sending on a connection the server closes after saying
 * `Connection: close`, loses that request without counting it, and matches every later answer on the connection
 * with an older request (autocannon 9.0.0, lib/httpClient.js: the pending queue is kept across the reconnect): after
 * each reload, latencies of a whole second and more that no client saw.
 */
export function startLoad(opts: LoadOptions): RunningLoad {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const https = require("node:https") as typeof import("node:https");
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const http = require("node:http") as typeof import("node:http");
  const url = new URL(opts.url);
  const client = url.protocol === "https:" ? https : http;
  const latencies: number[] = [];
  let errors = 0;
  let non2xx = 0;
  const failed: Record<string, number> = {};
  const fail = (why: string) => (failed[why] = (failed[why] ?? 0) + 1);
  let stopped = false;
  const started = performance.now();
  const deadline = started + opts.maxSeconds * 1000;
  // Seconds between two requests of one connection (none: as soon as the last answer came).
  const interval = opts.overallRate ? (opts.connections / opts.overallRate) * 1000 : 0;
  const wake: (() => void)[] = [];
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        const i = wake.indexOf(done);
        if (i >= 0) wake.splice(i, 1);
        resolve();
      }
      wake.push(done);
    });
  const one = (agent: import("node:http").Agent) =>
    new Promise<void>((resolve) => {
      const t0 = performance.now();
      const req = client.request(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname + url.search,
          method: "GET",
          agent,
          headers: { host: opts.host },
          servername: opts.host,
          rejectUnauthorized: false,
          timeout: REQUEST_TIMEOUT_MS,
        },
        (res) => {
          res.on("data", () => undefined);
          res.on("error", (e: NodeJS.ErrnoException) => {
            errors++;
            fail(e.code ?? e.message);
            resolve();
          });
          res.on("end", () => {
            latencies.push(performance.now() - t0);
            const status = res.statusCode ?? 0;
            if (status < 200 || status > 299) {
              non2xx++;
              fail(String(status));
            }
            resolve();
          });
        },
      );
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", (e: NodeJS.ErrnoException) => {
        errors++;
        fail(e.code ?? e.message);
        resolve();
      });
      req.end();
    });
  const connection = async (i: number) => {
    const agent = new client.Agent({ keepAlive: true, maxSockets: 1 });
    // Spread the connections over one interval, so the rate is even.
    let next = started + (interval * i) / opts.connections;
    try {
      while (!stopped && performance.now() < deadline) {
        const wait = next - performance.now();
        if (wait > 0) await pause(wait);
        if (stopped) break;
        next = Math.max(next + interval, performance.now());
        await one(agent);
      }
    } finally {
      agent.destroy();
    }
  };
  const running = Promise.all(Array.from({ length: opts.connections }, (_, i) => connection(i)));
  return {
    stop: async () => {
      stopped = true;
      for (const w of [...wake]) w();
      await running;
      const seconds = (performance.now() - started) / 1000;
      const sorted = [...latencies].sort((a, b) => a - b);
      const at = (q: number) =>
        sorted.length ? Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]) : 0;
      return {
        rps: Math.round((latencies.length / seconds) * 10) / 10,
        p50_ms: at(0.5),
        p99_ms: at(0.99),
        max_ms: sorted.length ? Math.round(sorted[sorted.length - 1]) : 0,
        errors,
        non2xx,
        requests: latencies.length + errors,
        failed,
      };
    },
  };
}

/** A request without an answer after this long is an error (as autocannon's `timeout: 10`). */
const REQUEST_TIMEOUT_MS = 10_000;

/** Failed requests of a load: errors, timeouts and non-2xx answers. */
export function failures(l: Load): number {
  return l.errors + l.non2xx;
}
