/**
 * A real worker for system tests, started with the docker CLI: the project's own rendered files
 * (`renderWorker` + `renderUserlist`), the volumes the Worker component declares, HAProxy and the Data Plane API
 * sidecar, and demo HTTP backends, all on a user-defined network of the lab's own. The worker's PROXY port and
 * the API are published on 127.0.0.1 only. Everything carries the label `haproxy-edge.systest=<lab name>` and is
 * removed by {@link WorkerLab.destroy} (also after a failed start).
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { sha512Crypt } from "../../components/worker";
import {
  DATAPLANE_API_CONTAINER_PORT,
  FILES,
  HEALTH_URI,
  PATHS,
  WORKER_HEALTH_PORT,
  buildModel,
  type EdgeModel,
} from "../../config/model";
import { parseStackConfig } from "../../config/parse";
import { renderUserlist, renderWorker } from "../../render/haproxy";
import type { RenderedFile } from "../../render/template";
import { dockerCli, until } from "./support";

/** Runs `docker <args>` with a deadline; resolves with stdout, trimmed. */
export async function docker(args: string[], timeoutMs = 60_000): Promise<string> {
  return (await dockerCli(args, timeoutMs)).trim();
}

export { until };

/** Run inside the HAProxy container: the status of its plain health endpoint (127.0.0.1, no PROXY header). */
const HEALTH_PROBE = `exec 3<>/dev/tcp/127.0.0.1/${WORKER_HEALTH_PORT} && printf 'GET ${HEALTH_URI} HTTP/1.0\\r\\n\\r\\n' >&3 && head -n 1 <&3 | cut -d' ' -f2`;

/** The answer to one HTTP request sent through the worker. */
export interface HttpAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Sends one HTTP/1.1 request to 127.0.0.1:`port` after a PROXY protocol v2 header claiming `clientIp`, as the
 * load balancer does; resolves with the answer (the connection is closed after it).
 */
export function proxyRequest(
  port: number,
  host: string,
  path: string,
  clientIp = "203.0.113.7",
  timeoutMs = 5000,
): Promise<HttpAnswer> {
  const sig = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
  const addr = Buffer.alloc(12);
  clientIp.split(".").forEach((o, i) => addr.writeUInt8(Number(o), i));
  [192, 0, 2, 10].forEach((o, i) => addr.writeUInt8(o, 4 + i));
  addr.writeUInt16BE(40000, 8);
  addr.writeUInt16BE(8080, 10);
  const header = Buffer.concat([sig, Buffer.from([0x21, 0x11, 0x00, 12]), addr]);
  const request = `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\nUser-Agent: haproxy-edge-systest\r\n\r\n`;
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: "127.0.0.1", port });
    const chunks: Buffer[] = [];
    s.setTimeout(timeoutMs, () =>
      s.destroy(new Error(`no answer from 127.0.0.1:${port} within ${timeoutMs} ms`)),
    );
    s.once("connect", () => s.write(Buffer.concat([header, Buffer.from(request)])));
    s.on("data", (d: Buffer) => chunks.push(d));
    s.once("error", reject);
    s.once("close", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      const [head, ...rest] = text.split("\r\n\r\n");
      const lines = head.split("\r\n");
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? "");
      if (!m) return reject(new Error(`not an HTTP answer: ${JSON.stringify(text.slice(0, 200))}`));
      const headers: Record<string, string> = {};
      for (const l of lines.slice(1)) {
        const i = l.indexOf(":");
        if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      let body = rest.join("\r\n\r\n");
      if (headers["transfer-encoding"] === "chunked") body = unchunk(body);
      resolve({ status: Number(m[1]), headers, body });
    });
  });
}

function unchunk(body: string): string {
  let out = "";
  let rest = body;
  for (let i = 0; i < 10_000; i++) {
    const nl = rest.indexOf("\r\n");
    if (nl < 0) break;
    const size = parseInt(rest.slice(0, nl), 16);
    if (!size) break;
    out += rest.slice(nl + 2, nl + 2 + size);
    rest = rest.slice(nl + 2 + size + 2);
  }
  return out;
}

/** Options of a {@link WorkerLab}. */
export interface WorkerLabOptions {
  /** Prefix of every Docker object, and the label value. */
  name: string;
  /** The lab network's subnet, e.g. 172.31.77.0/24 (the worker trusts PROXY connections from it). */
  subnet: string;
  /** Demo backends: name → last octet of its address on the lab network. */
  backends: Record<string, number>;
  haproxyImage: string;
  dataplaneApiImage: string;
  backendImage: string;
  /** Start the Data Plane API sidecar (default true). */
  withApi?: boolean;
}

/** A running lab. */
export class WorkerLab {
  readonly model: EdgeModel;
  readonly password = randomBytes(18).toString("base64url");
  /** `http://127.0.0.1:<port>` of the Data Plane API. */
  apiUrl = "";
  /** Published PROXY-protocol port of the worker on 127.0.0.1. */
  workerPort = 0;
  /** Demo backend name → `address:8080`. */
  readonly backendAddress: Record<string, string> = {};
  /** Changes the rendered bootstrap configuration before it is copied in (e.g. to add routes). */
  bootstrapExtra?: (cfg: string) => string;
  private readonly opts: WorkerLabOptions;
  private readonly prefix: string;

  constructor(opts: WorkerLabOptions) {
    this.opts = opts;
    this.prefix = opts.name;
    const parsed = parseStackConfig(
      {
        domains: ["example.test", "*.example.test", "*.staging.example.test"],
        stagingHostPattern: "*.staging.example.test",
        hosts: { local: { kind: "docker", url: "unix:///var/run/docker.sock", subnet: opts.subnet } },
        productionWorkerHosts: ["local"],
        haproxyImage: opts.haproxyImage,
        dataplaneApiImage: opts.dataplaneApiImage,
        dataplaneApiPort: 15555,
        httpPort: 18080,
        httpsPort: 18443,
      },
      { project: "haproxy-edge", stack: opts.name, secretKeys: new Set() },
    );
    if (!parsed.ok)
      throw new Error(`lab config: ${parsed.issues.map((i) => `${i.path}: ${i.message}`).join("; ")}`);
    this.model = buildModel(parsed.config, {
      project: "haproxy-edge",
      stack: opts.name,
      secretKeys: new Set(),
    });
    const base = opts.subnet.split("/")[0].split(".").slice(0, 3).join(".");
    for (const [n, octet] of Object.entries(opts.backends)) this.backendAddress[n] = `${base}.${octet}:8080`;
    // The lab plays the load balancer from this machine, through Docker's port proxy: the worker sees the lab
    // network's gateway, so it trusts that one address instead of the load balancer's (the edge suite proves the
    // real rule: a neighbour on the edge network is refused).
    this.model.workers[0].trustedSources = [`${base}.1/32`];
  }

  /** The worker the lab runs (the staging worker of the model). */
  get worker() {
    return this.model.workers[0];
  }

  get haproxyContainer(): string {
    return `${this.prefix}-haproxy`;
  }

  get apiContainer(): string {
    return `${this.prefix}-dataplaneapi`;
  }

  private get label(): string {
    return `haproxy-edge.systest=${this.prefix}`;
  }

  /** Removes everything of this lab (containers, volumes, network), whatever state it is in. */
  async destroy(): Promise<void> {
    const containers = await docker(["ps", "-aq", "--filter", `label=${this.label}`]);
    if (containers) await docker(["rm", "-f", "-v", ...containers.split("\n")], 60_000);
    const volumes = await docker(["volume", "ls", "-q", "--filter", `label=${this.label}`]);
    if (volumes) await docker(["volume", "rm", "-f", ...volumes.split("\n")]);
    const networks = await docker(["network", "ls", "-q", "--filter", `label=${this.label}`]);
    if (networks) await docker(["network", "rm", ...networks.split("\n")]);
  }

  /** Creates and starts everything; resolves once HAProxy is healthy and the API answers with credentials. */
  async start(): Promise<void> {
    const { opts, prefix, label, worker } = this;
    await this.destroy();
    const base = opts.subnet.split("/")[0].split(".").slice(0, 3).join(".");
    await docker([
      "network",
      "create",
      "--driver",
      "bridge",
      "--subnet",
      opts.subnet,
      "--label",
      label,
      prefix,
    ]);
    for (const [n, octet] of Object.entries(opts.backends)) {
      await docker([
        "run",
        "-d",
        "--name",
        `${prefix}-${n}`,
        "--label",
        label,
        "--network",
        prefix,
        "--ip",
        `${base}.${octet}`,
        "-e",
        `NAME=${n}`,
        "-e",
        "PORT=8080",
        opts.backendImage,
      ]);
    }
    for (const v of ["config", "master", "api-state"]) {
      await docker(["volume", "create", "--label", label, `${prefix}-${v}`]);
    }

    const files = renderWorker(this.model, worker);
    const userlist = renderUserlist(this.model, worker, sha512Crypt(this.password, "SysTestSaltSalt1"));
    const shared = [
      "-v",
      `${prefix}-config:${PATHS.workerConfigDir}`,
      "-v",
      `${prefix}-master:${PATHS.workerMasterDir}`,
    ];
    await docker([
      "create",
      "--name",
      this.haproxyContainer,
      "--label",
      label,
      "--network",
      prefix,
      "--network-alias",
      worker.alias,
      ...shared,
      "-p",
      `127.0.0.1::${worker.port}`,
      "--user",
      "root",
      "--entrypoint",
      "/bin/sh",
      opts.haproxyImage,
      files["start.sh"].path,
    ]);
    const bootstrap = files["haproxy.cfg"];
    const cfg = this.bootstrapExtra
      ? { ...bootstrap, content: this.bootstrapExtra(bootstrap.content) }
      : bootstrap;
    await this.copyInto(this.haproxyContainer, [cfg, files["404.html"], files["start.sh"]]);
    await docker(["start", this.haproxyContainer]);
    this.workerPort = await this.publishedPort(this.haproxyContainer, worker.port);
    await until(
      "HAProxy healthy",
      async () =>
        (await docker(["inspect", "-f", "{{.State.Running}}", this.haproxyContainer])) === "true" &&
        (await docker(["exec", this.haproxyContainer, "bash", "-c", HEALTH_PROBE])) === "200"
          ? true
          : undefined,
      30_000,
    );
    for (const n of Object.keys(opts.backends)) {
      await until(`demo backend ${n}`, async () => ((await this.backendUp(n)) ? true : undefined), 30_000);
    }
    if (opts.withApi === false) return;

    await docker([
      "create",
      "--name",
      this.apiContainer,
      "--label",
      label,
      "--network",
      prefix,
      ...shared,
      "-v",
      `${prefix}-api-state:${PATHS.dataplaneStateDir}`,
      "-p",
      `127.0.0.1::${DATAPLANE_API_CONTAINER_PORT}`,
      "--user",
      "root",
      "--entrypoint",
      "/bin/sh",
      opts.dataplaneApiImage,
      files["dataplaneapi-start.sh"].path,
    ]);
    await this.copyInto(this.apiContainer, [
      files["dataplaneapi.yml"],
      userlist,
      files["404.html"],
      files["dataplaneapi-status.sh"],
      files["dataplaneapi-start.sh"],
    ]);
    await docker(["start", this.apiContainer]);

    this.apiUrl = `http://127.0.0.1:${await this.publishedPort(this.apiContainer, DATAPLANE_API_CONTAINER_PORT)}`;
    const auth = `Basic ${Buffer.from(`${worker.dataplaneApi.user}:${this.password}`).toString("base64")}`;
    await until(
      "the Data Plane API",
      async () => {
        const res = await fetch(`${this.apiUrl}/v3/health`, {
          headers: { authorization: auth },
          signal: AbortSignal.timeout(2000),
        });
        const body = (await res.json()) as { haproxy?: string };
        if (res.status !== 200 || body.haproxy !== "up")
          throw new Error(`health ${res.status} ${JSON.stringify(body)}`);
        return true;
      },
      60_000,
    );
  }

  private async backendUp(n: string): Promise<boolean> {
    const out = await docker(["inspect", "-f", "{{.State.Running}}", `${this.prefix}-${n}`]);
    return out === "true";
  }

  /** Copies rendered files into a created container at their paths, with their modes. */
  private async copyInto(container: string, files: RenderedFile[]): Promise<void> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "worker-lab-"));
    try {
      for (const f of files) {
        const dest = path.join(dir, f.path);
        fs.mkdirSync(path.dirname(dest), { recursive: true, mode: 0o755 });
        fs.writeFileSync(dest, f.content, { mode: f.mode });
        fs.chmodSync(dest, f.mode);
      }
      const top = FILES.workerBootstrap.split("/").slice(0, -1).join("/");
      await docker(["cp", `${path.join(dir, top)}/.`, `${container}:${top}`]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  private async publishedPort(container: string, port: number): Promise<number> {
    const out = await until(
      `published port ${port} of ${container}`,
      async () => (await docker(["port", container, `${port}/tcp`])) || undefined,
      10_000,
    );
    const m = /^127\.0\.0\.1:(\d+)$/m.exec(out);
    if (!m) throw new Error(`${container} publishes ${port} elsewhere than 127.0.0.1: ${out}`);
    return Number(m[1]);
  }

  /** `.State.StartedAt` of a container (changes on any restart). */
  async startedAt(container: string): Promise<string> {
    return docker(["inspect", "-f", "{{.State.StartedAt}} {{.RestartCount}}", container]);
  }

  /** Calls the Data Plane API directly (out-of-band edits, checks), with the lab's credentials. */
  async api(
    method: string,
    pathAndQuery: string,
    body?: unknown,
  ): Promise<{ status: number; text: string; headers: Headers }> {
    const res = await fetch(`${this.apiUrl}/v3${pathAndQuery}`, {
      method,
      headers: {
        authorization: `Basic ${Buffer.from(`${this.worker.dataplaneApi.user}:${this.password}`).toString("base64")}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
    return { status: res.status, text: await res.text(), headers: res.headers };
  }
}

/** Images the worker tests use (built by scripts/images.sh). */
export const IMAGES = {
  haproxy: "haproxy-edge/haproxy:3.0",
  dataplaneApi: "haproxy-edge/dataplaneapi:3.2.7",
  backend: "haproxy-edge/demo-backend:1",
};
/** Demo backends: name → last octet of their address on the lab network. */
export const BACKENDS = { be1: 11, be2: 12, be3: 13 };
/** Route host names of the worker tests. */
export const HOSTS = { app: "app.example.test", www: "www.example.test", shop: "shop.example.test" };

/** The demo backend that answered (`{"backend": NAME, ...}`), or the status for anything else. */
export function servedBy(a: HttpAnswer): string {
  if (a.status !== 200) return `HTTP ${a.status}`;
  try {
    return (JSON.parse(a.body) as { backend: string }).backend;
  } catch {
    return `not JSON: ${a.body.slice(0, 80)}`;
  }
}

/** Waits until `host` + `path` through the worker is served by `expected` (a reload is asynchronous to nothing
 * here, but servers need their first health check). */
export async function expectServed(
  lab: WorkerLab,
  host: string,
  path: string,
  expected: string,
): Promise<HttpAnswer> {
  return until(
    `${host}${path} served by ${expected}`,
    async () => {
      const a = await proxyRequest(lab.workerPort, host, path);
      if (servedBy(a) !== expected) throw new Error(`served by ${servedBy(a)}`);
      return a;
    },
    20_000,
    200,
  );
}

export async function imageIsReal(image: string): Promise<string> {
  const out = await docker(["run", "--rm", "--entrypoint", "dataplaneapi", image, "--version"], 60_000);
  if (/stand-in/i.test(out) || !/3\.2\.7/.test(out)) {
    throw new Error(
      `${image} does not hold the real Data Plane API 3.2.7 (dataplaneapi --version: ${out.trim()})`,
    );
  }
  return out.trim();
}
