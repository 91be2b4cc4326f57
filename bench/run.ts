/**
 * `npm run bench`: measures, in one run on this machine, and writes bench/results.json plus a table.
 *
 * - Throughput with the same load generator (autocannon, 32 connections, bounded duration), over keep-alive:
 *   `chain_rps` (HTTPS to the load balancer → worker → demo backend, the system stack applied by `pulumi up`),
 *   `single_hop_rps` (HTTPS to one HAProxy running the load balancer's own rendered configuration, whose
 *   production backend points at the same demo backends) and `direct_rps` (plain HTTP to a demo backend). Each
 *   is measured twice in the order direct, single, chain, chain, single, direct and averaged, so a drift of the
 *   machine's speed hits all three alike.
 * - The real engine, on the system stack: `up_cold_s` (`pulumi up` from empty), `preview_noop_s` (`pulumi
 *   preview --expect-no-changes` right after), `route_change_up_s` (`pulumi up` adding one route, in the
 *   stack's route mode) with `failed_requests_route_change_up` (errors, timeouts and non-2xx answers of a
 *   4-connection load through the load balancer during that `up`), and `destroy_s`.
 * - Route changes (live, the stack's mode): `route_change_p50_ms` / `_p95_ms` over `ROUTE_SAMPLES` switches of the
 *   `api` route's server applied through each worker's Data Plane API as `pulumi up` applies them (the WorkerRoutes
 *   provider: staging with its smoke check, then prod-1, prod-2, which take this server-only change through
 *   HAProxy's runtime API without a reload), from the first apply to the change served through the load balancer
 *   by all three workers; `restart_method_p50_ms`, the same change in restart mode (a whole
 *   `pulumi up` replacing the workers), and `route_change_speedup` (restart / live). Under a 32-connection load
 *   (400 requests/s in all): `failed_requests_route_changes`, and `failed_requests_reloads` /
 *   `failed_requests_lb_reloads` during 10 reloads of each worker and 10 of the load balancer.
 * - Synthesis: the time to run the program under Pulumi mocks with 3 workers (live route updates: one
 *   WorkerRoutes resource per worker, with its serialized provider) and 50 vs 500 routes
 *   (median of 5 runs after a warm-up).
 * - Certificate swap: the system stack in acme mode against the ACME lab (pebble + bind9, test/system/acme-lab.ts);
 *   `CERT_SWAPS` forced renewals (`renew.sh force`) while 4 loops of full TLS handshakes run against the load
 *   balancer: `cert_swap_ms` is the median time from the deploy hook's start (certbot's log) to the first handshake
 *   that got the new certificate, `cert_swap_failed_handshakes` the failed handshakes over all swaps.
 *
 * - The load balancer's own changes (docker/lb-live.ts), under load: `blocklist_change_ms` (p50 of `LB_SAMPLES`
 *   blocklist changes, each from the provider's call until it returned, the entry then committed through the runtime
 *   API and checked by a request), `lb_reload_change_ms` (the same for rate-limit changes, each a checked reload),
 *   `failed_requests_lb_changes`, `lb_replacements_on_config_change` (0 or 1: the container's id before and after),
 *   `rate_limit_kept_across_lb_change` (a client over its limit still limited after a reload), and
 *   `blocklist_change_up_s` (a whole `pulumi up` of a blocklist entry).
 *
 * Exit status: 1 when the bench broke or a correctness check failed (failed requests in the throughput runs,
 * failed handshakes during a swap); 2 when only a performance target was missed (printed as MISSED TARGETS).
 * Traffic goes only to 127.0.0.1. Every load run is bounded in time; the whole bench takes about 12 minutes.
 */
import autocannon from "autocannon";
import { failures as failuresOf, loadOf, startLoad, type Load } from "../test/system/load";
import { reloadHaproxy } from "../test/system/haproxy-cli";
import { loseWorker, type Loss, type WorkerLoss } from "../test/system/worker-loss";
import { workerRoutesProvider, type WorkerRoutesOutputs } from "../dataplane/provider";
import { loadBalancerLiveProvider, type LoadBalancerLiveOutputs } from "../docker/lb-live";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { runProgram } from "../test/support/program";
import { loadStackFile } from "../test/support/stack-config";
import { FILES, PATHS } from "../config/model";
import type { Engine, StateResource } from "../test/system/engine";
import {
  downAcmeStack,
  firstIssuance,
  forcedRenewalUnderLoad,
  upAcmeStack,
} from "../test/system/certificates";
import {
  CLIENT_IPS,
  curlFrom,
  statusFrom,
  DEMO_BACKENDS,
  HTTPS_PORT,
  header,
  httpsRequest,
  type Echo,
  NETWORK,
  STACK,
  dockerCli,
  removeLeftovers,
  removeTestContainers,
  removeVolumes,
  STACK_FILE,
  systemEngine,
  until,
  upSystem,
} from "../test/system/support";

const CONNECTIONS = 32;
const DURATION_S = Number(process.env.BENCH_DURATION_SECONDS ?? 8);
const WARMUP_S = 2;
const DIRECT_PORT = 18901;
const SINGLE_PORT = 18902;
const APP_HOST = "app.systest.example.com";
const PROJECT_DIR = path.resolve(__dirname, "..");
const RESULTS = path.join(PROJECT_DIR, "bench", "results.json");
const CERT_SWAPS = 5;
/** Blocklist changes, and as many rate-limit changes, applied to the load balancer under load. */
const LB_SAMPLES = 10;

async function load(url: string, host: string, seconds: number): Promise<Load> {
  const result = await autocannon({
    url,
    connections: CONNECTIONS,
    duration: seconds,
    headers: { host },
    servername: url.startsWith("https") ? host : undefined,
    timeout: 10,
  });
  return loadOf(result);
}

/** Routes for the synthesis benchmark: distinct names, hosts and servers. */
function generatedRoutes(n: number) {
  return Array.from({ length: n }, (_, i) => ({
    name: `r${i}`,
    hosts: [`r${i}.systest.example.com`],
    servers: [
      `10.${40 + Math.floor(i / 250)}.${i % 250}.10:8080`,
      `10.${40 + Math.floor(i / 250)}.${i % 250}.11:8080`,
    ],
    healthCheckPath: "/healthz",
  }));
}

async function synthesisMs(routes: number): Promise<number> {
  const file = loadStackFile(STACK_FILE, { routes: generatedRoutes(routes), routeUpdates: "live" });
  const secretKeys = [...file.secretKeys].map((k) => `haproxy-edge:${k}`);
  const started = performance.now();
  const run = await runProgram({ stack: "bench", config: file.config, secretKeys });
  const ms = performance.now() - started;
  if (run.resources.length < 20) throw new Error(`synthesis: only ${run.resources.length} resources`);
  return ms;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function synthesis() {
  await synthesisMs(50); // warm-up: module loading, JIT
  const at50: number[] = [];
  const at500: number[] = [];
  for (let i = 0; i < 5; i++) {
    at50.push(await synthesisMs(50));
    at500.push(await synthesisMs(500));
  }
  return { at50: median(at50), at500: median(at500), samples: { at50, at500 } };
}

/**
 * The single hop: the load balancer's own rendered files (TLS, maps, rate limit, logging, 404 page, start
 * script), with its production backend pointing straight at the route's demo backends instead of the workers.
 * So the ratio measures exactly what the worker tier costs.
 */
export function singleHopConfig(lbConfig: string): string {
  const servers = DEMO_BACKENDS.filter((b) => b.name.startsWith("app-")).map(
    (b) => `    server ${b.name} ${b.ip}:8080`,
  );
  const lines = lbConfig.split("\n");
  const start = lines.indexOf("backend be_production");
  if (start < 0) throw new Error("the load balancer config has no be_production");
  let end = start + 1;
  while (end < lines.length && lines[end].startsWith("    ")) end++;
  const backend = [
    "backend be_production",
    "    balance roundrobin",
    "    option httpchk GET /healthz",
    "    http-check expect status 200",
    "    default-server check inter 2s fall 3 rise 2",
    ...servers,
  ];
  return [...lines.slice(0, start), ...backend, ...lines.slice(end)].join("\n");
}

async function startBenchContainers(lb: StateResource) {
  // The load balancer's rendered files as its container holds them (its files volume), the production backend
  // pointed straight at the demo backends.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-single-"));
  fs.mkdirSync(path.join(dir, path.dirname(PATHS.edgeDir)), { recursive: true });
  await dockerCli(["cp", `${STACK}-lb:${PATHS.edgeDir}`, path.join(dir, path.dirname(PATHS.edgeDir))]);
  const cfg = path.join(dir, FILES.lbConfig);
  fs.writeFileSync(cfg, singleHopConfig(fs.readFileSync(cfg, "utf8")));
  const label = ["--label", `haproxy-edge.test=${STACK}`];
  await dockerCli([
    "run",
    "-d",
    "--name",
    `${STACK}-bench-direct`,
    ...label,
    "--network",
    NETWORK,
    "-p",
    `127.0.0.1:${DIRECT_PORT}:8080`,
    "-e",
    "NAME=direct",
    "-e",
    "PORT=8080",
    "haproxy-edge/demo-backend:1",
  ]);
  const command = lb.inputs.command as string[];
  await dockerCli([
    "create",
    "--name",
    `${STACK}-bench-single`,
    ...label,
    "--network",
    NETWORK,
    "-p",
    `127.0.0.1:${SINGLE_PORT}:${HTTPS_PORT}`,
    "--user",
    "root",
    "--entrypoint",
    "/bin/sh",
    String(lb.inputs.image),
    ...command,
  ]);
  await dockerCli(["cp", `${dir}/.`, `${STACK}-bench-single:/`]);
  await dockerCli(["start", `${STACK}-bench-single`]);
  fs.rmSync(dir, { recursive: true, force: true });
}

/** The system stack's routes plus one (a new host on an existing demo backend). */
function routesPlusOne(): unknown[] {
  const file = loadStackFile(STACK_FILE);
  const routes = JSON.parse(file.config["haproxy-edge:routes"]) as unknown[];
  return [
    ...routes,
    {
      name: "added",
      hosts: ["added.systest.example.com"],
      servers: ["172.30.90.102:8080"],
      healthCheckPath: "/healthz",
    },
  ];
}

/**
 * `pulumi up` adding one route while a bounded load (4 connections, stopped when `up` returns, 15 min at most)
 * runs against an existing route through the load balancer. Every error, timeout and non-2xx answer counts.
 */
async function routeChangeUnderLoad(
  engine: Engine,
  overrides: Record<string, unknown>,
): Promise<{ seconds: number; load: Load }> {
  await engine.configure({ ...overrides, routes: routesPlusOne() });
  const running = startLoad({
    url: `https://127.0.0.1:${HTTPS_PORT}/during-route-change`,
    host: APP_HOST,
    connections: 4,
    maxSeconds: 900,
  });
  let up;
  let loadResult: Load;
  try {
    up = await engine.up();
  } finally {
    loadResult = await running.stop();
  }
  if (up.code !== 0)
    throw new Error(`pulumi up (route added) exited ${up.code}:\n${up.stdout}\n${up.stderr}`);
  return { seconds: up.seconds, load: loadResult };
}

interface CertSwaps {
  samples_ms: number[];
  handshakes: number;
  failed: number;
  errors: string[];
}

async function certSwaps(): Promise<CertSwaps> {
  const out: CertSwaps = { samples_ms: [], handshakes: 0, failed: 0, errors: [] };
  const acme = await upAcmeStack();
  try {
    await firstIssuance(await acme.lab.issuingRoot());
    for (let i = 0; i < CERT_SWAPS; i++) {
      const swap = await forcedRenewalUnderLoad();
      out.samples_ms.push(swap.swapMs);
      out.handshakes += swap.load.ok + swap.load.failed;
      out.failed += swap.load.failed;
      out.errors.push(...swap.load.errors);
      console.log(
        `  swap ${i + 1}: ${swap.swapMs} ms, ${swap.load.ok} handshakes, ${swap.load.failed} failed`,
      );
    }
  } finally {
    await downAcmeStack(acme);
  }
  return out;
}

/** Workers in rollout order. */
const WORKERS = ["staging", "prod-1", "prod-2"];
/** Samples of the live route change (even: the route ends where the stack's state has it). */
const ROUTE_SAMPLES = 10;
/** Samples of the same change in restart mode (each a whole `pulumi up` replacing the workers). */
const RESTART_SAMPLES = 3;
/** The `api` route's two servers the samples alternate between (api-1, the stack's own, and admin-1). */
const API_SERVERS = ["172.30.90.103:8080", "172.30.90.102:8080"];
const BACKEND_OF: Record<string, string> = { "172.30.90.102:8080": "api-1", "172.30.90.103:8080": "admin-1" };

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

/** The CA of the stack's self-signed certificate (from the state). */
async function stackCa(engine: Engine): Promise<string> {
  const cert = (await engine.resources()).find(
    (c) => c.type.startsWith("pulumi-nodejs:dynamic") && c.name.endsWith("-certificate"),
  );
  if (!cert) throw new Error("no certificate resource in the stack's state");
  const pem = String(cert.outputs.pem);
  return pem.slice(0, pem.indexOf("-----END CERTIFICATE-----") + 26);
}

/**
 * Until the `api` route's path is served by `backend` through the load balancer from both production workers,
 * and by its staging host name from the staging worker (new connections each: what a new client gets).
 */
async function servedEverywhere(ca: string, backend: string): Promise<void> {
  const seen = new Set<string>();
  await until(
    `the api route served by ${backend} from every worker`,
    async () => {
      const prod = await httpsRequest(APP_HOST, "/api/route-change", { ca });
      if (prod.status === 200) {
        const e = JSON.parse(prod.body) as Echo;
        if (e.backend === backend) seen.add(header(e, "X-Edge-Worker"));
      }
      if (!seen.has("staging")) {
        const st = await httpsRequest("api.staging.systest.example.com", "/api/route-change", { ca });
        if (st.status === 200 && (JSON.parse(st.body) as Echo).backend === backend) seen.add("staging");
      }
      return seen.has("prod-1") && seen.has("prod-2") && seen.has("staging") ? true : undefined;
    },
    120_000,
    20,
  );
}

/** A bounded load through the load balancer at a moderate rate, while something happens. */
async function underLoad(work: () => Promise<void>): Promise<Load> {
  const running = startLoad({
    url: `https://127.0.0.1:${HTTPS_PORT}/under-load`,
    host: APP_HOST,
    connections: CONNECTIONS,
    overallRate: 400,
    maxSeconds: 900,
  });
  try {
    await work();
  } catch (e) {
    await running.stop();
    throw e;
  }
  return running.stop();
}

/**
 * Live route changes: the `api` route's server switched `ROUTE_SAMPLES` times through each worker's Data Plane API
 * as `pulumi up` applies it (the WorkerRoutes provider, staging first with its smoke check, then prod-1, prod-2),
 * each timed from the first apply to the change served everywhere; under load.
 */
async function liveRouteChanges(engine: Engine, ca: string): Promise<{ samples_ms: number[]; load: Load }> {
  const provider = workerRoutesProvider();
  const resources = await engine.resources();
  const states = new Map<string, WorkerRoutesOutputs>();
  for (const w of WORKERS) {
    const r = resources.find((x) => x.name === `${STACK}-${w}-routes`);
    if (!r) throw new Error(`no routes resource for ${w} (is the stack in live mode?)`);
    states.set(w, r.outputs as unknown as WorkerRoutesOutputs);
  }
  const samples: number[] = [];
  const load = await underLoad(async () => {
    for (let i = 0; i < ROUTE_SAMPLES; i++) {
      const server = API_SERVERS[i % 2];
      const t0 = performance.now();
      for (const w of WORKERS) {
        const olds = states.get(w) as WorkerRoutesOutputs;
        const news = { ...olds, routes: { ...olds.routes, api: { ...olds.routes.api, servers: [server] } } };
        states.set(w, (await provider.update(olds.worker, olds, news)).outs as WorkerRoutesOutputs);
      }
      await servedEverywhere(ca, BACKEND_OF[server]);
      samples.push(Math.round(performance.now() - t0));
      console.log(`  route change ${i + 1}: ${samples[samples.length - 1]} ms`);
    }
  });
  return { samples_ms: samples, load };
}

/** 10 reloads of each worker, then 10 of the load balancer, each under load. */
async function reloadsUnderLoad(): Promise<{ workers: Load; lb: Load }> {
  const workers = await underLoad(async () => {
    for (let i = 0; i < 10; i++) for (const w of WORKERS) await reloadHaproxy(`${STACK}-${w}`);
  });
  const lb = await underLoad(async () => {
    for (let i = 0; i < 10; i++) await reloadHaproxy(`${STACK}-lb`);
  });
  return { workers, lb };
}

/** What the load balancer's own changes cost (docker/lb-live.ts). */
interface LbChanges {
  blocklist_ms: number[];
  reload_ms: number[];
  blocklist_up_s: number;
  load: Load;
  replaced: boolean;
  rate_limit_kept: boolean;
}

/**
 * The load balancer's changes, under load: `LB_SAMPLES` blocklist changes and as many rate-limit changes applied
 * by its provider as `pulumi up` applies them, each timed from the call until it returned: a list is committed
 * through the runtime API and a reload has succeeded on the master CLI before the call returns (each checked by a
 * request afterwards). Then a rate-limited client across a reload, and one whole `pulumi up` of a blocklist entry.
 * The load balancer is put back to its state's files at the end.
 */
async function lbChanges(engine: Engine, overrides: Record<string, unknown>): Promise<LbChanges> {
  const provider = loadBalancerLiveProvider();
  const state = (await engine.resources()).find((r) => r.name === `${STACK}-lb-live`);
  if (!state) throw new Error("no load balancer live resource in the stack's state");
  const initial = state.outputs as unknown as LoadBalancerLiveOutputs;
  const containerId = async () => (await dockerCli(["inspect", "--format", "{{.Id}}", `${STACK}-lb`])).trim();
  const idBefore = await containerId();
  let olds = initial;
  const apply = async (news: LoadBalancerLiveOutputs) => {
    const t0 = performance.now();
    const r = await provider.update?.(`${STACK}-lb`, olds, news);
    const ms = Math.round(performance.now() - t0);
    olds = (r?.outs ?? news) as LoadBalancerLiveOutputs;
    return { ms, applied: olds.applied };
  };
  const withBlocklist = (cidrs: string[]) => ({
    ...olds,
    appliedAtRunTime: {
      ...olds.appliedAtRunTime,
      blocklist: {
        ...olds.appliedAtRunTime.blocklist,
        cidrs: [...initial.appliedAtRunTime.blocklist.cidrs, ...cidrs],
      },
    },
  });
  const withLimit = (limit: number) => ({
    ...olds,
    appliedByReload: {
      ...olds.appliedByReload,
      content: initial.appliedByReload.content.replace(/gt \d+ \}/, `gt ${limit} }`),
    },
  });
  const blocklist_ms: number[] = [];
  const reload_ms: number[] = [];
  const client = CLIENT_IPS.plain;
  const load = await underLoad(async () => {
    for (let i = 1; i <= LB_SAMPLES; i++) {
      const block = i % 2 === 1;
      const r = await apply(withBlocklist(block ? [`${client}/32`] : [`198.51.100.${i}/32`]));
      if (r.applied !== "runtime blocklist.acl")
        throw new Error(`blocklist change ${i}: applied ${r.applied}`);
      const status = await statusFrom(client, APP_HOST);
      if (status !== (block ? "403" : "200")) throw new Error(`blocklist change ${i}: ${status} afterwards`);
      blocklist_ms.push(r.ms);
      console.log(`  blocklist change ${i}: ${r.ms} ms`);
    }
    for (let i = 1; i <= LB_SAMPLES; i++) {
      const r = await apply(withLimit(1_000_000 - i));
      if (r.applied !== "reload") throw new Error(`rate-limit change ${i}: applied ${r.applied}`);
      reload_ms.push(r.ms);
      console.log(`  rate-limit change ${i} (reload): ${r.ms} ms`);
    }
  });
  // A client over a limit of 50 stays limited across a reload to a limit of 60 (the table moves to the new process).
  await apply(withLimit(50));
  const url = `https://${APP_HOST}:${HTTPS_PORT}/limited`;
  const args = ["--insecure", "--connect-to", `${APP_HOST}:${HTTPS_PORT}:lb:${HTTPS_PORT}`];
  for (let i = 0; i < 80; i++) args.push("--output", "/dev/null", "--write-out", "%{http_code}\\n", url);
  const codes = (await curlFrom(CLIENT_IPS.limited, args, 120_000)).trim().split("\n");
  await apply(withLimit(60));
  const rate_limit_kept =
    codes.slice(-10).every((c) => c === "429") && (await statusFrom(CLIENT_IPS.limited, APP_HOST)) === "429";
  await apply({ ...initial });
  // One whole `pulumi up` of a blocklist entry, then back.
  const blocklist = JSON.parse(loadStackFile(STACK_FILE).config["haproxy-edge:blocklistCidrs"]) as string[];
  // The stack as the route change left it (one route more), so this up changes the blocklist alone.
  const configured = { ...overrides, routes: routesPlusOne() };
  await engine.configure({ ...configured, blocklistCidrs: [...blocklist, "198.51.100.99/32"] });
  const up = await engine.mustUp();
  await engine.configure(configured);
  await engine.mustUp();
  return {
    blocklist_ms,
    reload_ms,
    blocklist_up_s: up.seconds,
    load,
    replaced: (await containerId()) !== idBefore,
    rate_limit_kept,
  };
}

/** What losing a production worker under load cost, per way of losing it. */
type WorkerLosses = Record<Loss, { loss: WorkerLoss; load: Load }>;

/** A production worker killed, then one stopped, each under load (and started again). */
async function workerLossesUnderLoad(): Promise<WorkerLosses> {
  const measured: Partial<WorkerLosses> = {};
  for (const how of ["kill", "stop"] as const) {
    let loss: WorkerLoss | undefined;
    const load = await underLoad(async () => {
      loss = await loseWorker(how);
    });
    if (!loss) throw new Error(`docker ${how} of a worker: nothing measured`);
    measured[how] = { loss, load };
    console.log(`  docker ${how}: out after ${loss.outMs} ms; ${JSON.stringify(load)}`);
  }
  return measured as WorkerLosses;
}

/** The same change in restart mode: the stack switched to it, then `RESTART_SAMPLES` timed `pulumi up`s. */
async function restartRouteChanges(
  engine: Engine,
  ca: string,
  overrides: Record<string, unknown>,
): Promise<number[]> {
  const routes = routesPlusOne() as { name: string; servers: string[] }[];
  const withApi = (server: string) => routes.map((r) => (r.name === "api" ? { ...r, servers: [server] } : r));
  await engine.configure({ ...overrides, routes: withApi(API_SERVERS[1]), routeUpdates: "restart" });
  await engine.mustUp();
  await servedEverywhere(ca, BACKEND_OF[API_SERVERS[1]]);
  const samples: number[] = [];
  for (let i = 0; i < RESTART_SAMPLES; i++) {
    const server = API_SERVERS[i % 2];
    await engine.configure({ ...overrides, routes: withApi(server), routeUpdates: "restart" });
    const t0 = performance.now();
    await engine.mustUp();
    await servedEverywhere(ca, BACKEND_OF[server]);
    samples.push(Math.round(performance.now() - t0));
    console.log(`  restart-mode route change ${i + 1}: ${samples[samples.length - 1]} ms`);
  }
  return samples;
}

async function main() {
  const started = Date.now();
  console.log("synthesis under mocks (3 workers): 50 and 500 routes …");
  const synth = await synthesis();
  console.log(`  50 routes: ${synth.at50.toFixed(0)} ms, 500 routes: ${synth.at500.toFixed(0)} ms`);

  console.log("pulumi up of the system stack (rate limit raised for load) …");
  await removeLeftovers();
  const loadOverrides = { rateLimitRequests: 1_000_000, rateLimitWindowSeconds: 10 };
  const runs: Record<string, Load[]> = { direct: [], single: [], chain: [] };
  const engine = await systemEngine(loadOverrides);
  const engineTimes = { up_cold_s: 0, preview_noop_s: 0, route_change_up_s: 0, destroy_s: 0 };
  let routeChange: Load | undefined;
  let live: { samples_ms: number[]; load: Load } | undefined;
  let reloads: { workers: Load; lb: Load } | undefined;
  let restartSamples: number[] = [];
  let workerLosses: WorkerLosses | undefined;
  let lbChanged: LbChanges | undefined;
  let destroyFailed = false;
  try {
    engineTimes.up_cold_s = (await upSystem(engine)).seconds;
    const preview = await engine.preview(["--expect-no-changes"]);
    if (preview.code !== 0) throw new Error(`pulumi preview after up found changes:\n${preview.stdout}`);
    engineTimes.preview_noop_s = preview.seconds;
    console.log(
      `  up (cold) ${engineTimes.up_cold_s} s, preview (no changes) ${engineTimes.preview_noop_s} s`,
    );
    const lb = (await engine.resources()).find(
      (r) => r.type === "docker:index/container:Container" && r.name === `${STACK}-lb-haproxy`,
    );
    if (!lb) throw new Error("no load balancer container in the stack's state");
    await startBenchContainers(lb);
    const urls = {
      direct: `http://127.0.0.1:${DIRECT_PORT}/bench`,
      single: `https://127.0.0.1:${SINGLE_PORT}/bench`,
      chain: `https://127.0.0.1:${HTTPS_PORT}/bench`,
    };
    for (const [name, url] of Object.entries(urls)) {
      await until(
        `${name} serves`,
        async () => (await load(url, APP_HOST, 1)).non2xx === 0 || undefined,
        60_000,
        1000,
      );
      await load(url, APP_HOST, WARMUP_S);
    }
    for (const name of ["direct", "single", "chain", "chain", "single", "direct"] as const) {
      const r = await load(urls[name], APP_HOST, DURATION_S);
      console.log(
        `  ${name.padEnd(7)} ${r.rps.toFixed(0).padStart(7)} req/s  p50 ${r.p50_ms} ms  p99 ${r.p99_ms} ms  errors ${r.errors}  non-2xx ${r.non2xx}`,
      );
      runs[name].push(r);
    }
    console.log("pulumi up adding one route, under load through the load balancer …");
    ({ seconds: engineTimes.route_change_up_s, load: routeChange } = await routeChangeUnderLoad(
      engine,
      loadOverrides,
    ));
    console.log(
      `  route change up ${engineTimes.route_change_up_s} s; ${routeChange.requests} requests, ${routeChange.errors} errors, ${routeChange.non2xx} non-2xx`,
    );
    const ca = await stackCa(engine);
    console.log(`live route changes (${ROUTE_SAMPLES}, through the Data Plane API, under load) …`);
    live = await liveRouteChanges(engine, ca);
    console.log("reloads under load: 10 of each worker, 10 of the load balancer …");
    reloads = await reloadsUnderLoad();
    console.log(
      `  workers: ${JSON.stringify(reloads.workers)}\n  load balancer: ${JSON.stringify(reloads.lb)}`,
    );
    console.log(`load balancer changes under load (${LB_SAMPLES} blocklist, ${LB_SAMPLES} rate limit) …`);
    lbChanged = await lbChanges(engine, loadOverrides);
    console.log(
      `  ${JSON.stringify({ ...lbChanged, load: undefined })}\n  load: ${JSON.stringify(lbChanged.load)}`,
    );
    console.log("a production worker lost under load: docker kill, then docker stop …");
    workerLosses = await workerLossesUnderLoad();
    console.log(`the same route change in restart mode (${RESTART_SAMPLES} × pulumi up) …`);
    restartSamples = await restartRouteChanges(engine, ca, loadOverrides);
  } finally {
    await removeTestContainers();
    const destroyed = await engine.destroy();
    if (destroyed.code !== 0) console.error(`destroy: ${destroyed.stdout}\n${destroyed.stderr}`);
    engineTimes.destroy_s = destroyed.seconds;
    await engine.dispose().catch((e: unknown) => console.error(`dispose: ${(e as Error).message}`));
    // Never hides the error that got us here.
    await removeVolumes([`${STACK}-certs`]).catch((e: unknown) =>
      console.error(`removing the certs volume: ${(e as Error).message}`),
    );
    destroyFailed = destroyed.code !== 0;
  }
  if (destroyFailed) throw new Error("pulumi destroy of the system stack failed (see above)");
  if (!routeChange || !live || !reloads || !workerLosses || !lbChanged || restartSamples.length === 0)
    throw new Error(
      "the route changes, reloads, load balancer changes and worker losses were not all measured",
    );
  const lb = lbChanged;
  const blocklistP50 = percentile(lb.blocklist_ms, 50);
  const lbReloadP50 = percentile(lb.reload_ms, 50);
  const lbChangesFailed = failuresOf(lb.load);
  const losses = Object.values(workerLosses);
  const workerLossMaxMs = Math.max(...losses.map((l) => l.load.max_ms));
  const workerLossFailed = losses.reduce((a, l) => a + failuresOf(l.load), 0);
  const routeP50 = percentile(live.samples_ms, 50);
  const restartP50 = percentile(restartSamples, 50);
  const liveFailed = failuresOf(live.load);
  const reloadFailed = failuresOf(reloads.workers);
  const lbReloadFailed = failuresOf(reloads.lb);

  console.log(`certificate swaps (${CERT_SWAPS} forced renewals under TLS handshake load) …`);
  const swaps = await certSwaps();
  const swapMs = median(swaps.samples_ms);

  const mean = (xs: Load[]) => xs.reduce((a, r) => a + r.rps, 0) / xs.length;
  const failures = Object.values(runs)
    .flat()
    .reduce((a, r) => a + r.errors + r.non2xx, 0);
  const chain = mean(runs.chain);
  const single = mean(runs.single);
  const results = {
    measured_at: new Date().toISOString(),
    machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? "", node: process.version },
    load: { generator: "autocannon 9.0.0", connections: CONNECTIONS, duration_s: DURATION_S, runs_each: 2 },
    chain_rps: Math.round(chain),
    single_hop_rps: Math.round(single),
    direct_rps: Math.round(mean(runs.direct)),
    chain_vs_single_hop: Number((chain / single).toFixed(3)),
    failed_requests: failures,
    synthesis_ms_50_routes: Math.round(synth.at50),
    synthesis_ms_500_routes: Math.round(synth.at500),
    synthesis_ratio_500_vs_50: Number((synth.at500 / synth.at50).toFixed(2)),
    cert_swap_ms: Math.round(swapMs),
    cert_swap_failed_handshakes: swaps.failed,
    ...engineTimes,
    failed_requests_route_change_up: routeChange.errors + routeChange.non2xx,
    route_change_up_requests: routeChange.requests,
    route_change_p50_ms: routeP50,
    route_change_p95_ms: percentile(live.samples_ms, 95),
    restart_method_p50_ms: restartP50,
    route_change_speedup: Number((restartP50 / routeP50).toFixed(1)),
    failed_requests_route_changes: liveFailed,
    failed_requests_reloads: reloadFailed,
    failed_requests_lb_reloads: lbReloadFailed,
    worker_loss_max_latency_ms: workerLossMaxMs,
    failed_requests_worker_loss: workerLossFailed,
    worker_loss_out_ms: Math.max(...losses.map((l) => l.loss.outMs)),
    blocklist_change_ms: blocklistP50,
    blocklist_change_up_s: lb.blocklist_up_s,
    lb_reload_change_ms: lbReloadP50,
    failed_requests_lb_changes: lbChangesFailed,
    lb_replacements_on_config_change: lb.replaced ? 1 : 0,
    rate_limit_kept_across_lb_change: lb.rate_limit_kept,
    lb_change_samples_ms: { blocklist: lb.blocklist_ms, reload: lb.reload_ms },
    route_change_samples_ms: live.samples_ms,
    restart_method_samples_ms: restartSamples,
    loads_under_change: {
      route_changes: live.load,
      worker_reloads: reloads.workers,
      lb_reloads: reloads.lb,
      lb_changes: lb.load,
    },
    worker_losses: workerLosses,
    targets: {
      chain_vs_single_hop_min: 0.6,
      synthesis_ms_500_routes_max: 3000,
      synthesis_ratio_max: 12,
      cert_swap_ms_max: 1000,
      cert_swap_failed_handshakes_max: 0,
      failed_requests_route_change_up_max: 0,
      route_change_p50_ms_max: 1000,
      route_change_speedup_min: 20,
      failed_requests_route_changes_max: 0,
      failed_requests_reloads_max: 0,
      failed_requests_lb_reloads_max: 0,
      worker_loss_max_latency_ms_max: 1500,
      failed_requests_worker_loss_max: 0,
      blocklist_change_ms_max: 100,
      lb_reload_change_ms_max: 1000,
      failed_requests_lb_changes_max: 0,
      lb_replacements_on_config_change_max: 0,
    },
    met: {
      chain_vs_single_hop: chain / single >= 0.6,
      synthesis_ms_500_routes: synth.at500 < 3000,
      synthesis_ratio: synth.at500 / synth.at50 <= 12,
      no_failed_requests: failures === 0,
      cert_swap_ms: swapMs <= 1000,
      cert_swap_failed_handshakes: swaps.failed === 0,
      failed_requests_route_change_up: routeChange.errors + routeChange.non2xx === 0,
      route_change_p50_ms: routeP50 <= 1000,
      route_change_speedup: restartP50 / routeP50 >= 20,
      failed_requests_route_changes: liveFailed === 0,
      failed_requests_reloads: reloadFailed === 0,
      failed_requests_lb_reloads: lbReloadFailed === 0,
      worker_loss_max_latency_ms: workerLossMaxMs <= 1500,
      failed_requests_worker_loss: workerLossFailed === 0,
      blocklist_change_ms: blocklistP50 <= 100,
      lb_reload_change_ms: lbReloadP50 <= 1000,
      failed_requests_lb_changes: lbChangesFailed === 0,
      lb_replacements_on_config_change: !lb.replaced,
      rate_limit_kept_across_lb_change: lb.rate_limit_kept,
    },
    runs,
    cert_swaps: swaps,
    synthesis_samples_ms: synth.samples,
    bench_seconds: Math.round((Date.now() - started) / 1000),
  };
  fs.writeFileSync(RESULTS, `${JSON.stringify(results, null, 2)}\n`);
  console.log("");
  console.table({
    chain_rps: { value: results.chain_rps, target: "" },
    single_hop_rps: { value: results.single_hop_rps, target: "" },
    direct_rps: { value: results.direct_rps, target: "" },
    chain_vs_single_hop: { value: results.chain_vs_single_hop, target: ">= 0.6" },
    synthesis_ms_50_routes: { value: results.synthesis_ms_50_routes, target: "" },
    synthesis_ms_500_routes: { value: results.synthesis_ms_500_routes, target: "< 3000" },
    synthesis_ratio_500_vs_50: { value: results.synthesis_ratio_500_vs_50, target: "<= 12" },
    failed_requests: { value: results.failed_requests, target: "0" },
    cert_swap_ms: { value: results.cert_swap_ms, target: "<= 1000" },
    cert_swap_failed_handshakes: { value: results.cert_swap_failed_handshakes, target: "0" },
    up_cold_s: { value: results.up_cold_s, target: "" },
    preview_noop_s: { value: results.preview_noop_s, target: "" },
    route_change_up_s: { value: results.route_change_up_s, target: "" },
    destroy_s: { value: results.destroy_s, target: "" },
    failed_requests_route_change_up: { value: results.failed_requests_route_change_up, target: "0" },
    route_change_p50_ms: { value: results.route_change_p50_ms, target: "<= 1000" },
    route_change_p95_ms: { value: results.route_change_p95_ms, target: "" },
    restart_method_p50_ms: { value: results.restart_method_p50_ms, target: "" },
    route_change_speedup: { value: results.route_change_speedup, target: ">= 20" },
    failed_requests_route_changes: { value: results.failed_requests_route_changes, target: "0" },
    failed_requests_reloads: { value: results.failed_requests_reloads, target: "0" },
    failed_requests_lb_reloads: { value: results.failed_requests_lb_reloads, target: "0" },
    worker_loss_max_latency_ms: { value: results.worker_loss_max_latency_ms, target: "<= 1500" },
    failed_requests_worker_loss: { value: results.failed_requests_worker_loss, target: "0" },
    worker_loss_out_ms: { value: results.worker_loss_out_ms, target: "" },
    blocklist_change_ms: { value: results.blocklist_change_ms, target: "<= 100" },
    blocklist_change_up_s: { value: results.blocklist_change_up_s, target: "" },
    lb_reload_change_ms: { value: results.lb_reload_change_ms, target: "<= 1000" },
    failed_requests_lb_changes: { value: results.failed_requests_lb_changes, target: "0" },
    lb_replacements_on_config_change: { value: results.lb_replacements_on_config_change, target: "0" },
    rate_limit_kept_across_lb_change: { value: results.rate_limit_kept_across_lb_change, target: "true" },
  });
  console.log(`wrote ${path.relative(PROJECT_DIR, RESULTS)}`);
  // Exit 1: the bench broke or a correctness check failed (failed requests in the throughput runs or TLS
  // handshakes during a certificate swap). Exit 2: only a performance target was missed (reported, not fatal).
  const missed = Object.entries(results.met)
    .filter(([, ok]) => !ok)
    .map(([k]) => k);
  if (failures > 0 || swaps.failed > 0 || lbChangesFailed > 0 || lb.replaced || !lb.rate_limit_kept)
    process.exitCode = 1;
  else if (missed.length > 0) {
    console.log(`MISSED TARGETS: ${missed.join(", ")}`);
    process.exitCode = 2;
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
