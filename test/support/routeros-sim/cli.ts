/**
 * The program sshd runs (ForceCommand) for every SSH session of the simulated router.
 *
 *   node cli.js --config <sim.json>
 *   node cli.js --state <state.json> --disk-root <dir> --version 7.20.1 [--disks disk1,usb1]
 *
 * The command comes from `SSH_ORIGINAL_COMMAND`. If it is the configured SFTP subsystem command, the real
 * sftp-server runs instead, with the disk root as its start directory (so `disk1/x` lands in `<root>/disk1/x`).
 * Otherwise the command line runs against the state file, under an exclusive lock; the state is saved
 * atomically, the output printed, and the exit status is 0 (as RouterOS's is, even on errors).
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { RouterOsSim } from "./interpreter";
import { toBytes } from "./parser";
import { initialState, loadState, saveState, withLock, type SimOptions } from "./state";

/** The launcher's configuration file (`--config`). */
export interface SimConfig {
  version: string;
  statePath: string;
  diskRoot: string;
  disks?: string[];
  /** The exact command sshd passes for the SFTP subsystem (its `Subsystem sftp` setting). */
  sftpSubsystem?: string;
  /** The real SFTP server; default `/usr/lib/openssh/sftp-server`. */
  sftpServer?: string;
  /** Simulation options used when the state file is created. */
  options?: Partial<SimOptions>;
  /** Bound of the wait for the state lock, ms (default 15000). */
  lockTimeoutMs?: number;
}

export function parseArgs(argv: readonly string[]): SimConfig {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith("--") || argv[i + 1] === undefined) throw new Error(`bad argument ${argv[i]}`);
    flags.set(argv[i].slice(2), argv[i + 1]);
  }
  const file = flags.get("config");
  const config: Partial<SimConfig> = file ? (JSON.parse(readFileSync(file, "utf8")) as SimConfig) : {};
  const version = flags.get("version") ?? config.version;
  const statePath = flags.get("state") ?? config.statePath;
  const diskRoot = flags.get("disk-root") ?? config.diskRoot;
  if (!version || !statePath || !diskRoot)
    throw new Error("need --config, or --state, --disk-root and --version");
  const disks = flags.get("disks")?.split(",") ?? config.disks;
  return { ...config, version, statePath, diskRoot, ...(disks ? { disks } : {}) };
}

/** Runs `fn` on the simulator of the state file (locked, created if missing, saved atomically after). */
export function withSim<T>(config: SimConfig, fn: (sim: RouterOsSim) => T): T {
  return withLock(config.statePath, config.lockTimeoutMs ?? 15000, () => {
    const state = existsSync(config.statePath)
      ? loadState(config.statePath)
      : initialState(config.version, config.disks ?? ["disk1"], config.options);
    const sim = new RouterOsSim({ state, diskRoot: config.diskRoot });
    const result = fn(sim);
    saveState(config.statePath, sim.state);
    return result;
  });
}

/** Runs one command line against the state file and returns its output bytes. */
export function runCommand(config: SimConfig, command: string): Buffer {
  return withSim(config, (sim) => Buffer.from(sim.runBytes(toBytes(command)), "latin1"));
}

/** Whether an SSH session is the SFTP subsystem (sshd passes the subsystem's command as the original one). */
export function isSftp(config: SimConfig, original: string | undefined): boolean {
  return config.sftpSubsystem !== undefined && original === config.sftpSubsystem;
}

export function main(argv: readonly string[], env: NodeJS.ProcessEnv): number {
  let config: SimConfig;
  try {
    config = parseArgs(argv);
  } catch (e) {
    process.stderr.write(`routeros-sim: ${(e as Error).message}\n`);
    return 1;
  }
  const original = env.SSH_ORIGINAL_COMMAND;
  if (isSftp(config, original)) {
    const r = spawnSync(config.sftpServer ?? "/usr/lib/openssh/sftp-server", ["-d", config.diskRoot], {
      stdio: "inherit",
    });
    return r.status ?? 1;
  }
  if (original === undefined) {
    process.stdout.write("interactive sessions are not supported by the RouterOS simulator\r\n");
    return 0;
  }
  let out: Buffer;
  try {
    out = runCommand(config, original);
  } catch (e) {
    out = Buffer.from(`failure: simulator: ${(e as Error).message}\r\n`);
  }
  process.stdout.write(out);
  return 0;
}

if (require.main === module) {
  process.exitCode = main(process.argv.slice(2), process.env);
}
