/**
 * `ServiceFiles` (docker/files.ts) against a fake engine on a unix socket: the writer container it creates, the
 * archive it extracts into the volume (read back by GNU tar), its removal on success and failure, what a change
 * writes, the digest, the refused inputs, and the provider as Pulumi serializes it. The system tier runs it
 * against a real dockerd (every container of the edge gets its files this way).
 */
import { strict as assert } from "node:assert";
import { execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import { builtinModules } from "node:module";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import {
  filesDigest,
  filesInputProblems,
  serviceFilesProvider,
  writeVolumeFiles,
  type ServiceFilesInputs,
} from "../../docker/files";

/** The provider, with every method it implements. */
const fullProvider = () => serviceFilesProvider() as Required<ReturnType<typeof serviceFilesProvider>>;

describe("docker/files", () => {
  let tmp: string;
  let server: http.Server;
  let seen: { method: string; url: string; body: Buffer }[];
  /** Status of `PUT …/archive` (the extraction). */
  let archiveStatus: number;
  /** Writer containers a killed run left (what `GET /containers/json` lists). */
  let left: string[];
  let url: string;

  beforeEach(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "docker-files-"));
    seen = [];
    archiveStatus = 200;
    left = [];
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const u = (req.url ?? "").replace(/^\/v1\.41/, "");
        seen.push({ method: req.method ?? "", url: u, body: Buffer.concat(chunks) });
        const p = u.split("?")[0];
        if (req.method === "GET" && p === "/containers/json") {
          res.writeHead(200, { "Content-Type": "application/json" });
          res.end(JSON.stringify(left.map((Id) => ({ Id }))));
        } else if (req.method === "DELETE" && left.some((id) => p === `/containers/${id}`)) {
          left = left.filter((id) => p !== `/containers/${id}`);
          res.writeHead(204);
          res.end();
        } else if (req.method === "POST" && p === "/containers/create") {
          res.writeHead(201, { "Content-Type": "application/json" });
          res.end(JSON.stringify({ Id: "w1" }));
        } else if (req.method === "PUT" && p === "/containers/w1/archive") {
          res.writeHead(archiveStatus, { "Content-Type": "application/json" });
          res.end(archiveStatus === 200 ? "" : JSON.stringify({ message: "no space left on device" }));
        } else if (req.method === "DELETE" && p === "/containers/w1") {
          res.writeHead(204);
          res.end();
        } else {
          res.writeHead(404, { "Content-Type": "application/json" });
          res.end(JSON.stringify({ message: `unexpected ${req.method} ${p}` }));
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(path.join(tmp, "docker.sock"), resolve));
    url = `unix://${path.join(tmp, "docker.sock")}`;
  });

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  const inputs = (over: Partial<ServiceFilesInputs> = {}): ServiceFilesInputs => {
    const files = over.files ?? [
      { path: "haproxy.cfg", content: "global\n", mode: 0o644 },
      { path: "userlist.cfg", content: "user x password y\n", mode: 0o600 },
    ];
    return {
      endpoint: { url, sshArgs: [] },
      volume: "dev-lb-files",
      volumeId: "dev-lb-files",
      image: "sha256:abc",
      seedFiles: [{ path: "blocklist.acl", content: "# blocked\n", mode: 0o644 }],
      digest: filesDigest(files),
      ...over,
      files,
    };
  };

  /** The archive of the n-th extraction, listed by GNU tar (`mode path`), and each file's content. */
  const archive = (n = 0) => {
    const puts = seen.filter((s) => s.method === "PUT");
    const tar = path.join(tmp, `a${n}.tar`);
    fs.writeFileSync(tar, puts[n].body);
    const out = path.join(tmp, `x${n}`);
    fs.mkdirSync(out, { recursive: true });
    execFileSync("tar", ["-xf", tar, "-C", out]);
    const listing = execFileSync("tar", ["-tvf", tar], { encoding: "utf8" })
      .trim()
      .split("\n")
      .map((l) => {
        const f = l.split(/\s+/);
        return `${f[0]} ${f[f.length - 1]}`;
      });
    return { url: puts[n].url, listing, read: (p: string) => fs.readFileSync(path.join(out, p), "utf8") };
  };

  it("writes through a created, never started container with only the volume and no network, then removes it", async () => {
    await writeVolumeFiles(inputs(), inputs().files);
    assert.deepEqual(
      seen.map((s) => `${s.method} ${s.url.split("?")[0]}`),
      [
        "GET /containers/json",
        "POST /containers/create",
        "PUT /containers/w1/archive",
        "DELETE /containers/w1",
      ],
    );
    assert.equal(
      decodeURIComponent(seen[0].url.split("filters=")[1]),
      JSON.stringify({ label: ["haproxy-edge.volume=dev-lb-files"] }),
    );
    const body = JSON.parse(seen[1].body.toString()) as Record<string, unknown>;
    assert.equal(body.Image, "sha256:abc");
    assert.equal(body.NetworkDisabled, true);
    assert.deepEqual(body.HostConfig, { Binds: ["dev-lb-files:/haproxy-edge-files"], NetworkMode: "none" });
    const a = archive();
    assert.match(a.url, /path=%2Fhaproxy-edge-files$/);
    assert.deepEqual(a.listing, ["-rw-r--r-- haproxy.cfg", "-rw------- userlist.cfg"]);
    assert.equal(a.read("userlist.cfg"), "user x password y\n");
    assert.match(seen[3].url, /force=1/);
  });

  it("a failed extraction fails naming the volume, the engine and its words, and still removes the writer", async () => {
    archiveStatus = 500;
    await assert.rejects(writeVolumeFiles(inputs(), inputs().files), (e: Error) => {
      assert.match(
        e.message,
        /^files of volume dev-lb-files on unix:\/\/.*: docker PUT .*HTTP 500: no space left/,
      );
      return true;
    });
    assert.equal(seen.at(-1)?.method, "DELETE");
  });

  it("create writes the seed files and the files; an update only the files; a seed-only change is no change", async () => {
    const p = fullProvider();
    const created = await p.create(inputs());
    assert.equal(created.id, "dev-lb-files");
    assert.deepEqual(archive(0).listing, [
      "-rw-r--r-- blocklist.acl",
      "-rw-r--r-- haproxy.cfg",
      "-rw------- userlist.cfg",
    ]);
    // No content in the state: secret files stay out of it.
    assert.ok(created.outs && !JSON.stringify(created.outs).includes("password y"));
    assert.deepEqual(created.outs.paths, ["haproxy.cfg", "userlist.cfg"]);

    const changed = inputs({
      files: [{ path: "haproxy.cfg", content: "global\n  maxconn 9\n", mode: 0o644 }],
    });
    const seedOnly = {
      ...inputs(),
      seedFiles: [{ path: "blocklist.acl", content: "10.0.0.0/8\n", mode: 0o644 }],
    };
    assert.equal((await p.diff("id", created.outs as never, seedOnly)).changes, false);
    const d = await p.diff("id", created.outs as never, changed);
    assert.deepEqual([d.changes, d.replaces], [true, []]);
    assert.deepEqual((await p.diff("id", created.outs as never, { ...changed, volumeId: "new" })).replaces, [
      "volumeId",
    ]);
    await p.update("id", created.outs as never, changed);
    const updated = archive(1);
    assert.deepEqual(updated.listing, ["-rw-r--r-- haproxy.cfg"]);
    assert.equal(updated.read("haproxy.cfg"), "global\n  maxconn 9\n");
  });

  it("removes the writers a killed run left for the volume, before a write and when deleted", async () => {
    left = ["stale1", "stale2"];
    await writeVolumeFiles(inputs(), inputs().files);
    assert.deepEqual(left, []);
    left = ["stale3"];
    await fullProvider().delete("dev-lb-files", { ...inputs(), paths: [], seedPaths: [] } as never);
    assert.deepEqual(left, []);
  });

  it("the digest: in path order, and changed by a path, a mode or a byte", () => {
    const a = [
      { path: "a", content: "1", mode: 0o644 },
      { path: "b", content: "2", mode: 0o600 },
    ];
    assert.equal(filesDigest(a), filesDigest([...a].reverse()));
    assert.match(filesDigest(a), /^[0-9a-f]{64}$/);
    for (const other of [
      [{ ...a[0], content: "1 " }, a[1]],
      [{ ...a[0], mode: 0o600 }, a[1]],
      [{ ...a[0], path: "c" }, a[1]],
      // The boundary between path and content cannot be shifted.
      [{ path: "a1", content: "", mode: 0o644 }, a[1]],
    ])
      assert.notEqual(filesDigest(other), filesDigest(a));
  });

  it("refuses paths outside the volume, a file written twice and a digest that is not the files'", async () => {
    const bad = inputs({
      files: [
        { path: "/etc/passwd", content: "", mode: 0o644 },
        { path: "a/../../x", content: "", mode: 0o644 },
        { path: "blocklist.acl", content: "", mode: 0o644 },
      ],
    });
    assert.deepEqual(
      filesInputProblems(bad).map((p) => p.property),
      ["files[0].path", "files[1].path", "seedFiles[0].path"],
    );
    const p = fullProvider();
    const check = await p.check(inputs(), { ...inputs(), digest: "0".repeat(64) });
    assert.deepEqual(check.failures, [{ property: "digest", reason: "is not the digest of files" }]);
    assert.deepEqual((await p.check(inputs(), inputs())).failures, []);
    // A preview of a new stack: a content (a generated certificate) and so the digest are not known yet.
    const unknown = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
    const preview = inputs({ files: [{ path: "placeholder.pem", content: unknown, mode: 0o600 }] });
    assert.deepEqual((await p.check(preview, { ...preview, digest: unknown })).failures, []);
  });

  it("serializes like pulumi.dynamic.Resource and writes when loaded by Node's module loader in a plain node", async function () {
    this.timeout(60_000);
    const provider = serviceFilesProvider();
    const sf = await pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true });
    const requires = [...sf.text.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1]);
    assert.deepEqual(
      requires.filter((r) => !r.startsWith("node:") && !builtinModules.includes(r)),
      [],
      "only Node built-ins are required at run time",
    );
    const file = path.join(tmp, "provider.js");
    fs.writeFileSync(file, sf.text);
    const script = `
      const requireFromString = require(${JSON.stringify(require.resolve("require-from-string"))});
      const provider = requireFromString(require("node:fs").readFileSync(${JSON.stringify(file)}, "utf8")).handler();
      provider.create(JSON.parse(process.argv[1])).then((r) => process.stdout.write(JSON.stringify(r)),
        (e) => { process.stderr.write(String(e && e.stack || e)); process.exit(1); });`;
    // Asynchronous: the fake engine runs in this process.
    const child = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const c = spawn(process.execPath, ["-e", script, JSON.stringify(inputs())]);
      let stdout = "";
      let stderr = "";
      c.stdout.on("data", (d: Buffer) => (stdout += d));
      c.stderr.on("data", (d: Buffer) => (stderr += d));
      c.on("close", (code: number | null) => resolve({ code, stdout, stderr }));
    });
    assert.equal(child.code, 0, child.stderr);
    assert.equal((JSON.parse(child.stdout) as { id: string }).id, "dev-lb-files");
    assert.equal(archive(0).listing.length, 3);
  });
});
