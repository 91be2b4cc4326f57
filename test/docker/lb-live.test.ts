/**
 * The load balancer's live files (docker/lb-live.ts): input checks, the files an apply writes, the diff, and the
 * apply script (templates/lb-apply.sh.mustache) run under dash against fake runtime and master sockets and a fake
 * `haproxy -c`. The system tier proves the same with the real HAProxy through `pulumi up`
 * (test/system/reloads.system.test.ts).
 */
import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import type { DockerApi } from "../../docker/api";
import {
  INLINE_MAX_BYTES,
  applyLive,
  liveInputProblems,
  loadBalancerLiveProvider,
  stagedFiles,
  type LoadBalancerLiveInputs,
} from "../../docker/lb-live";
import { cidrListText } from "../../render/lists";
import { render } from "../../render/template";

function inputs(over: Partial<LoadBalancerLiveInputs> = {}): LoadBalancerLiveInputs {
  return {
    endpoint: { url: "unix:///var/run/docker.sock", sshArgs: [] },
    container: "dev-lb",
    instance: "abc123",
    appliedAtRunTime: {
      blocklist: { file: "/etc/edge/blocklist.acl", title: "Blocked", cidrs: ["192.0.2.0/24"] },
      internalNetworks: { file: "/etc/edge/internal.acl", title: "Internal", cidrs: ["10.0.0.0/8"] },
    },
    appliedByReload: {
      settings: { rateLimit: { requests: 100 } },
      file: "/etc/edge/haproxy.cfg",
      content: "cfg\n",
    },
    script: "exit 0",
    ...over,
  };
}

describe("docker/lb-live", () => {
  describe("input checks", () => {
    it("accept the model's inputs", () => {
      assert.deepEqual(liveInputProblems(inputs()), []);
    });

    it("refuse a list entry that could add a runtime API command, and a list outside the configuration's directory", () => {
      const bad = inputs();
      bad.appliedAtRunTime.blocklist.cidrs = ["192.0.2.0/24;shutdown sessions", "10.0.0.1 x"];
      bad.appliedAtRunTime.internalNetworks.file = "/tmp/internal.acl";
      assert.deepEqual(
        liveInputProblems(bad).map((p) => p.property),
        [
          "appliedAtRunTime.blocklist.cidrs[0]",
          "appliedAtRunTime.blocklist.cidrs[1]",
          "appliedAtRunTime.internalNetworks.file",
        ],
      );
    });
  });

  it("writes each file as <name>.next, the lists in the same format as the rendered ones", () => {
    const files = stagedFiles(inputs());
    assert.deepEqual(
      files.map((f) => [f.path, f.content.toString()]),
      [
        ["haproxy.cfg.next", "cfg\n"],
        ["blocklist.acl.next", cidrListText("Blocked", ["192.0.2.0/24"])],
        ["internal.acl.next", cidrListText("Internal", ["10.0.0.0/8"])],
      ],
    );
  });

  describe("diff", () => {
    const provider = loadBalancerLiveProvider();
    const diff = async (a: LoadBalancerLiveInputs, b: LoadBalancerLiveInputs) => {
      const d = await provider.diff?.("dev-lb", { ...a, applied: "unchanged" }, b);
      assert.ok(d);
      return d;
    };

    it("is empty for the same inputs (what the last apply did is not an input)", async () => {
      assert.deepEqual(await diff(inputs(), inputs()), {
        changes: false,
        replaces: [],
        deleteBeforeReplace: false,
      });
    });

    it("updates in place for a list, the configuration, the script or a new container", async () => {
      const lists = inputs();
      lists.appliedAtRunTime.blocklist.cidrs = ["192.0.2.0/24", "198.51.100.7/32"];
      for (const news of [lists, inputs({ script: "exit 1" }), inputs({ instance: "def456" })]) {
        const d = await diff(inputs(), news);
        assert.equal(d.changes, true);
        assert.deepEqual(d.replaces, []);
      }
    });

    it("replaces only for another container", async () => {
      assert.deepEqual((await diff(inputs(), inputs({ container: "other-lb" }))).replaces, ["container"]);
    });
  });
});

/** A unix socket that answers each one-line command by `answer` and closes, as HAProxy's CLI does. */
async function fakeSocket(
  file: string,
  answer: (cmd: string) => string,
  seen: string[],
): Promise<net.Server> {
  const server = net.createServer((c) => {
    let buf = "";
    c.on("data", (d) => {
      buf += d.toString();
      const nl = buf.indexOf("\n");
      if (nl < 0) return;
      const cmd = buf.slice(0, nl);
      seen.push(cmd);
      c.end(answer(cmd));
    });
  });
  await new Promise<void>((resolve) => server.listen(file, resolve));
  return server;
}

/** What HAProxy's `show servers state` answers (abridged). */
const SERVER_STATE =
  "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state\n3 be_production 1 prod-1 172.29.80.11 0\n\n";

describe("templates/lb-apply.sh under dash", function () {
  this.timeout(20_000);
  let tmp: string;
  let dir: string;
  let servers: net.Server[];
  let runtime: string[];
  let master: string[];
  let reloadAnswer: string;

  const LISTS = ["blocklist.acl", "internal.acl"];
  const write = (name: string, content: string) => fs.writeFileSync(path.join(dir, name), content);
  const read = (name: string) => fs.readFileSync(path.join(dir, name), "utf8");

  beforeEach(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lb-apply-"));
    dir = path.join(tmp, "edge");
    fs.mkdirSync(dir);
    fs.mkdirSync(path.join(tmp, "bin"));
    fs.writeFileSync(
      path.join(tmp, "bin", "haproxy"),
      // `haproxy -c [-q] -f FILE`: refuses a file that says BROKEN with an ALERT, and like HAProxy says nothing
      // with -q (quiet); prints its NOTICE lines too.
      [
        "#!/bin/sh",
        'if [ "$2" = -q ]; then quiet=1; shift; fi',
        'echo "[NOTICE]   (1) : haproxy version is 3.0.11" >&2',
        'if grep -q BROKEN "$3"; then',
        '  [ -n "${quiet:-}" ] || echo "[ALERT]    (1) : config : parsing [$3:2] : unknown keyword \'BROKEN\'" >&2',
        "  exit 1",
        "fi",
        "exit 0",
        "",
      ].join("\n"),
      { mode: 0o755 },
    );
    write("haproxy.cfg", "old config\n");
    write("blocklist.acl", cidrListText("Blocked", ["192.0.2.0/24"]));
    write("internal.acl", cidrListText("Internal", ["10.0.0.0/8"]));
    runtime = [];
    master = [];
    reloadAnswer = "Success=1\n--\n[NOTICE]   (1) : Loading success.\n";
    servers = [
      await fakeSocket(
        path.join(tmp, "admin.sock"),
        (cmd) =>
          cmd === "show servers state"
            ? SERVER_STATE
            : cmd.startsWith("prepare acl")
              ? "New version created: 7\n\n"
              : cmd.includes("bogus")
                ? "'bogus' is not a valid IPv4 or IPv6 address.\n\n"
                : "\n",
        runtime,
      ),
      await fakeSocket(path.join(tmp, "master.sock"), () => reloadAnswer, master),
    ];
  });

  afterEach(async () => {
    for (const s of servers) await new Promise((resolve) => s.close(resolve));
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  function script(): string {
    return render("lb-apply.sh", {
      stack: "test",
      dir,
      config: "haproxy.cfg",
      lists: LISTS,
      statsSocket: path.join(tmp, "admin.sock"),
      masterSocket: path.join(tmp, "master.sock"),
      serverStateFile: path.join(tmp, "servers.state"),
    });
  }

  function stage(cfg: string, blocklist: string[], internal: string[]) {
    write("haproxy.cfg.next", cfg);
    write("blocklist.acl.next", cidrListText("Blocked", blocklist));
    write("internal.acl.next", cidrListText("Internal", internal));
  }

  function apply(args: string[] = []): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      execFile(
        "dash",
        ["-c", script(), "lb-apply", ...args],
        { env: { PATH: `${path.join(tmp, "bin")}:${process.env.PATH}` }, timeout: 15_000 },
        (err, stdout, stderr) =>
          resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr }),
      );
    });
  }

  const leftovers = () => fs.readdirSync(dir).filter((f) => /\.(next|prev)$/.test(f));

  it("does nothing when nothing changed", async () => {
    stage("old config\n", ["192.0.2.0/24"], ["10.0.0.0/8"]);
    const r = await apply();
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), "unchanged");
    assert.deepEqual([runtime, master, leftovers()], [[], [], []]);
  });

  it("swaps a changed list at run time as one committed version, writes its file, and does not reload", async () => {
    const cidrs = Array.from({ length: 150 }, (_, i) => `198.51.100.${i}/32`);
    stage("old config\n", cidrs, ["10.0.0.0/8"]);
    const r = await apply();
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), "runtime blocklist.acl");
    const ref = path.join(dir, "blocklist.acl");
    assert.equal(runtime[0], `prepare acl ${ref}`);
    // Added in batches of 100 on one line each, to the prepared version, then committed at once.
    assert.equal(runtime.length, 4);
    assert.deepEqual(
      runtime[1].split(";"),
      cidrs.slice(0, 100).map((c) => `add acl @7 ${ref} ${c}`),
    );
    assert.equal(runtime[2].split(";").length, 50);
    assert.equal(runtime[3], `commit acl @7 ${ref}`);
    assert.equal(read("blocklist.acl"), cidrListText("Blocked", cidrs));
    assert.deepEqual([master, leftovers()], [[], []]);
  });

  it("fails a list swap the runtime API refuses, with its words, and keeps the old list file", async () => {
    stage("old config\n", ["bogus"], ["10.0.0.0/8"]);
    const r = await apply();
    assert.equal(r.code, 5);
    assert.match(r.stderr, /'bogus' is not a valid IPv4 or IPv6 address/);
    assert.match(r.stderr, /the runtime API refused the new blocklist.acl; it is unchanged/);
    assert.deepEqual(leftovers(), []);
    assert.equal(read("blocklist.acl"), cidrListText("Blocked", ["192.0.2.0/24"]));
    assert.ok(!runtime.some((c) => c.startsWith("commit")), runtime.join("\n"));
  });

  it("checks a changed configuration, puts every changed file in place and reloads through the master CLI", async () => {
    stage("new config\n", ["192.0.2.0/24", "198.51.100.1/32"], ["10.0.0.0/8"]);
    const r = await apply();
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), "reload");
    assert.deepEqual(master, ["reload"]);
    // The reload reads the lists: no runtime swap. The servers' states are saved for the new process first.
    assert.deepEqual(runtime, ["show servers state"]);
    assert.equal(fs.readFileSync(path.join(tmp, "servers.state"), "utf8"), SERVER_STATE);
    assert.equal(read("haproxy.cfg"), "new config\n");
    assert.equal(read("blocklist.acl"), cidrListText("Blocked", ["192.0.2.0/24", "198.51.100.1/32"]));
    assert.deepEqual(leftovers(), []);
  });

  it("refuses a configuration `haproxy -c` refuses: HAProxy's message, no file changed, no reload", async () => {
    stage("BROKEN\n", ["198.51.100.1/32"], ["10.0.0.0/8"]);
    const r = await apply();
    assert.equal(r.code, 3);
    assert.match(r.stderr, /HAProxy refuses the new configuration; the running one is unchanged/);
    // The message names the served file, not the staged copy.
    assert.match(r.stderr, /\[ALERT\].*parsing \[.*haproxy\.cfg:2\] : unknown keyword 'BROKEN'/);
    assert.doesNotMatch(r.stderr, /haproxy\.cfg\.next/);
    assert.doesNotMatch(r.stderr, /NOTICE/);
    assert.equal(read("haproxy.cfg"), "old config\n");
    assert.equal(read("blocklist.acl"), cidrListText("Blocked", ["192.0.2.0/24"]));
    assert.deepEqual([master, runtime, leftovers()], [[], [], []]);
  });

  it("puts the previous files back when the reload fails, with the master's words", async () => {
    reloadAnswer = "Success=0\n--\n[ALERT]    (1) : Starting frontend fe_https: cannot bind socket\n";
    stage("new config\n", ["192.0.2.0/24"], ["10.0.0.0/8"]);
    const r = await apply();
    assert.equal(r.code, 4);
    assert.match(r.stderr, /the reload failed; the previous files are back/);
    assert.match(r.stderr, /cannot bind socket/);
    assert.equal(read("haproxy.cfg"), "old config\n");
    assert.deepEqual(leftovers(), []);
  });

  it("takes the new files as arguments (name, content pairs), byte for byte, as it takes written ones", async () => {
    const blocked = cidrListText("Blocked", ["192.0.2.0/24", "198.51.100.7/32"]);
    const r = await apply([
      "haproxy.cfg.next",
      "old config\n",
      "blocklist.acl.next",
      blocked,
      "internal.acl.next",
      cidrListText("Internal", ["10.0.0.0/8"]),
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), "runtime blocklist.acl");
    assert.equal(read("blocklist.acl"), blocked);
    assert.deepEqual(runtime.slice(-1), [`commit acl @7 ${path.join(dir, "blocklist.acl")}`]);
    assert.deepEqual(leftovers(), []);
  });

  it("refuses to run without the new files", async () => {
    const r = await apply();
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no new haproxy\.cfg was written/);
    for (const f of LISTS) assert.ok(fs.existsSync(path.join(dir, f)));
  });
});

describe("applyLive: how the files reach the container", () => {
  /** A DockerApi stand-in that records the calls. */
  const fakeApi = (calls: { call: string; args: unknown[] }[]) =>
    ({
      putArchive: async (...args: unknown[]) => void calls.push({ call: "putArchive", args }),
      exec: async (...args: unknown[]) => {
        calls.push({ call: "exec", args });
        return { exitCode: 0, stdout: "runtime blocklist.acl\n", stderr: "" };
      },
    }) as unknown as DockerApi;

  it("as arguments of the one exec (no upload), each file after its name", async () => {
    const calls: { call: string; args: unknown[] }[] = [];
    assert.equal(await applyLive(inputs(), fakeApi(calls)), "runtime blocklist.acl");
    assert.deepEqual(
      calls.map((c) => c.call),
      ["exec"],
    );
    const cmd = calls[0].args[1] as string[];
    assert.deepEqual(cmd.slice(0, 4), ["sh", "-c", "exit 0", "lb-apply"]);
    assert.deepEqual(
      cmd.slice(4),
      stagedFiles(inputs()).flatMap((f) => [f.path, f.content.toString()]),
    );
  });

  it("uploaded as an archive first when one is too large for an argument", async () => {
    const calls: { call: string; args: unknown[] }[] = [];
    const big = inputs({
      appliedByReload: {
        settings: {},
        file: "/etc/edge/haproxy.cfg",
        content: "#".repeat(INLINE_MAX_BYTES + 1),
      },
    });
    await applyLive(big, fakeApi(calls));
    assert.deepEqual(
      calls.map((c) => c.call),
      ["putArchive", "exec"],
    );
    assert.equal(calls[0].args[1], "/etc/edge");
    assert.deepEqual((calls[1].args[1] as string[]).length, 4);
  });
});
