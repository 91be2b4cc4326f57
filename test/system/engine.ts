/**
 * The real Pulumi engine for the system tier: the CLI and providers built by scripts/toolchain.sh, a local
 * file backend in a temporary directory, a Pulumi home there too (with the toolchain's providers installed in
 * its plugin cache), a passphrase made by the test, and the stack's config in a temporary copy of its stack
 * file (`--config-file`), so the repository is never written to.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { parse, stringify } from "yaml";
import { SECRET_PATHS } from "../../config/schema";

const ROOT = path.resolve(__dirname, "../..");
const PROJECT = "haproxy-edge";

/** The toolchain's bin directory: HAPROXY_EDGE_TOOLCHAIN_BIN, else what scripts/toolchain.sh would print. */
export function toolchainBin(): string {
  const bin =
    process.env.HAPROXY_EDGE_TOOLCHAIN_BIN ||
    execFileSync("bash", [path.join(ROOT, "scripts/toolchain.sh"), "--print-path"], {
      encoding: "utf8",
    }).trim();
  if (!fs.existsSync(path.join(bin, "pulumi")))
    throw new Error(`no pulumi in ${bin}: build the toolchain first (bash scripts/toolchain.sh)`);
  return bin;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** Wall time in seconds. */
  seconds: number;
}

/** A resource of the stack's state (`pulumi stack export --show-secrets`, secrets unwrapped). */
export interface StateResource {
  urn: string;
  type: string;
  name: string;
  id?: string;
  custom: boolean;
  inputs: Record<string, unknown>;
  outputs: Record<string, unknown>;
  retainOnDelete: boolean;
  dependencies: string[];
  /** Why its last create or update failed (the engine keeps such a resource and updates it on the next `up`). */
  initErrors: string[];
}

/** One step of `pulumi preview --json`. */
export interface PreviewStep {
  op: string;
  urn: string;
  type: string;
  name: string;
  diffReasons: string[];
  replaceReasons: string[];
  detailedDiff: Record<string, { kind: string; inputDiff?: boolean }>;
}

export interface EngineOptions {
  /** Stack name. */
  stack: string;
  /** The stack file the config comes from (repository-relative or absolute). */
  stackFile: string;
  /** Top-level settings (without the project namespace) replacing the file's. */
  overrides?: Record<string, unknown>;
  /** Settings stored with `--secret`, by config path (`acmeTsigSecret`, `hosts.edge-router.privateKey`). */
  secrets?: Record<string, string>;
  /** Progress lines (the CLI's output), e.g. for SYSTEM_TEST_VERBOSE. */
  log?: (line: string) => void;
}

const SECRET_SIG = "4dabf18193072939515e22adb298388d";

/**
 * `value` (at config path `key`) without the strings at {@link SECRET_PATHS}; those go into `secrets` by path.
 * Walks objects only (the secret paths hold no arrays).
 */
function splitSecrets(key: string, value: unknown, secrets: Map<string, string>): unknown {
  if (typeof value === "string" && SECRET_PATHS.some((re) => re.test(key))) {
    secrets.set(key, value);
    return undefined;
  }
  if (!value || typeof value !== "object" || Array.isArray(value)) return value;
  const kept = new Map<string, unknown>();
  for (const [k, v] of Object.entries(value)) {
    const rest = splitSecrets(`${key}.${k}`, v, secrets);
    if (rest !== undefined) kept.set(k, rest);
  }
  return Object.fromEntries(kept);
}

/** Replaces the export format's secret objects with their plaintext values. */
function unwrapSecrets(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(unwrapSecrets);
  if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    if (o[SECRET_SIG] !== undefined && typeof o.plaintext === "string")
      return unwrapSecrets(JSON.parse(o.plaintext));
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, unwrapSecrets(x)]));
  }
  return v;
}

/** A stack on a fresh local backend, driven through the real CLI. */
export class Engine {
  readonly stack: string;
  readonly dir: string;
  readonly configFile: string;
  private readonly env: NodeJS.ProcessEnv;
  private readonly opts: EngineOptions;
  private salt = "";

  private constructor(opts: EngineOptions) {
    this.opts = opts;
    this.stack = opts.stack;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `haproxy-edge-engine-${opts.stack}-`));
    this.configFile = path.join(this.dir, `Pulumi.${opts.stack}.yaml`);
    const bin = toolchainBin();
    fs.mkdirSync(path.join(this.dir, "state"));
    fs.mkdirSync(path.join(this.dir, "home"));
    this.env = {
      ...process.env,
      PATH: `${bin}:${process.env.PATH ?? ""}`,
      PULUMI_BACKEND_URL: `file://${path.join(this.dir, "state")}`,
      PULUMI_HOME: path.join(this.dir, "home"),
      PULUMI_CONFIG_PASSPHRASE: randomBytes(24).toString("base64url"),
      PULUMI_SKIP_UPDATE_CHECK: "true",
      PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
      // tsc --noEmit checks the program in the unit tier; the engine only runs it.
      PULUMI_NODEJS_TRANSPILE_ONLY: "true",
      NO_COLOR: "1",
    };
  }

  /** Creates the stack on a new backend and writes its config (secrets set with `--secret`). */
  static async create(opts: EngineOptions): Promise<Engine> {
    const engine = new Engine(opts);
    await engine.installPlugins();
    // `stack init` writes the passphrase salt to Pulumi.<stack>.yaml next to a Pulumi.yaml: do that in the
    // temporary directory (same project name, so the same stack), then keep the salt in the config copy.
    const initDir = path.join(engine.dir, "init");
    fs.mkdirSync(initDir);
    fs.copyFileSync(path.join(ROOT, "Pulumi.yaml"), path.join(initDir, "Pulumi.yaml"));
    await engine.must(["stack", "init", opts.stack, "--secrets-provider", "passphrase", "--cwd", initDir]);
    const init = parse(fs.readFileSync(path.join(initDir, `Pulumi.${opts.stack}.yaml`), "utf8")) as {
      encryptionsalt: string;
    };
    engine.salt = init.encryptionsalt;
    await engine.configure(opts.overrides ?? {});
    return engine;
  }

  /**
   * Installs the toolchain's providers into this engine's Pulumi home, where the engine looks for them:
   * `scripts/toolchain.sh --install-plugins` (`pulumi plugin install --file` of the built binaries, at
   * package.json's versions). The bin directory on PATH holds only `pulumi`: a plugin found on PATH would be used
   * with a warning ("using pulumi-resource-docker from $PATH") in every command's output.
   */
  private async installPlugins(): Promise<void> {
    await promisify(execFile)("bash", [path.join(ROOT, "scripts/toolchain.sh"), "--install-plugins"], {
      env: this.env,
      timeout: 300_000,
    });
  }

  /**
   * Rewrites the stack's config: the stack file with `overrides`, then the secrets. A value at a path the
   * program requires to be secret (config/schema.ts `SECRET_PATHS`, e.g. `hosts.<router>.privateKey`) is taken
   * out of the file and set with `--secret`, as an operator would.
   */
  async configure(overrides: Record<string, unknown>): Promise<void> {
    const file = path.isAbsolute(this.opts.stackFile)
      ? this.opts.stackFile
      : path.join(ROOT, this.opts.stackFile);
    const doc = (parse(fs.readFileSync(file, "utf8")) ?? {}) as { config?: Record<string, unknown> };
    const config = new Map(Object.entries(doc.config ?? {}));
    const secrets = new Map(Object.entries(this.opts.secrets ?? {}));
    for (const [k, v] of Object.entries(overrides)) {
      const plain = v === undefined ? undefined : splitSecrets(k, v, secrets);
      if (plain === undefined) config.delete(`${PROJECT}:${k}`);
      else config.set(`${PROJECT}:${k}`, plain);
    }
    fs.writeFileSync(
      this.configFile,
      stringify({ encryptionsalt: this.salt, config: Object.fromEntries(config) }),
      { mode: 0o600 },
    );
    for (const [key, value] of secrets) {
      // The value goes through stdin, never the command line.
      await this.must(
        ["config", "set", "--secret", "--path", `${PROJECT}:${key}`, ...this.stackArgs()],
        value,
      );
    }
  }

  /** Flags of the commands that run the program: the repository's project, the config copy. */
  private stackArgs(): string[] {
    return ["--stack", this.stack, "--config-file", this.configFile, "--cwd", ROOT];
  }

  /** Flags of the state commands (no `--config-file`): the init directory, whose stack file has the salt. */
  private stateArgs(): string[] {
    return ["--stack", this.stack, "--cwd", path.join(this.dir, "init")];
  }

  /** Runs the CLI (bounded; SIGTERM first so the engine can record what it did, SIGKILL 30 s later). */
  cli(
    args: string[],
    input = "",
    timeoutMs = 900_000,
    onSpawn?: (child: ChildProcess) => void,
  ): Promise<CliResult> {
    const started = Date.now();
    return new Promise((resolve) => {
      const child = spawn("pulumi", [...args, "--non-interactive"], { env: this.env, cwd: ROOT });
      onSpawn?.(child);
      let stdout = "";
      let stderr = "";
      let pending = "";
      child.stdout.on("data", (b: Buffer) => {
        stdout += b.toString();
        if (this.opts.log) {
          pending += b.toString();
          const lines = pending.split("\n");
          pending = lines.pop() ?? "";
          for (const l of lines) this.opts.log(l);
        }
      });
      child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
      const term = setTimeout(() => {
        stderr += `\n[engine harness] pulumi ${args[0]} timed out after ${timeoutMs} ms\n`;
        child.kill("SIGTERM");
      }, timeoutMs);
      const kill = setTimeout(() => child.kill("SIGKILL"), timeoutMs + 30_000);
      child.on("close", (code, signal) => {
        clearTimeout(term);
        clearTimeout(kill);
        resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr, seconds: (Date.now() - started) / 1000 });
      });
      child.stdin.on("error", () => undefined); // EPIPE: see support.ts run()
      child.stdin.end(input);
    });
  }

  /** Runs the CLI; rejects with its output when it fails. */
  async must(args: string[], input = "", timeoutMs?: number): Promise<CliResult> {
    const r = await this.cli(args, input, timeoutMs);
    if (r.code !== 0)
      throw new Error(
        `pulumi ${args[0]} ${args[1] ?? ""} exited ${r.code}:\n${tail(r.stdout)}\n${tail(r.stderr)}`,
      );
    return r;
  }

  /**
   * `pulumi up` (no preview first). `whileRunning` runs alongside it, e.g. to start test containers on the
   * stack's network as soon as it exists; it gets a signal that aborts when `up` ends.
   */
  async up(whileRunning?: (done: AbortSignal) => Promise<void>): Promise<CliResult> {
    const done = new AbortController();
    const side = whileRunning?.(done.signal);
    const r = await this.cli(["up", "--yes", "--skip-preview", ...this.stackArgs()]);
    done.abort();
    await side;
    return r;
  }

  /**
   * `pulumi up`, killed the way a crash kills it once `killWhen` resolves true: SIGKILL at the same moment to the
   * CLI and every process under it (the language host and the providers, which Pulumi starts in process groups of
   * their own, and anything they started). `killed` says whether the kill came before `up` ended by itself.
   */
  async upKilledWhen(
    killWhen: (done: AbortSignal) => Promise<boolean>,
  ): Promise<CliResult & { killed: boolean }> {
    const done = new AbortController();
    let pid: number | undefined;
    let killed = false;
    const watcher = (async () => {
      if ((await killWhen(done.signal)) && pid !== undefined && !done.signal.aborted) {
        killed = killTree(pid) > 0;
      }
    })();
    const r = await this.cli(
      ["up", "--yes", "--skip-preview", ...this.stackArgs()],
      "",
      undefined,
      (child) => (pid = child.pid),
    );
    done.abort();
    await watcher;
    return { ...r, killed };
  }

  /** `pulumi cancel`: removes the lock a killed run left on the stack (as its error message tells the user). */
  async cancel(): Promise<CliResult> {
    return this.must(["cancel", "--yes", ...this.stateArgs()]);
  }

  /** `pulumi up` that must succeed. */
  async mustUp(whileRunning?: (done: AbortSignal) => Promise<void>): Promise<CliResult> {
    const r = await this.up(whileRunning);
    if (r.code !== 0) throw new Error(`pulumi up exited ${r.code}:\n${tail(r.stdout)}\n${tail(r.stderr)}`);
    return r;
  }

  /** `pulumi preview` with extra flags (e.g. `--expect-no-changes`, `--diff`). */
  preview(flags: string[] = []): Promise<CliResult> {
    return this.cli(["preview", ...flags, ...this.stackArgs()]);
  }

  /** The steps `pulumi preview --json` plans (same-steps left out). */
  async previewSteps(): Promise<PreviewStep[]> {
    const r = await this.must(["preview", "--json", ...this.stackArgs()]);
    const doc = JSON.parse(r.stdout) as { steps?: Record<string, unknown>[] };
    return (doc.steps ?? [])
      .filter((s) => s.op !== "same")
      .map((s) => {
        const urn = String(s.urn);
        return {
          op: String(s.op),
          urn,
          type: (urn.split("::")[2] ?? "").split("$").pop() ?? "",
          name: urn.split("::")[3] ?? "",
          diffReasons: (s.diffReasons as string[] | undefined) ?? [],
          replaceReasons: (s.replaceReasons as string[] | undefined) ?? [],
          detailedDiff: (s.detailedDiff as PreviewStep["detailedDiff"] | undefined) ?? {},
        };
      });
  }

  refresh(flags: string[] = []): Promise<CliResult> {
    return this.cli(["refresh", "--yes", ...flags, ...this.stackArgs()]);
  }

  destroy(): Promise<CliResult> {
    return this.cli(["destroy", "--yes", ...this.stackArgs()]);
  }

  /** The stack's state as the backend holds it (`pulumi stack export`: secrets encrypted). */
  async exportedState(): Promise<string> {
    return (await this.must(["stack", "export", ...this.stateArgs()])).stdout;
  }

  /** The stack's resources now (secrets unwrapped). */
  async resources(): Promise<StateResource[]> {
    const r = await this.must(["stack", "export", "--show-secrets", ...this.stateArgs()]);
    const doc = unwrapSecrets(JSON.parse(r.stdout)) as {
      deployment: { resources?: Record<string, unknown>[] };
    };
    return (doc.deployment.resources ?? []).map((s) => {
      const urn = String(s.urn);
      return {
        urn,
        type: String(s.type),
        name: urn.split("::").pop() ?? "",
        id: s.id === undefined ? undefined : String(s.id),
        custom: Boolean(s.custom),
        inputs: (s.inputs as Record<string, unknown>) ?? {},
        outputs: (s.outputs as Record<string, unknown>) ?? {},
        retainOnDelete: Boolean(s.retainOnDelete),
        dependencies: (s.dependencies as string[]) ?? [],
        initErrors: (s.initErrors as string[]) ?? [],
      };
    });
  }

  /** The stack's outputs (secrets shown). */
  async outputs(): Promise<Record<string, unknown>> {
    const r = await this.must(["stack", "output", "--json", "--show-secrets", ...this.stateArgs()]);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  }

  /** Destroys what is left (best effort), removes the stack and the temporary directory. */
  async dispose(): Promise<void> {
    try {
      const left = await this.resources().catch(() => []);
      if (left.length > 0) await this.destroy();
      await this.cli(["stack", "rm", "--yes", "--force", ...this.stateArgs()]);
    } finally {
      fs.rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

/** SIGKILLs `pid` and all its descendants (found through /proc before any is killed); returns how many. */
function killTree(pid: number): number {
  const children = new Map<number, number[]>();
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue; // gone meanwhile
    }
    // pid (comm) state ppid …: comm may hold spaces and parentheses, so parse after its last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i]) ?? []));
  let n = 0;
  for (const p of tree) {
    try {
      process.kill(p, "SIGKILL");
      n++;
    } catch {
      // already gone
    }
  }
  return n;
}

/** What a failed run said: its error lines (with the diagnostics) and its last lines. */
function tail(text: string, lines = 30): string {
  const all = text.split("\n");
  const errors = all.filter((l) => /\berror\b|failed|panic/i.test(l)).slice(0, 40);
  return [...errors, "…", ...all.slice(-lines)].join("\n");
}
