/**
 * cli.ts, the program sshd runs for every session: arguments, the state file (lock, atomic save, persistence),
 * exit status 0 on RouterOS errors, the SFTP hand-over, and the compiled copy the sshd launcher uses.
 * No sshd here (see sshd.ssh.test.ts).
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isSftp, parseArgs, runCommand, type SimConfig } from "./cli";
import { compileSimulator } from "./sshd";
import { loadState } from "./state";

describe("routeros-sim: cli", () => {
  let dir: string;
  let config: SimConfig;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "routeros-sim-cli-"));
    config = {
      version: "7.21",
      statePath: join(dir, "state.json"),
      diskRoot: join(dir, "disk"),
      disks: ["disk1"],
      sftpSubsystem: join(dir, "sftp-subsystem"),
      lockTimeoutMs: 2000,
    };
    writeFileSync(join(dir, "sim.json"), JSON.stringify(config));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("reads its configuration from --config or from flags", () => {
    assert.deepEqual(parseArgs(["--config", join(dir, "sim.json")]), config);
    const flags = parseArgs([
      "--state",
      "/s.json",
      "--disk-root",
      "/d",
      "--version",
      "7.16",
      "--disks",
      "usb1,disk1",
    ]);
    assert.deepEqual(flags, {
      version: "7.16",
      statePath: "/s.json",
      diskRoot: "/d",
      disks: ["usb1", "disk1"],
    });
    assert.throws(() => parseArgs(["--state", "/s.json"]), /need --config/);
  });

  it("keeps the state in its file between commands, saved atomically, with the lock released", () => {
    assert.equal(runCommand(config, "/interface/bridge/add name=br").toString(), "");
    assert.equal(runCommand(config, ':put [/interface/bridge/find where name="br"]').toString(), "*1\r\n");
    assert.equal(loadState(config.statePath).tables["/interface/bridge"].items[0].props.name, "br");
    assert.deepEqual(
      readdirSync(dir).sort(),
      ["disk", "sim.json", "state.json"],
      "no lock or temporary file left",
    );
    assert.ok(existsSync(join(dir, "disk", "disk1")), "the disk exists up front");
  });

  it("passes output bytes through unchanged", () => {
    assert.equal(runCommand(config, ':put "\\E2\\9C\\93 ok"').toString("utf8"), "✓ ok\r\n");
  });

  it("waits for a held lock (bounded) and takes over a stale one", () => {
    writeFileSync(`${config.statePath}.lock`, String(process.pid));
    const started = Date.now();
    assert.throws(() => runCommand({ ...config, lockTimeoutMs: 100 }, ':put "x"'), /is locked/);
    assert.ok(Date.now() - started < 1500);
    writeFileSync(`${config.statePath}.lock`, "2147483646"); // no such process
    assert.equal(runCommand(config, ':put "x"').toString(), "x\r\n");
  });

  it("recognises the SFTP subsystem by its exact configured command", () => {
    assert.ok(isSftp(config, join(dir, "sftp-subsystem")));
    assert.ok(!isSftp(config, "/usr/lib/openssh/sftp-server"));
    assert.ok(!isSftp(config, undefined));
    assert.ok(!isSftp({ ...config, sftpSubsystem: undefined }, "x"));
  });

  describe("compiled, as sshd runs it", () => {
    let sim: string;
    before(function () {
      this.timeout(20000);
      sim = mkdtempSync(join(tmpdir(), "routeros-sim-build-"));
      compileSimulator(sim);
    });
    after(() => rmSync(sim, { recursive: true, force: true }));

    const cli = (env: Record<string, string>, cfg = join(dir, "sim.json")) =>
      spawnSync(process.execPath, [join(sim, "cli.js"), "--config", cfg], {
        env,
        encoding: "utf8",
        timeout: 10000,
      });

    it("runs a command line and exits 0, also when RouterOS reports an error", () => {
      const good = cli({ SSH_ORIGINAL_COMMAND: '/interface/bridge/add name=br; :put "PULUMI-OK"' });
      assert.deepEqual([good.status, good.stdout, good.stderr], [0, "PULUMI-OK\r\n", ""]);
      const bad = cli({ SSH_ORIGINAL_COMMAND: "/interface/bridge/add name=br" });
      assert.deepEqual([bad.status, bad.stdout], [0, "failure: already have interface with such name\r\n"]);
      const parse = cli({ SSH_ORIGINAL_COMMAND: "/nope" });
      assert.deepEqual([parse.status, parse.stdout], [0, "bad command name nope (line 1 column 2)\r\n"]);
    });

    it("answers an interactive session (no command) with a message", () => {
      const r = cli({});
      assert.deepEqual(
        [r.status, r.stdout],
        [0, "interactive sessions are not supported by the RouterOS simulator\r\n"],
      );
    });

    it("hands the SFTP subsystem to the SFTP server, started in the disk root", () => {
      const cfg = join(dir, "echo.json");
      writeFileSync(cfg, JSON.stringify({ ...config, sftpServer: "/bin/echo" }));
      const r = cli({ SSH_ORIGINAL_COMMAND: config.sftpSubsystem as string }, cfg);
      assert.deepEqual([r.status, r.stdout], [0, `-d ${config.diskRoot}\n`]);
    });

    it("exits 1 (not a RouterOS answer) when it is misconfigured", () => {
      const r = cli({ SSH_ORIGINAL_COMMAND: ":put 1" }, join(dir, "missing.json"));
      assert.equal(r.status, 1);
      assert.match(r.stderr, /routeros-sim: /);
    });
  });
});
