/**
 * A minimal Docker Engine API client over the engine's unix socket (the system tier's own dockerd): JSON
 * requests with a timeout and errors that name the call and the engine's message.
 */
import * as http from "node:http";

/** The engine API version used by every call (dockerd 20.10 speaks 1.41). */
export const API_VERSION = "v1.41";

export class DockerApiError extends Error {
  constructor(
    public readonly method: string,
    public readonly path: string,
    public readonly status: number,
    message: string,
  ) {
    super(`docker ${method} ${path}: HTTP ${status}: ${message}`);
  }
}

export interface DockerRequest {
  method: "GET" | "POST" | "PUT" | "DELETE";
  path: string;
  /** JSON body, or raw bytes with `contentType`. */
  body?: unknown;
  contentType?: string;
  timeoutMs?: number;
}

/** One engine API client per socket. */
export class DockerApi {
  constructor(public readonly socketPath = "/var/run/docker.sock") {}

  /** `unix:///var/run/docker.sock` → client; any other Docker host URL is refused. */
  static fromHostUrl(url: string): DockerApi {
    const m = /^unix:\/\/(\/.+)$/.exec(url);
    if (!m) throw new Error(`the system tier drives local Docker engines only (unix://), not ${url}`);
    return new DockerApi(m[1]);
  }

  /** Sends a request; resolves with the parsed JSON body (or the text, or undefined when empty). */
  request<T = unknown>(req: DockerRequest): Promise<T> {
    const timeoutMs = req.timeoutMs ?? 30_000;
    const raw = Buffer.isBuffer(req.body);
    const payload =
      req.body === undefined ? undefined : raw ? (req.body as Buffer) : Buffer.from(JSON.stringify(req.body));
    return new Promise<T>((resolve, reject) => {
      const r = http.request(
        {
          socketPath: this.socketPath,
          method: req.method,
          path: `/${API_VERSION}${req.path}`,
          headers: {
            Host: "docker",
            ...(payload
              ? { "Content-Type": req.contentType ?? "application/json", "Content-Length": payload.length }
              : {}),
          },
          timeout: timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            const status = res.statusCode ?? 0;
            let parsed: unknown = undefined;
            if (text) {
              try {
                parsed = JSON.parse(text);
              } catch {
                parsed = text;
              }
            }
            if (status >= 400) {
              const message =
                parsed && typeof parsed === "object" && "message" in parsed
                  ? String((parsed as { message: unknown }).message)
                  : text.trim();
              reject(new DockerApiError(req.method, req.path, status, message));
            } else resolve(parsed as T);
          });
          res.on("error", reject);
        },
      );
      r.on("timeout", () =>
        r.destroy(new Error(`docker ${req.method} ${req.path}: no answer within ${timeoutMs} ms`)),
      );
      r.on("error", (e) =>
        reject(
          e.message.startsWith("docker ")
            ? e
            : new Error(`docker ${req.method} ${req.path} via ${this.socketPath}: ${e.message}`),
        ),
      );
      if (payload) r.write(payload);
      r.end();
    });
  }

  /** The raw multiplexed log stream of a container, decoded to text (last `tail` lines). */
  async logs(id: string, tail = 50): Promise<string> {
    const buf = await new Promise<Buffer>((resolve, reject) => {
      const r = http.request(
        {
          socketPath: this.socketPath,
          method: "GET",
          path: `/${API_VERSION}/containers/${encodeURIComponent(id)}/logs?stdout=1&stderr=1&tail=${tail}`,
          headers: { Host: "docker" },
          timeout: 10_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve(Buffer.concat(chunks)));
          res.on("error", reject);
        },
      );
      r.on("timeout", () => r.destroy(new Error("docker logs: timeout")));
      r.on("error", reject);
      r.end();
    });
    // Frames: 1 byte stream, 3 zero bytes, 4 bytes big-endian length, payload.
    const out: string[] = [];
    for (let i = 0; i + 8 <= buf.length;) {
      const len = buf.readUInt32BE(i + 4);
      out.push(buf.subarray(i + 8, i + 8 + len).toString("utf8"));
      i += 8 + len;
    }
    return out.join("");
  }
}

/** Builds a ustar archive of regular files (root-owned), the body of `PUT /containers/{id}/archive`. */
export function tarFiles(files: { path: string; content: Buffer; mode: number }[]): Buffer {
  const blocks: Buffer[] = [];
  for (const f of files) {
    const name = f.path.replace(/^\/+/, "");
    const header = Buffer.alloc(512, 0);
    let prefix = "";
    let base = name;
    if (Buffer.byteLength(name) > 100) {
      const cut = name.lastIndexOf("/", 155);
      prefix = name.slice(0, cut);
      base = name.slice(cut + 1);
      if (cut < 0 || Buffer.byteLength(base) > 100) throw new Error(`tar: path too long: ${f.path}`);
    }
    const field = (value: string, offset: number, length: number) =>
      header.write(value, offset, length, "utf8");
    const octal = (value: number, offset: number, length: number) =>
      field(value.toString(8).padStart(length - 1, "0") + "\0", offset, length);
    field(base, 0, 100);
    octal(f.mode & 0o7777, 100, 8);
    octal(0, 108, 8); // uid
    octal(0, 116, 8); // gid
    octal(f.content.length, 124, 12);
    octal(0, 136, 12); // mtime: deterministic
    header.fill(" ", 148, 156); // checksum placeholder
    field("0", 156, 1); // regular file
    field("ustar\0", 257, 6);
    field("00", 263, 2);
    field(prefix, 345, 155);
    let sum = 0;
    for (const b of header) sum += b;
    field(sum.toString(8).padStart(6, "0") + "\0 ", 148, 8);
    blocks.push(header, f.content, Buffer.alloc((512 - (f.content.length % 512)) % 512, 0));
  }
  blocks.push(Buffer.alloc(1024, 0));
  return Buffer.concat(blocks);
}
