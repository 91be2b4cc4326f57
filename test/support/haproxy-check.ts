/**
 * Validates rendered HAProxy configs with the real HAProxy 3.0 binary of
 * Debian trixie (the one the images run), without Docker.
 *
 * The binary lives in a cached root filesystem built by `scripts/rootfs.sh`.
 * Each check runs in its own private mount namespace (`unshare --mount`), where
 * an overlayfs is mounted with the cached rootfs as its read-only lowerdir and
 * a fresh temporary directory as its upperdir; the files under test are written
 * into that upperdir beforehand, and `haproxy -W -c` runs chrooted into the
 * merged view. So a check sees only its own files (checks can run in parallel
 * with the same absolute paths), the cached rootfs is never written to, and
 * the mount disappears with the namespace when the check's processes exit,
 * even if they are killed. The temporary directory is removed afterwards.
 */
import { execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const ROOTFS_SCRIPT = path.resolve(__dirname, "..", "..", "scripts", "rootfs.sh");
const HAPROXY = "/usr/sbin/haproxy";
const CHROOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const DEFAULT_TIMEOUT_MS = 20_000;

export interface HaproxyCheckOptions {
  /** Kill the check and throw after this long. Default 20 s. */
  timeoutMs?: number;
  /** Environment of haproxy (it starts from an empty one plus PATH), for `"${VAR}"` in configs. */
  env?: Record<string, string>;
  /** Working directory inside the root (relative paths in configs resolve against it). Default "/". */
  cwd?: string;
  /** Root filesystem to use instead of haproxyRootfs(). */
  rootfs?: string;
}

export interface HaproxyCheckResult {
  /** haproxy exited 0: the configuration is valid. */
  ok: boolean;
  /** What haproxy printed (stdout and stderr, interleaved). */
  output: string;
  /** First line of `haproxy -v`, e.g. "HAProxy version 3.0.11-1+deb13u3 2026/05/20 - https://haproxy.org/". */
  version: string;
}

let printedPath: { cache: string | undefined; path: string } | undefined;

/** The path scripts/rootfs.sh builds or reuses (asks the script itself, so the two never disagree). */
export function defaultRootfsPath(): string {
  const cache = process.env.HAPROXY_EDGE_CACHE;
  if (printedPath === undefined || printedPath.cache !== cache) {
    const out = execFileSync("bash", [ROOTFS_SCRIPT, "--print-path"], { encoding: "utf8" });
    printedPath = { cache, path: out.trim().split("\n").pop() ?? "" };
  }
  return printedPath.path;
}

/** The HAProxy 3.0 rootfs: $HAPROXY_EDGE_ROOTFS if set, else the cached build of scripts/rootfs.sh. */
export function haproxyRootfs(): string {
  const root = process.env.HAPROXY_EDGE_ROOTFS || defaultRootfsPath();
  if (!fs.existsSync(path.join(root, HAPROXY.slice(1)))) {
    throw new Error(
      `HAProxy 3.0 rootfs not found at ${root}; run \`bash scripts/rootfs.sh\` (needs root + network once)` +
        (process.env.HAPROXY_EDGE_ROOTFS ? " or fix HAPROXY_EDGE_ROOTFS" : ""),
    );
  }
  return root;
}

/**
 * Places `files` (absolute paths as inside the container => contents) in a
 * private copy-on-write view of the rootfs and runs `haproxy -W -c -f <p>...`
 * there. Resolves with haproxy's verdict; rejects only if the check itself
 * could not be run (no rootfs, no namespaces, bad path, timeout).
 */
export async function haproxyCheck(
  files: Record<string, string | Buffer>,
  configPaths: string[],
  opts: HaproxyCheckOptions = {},
): Promise<HaproxyCheckResult> {
  const root = opts.rootfs ?? haproxyRootfs();
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const cwd = opts.cwd ?? "/";
  if (configPaths.length === 0) throw new Error("haproxyCheck: no config path given");
  for (const p of configPaths) checkAbsolute(p);
  checkAbsolute(cwd, true);
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k) || v.includes("\0")) {
      throw new Error(`haproxyCheck: bad environment variable ${JSON.stringify(k)}`);
    }
  }

  const tmp = await fs.promises.mkdtemp(path.join(os.tmpdir(), "haproxy-check-"));
  try {
    for (const dir of ["upper", "work", "merged"]) await fs.promises.mkdir(path.join(tmp, dir));
    for (const p of [root, tmp]) {
      // overlayfs splits its options on "," and lowerdir on ":".
      if (/[,:\\\s]/.test(p)) throw new Error(`haproxyCheck: unsupported character in path ${p}`);
    }
    const upper = path.join(tmp, "upper");
    for (const [target, content] of Object.entries(files)) {
      checkAbsolute(target);
      const resolved = resolveInRoot([upper, root], target);
      const dest = path.join(upper, resolved);
      await fs.promises.mkdir(path.dirname(dest), { recursive: true, mode: 0o755 });
      await fs.promises.writeFile(dest, content, { mode: 0o644 });
    }

    const envArgs = [`PATH=${CHROOT_PATH}`, ...Object.entries(opts.env ?? {}).map(([k, v]) => `${k}=${v}`)];
    const command = [...envArgs, HAPROXY, "-W", "-c", ...configPaths.flatMap((p) => ["-f", p])];
    const isRoot = process.getuid?.() === 0;
    const unshare = [
      "unshare",
      ...(isRoot ? [] : ["--map-root-user"]),
      "--mount",
      "--propagation",
      "private",
    ];
    const run = await runBounded(
      unshare[0],
      [...unshare.slice(1), "--", "sh", "-c", NAMESPACE_SCRIPT, "haproxy-check", tmp, root, cwd, ...command],
      timeoutMs,
    );
    const what = `haproxy -c -f ${configPaths.join(" -f ")}`;
    if (run.timedOut) {
      throw new Error(
        `haproxyCheck: ${what} did not finish within ${timeoutMs} ms (killed); output so far:\n${run.stdout}${run.stderr}`,
      );
    }
    const rcText = await readOptional(path.join(tmp, "rc"));
    if (rcText === undefined) {
      const hint = isRoot
        ? ""
        : "\n(not root: this needs unprivileged user namespaces; run as root, or allow them, e.g. " +
          "`sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0` on Ubuntu 24.04)";
      throw new Error(
        `haproxyCheck: could not run ${what} in ${root} (exit ${run.code ?? run.signal}):\n${run.stderr}${run.stdout}${hint}`,
      );
    }
    const rc = Number(rcText.trim());
    // 0 and 1 are haproxy's verdicts; 126/127 mean exec failed, >128 a crash.
    if (!(rc >= 0 && rc < 126)) {
      throw new Error(`haproxyCheck: ${what} exited ${rc}:\n${run.stdout}${run.stderr}`);
    }
    const version = ((await readOptional(path.join(tmp, "version"))) ?? "").split("\n")[0].trim();
    return { ok: rc === 0, output: run.stdout + run.stderr, version };
  } finally {
    await fs.promises.rm(tmp, { recursive: true, force: true });
  }
}

/**
 * Runs inside the private mount namespace, as (possibly mapped) root.
 * $1 temp dir, $2 rootfs, $3 cwd inside the root, then env assignments and the
 * haproxy command line. Writes haproxy's exit code to $1/rc: no rc file means
 * the check itself failed, not the config.
 */
const NAMESPACE_SCRIPT = `
set -u
tmp=$1 root=$2 cwd=$3
shift 3
merged="$tmp/merged"
mount -t overlay overlay -o "lowerdir=$root,upperdir=$tmp/upper,workdir=$tmp/work" "$merged" || {
  echo "haproxy-check: cannot mount an overlay of $root" >&2; exit 97; }
chroot "$merged" ${HAPROXY} -v >"$tmp/version" 2>&1 || {
  cat "$tmp/version" >&2; echo "haproxy-check: '${HAPROXY} -v' failed in $root" >&2; exit 98; }
chroot "$merged" /usr/bin/env -i --chdir="$cwd" "$@" 2>&1
echo $? >"$tmp/rc"
`;

function checkAbsolute(p: string, allowRoot = false): void {
  const ok =
    path.posix.isAbsolute(p) &&
    path.posix.normalize(p) === p &&
    !p.includes("\0") &&
    (p === "/" ? allowRoot : !p.endsWith("/"));
  if (!ok) throw new Error(`haproxyCheck: paths must be absolute and normalized, got ${JSON.stringify(p)}`);
}

/**
 * Where `target` really lands inside the root, following symlinks chroot-style
 * (e.g. /var/run -> /run in Debian), looking at `layers` top first. Writing to
 * the unresolved path would put a real directory in the upper layer over the
 * symlink and change what haproxy sees.
 */
function resolveInRoot(layers: string[], target: string): string {
  const pending = target.split("/").filter(Boolean);
  const done: string[] = [];
  let hops = 0;
  while (pending.length > 0) {
    const part = pending.shift() as string;
    if (part === ".") continue;
    if (part === "..") {
      done.pop();
      continue;
    }
    const rel = [...done, part].join("/");
    let st: fs.Stats | undefined;
    let layer = "";
    for (layer of layers) {
      st = lstatOptional(path.join(layer, rel));
      if (st) break;
    }
    if (st?.isSymbolicLink()) {
      if (++hops > 40) throw new Error(`haproxyCheck: too many symlinks resolving ${target}`);
      const link = fs.readlinkSync(path.join(layer, rel));
      if (link.startsWith("/")) done.length = 0;
      pending.unshift(...link.split("/").filter(Boolean));
      continue;
    }
    if (st && !st.isDirectory() && pending.length > 0) {
      throw new Error(`haproxyCheck: cannot place ${target}: /${rel} is not a directory in the rootfs`);
    }
    if (st?.isDirectory() && pending.length === 0) {
      throw new Error(`haproxyCheck: cannot place ${target}: it is a directory in the rootfs`);
    }
    done.push(part);
  }
  return "/" + done.join("/");
}

function lstatOptional(p: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

async function readOptional(p: string): Promise<string | undefined> {
  try {
    return await fs.promises.readFile(p, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

interface BoundedRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Runs a command in its own process group; kills the whole group at the deadline. */
function runBounded(cmd: string, args: string[], timeoutMs: number): Promise<BoundedRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], detached: true });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }, timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(new Error(`haproxyCheck: cannot start ${cmd}: ${e.message}`));
    });
    // "close" fires once every process holding the pipes (haproxy included) is gone.
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}
