/**
 * Puts the RouterOS simulator behind a real OpenSSH server on 127.0.0.1, for tests that exercise the SSH path
 * (`@pulumi/command` remote.Command / CopyToRemote, or the ssh2 client).
 *
 * {@link startRouterOsSim} creates a temporary folder with an ed25519 host key and client key (ssh-keygen), the
 * simulator compiled to JavaScript (TypeScript's transpiler; `node cli.js` starts much faster than tsx), a disk
 * root with the disks, and an sshd_config (127.0.0.1 only, a free port, public-key login of the current user
 * only, `ForceCommand` = the simulator), then runs `/usr/sbin/sshd -D -e -f <config>` and waits (bounded) until it
 * answers with an SSH banner. Every exec and the SFTP subsystem go through cli.ts.
 */
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createConnection, createServer } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { Client } from "ssh2";
import ts from "typescript";
import { withSim, type SimConfig } from "./cli";
import { RouterOsSim } from "./interpreter";
import { loadState, saveState, type SimOptions, type SimState } from "./state";

/** The simulator's sources that cli.ts needs at run time (compiled into the temporary folder). */
export const RUNTIME_FILES = [
  "cli.ts",
  "interpreter.ts",
  "parser.ts",
  "grammar.ts",
  "state.ts",
  "values.ts",
  "validate.ts",
  "files.ts",
];

const SSHD = "/usr/sbin/sshd";
const SFTP_SERVER = "/usr/lib/openssh/sftp-server";

/** Where and how to log in. */
export interface SshTarget {
  host: string;
  port: number;
  user: string;
  /** OpenSSH private key (PEM `-----BEGIN OPENSSH PRIVATE KEY-----`). */
  privateKey: string;
  /** `ssh-ed25519 AAAA...`: the only host key accepted. */
  hostPublicKey: string;
}

export interface StartOptions {
  /** RouterOS version, e.g. `7.20.1`. */
  version: string;
  /** Disks that exist up front (first-level folders of the disk root); default `["disk1"]`. */
  disks?: string[];
  /** Simulation options (container timings and outcomes, interfaces, limits). */
  options?: Partial<SimOptions>;
  /** Bound of sshd's start, ms (default 15000). */
  startTimeoutMs?: number;
  /**
   * RouterOS `/ip ssh set forwarding-enabled=local`: SSH local forwards (`direct-tcpip`, as `ssh -L` and ssh2's
   * `forwardOut` open them) are allowed, to 127.0.0.1 only (`AllowTcpForwarding local`, `PermitOpen 127.0.0.1:*`),
   * so nothing but this machine's loopback can be reached through it. Default false: RouterOS' default
   * `forwarding-enabled=no` (`AllowTcpForwarding no`), where every forward is refused as administratively
   * prohibited.
   */
  forwarding?: boolean;
  /**
   * Also serve an RSA host key (RouterOS' default `host-key-type=rsa`), next to the ed25519 one; its public key is
   * `hostRsaPublicKey`. Default false.
   */
  rsaHostKey?: boolean;
}

export interface RouterOsSimServer extends SshTarget {
  host: "127.0.0.1";
  /** `ssh-ed25519 AAAA...` of the client key. */
  publicKey: string;
  /** `ssh-rsa AAAA... comment` of the RSA host key, with `rsaHostKey` only. */
  hostRsaPublicKey?: string;
  /** The temporary folder holding everything (removed by {@link RouterOsSimServer.stop}). */
  dir: string;
  /** The folder `/file` shows and SFTP writes into (holds `disk1/`). */
  diskRoot: string;
  statePath: string;
  /** The simulator's state as saved after the last command. */
  state(): SimState;
  /** Runs one command over SSH (a fresh login, as remote.Command does) and returns its stdout. */
  exec(command: string, timeoutMs?: number): Promise<string>;
  /** Writes a file over SFTP, e.g. `disk1/haproxy-edge/dev/lb/haproxy.cfg` (the directory must exist). */
  upload(remotePath: string, content: string | Buffer, timeoutMs?: number): Promise<void>;
  /** Changes simulation options of the running router (e.g. to stage a fault, then remove it). */
  setOptions(options: Partial<SimOptions>): void;
  /** Moves the router's virtual clock forward, running its schedulers on the way; returns what they printed. */
  advance(seconds: number): string;
  /** Kills sshd and removes the temporary folder. */
  stop(): Promise<void>;
}

/** Compiles the simulator's runtime files (and the menus JSON) to CommonJS in `outDir`. */
export function compileSimulator(outDir: string): void {
  mkdirSync(outDir, { recursive: true });
  for (const file of RUNTIME_FILES) {
    const source = readFileSync(join(__dirname, file), "utf8");
    const js = ts.transpileModule(source, {
      fileName: file,
      compilerOptions: {
        module: ts.ModuleKind.CommonJS,
        target: ts.ScriptTarget.ES2022,
        esModuleInterop: true,
      },
    }).outputText;
    writeFileSync(join(outDir, file.replace(/\.ts$/, ".js")), js);
  }
  copyFileSync(join(__dirname, "routeros-menus.json"), join(outDir, "routeros-menus.json"));
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves true if 127.0.0.1:`port` answers with an SSH banner within `ms`. */
function probe(port: number, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ host: "127.0.0.1", port });
    let data = "";
    const done = (ok: boolean) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), ms);
    sock.on("data", (d) => {
      data += d.toString("latin1");
      if (data.includes("\n")) done(data.startsWith("SSH-2.0-"));
    });
    sock.on("error", () => done(false));
    sock.on("close", () => done(false));
  });
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (exited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

function keygen(path: string, comment: string, type: "ed25519" | "rsa" = "ed25519"): void {
  const size = type === "rsa" ? ["-b", "2048"] : [];
  execFileSync("ssh-keygen", ["-q", "-t", type, ...size, "-N", "", "-C", comment, "-f", path], {
    stdio: "ignore",
    timeout: 10_000,
  });
}

function sshdConfig(
  dir: string,
  port: number,
  user: string,
  wrapper: string,
  sftpMarker: string,
  forwarding: boolean,
  rsaHostKey = false,
): string {
  return [
    `ListenAddress 127.0.0.1`,
    `Port ${port}`,
    `HostKey ${join(dir, "host_ed25519")}`,
    ...(rsaHostKey ? [`HostKey ${join(dir, "host_rsa")}`] : []),
    `PidFile ${join(dir, "sshd.pid")}`,
    `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
    `AllowUsers ${user}`,
    `PubkeyAuthentication yes`,
    `AuthenticationMethods publickey`,
    `PasswordAuthentication no`,
    `KbdInteractiveAuthentication no`,
    `HostbasedAuthentication no`,
    `UsePAM no`,
    `StrictModes no`,
    `PermitRootLogin prohibit-password`,
    `PermitUserEnvironment no`,
    `PermitTunnel no`,
    ...(forwarding ? [`AllowTcpForwarding local`, `PermitOpen 127.0.0.1:*`] : [`AllowTcpForwarding no`]),
    `AllowStreamLocalForwarding no`,
    `AllowAgentForwarding no`,
    `X11Forwarding no`,
    `PrintMotd no`,
    `PrintLastLog no`,
    `UseDNS no`,
    `MaxStartups 64:30:128`,
    `MaxSessions 64`,
    `LoginGraceTime 30`,
    `LogLevel INFO`,
    `Subsystem sftp ${sftpMarker}`,
    `ForceCommand ${wrapper}`,
    "",
  ].join("\n");
}

/** Starts sshd in front of a fresh simulated router. Call `stop()` when done. */
export async function startRouterOsSim(opts: StartOptions): Promise<RouterOsSimServer> {
  const dir = mkdtempSync(join(tmpdir(), "routeros-sim-"));
  let child: ChildProcess | undefined;
  const kill = () => {
    if (child && !exited(child)) child.kill("SIGKILL");
  };
  try {
    const user = userInfo().username;
    keygen(join(dir, "host_ed25519"), "routeros-sim-host");
    if (opts.rsaHostKey) keygen(join(dir, "host_rsa"), "routeros-sim-host", "rsa");
    keygen(join(dir, "client_ed25519"), "routeros-sim-client");
    const publicKey = readFileSync(join(dir, "client_ed25519.pub"), "utf8").trim();
    writeFileSync(join(dir, "authorized_keys"), publicKey + "\n", { mode: 0o600 });

    const simDir = join(dir, "sim");
    compileSimulator(simDir);
    const diskRoot = join(dir, "disk");
    const statePath = join(dir, "state.json");
    const disks = opts.disks ?? ["disk1"];
    // The SSH user is a router user in the `full` group, unless the options say otherwise.
    const options: Partial<SimOptions> = {
      ...opts.options,
      users: opts.options?.users ?? { [user]: "full" },
    };
    const sim = new RouterOsSim({ version: opts.version, diskRoot, disks, options });
    saveState(statePath, sim.state);

    const sftpMarker = join(dir, "sftp-subsystem");
    const config: SimConfig = {
      version: opts.version,
      statePath,
      diskRoot,
      disks,
      sftpSubsystem: sftpMarker,
      sftpServer: SFTP_SERVER,
      options,
    };
    writeFileSync(join(dir, "sim.json"), JSON.stringify(config, null, 1));
    const wrapper = join(dir, "routeros-cli.sh");
    writeFileSync(
      wrapper,
      `#!/bin/sh\nexec '${process.execPath}' '${join(simDir, "cli.js")}' --config '${join(dir, "sim.json")}'\n`,
      { mode: 0o755 },
    );
    if (!existsSync("/run/sshd")) {
      try {
        mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
      } catch {
        // not root: sshd says what it misses
      }
    }

    const logPath = join(dir, "sshd.log");
    const deadline = Date.now() + (opts.startTimeoutMs ?? 15_000);
    let port = 0;
    for (let attempt = 0; attempt < 3 && port === 0; attempt++) {
      const candidate = await freePort();
      writeFileSync(
        join(dir, "sshd_config"),
        sshdConfig(
          dir,
          candidate,
          user,
          wrapper,
          sftpMarker,
          opts.forwarding === true,
          opts.rsaHostKey === true,
        ),
      );
      const log = openSync(logPath, "a");
      child = spawn(SSHD, ["-D", "-e", "-f", join(dir, "sshd_config")], { stdio: ["ignore", log, log] });
      closeSync(log);
      child.unref();
      process.once("exit", kill);
      while (Date.now() < deadline && !exited(child)) {
        if (await probe(candidate, 1000)) {
          port = candidate;
          break;
        }
        await pause(20);
      }
      if (port === 0) {
        kill();
        process.removeListener("exit", kill);
        if (Date.now() >= deadline) break;
      }
    }
    if (port === 0 || !child) {
      throw new Error(`sshd did not start: ${readFileSync(logPath, "utf8").slice(-2000)}`);
    }
    const sshd = child;
    const hostPublicKey = readFileSync(join(dir, "host_ed25519.pub"), "utf8").trim();
    const target: SshTarget = {
      host: "127.0.0.1",
      port,
      user,
      privateKey: readFileSync(join(dir, "client_ed25519"), "utf8"),
      hostPublicKey,
    };
    let stopped = false;
    return {
      ...target,
      host: "127.0.0.1",
      publicKey,
      ...(opts.rsaHostKey
        ? { hostRsaPublicKey: readFileSync(join(dir, "host_rsa.pub"), "utf8").trim() }
        : {}),
      dir,
      diskRoot,
      statePath,
      state: () => loadState(statePath),
      setOptions: (options) =>
        withSim(config, (sim) => {
          sim.state.options = { ...sim.state.options, ...options };
        }),
      advance: (seconds) => withSim(config, (sim) => sim.advance(seconds * 1000)),
      exec: async (command, timeoutMs) => (await sshExec(target, command, timeoutMs)).stdout,
      upload: (remotePath, content, timeoutMs) => sftpWrite(target, remotePath, content, timeoutMs),
      stop: async () => {
        if (stopped) return;
        stopped = true;
        if (!exited(sshd)) {
          sshd.kill("SIGTERM");
          if (!(await waitExit(sshd, 5000))) sshd.kill("SIGKILL");
        }
        process.removeListener("exit", kill);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    kill();
    process.removeListener("exit", kill);
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

/** Opens an authenticated ssh2 connection (host key pinned), runs `use`, always closes it; bounded. */
function withConnection<T>(
  t: SshTarget,
  timeoutMs: number,
  use: (conn: Client, done: (err: Error | null, value?: T) => void) => void,
): Promise<T> {
  const blob = Buffer.from(t.hostPublicKey.split(/\s+/)[1] ?? "", "base64");
  return new Promise<T>((resolve, reject) => {
    const conn = new Client();
    let settled = false;
    const finish = (err: Error | null, value?: T) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      conn.end();
      if (err) reject(err);
      else resolve(value as T);
    };
    const timer = setTimeout(() => finish(new Error(`ssh: no answer within ${timeoutMs} ms`)), timeoutMs);
    conn.on("ready", () => use(conn, finish));
    conn.on("error", (e) => finish(e));
    conn.on("close", () => finish(new Error("ssh: connection closed")));
    conn.connect({
      host: t.host,
      port: t.port,
      username: t.user,
      privateKey: t.privateKey,
      hostVerifier: (key: Buffer) => key.equals(blob),
      readyTimeout: timeoutMs,
    });
  });
}

/** Runs `command` in one SSH exec; stdout/stderr decoded as UTF-8, and the exit status. */
export function sshExec(
  t: SshTarget,
  command: string,
  timeoutMs = 30_000,
): Promise<{ stdout: string; stderr: string; code: number | null }> {
  return withConnection(t, timeoutMs, (conn, done) => {
    conn.exec(command, (err, stream) => {
      if (err) return done(err);
      const out: Buffer[] = [];
      const errOut: Buffer[] = [];
      stream.on("data", (d: Buffer) => out.push(d));
      stream.stderr.on("data", (d: Buffer) => errOut.push(d));
      stream.on("close", (code: number | null) =>
        done(null, {
          stdout: Buffer.concat(out).toString("utf8"),
          stderr: Buffer.concat(errOut).toString("utf8"),
          code,
        }),
      );
    });
  });
}

/** Writes `content` to `remotePath` over SFTP. */
export function sftpWrite(
  t: SshTarget,
  remotePath: string,
  content: string | Buffer,
  timeoutMs = 30_000,
): Promise<void> {
  return withConnection<true>(t, timeoutMs, (conn, done) => {
    conn.sftp((err, sftp) => {
      if (err) return done(err);
      sftp.writeFile(remotePath, content, (e) => done(e ?? null, true));
    });
  }).then(() => undefined);
}
