/**
 * A small Docker Engine API client: JSON requests, files into a container (`PUT /containers/{id}/archive`) and
 * commands in it (exec), over the engine's unix socket or, for an `ssh://` host, over
 * `ssh … docker system dial-stdio` with the host's own `ssh` arguments (so its pinned host key is checked, as the
 * Docker provider's transport does). Every call has a timeout, and its errors name the call and the engine's
 * message.
 *
 * Hand-written rather than dockerode: dockerode's SSH transport is the ssh2 library, which reads neither
 * OpenSSH's known_hosts nor the stack's `sshOpts`.
 *
 * Node's modules are `require`d inside the functions: the load balancer's dynamic provider (docker/lb-live.ts)
 * uses this client, and Pulumi's closure serializer captures what its functions reference.
 */
import type * as http from "node:http";
import type * as net from "node:net";

/** The engine API version of every call (dockerd 20.10 and later speak 1.41). */
export const API_VERSION = "v1.41";

/** How the engine is reached: a Docker host's `url` (`unix:///…` or `ssh://user@host[:port]`) and ssh arguments. */
export interface DockerEndpoint {
  url: string;
  /** `ssh` arguments for an `ssh://` url (`BatchMode=yes` is always added). */
  sshArgs?: string[];
}

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
  method: "GET" | "POST" | "PUT" | "DELETE" | "HEAD";
  path: string;
  /** JSON body, or raw bytes with `contentType`. */
  body?: unknown;
  contentType?: string;
  timeoutMs?: number;
}

/** What a command run with {@link DockerApi.exec} did. */
export interface ExecOutcome {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** `ssh://user@host:port` → the ssh target and port. */
export function parseSshUrl(url: string): { target: string; port?: string } {
  const m = /^ssh:\/\/((?:[^@/]+@)?[^/:]+)(?::(\d+))?$/.exec(url);
  if (!m) throw new Error(`not an ssh:// Docker host url: ${url}`);
  return { target: m[1], port: m[2] };
}

/** The `ssh` command line that opens the engine's API on an `ssh://` host. */
export function dialStdioArgs(url: string, sshArgs: readonly string[] = []): string[] {
  const { target, port } = parseSshUrl(url);
  return [
    "-o",
    "BatchMode=yes",
    "-o",
    "ConnectTimeout=15",
    ...sshArgs,
    ...(port ? ["-p", port] : []),
    "--",
    target,
    "docker",
    "system",
    "dial-stdio",
  ];
}

/** One client per engine. */
export class DockerApi {
  private readonly socketPath?: string;
  private readonly ssh?: string[];

  constructor(public readonly endpoint: DockerEndpoint = { url: "unix:///var/run/docker.sock" }) {
    const unix = /^unix:\/\/(\/.+)$/.exec(endpoint.url);
    if (unix) this.socketPath = unix[1];
    else if (endpoint.url.startsWith("ssh://")) this.ssh = dialStdioArgs(endpoint.url, endpoint.sshArgs);
    else throw new Error(`Docker host url must be unix:///… or ssh://…, not ${endpoint.url}`);
  }

  /** Where the engine is, for messages. */
  get where(): string {
    return this.endpoint.url;
  }

  /**
   * A connection to the engine: its socket, or the stdio of `ssh … docker system dial-stdio`. For ssh, `onSshEnd`
   * gets why ssh failed (its standard error), or undefined, once it has exited and its output is read.
   */
  private connect(onSshEnd: (why: string | undefined) => void): http.RequestOptions {
    if (this.socketPath) return { socketPath: this.socketPath };
    const args = this.ssh ?? [];
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { spawn } = require("node:child_process") as typeof import("node:child_process");
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { Duplex } = require("node:stream") as typeof import("node:stream");
    return {
      createConnection: () => {
        const child = spawn("ssh", args, { stdio: ["pipe", "pipe", "pipe"] });
        const stderr: Buffer[] = [];
        child.stderr.on("data", (c: Buffer) => stderr.push(c));
        const stream = Duplex.from({ readable: child.stdout, writable: child.stdin });
        // "close": exited, and its standard error read to the end.
        child.on("close", (code) => {
          const why = Buffer.concat(stderr).toString("utf8").trim();
          onSshEnd(code === 0 ? undefined : why || `ssh exited with ${code}`);
        });
        child.on("error", (e) => onSshEnd(`cannot run ssh: ${e.message}`));
        // A write to an ssh that already exited is its failure, reported once it has closed.
        child.stdin.on("error", () => undefined);
        stream.on("close", () => child.kill());
        return stream as unknown as net.Socket;
      },
    };
  }

  /** Sends a request; the raw response body. Errors name the call, the engine and its message. */
  private send(req: DockerRequest): Promise<{ status: number; body: Buffer }> {
    const timeoutMs = req.timeoutMs ?? 30_000;
    const raw = Buffer.isBuffer(req.body);
    const payload =
      req.body === undefined ? undefined : raw ? (req.body as Buffer) : Buffer.from(JSON.stringify(req.body));
    const call = `docker ${req.method} ${req.path.split("?")[0]} on ${this.where}`;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const http = require("node:http") as typeof import("node:http");
    return new Promise((resolve, reject) => {
      let sshWhy: string | undefined;
      // Resolved when ssh has ended (at once for a unix socket): an error of the request waits for its reason.
      let sshEnded: () => void = () => undefined;
      const sshEnd = this.ssh ? new Promise<void>((resolve) => (sshEnded = resolve)) : Promise.resolve();
      let settled = false;
      let timer: NodeJS.Timeout | undefined = undefined;
      const fail = (e: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(e);
      };
      const r = http.request(
        {
          ...this.connect((why) => {
            sshWhy = why;
            sshEnded();
          }),
          method: req.method,
          path: `/${API_VERSION}${req.path}`,
          headers: {
            Host: "docker",
            ...(payload
              ? { "Content-Type": req.contentType ?? "application/json", "Content-Length": payload.length }
              : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) });
          });
          res.on("error", (e) => fail(new Error(`${call}: ${e.message}`)));
        },
      );
      timer = setTimeout(() => {
        r.destroy();
        fail(new Error(`${call}: no answer within ${timeoutMs} ms${sshWhy ? ` (ssh: ${sshWhy})` : ""}`));
      }, timeoutMs);
      r.on("error", (e) => {
        // The connection's own error ("socket hang up", EPIPE) hides why ssh failed: wait (briefly) for ssh's words.
        const grace = new Promise<void>((resolve) => setTimeout(resolve, 5_000).unref());
        void Promise.race([sshEnd, grace]).then(() =>
          fail(new Error(`${call}: ${sshWhy ? `ssh: ${sshWhy}` : e.message}`)),
        );
      });
      if (payload) r.write(payload);
      r.end();
    });
  }

  /** Sends a request; resolves with the parsed JSON body (or the text, or undefined when empty). */
  async request<T = unknown>(req: DockerRequest): Promise<T> {
    const { status, body } = await this.send(req);
    const text = body.toString("utf8");
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
      throw new DockerApiError(req.method, req.path.split("?")[0], status, message);
    }
    return parsed as T;
  }

  /** The last `tail` lines of a container's log, as text. */
  async logs(id: string, tail = 50): Promise<string> {
    const { status, body } = await this.send({
      method: "GET",
      path: `/containers/${encodeURIComponent(id)}/logs?stdout=1&stderr=1&tail=${tail}`,
      timeoutMs: 10_000,
    });
    if (status >= 400)
      throw new DockerApiError("GET", `/containers/${id}/logs`, status, body.toString("utf8"));
    return demux(body)
      .map((f) => f.text)
      .join("");
  }

  /** Extracts a tar archive into `dir` of a container (created or running). */
  async putArchive(container: string, dir: string, tar: Buffer, timeoutMs = 30_000): Promise<void> {
    await this.request({
      method: "PUT",
      path: `/containers/${encodeURIComponent(container)}/archive?path=${encodeURIComponent(dir)}`,
      body: tar,
      contentType: "application/x-tar",
      timeoutMs,
    });
  }

  /** Runs `cmd` (no shell) in a running container; its exit code and output. */
  async exec(container: string, cmd: string[], timeoutMs = 60_000): Promise<ExecOutcome> {
    const created = await this.request<{ Id: string }>({
      method: "POST",
      path: `/containers/${encodeURIComponent(container)}/exec`,
      body: { AttachStdout: true, AttachStderr: true, Tty: false, Cmd: cmd },
      timeoutMs,
    });
    const { status, body } = await this.send({
      method: "POST",
      path: `/exec/${created.Id}/start`,
      body: { Detach: false, Tty: false },
      timeoutMs,
    });
    if (status >= 400) throw new DockerApiError("POST", "/exec/{id}/start", status, body.toString("utf8"));
    const frames = demux(body);
    const inspect = await this.request<{ ExitCode: number | null; Running: boolean }>({
      method: "GET",
      path: `/exec/${created.Id}/json`,
      timeoutMs,
    });
    return {
      exitCode: inspect.ExitCode ?? -1,
      stdout: frames
        .filter((f) => f.stream !== 2)
        .map((f) => f.text)
        .join(""),
      stderr: frames
        .filter((f) => f.stream === 2)
        .map((f) => f.text)
        .join(""),
    };
  }
}

/** Docker's multiplexed stream: frames of 1 byte stream id, 3 zero bytes, a 4-byte big-endian length, the bytes. */
export function demux(buf: Buffer): { stream: number; text: string }[] {
  const out: { stream: number; text: string }[] = [];
  for (let i = 0; i + 8 <= buf.length;) {
    const len = buf.readUInt32BE(i + 4);
    out.push({ stream: buf[i], text: buf.subarray(i + 8, i + 8 + len).toString("utf8") });
    i += 8 + len;
  }
  return out;
}

/** Builds a ustar archive of regular files (root-owned, mtime 0), the body of `PUT /containers/{id}/archive`. */
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
