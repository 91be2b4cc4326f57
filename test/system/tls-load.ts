/**
 * Continuous TLS handshakes against 127.0.0.1 (full handshakes, no session reuse): counts failures and records
 * when each certificate (by serial) was first served. Bounded in time and in count.
 */
import * as tls from "node:tls";

export interface HandshakeLoadOptions {
  port: number;
  /** SNI name. */
  servername: string;
  /** Parallel handshake loops. */
  concurrency: number;
  /** Hard bounds of the run. */
  maxMs: number;
  maxHandshakes: number;
  /** Per-handshake timeout. */
  timeoutMs?: number;
}

export interface HandshakeLoadResult {
  ok: number;
  failed: number;
  /** Up to 20 distinct failure messages. */
  errors: string[];
  /** Serials in the order first seen, with the epoch ms of their first completed handshake. */
  firstSeen: { serial: string; at: number }[];
  durationMs: number;
}

export interface HandshakeLoad {
  /** Resolves with the time (epoch ms) of the first handshake that served a serial other than `serial`. */
  changedFrom(serial: string, timeoutMs: number): Promise<number>;
  /** Stops the loops and returns the totals. */
  stop(): Promise<HandshakeLoadResult>;
}

function handshake(opts: HandshakeLoadOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: "127.0.0.1",
      port: opts.port,
      servername: opts.servername,
      // Which certificate is served is what is measured; its chain is verified by the tests with openssl.
      rejectUnauthorized: false,
    });
    const timer = setTimeout(
      () => socket.destroy(new Error(`handshake timeout after ${opts.timeoutMs ?? 5000} ms`)),
      opts.timeoutMs ?? 5000,
    );
    socket.once("secureConnect", () => {
      clearTimeout(timer);
      const serial = socket.getPeerCertificate().serialNumber;
      socket.destroy();
      if (!serial) reject(new Error("no peer certificate"));
      else resolve(serial.toUpperCase());
    });
    socket.once("error", (e) => {
      clearTimeout(timer);
      socket.destroy();
      reject(e);
    });
  });
}

/** Starts the loops at once. */
export function startHandshakeLoad(opts: HandshakeLoadOptions): HandshakeLoad {
  const started = Date.now();
  const result: HandshakeLoadResult = { ok: 0, failed: 0, errors: [], firstSeen: [], durationMs: 0 };
  let stopping = false;
  const waiters: { from: string; resolve: (at: number) => void }[] = [];
  const loop = async () => {
    while (!stopping && Date.now() - started < opts.maxMs && result.ok + result.failed < opts.maxHandshakes) {
      try {
        const serial = await handshake(opts);
        const at = Date.now();
        result.ok++;
        if (!result.firstSeen.some((s) => s.serial === serial)) result.firstSeen.push({ serial, at });
        for (const w of waiters.filter((w) => w.from !== serial)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(at);
        }
      } catch (e) {
        result.failed++;
        const msg = (e as Error).message;
        if (result.errors.length < 20 && !result.errors.includes(msg)) result.errors.push(msg);
      }
    }
  };
  const loops = Array.from({ length: opts.concurrency }, () => loop());
  return {
    changedFrom(serial, timeoutMs) {
      const seen = result.firstSeen.find((s) => s.serial !== serial.toUpperCase());
      if (seen) return Promise.resolve(seen.at);
      return new Promise((resolve, reject) => {
        const w = { from: serial.toUpperCase(), resolve: (at: number) => (clearTimeout(t), resolve(at)) };
        const t = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`no certificate other than ${serial} served within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.push(w);
      });
    },
    async stop() {
      stopping = true;
      await Promise.all(loops);
      result.durationMs = Date.now() - started;
      return result;
    },
  };
}
