/**
 * The simulator's state (one JSON file per simulated router), its options, atomic saving and the exclusive
 * lock that serialises concurrent SSH execs.
 *
 * Strings in the state are byte strings (one JS character per byte, see parser.ts `toBytes`); ASCII text reads
 * as usual, decode others with `fromBytes`.
 */
import { closeSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from "node:fs";

/** Life-cycle phase of a container (routeros.md §9 state machine). */
export type ContainerPhase =
  "extracting" | "stopped" | "starting" | "running" | "stopping" | "removing" | "error";

/** One row of a menu. Property values are the texts RouterOS stores (`yes`, `172.20.0.1/24`). */
export interface Item {
  id: string;
  props: Record<string, string>;
  /** Containers only. `until` is the virtual time (ms) the phase ends, `null` for never. */
  container?: { phase: ContainerPhase; until: number | null };
}

export interface Table {
  /** Next internal id number (`*1`, `*2`, ... `*A`). */
  nextId: number;
  items: Item[];
}

/** Virtual durations, in seconds, and outcomes of the container life cycle. */
export interface SimOptions {
  /** Seconds from `/container/add` to the end of the pull and extraction. */
  extractSeconds: number;
  /** `ok`: extracted → stopped; `fail`: → error (never stopped); `never`: stays extracting. */
  extract: "ok" | "fail" | "never";
  /** Seconds from `start` to running. */
  startSeconds: number;
  /** Seconds from `stop` to stopped. */
  stopSeconds: number;
  /** Seconds from `remove` until the container is gone (it shows while it is being removed). */
  removeSeconds: number;
  /** Seconds a started container runs before it exits on its own (one-shot); `null`: runs until stopped. */
  exitAfterSeconds: number | null;
  /**
   * Device mode allows containers (`/system/device-mode` `container`); `false` also makes `/container/add` fail
   * with `failure: could not add`.
   */
  containerMode: boolean;
  /** `/system/device-mode` `mode`; `home` and `basic` also turn its `scheduler` feature off. */
  deviceMode: "advanced" | "home" | "basic" | "enterprise";
  /** `/ip/dns` `dynamic-servers` (from DHCP or PPP); `servers` is set with `/ip/dns/set`. */
  dynamicDnsServers: string[];
  /** The router's users (`/user`, read only here) and their groups' policies (`/user/group`). */
  users: Record<string, string>;
  groups: Record<string, string[]>;
  /** Interfaces that exist besides bridges and veths. */
  interfaces: string[];
  /** Interface lists that exist. */
  interfaceLists: string[];
  /**
   * Refusals to stage, by `<menu>/<command>` (e.g. `/container/config/set`): that command prints the given
   * RouterOS error (e.g. `not enough permissions (9)`, what a user group without `write` gets) instead of
   * running. It stands for a refusal whose cause the simulator does not model; the text is RouterOS's own.
   */
  refuse: Record<string, string>;
  /** Bounds of one command line: executed statements and wall-clock milliseconds. */
  maxSteps: number;
  maxMillis: number;
}

/** The policies of RouterOS's default `full` group (MikroTik's manual, User); `read` and `write` have fewer. */
const FULL_POLICIES =
  "local,telnet,ssh,ftp,reboot,read,write,policy,test,winbox,password,web,sniff,sensitive,api,romon,rest-api".split(
    ",",
  );

export const DEFAULT_OPTIONS: SimOptions = {
  extractSeconds: 3,
  extract: "ok",
  startSeconds: 1,
  stopSeconds: 1,
  removeSeconds: 1,
  exitAfterSeconds: null,
  containerMode: true,
  deviceMode: "advanced",
  dynamicDnsServers: ["192.0.2.53"],
  users: { admin: "full" },
  groups: {
    full: FULL_POLICIES,
    read: FULL_POLICIES.filter((p) => !["ftp", "write", "policy", "sensitive"].includes(p)),
    write: FULL_POLICIES.filter((p) => !["ftp", "policy", "sensitive"].includes(p)),
  },
  interfaces: ["ether1", "ether2", "ether3", "ether4", "ether5"],
  interfaceLists: ["WAN", "LAN", "all", "none", "dynamic", "static"],
  refuse: {},
  maxSteps: 1_000_000,
  maxMillis: 20_000,
};

export interface SimState {
  format: 1;
  /** RouterOS version, e.g. `7.20.1`. */
  version: string;
  /** Virtual clock in milliseconds since 00:00:00 of the first day: advanced by `:delay` and `advance`. */
  clock: number;
  /** Menu path → rows. */
  tables: Record<string, Table>;
  /** Settings menus (`/container/config`): property → value. */
  settings: Record<string, Record<string, string>>;
  /** Stable ids of `/file` entries (RouterOS names such as `disk1/a`). */
  files: { nextId: number; ids: Record<string, string> };
  /** `:global` variables (JSON of simulator values). */
  globals: Record<string, unknown>;
  /** `:log` lines and container events. */
  log: { time: number; topic: string; message: string }[];
  /** Disks (first path segments) that exist on the router. */
  disks: string[];
  options: SimOptions;
}

export function initialState(version: string, disks: string[], options: Partial<SimOptions> = {}): SimState {
  return {
    format: 1,
    version,
    clock: 0,
    tables: {},
    settings: {},
    files: { nextId: 1, ids: {} },
    globals: {},
    log: [],
    disks: [...disks],
    options: { ...DEFAULT_OPTIONS, ...options },
  };
}

export function loadState(path: string): SimState {
  const state = JSON.parse(readFileSync(path, "utf8")) as SimState;
  if (state.format !== 1) throw new Error(`${path}: unknown simulator state format`);
  state.options = { ...DEFAULT_OPTIONS, ...state.options };
  return state;
}

/** Writes the state atomically: a temporary file next to it, then a rename. */
export function saveState(path: string, state: SimState): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(state, null, 1) + "\n");
  renameSync(tmp, path);
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Runs `fn` holding the exclusive lock `<path>.lock` (created with O_EXCL, holding our pid). A lock whose
 * process is gone, or an empty lock older than 5 s, is stale and taken over. Waits at most `timeoutMs`.
 */
export function withLock<T>(path: string, timeoutMs: number, fn: () => T): T {
  const lock = `${path}.lock`;
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(lock, "wx");
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    if (Date.now() > deadline) throw new Error(`simulator state ${path} is locked (waited ${timeoutMs} ms)`);
    let stale = false;
    try {
      const text = readFileSync(lock, "utf8").trim();
      const pid = Number(text);
      if (text !== "" && Number.isInteger(pid) && pid > 0) stale = !alive(pid);
      else stale = Date.now() - statSync(lock).mtimeMs > 5000;
    } catch {
      continue; // released meanwhile
    }
    if (stale) {
      try {
        unlinkSync(lock);
      } catch {
        // someone else took it over
      }
      continue;
    }
    sleepSync(Math.min(2 + attempt, 25));
  }
  try {
    return fn();
  } finally {
    try {
      unlinkSync(lock);
    } catch {
      // already gone
    }
  }
}
