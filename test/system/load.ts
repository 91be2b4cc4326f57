/**
 * Bounded HTTP load through the load balancer (autocannon), shared by the system tests and the bench: every
 * error, timeout and non-2xx answer counts as a failure.
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

/** Starts a bounded load; the returned handle stops it (at the latest, it stops after `maxSeconds`). */
export function startLoad(opts: LoadOptions): RunningLoad {
  let instance: autocannon.Instance | undefined;
  const measured = new Promise<Load>((resolve, reject) => {
    instance = autocannon(
      {
        url: opts.url,
        connections: opts.connections,
        duration: opts.maxSeconds,
        headers: { host: opts.host },
        servername: opts.url.startsWith("https") ? opts.host : undefined,
        timeout: 10,
        ...(opts.overallRate ? { overallRate: opts.overallRate } : {}),
      },
      (err, result) => (err ? reject(err) : resolve(loadOf(result))),
    );
  });
  return {
    stop: () => {
      instance?.stop();
      return measured;
    },
  };
}

/** Failed requests of a load: errors, timeouts and non-2xx answers. */
export function failures(l: Load): number {
  return l.errors + l.non2xx;
}
