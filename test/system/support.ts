/**
 * Helpers of the system tier: the test stack, demo backends and client containers on the stack's network,
 * and HTTP(S) clients that only ever talk to 127.0.0.1.
 */
import { execFile } from "node:child_process";
import * as https from "node:https";
import * as http from "node:http";
import { DockerApi, DockerApiError } from "../../docker/api";
import { Engine, type CliResult } from "./engine";

export const STACK = "systest";
export const STACK_FILE = "test/system/Pulumi.systest.yaml";
export const NETWORK = `${STACK}-edge`;
export const HTTP_PORT = 18080;
export const HTTPS_PORT = 18443;
/** Images built by scripts/images.sh. */
export const IMAGES = {
  base: "haproxy-edge/base:trixie",
  haproxy: "haproxy-edge/haproxy:3.0",
  demo: "haproxy-edge/demo-backend:1",
  dataplaneApi: "haproxy-edge/dataplaneapi:3.2.7",
};

/** Demo backends the test stack's routes point at (fixed addresses on the stack's edge network). */
export const DEMO_BACKENDS = [
  { name: "app-1", ip: "172.30.90.100" },
  { name: "app-2", ip: "172.30.90.101" },
  { name: "api-1", ip: "172.30.90.102" },
  { name: "admin-1", ip: "172.30.90.103" },
] as const;

/** Client containers' addresses: one blocklisted, one for the rate limit, one ordinary. */
export const CLIENT_IPS = { plain: "172.30.90.200", blocked: "172.30.90.201", limited: "172.30.90.202" };

export const docker = new DockerApi();

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program, never rejecting on its exit status (bounded; a timeout is code 124). */
export function run(
  file: string,
  args: string[],
  timeoutMs: number,
  input?: string,
  cwd?: string,
): Promise<ExecResult> {
  return new Promise((resolve) => {
    const child = execFile(
      file,
      args,
      { timeout: timeoutMs, maxBuffer: 16 << 20, killSignal: "SIGKILL", cwd },
      (err, stdout, stderr) => {
        const code = err ? (err.killed ? 124 : typeof err.code === "number" ? err.code : 1) : 0;
        resolve({ code, stdout, stderr: err && !stderr ? err.message : stderr });
      },
    );
    // A program that exits without reading its input closes the pipe: the write then fails with EPIPE, which is
    // no failure of ours (its exit status says what happened), and unhandled it would crash the test process.
    child.stdin?.on("error", () => undefined);
    child.stdin?.end(input ?? "");
  });
}

/** Runs the docker CLI (bounded); resolves with its stdout as is, rejects with stderr or the timeout. */
export async function dockerCli(args: string[], timeoutMs = 60_000): Promise<string> {
  const r = await run("docker", args, timeoutMs);
  if (r.code === 0) return r.stdout;
  const why = r.code === 124 ? `timed out after ${timeoutMs} ms` : r.stderr.trim();
  throw new Error(`docker ${args.slice(0, 3).join(" ")} …: ${why}`);
}

/** A container's log, stdout and stderr together (a failure's message instead, never a rejection). */
export async function containerLogs(container: string): Promise<string> {
  const r = await run("docker", ["logs", container], 20_000);
  return r.code === 0 ? r.stdout + r.stderr : `docker logs ${container}: exit ${r.code}: ${r.stderr}`;
}

/** Starts the demo backends on the stack's network (once it exists); those already there are kept. */
export async function startDemoBackends(): Promise<void> {
  const existing = new Set(
    (await dockerCli(["ps", "-a", "--format", "{{.Names}}", "--filter", `label=haproxy-edge.test=${STACK}`]))
      .split("\n")
      .filter(Boolean),
  );
  for (const b of DEMO_BACKENDS) {
    if (existing.has(`${STACK}-demo-${b.name}`)) continue;
    await dockerCli(demoBackendRun(b));
  }
}

/** `docker run` arguments of a test demo backend (scripts/demo-backend) on the stack's network. */
export function demoBackendRun(b: { name: string; ip: string }): string[] {
  return [
    "run",
    "-d",
    "--name",
    `${STACK}-demo-${b.name}`,
    "--label",
    `haproxy-edge.test=${STACK}`,
    "--network",
    NETWORK,
    "--ip",
    b.ip,
    "-e",
    `NAME=${b.name}`,
    "-e",
    "PORT=8080",
    IMAGES.demo,
  ];
}

/** Removes every container the tests themselves started (demo backends, leftover clients). */
export async function removeTestContainers(): Promise<void> {
  const ids = (await dockerCli(["ps", "-aq", "--filter", `label=haproxy-edge.test=${STACK}`])).split("\n");
  for (const id of ids.filter(Boolean)) await dockerCli(["rm", "-f", id]);
}

/** `docker run` arguments of a throwaway client container with a fixed address on the stack's network. */
function clientContainer(ip: string, entrypoint: string): string[] {
  return [
    "run",
    "--rm",
    "--label",
    `haproxy-edge.test=${STACK}`,
    "--network",
    NETWORK,
    "--ip",
    ip,
    "--entrypoint",
    entrypoint,
    IMAGES.base,
  ];
}

/** Runs curl in a throwaway container with a fixed address on the stack's network; returns its stdout. */
export function curlFrom(ip: string, curlArgs: string[], timeoutMs = 60_000): Promise<string> {
  return dockerCli(
    [...clientContainer(ip, "curl"), "--silent", "--show-error", "--max-time", "10", ...curlArgs],
    timeoutMs,
  );
}

/** Like {@link curlFrom}, for a request that may fail: curl's exit status and its stdout, never a rejection. */
export async function curlOutcome(ip: string, curlArgs: string[]): Promise<{ exit: number; out: string }> {
  const script = 'curl --silent --max-time 10 "$@"; echo " curl-exit=$?"';
  const out = await dockerCli([...clientContainer(ip, "sh"), "-c", script, "curl", ...curlArgs]);
  const m = / curl-exit=(\d+)\s*$/.exec(out);
  return { exit: m ? Number(m[1]) : -1, out: out.replace(/ curl-exit=\d+\s*$/, "") };
}

/** The HTTP status the load balancer answers a client at `ip` on the edge network for `https://host/path`. */
export async function statusFrom(ip: string, host: string, path = "/"): Promise<string> {
  const out = await curlFrom(ip, [
    "--insecure",
    "--output",
    "/dev/null",
    "--write-out",
    "%{http_code}",
    "--connect-to",
    `${host}:${HTTPS_PORT}:lb:${HTTPS_PORT}`,
    `https://${host}:${HTTPS_PORT}${path}`,
  ]);
  return out.trim();
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One HTTPS request to the load balancer on 127.0.0.1, with SNI and Host for `host`, verified against `ca`. */
export function httpsRequest(
  host: string,
  path: string,
  opts: { ca: string; headers?: Record<string, string>; port?: number },
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: "127.0.0.1",
        port: opts.port ?? HTTPS_PORT,
        path,
        servername: host,
        ca: opts.ca,
        headers: { Host: host, ...(opts.headers ?? {}) },
        agent: false,
        timeout: 10_000,
      },
      (res) => collect(res, resolve, reject),
    );
    req.on("timeout", () => req.destroy(new Error(`https ${host}${path}: timeout`)));
    req.on("error", reject);
    req.end();
  });
}

/** One plain HTTP request to 127.0.0.1:`port`. */
export function httpRequest(host: string, path: string, port = HTTP_PORT): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: "127.0.0.1", port, path, headers: { Host: host }, agent: false, timeout: 10_000 },
      (res) => collect(res, resolve, reject),
    );
    req.on("timeout", () => req.destroy(new Error(`http ${host}${path}: timeout`)));
    req.on("error", reject);
    req.end();
  });
}

function collect(res: http.IncomingMessage, resolve: (r: Reply) => void, reject: (e: Error) => void) {
  const chunks: Buffer[] = [];
  res.on("data", (c: Buffer) => chunks.push(c));
  res.on("end", () =>
    resolve({
      status: res.statusCode ?? 0,
      headers: res.headers,
      body: Buffer.concat(chunks).toString("utf8"),
    }),
  );
  res.on("error", reject);
}

/** What a demo backend answers. */
export interface Echo {
  backend: string;
  method: string;
  path: string;
  host: string;
  remote_addr: string;
  headers: Record<string, string[] | string>;
}

export function header(echo: Echo, name: string): string {
  const found = Object.entries(echo.headers).find(([k]) => k.toLowerCase() === name.toLowerCase());
  if (!found) return "";
  return Array.isArray(found[1]) ? found[1].join(",") : found[1];
}

/** Polls `probe` until it returns a value (not undefined), at most `timeoutMs`; rejects with the last problem. */
export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  intervalMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = "no attempt";
  for (let i = 0; i < Math.ceil(timeoutMs / intervalMs) + 10; i++) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
      last = "not yet";
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`${what}: not ready within ${timeoutMs} ms (${last})`);
}

/** The system stack on a fresh local backend of the real engine (`overrides`: top-level keys). */
export function systemEngine(
  overrides: Record<string, unknown> = {},
  log?: (line: string) => void,
): Promise<Engine> {
  return Engine.create({ stack: STACK, stackFile: STACK_FILE, overrides, log });
}

/** Resolves once the stack's network exists (polled), or when `done` aborts first. */
async function networkExists(done: AbortSignal): Promise<boolean> {
  while (!done.aborted) {
    const r = await run("docker", ["network", "inspect", NETWORK], 10_000);
    if (r.code === 0) return true;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return false;
}

/**
 * `pulumi up` of the system stack. The demo backends (not part of the program), and whatever `onNetwork`
 * starts (e.g. the ACME lab), join the stack's network as soon as it exists, while `up` goes on.
 */
export async function upSystem(engine: Engine, onNetwork?: () => Promise<void>): Promise<CliResult> {
  let joined: Promise<void> | undefined;
  const join = async () => {
    await startDemoBackends();
    await onNetwork?.();
  };
  const r = await engine.mustUp(async (done) => {
    if (await networkExists(done)) joined = join();
    await joined;
  });
  // `up` created nothing new (the network existed before): join now.
  await (joined ?? join());
  return r;
}

/** `pulumi preview --expect-no-changes` succeeds: the apply converged (idempotency is a test). */
export async function assertNoChanges(engine: Engine): Promise<void> {
  const r = await engine.preview(["--expect-no-changes"]);
  if (r.code !== 0)
    throw new Error(`pulumi preview --expect-no-changes exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
}

/** Removes whatever an earlier, interrupted run left: test containers, and the stack's containers, networks and volumes. */
export async function removeLeftovers(): Promise<void> {
  await removeTestContainers();
  const left = await stackObjects();
  for (const c of left.containers) await dockerCli(["rm", "-f", c]);
  for (const n of left.networks) await dockerCli(["network", "rm", n]);
  await removeVolumes(left.volumes);
}

/** Names of the stack's containers, networks and volumes that exist on the engine now. */
export async function stackObjects(): Promise<{
  containers: string[];
  networks: string[];
  volumes: string[];
}> {
  const filter = encodeURIComponent(JSON.stringify({ label: [`haproxy-edge.stack=${STACK}`] }));
  const containers = await docker.request<{ Names: string[] }[]>({
    method: "GET",
    path: `/containers/json?all=1&filters=${filter}`,
  });
  const networks = await docker.request<{ Name: string }[]>({
    method: "GET",
    path: `/networks?filters=${filter}`,
  });
  const volumes = await docker.request<{ Volumes: { Name: string }[] | null }>({
    method: "GET",
    path: `/volumes?filters=${filter}`,
  });
  return {
    containers: containers.map((c) => c.Names[0].replace(/^\//, "")).sort(),
    networks: networks.map((n) => n.Name).sort(),
    volumes: (volumes.Volumes ?? []).map((v) => v.Name).sort(),
  };
}

/** Removes volumes by name (test cleanup of retained volumes); missing ones are fine. */
export async function removeVolumes(names: string[]): Promise<void> {
  for (const name of names) {
    try {
      await docker.request({ method: "DELETE", path: `/volumes/${encodeURIComponent(name)}` });
    } catch (e) {
      if (!(e instanceof DockerApiError && e.status === 404)) throw e;
    }
  }
}
