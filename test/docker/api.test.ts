/**
 * The Docker Engine API client (docker/api.ts) against a fake engine on a unix socket: requests, exec, archive
 * uploads, errors and timeouts; the tar archives it builds, read back by GNU tar; the ssh transport's command
 * line. The system tier drives a real dockerd with it.
 */
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { DockerApi, demux, dialStdioArgs, tarFiles } from "../../docker/api";

/** One frame of Docker's multiplexed stream. */
function frame(stream: number, text: string): Buffer {
  const head = Buffer.alloc(8, 0);
  head[0] = stream;
  head.writeUInt32BE(Buffer.byteLength(text), 4);
  return Buffer.concat([head, Buffer.from(text)]);
}

describe("docker/api", () => {
  let tmp: string;
  let server: http.Server;
  let seen: { method: string; url: string; body: Buffer }[];
  let api: DockerApi;
  /** Per `METHOD path` (without the version prefix and query): status and body, or no answer at all. */
  let routes: Record<string, { status: number; body: Buffer | string } | "hang">;

  beforeEach(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "docker-api-"));
    seen = [];
    routes = {};
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const url = req.url ?? "";
        seen.push({ method: req.method ?? "", url, body: Buffer.concat(chunks) });
        const key = `${req.method} ${url.replace(/^\/v1\.41/, "").split("?")[0]}`;
        const r = routes[key];
        if (r === "hang") return;
        if (!r) {
          res.writeHead(404, { "Content-Type": "application/json" });
          res.end(JSON.stringify({ message: `No such container: ${key}` }));
          return;
        }
        res.writeHead(r.status);
        res.end(r.body);
      });
    });
    await new Promise<void>((resolve) => server.listen(path.join(tmp, "docker.sock"), resolve));
    api = new DockerApi({ url: `unix://${path.join(tmp, "docker.sock")}` });
  });

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("runs a command with exec: create, start (the multiplexed output split), then its exit code", async () => {
    routes["POST /containers/lb/exec"] = { status: 201, body: JSON.stringify({ Id: "e1" }) };
    routes["POST /exec/e1/start"] = {
      status: 200,
      body: Buffer.concat([frame(1, "unch"), frame(2, "a warning\n"), frame(1, "anged\n")]),
    };
    routes["GET /exec/e1/json"] = { status: 200, body: JSON.stringify({ ExitCode: 3, Running: false }) };
    const r = await api.exec("lb", ["sh", "-c", "echo hi", "x"]);
    assert.deepEqual(r, { exitCode: 3, stdout: "unchanged\n", stderr: "a warning\n" });
    assert.deepEqual(JSON.parse(seen[0].body.toString()), {
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
      Cmd: ["sh", "-c", "echo hi", "x"],
    });
    assert.deepEqual(JSON.parse(seen[1].body.toString()), { Detach: false, Tty: false });
  });

  it("uploads an archive into a directory of the container", async () => {
    routes["PUT /containers/lb/archive"] = { status: 200, body: "" };
    const tar = tarFiles([{ path: "a.next", content: Buffer.from("x"), mode: 0o644 }]);
    await api.putArchive("lb", "/usr/local/etc/haproxy-edge", tar);
    assert.equal(seen[0].url, "/v1.41/containers/lb/archive?path=%2Fusr%2Flocal%2Fetc%2Fhaproxy-edge");
    assert.deepEqual(seen[0].body, tar);
  });

  it("names the call, the engine and the engine's message in an error", async () => {
    await assert.rejects(
      api.exec("gone", ["true"]),
      (e: Error) =>
        /docker POST \/containers\/gone\/exec: HTTP 404: No such container/.test(e.message) ||
        assert.fail(e.message),
    );
  });

  it("gives up on an engine that does not answer, saying how long it waited", async () => {
    routes["GET /info"] = "hang";
    await assert.rejects(
      api.request({ method: "GET", path: "/info", timeoutMs: 200 }),
      (e: Error) =>
        /docker GET \/info on unix:\/\/.*: no answer within 200 ms/.test(e.message) || assert.fail(e.message),
    );
  });

  it("says where it could not connect", async () => {
    const none = new DockerApi({ url: `unix://${path.join(tmp, "none.sock")}` });
    await assert.rejects(
      none.request({ method: "GET", path: "/info" }),
      (e: Error) =>
        /docker GET \/info on unix:\/\/.*none\.sock: connect ENOENT/.test(e.message) ||
        assert.fail(e.message),
    );
  });

  it("refuses a url that is neither unix:// nor ssh://", () => {
    assert.throws(() => new DockerApi({ url: "tcp://10.0.0.1:2375" }), /must be unix:\/\/\/… or ssh:\/\/…/);
  });

  describe("over ssh (a fake `ssh` on PATH)", () => {
    let path0: string | undefined;
    beforeEach(() => {
      path0 = process.env.PATH;
      fs.mkdirSync(path.join(tmp, "bin"));
      process.env.PATH = `${path.join(tmp, "bin")}:${path0}`;
    });
    afterEach(() => {
      process.env.PATH = path0;
    });
    const fakeSsh = (body: string) =>
      fs.writeFileSync(path.join(tmp, "bin", "ssh"), `#!/bin/sh\n${body}\n`, { mode: 0o755 });

    it("speaks HTTP over the stdio of `ssh … docker system dial-stdio`", async () => {
      // Pipes its stdio to the fake engine's socket, as dial-stdio does to dockerd's.
      fakeSsh(
        `exec node -e 'const s = require("net").connect(${JSON.stringify(path.join(tmp, "docker.sock"))}); process.stdin.pipe(s); s.pipe(process.stdout); s.on("close", () => process.exit(0));'`,
      );
      routes["POST /containers/lb/exec"] = { status: 201, body: JSON.stringify({ Id: "e1" }) };
      routes["POST /exec/e1/start"] = { status: 200, body: frame(1, "over ssh\n") };
      routes["GET /exec/e1/json"] = { status: 200, body: JSON.stringify({ ExitCode: 0, Running: false }) };
      const r = await new DockerApi({ url: "ssh://root@docker-1.lan", sshArgs: [] }).exec("lb", ["true"]);
      assert.deepEqual(r, { exitCode: 0, stdout: "over ssh\n", stderr: "" });
    });

    it("fails with ssh's own words (a host key that is not the pinned one), every time", async () => {
      fakeSsh('echo "Host key verification failed." >&2\nexit 255');
      const api = new DockerApi({ url: "ssh://root@docker-1.lan", sshArgs: [] });
      for (let i = 0; i < 5; i++)
        await assert.rejects(
          api.exec("lb", ["true"], 10_000),
          (e: Error) =>
            /on ssh:\/\/root@docker-1\.lan: ssh: Host key verification failed\./.test(e.message) ||
            assert.fail(e.message),
        );
    });
  });

  it("reaches an ssh:// host with `docker system dial-stdio`, in batch mode, with the host's ssh arguments", () => {
    assert.deepEqual(dialStdioArgs("ssh://deploy@docker-1.lan:2222", ["-o", "StrictHostKeyChecking=yes"]), [
      "-o",
      "BatchMode=yes",
      "-o",
      "ConnectTimeout=15",
      "-o",
      "StrictHostKeyChecking=yes",
      "-p",
      "2222",
      "--",
      "deploy@docker-1.lan",
      "docker",
      "system",
      "dial-stdio",
    ]);
    assert.deepEqual(dialStdioArgs("ssh://docker-1.lan").slice(-4), [
      "docker-1.lan",
      "docker",
      "system",
      "dial-stdio",
    ]);
  });

  it("splits a multiplexed stream into its frames", () => {
    assert.deepEqual(demux(Buffer.concat([frame(1, "out"), frame(2, "err")])), [
      { stream: 1, text: "out" },
      { stream: 2, text: "err" },
    ]);
  });

  it("builds tar archives GNU tar reads back byte for byte, modes and long paths included", () => {
    const long = `${"d".repeat(60)}/${"e".repeat(60)}/file.cfg`;
    const files = [
      { path: "haproxy.cfg.next", content: Buffer.from("global\n"), mode: 0o644 },
      { path: "empty", content: Buffer.alloc(0), mode: 0o600 },
      { path: long, content: Buffer.alloc(1500, "x"), mode: 0o755 },
    ];
    const out = path.join(tmp, "out");
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(tmp, "a.tar"), tarFiles(files));
    execFileSync("tar", ["-xf", path.join(tmp, "a.tar"), "-C", out, "--no-same-owner"]);
    for (const f of files) {
      const p = path.join(out, f.path);
      assert.deepEqual(fs.readFileSync(p), f.content, f.path);
      assert.equal(fs.statSync(p).mode & 0o777, f.mode, f.path);
    }
  });
});
