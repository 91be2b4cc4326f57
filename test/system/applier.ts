/**
 * The system tier's applier: runs the real `index.ts` under Pulumi's runtime mocks and, for every resource
 * the program registers, creates it for real — Docker networks, volumes and containers on the local engine,
 * images that must already exist locally, random values, local commands, dynamic resources (their own
 * provider code, deserialized the way Pulumi's dynamic provider host does) — in registration order, after
 * its dependencies. It destroys what it created in reverse order, keeping `retainOnDelete` resources.
 *
 * Every input property a handler does not understand fails the apply: nothing is silently ignored.
 * What it does not do, compared with the Pulumi engine and the Docker provider, is written down in
 * `APPLIER.md` next to this file.
 */
import { spawn } from "node:child_process";
import { randomInt } from "node:crypto";
import * as path from "node:path";
import { plain, runProgram, type ProgramRun, type Registration } from "../support/program";
import { sftpWrite, sshExec, type SshTarget } from "../support/routeros-sim/sshd";
import { DockerApi, DockerApiError, tarFiles } from "./docker-api";

/** Pulumi's serialized asset: `{ <sig key>: <asset sig>, text }` for a StringAsset. */
const ASSET_SIG_KEY = "4dabf18193072939515e22adb298388d";
const ASSET_SIG = "c44067f5952c0a294b673a41bacd8c17";

/**
 * The SSH target of a `remote.Command`/`CopyToRemote` connection. The applier insists on a pinned host key (the
 * provider would skip host key verification without one).
 */
export function sshTarget(where: string, connection: unknown): SshTarget {
  const c = onlyKeys(`${where}.connection`, connection, [
    "host",
    "port",
    "user",
    "privateKey",
    "hostKey",
    "dialErrorLimit",
    "perDialTimeout",
  ]);
  if (typeof c.host !== "string" || typeof c.privateKey !== "string")
    throw new Error(`${where}: connection needs host and privateKey`);
  if (typeof c.hostKey !== "string") throw new Error(`${where}: the applier needs connection.hostKey`);
  return {
    host: c.host,
    port: typeof c.port === "number" ? c.port : 22,
    user: typeof c.user === "string" ? c.user : "root",
    privateKey: c.privateKey,
    hostPublicKey: c.hostKey,
  };
}

/** Project root: local commands run here, as `pulumi up` runs them from the program's directory. */
export const PROJECT_DIR = path.resolve(__dirname, "..", "..");

export interface ApplierOptions {
  stack: string;
  /** `haproxy-edge:<key>` → raw config string. */
  config: Record<string, string>;
  /** Full keys holding secrets. */
  secretKeys?: string[];
  /** Progress lines (never secret values). */
  log?: (line: string) => void;
  /** Called after each resource is created, before the next one (e.g. to attach test clients). */
  afterCreate?: (resource: Created) => Promise<void>;
  /** Bound of one local command (default 300 s). */
  commandTimeoutMs?: number;
}

/** A resource the applier created. */
export interface Created {
  urn: string;
  type: string;
  name: string;
  custom: boolean;
  id: string;
  /** Inputs with secrets unwrapped. */
  inputs: Record<string, unknown>;
  /** What the program got back as the resource's outputs. */
  state: Record<string, unknown>;
  retainOnDelete: boolean;
  dependencies: string[];
  /** `<provider URN>::<id>` of its explicit provider, or "". */
  provider: string;
  /** Seconds the creation took. */
  seconds: number;
}

export interface DestroyReport {
  /** `type name` of every resource removed. */
  removed: string[];
  /** Resources kept because of `retainOnDelete` (or an image with keepLocally). */
  retained: Created[];
}

type Inputs = Record<string, unknown>;

interface Handler {
  create(inputs: Inputs, request: Registration): Promise<{ id: string; state: Inputs }>;
  destroy?(resource: Created): Promise<void>;
}

/** Fails on any key of `value` that is not in `allowed` (path names the property). */
function onlyKeys(where: string, value: unknown, allowed: readonly string[]): Inputs {
  if (!value || typeof value !== "object" || Array.isArray(value)) throw new Error(`${where}: not an object`);
  const unknown = Object.keys(value).filter((k) => !allowed.includes(k));
  if (unknown.length)
    throw new Error(`${where}: the applier does not implement ${unknown.map((k) => `"${k}"`).join(", ")}`);
  return value as Inputs;
}

function list(where: string, value: unknown): Inputs[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new Error(`${where}: not a list`);
  return value as Inputs[];
}

/** `5s`, `250ms`, `1m` → nanoseconds (Docker's healthcheck unit). */
export function durationNs(where: string, value: unknown): number {
  const m = /^(\d+)(ms|s|m|h)$/.exec(String(value));
  if (!m) throw new Error(`${where}: unsupported duration ${JSON.stringify(value)}`);
  const unit = { ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 }[m[2] as "ms" | "s" | "m" | "h"];
  return Number(m[1]) * unit;
}

/** The terraform/pulumi random provider's character classes. */
const CHARSETS = {
  upper: "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
  lower: "abcdefghijklmnopqrstuvwxyz",
  numeric: "0123456789",
  special: "!@#$%&*()-_=+[]{}<>:?",
};

/** A random string as `random.RandomString`/`RandomPassword` make it (classes on unless set to false). */
export function randomValue(where: string, inputs: Inputs): string {
  onlyKeys(where, inputs, ["length", "special", "upper", "lower", "numeric", "overrideSpecial"]);
  const length = Number(inputs.length);
  if (!Number.isInteger(length) || length < 1)
    throw new Error(`${where}: bad length ${String(inputs.length)}`);
  let chars = "";
  if (inputs.upper !== false) chars += CHARSETS.upper;
  if (inputs.lower !== false) chars += CHARSETS.lower;
  if (inputs.numeric !== false) chars += CHARSETS.numeric;
  if (inputs.special !== false) chars += String(inputs.overrideSpecial ?? CHARSETS.special);
  if (!chars) throw new Error(`${where}: every character class is off`);
  let out = "";
  for (let i = 0; i < length; i++) out += chars[randomInt(chars.length)];
  return out;
}

/** Runs `/bin/sh -c script` in the project directory with extra environment; bounded in time. */
export function runLocal(
  script: string,
  env: Record<string, string>,
  timeoutMs: number,
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("/bin/sh", ["-c", script], {
      cwd: PROJECT_DIR,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString("utf8")));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve({ stdout, stderr });
      else
        reject(
          new Error(
            `command ${JSON.stringify(script)} ${signal ? `killed (${signal}, limit ${timeoutMs} ms)` : `exited ${code}`}: ${stderr.trim().split("\n").slice(-10).join("\n")}`,
          ),
        );
    });
  });
}

interface ContainerJson {
  Id: string;
  Name: string;
  State: {
    Status: string;
    Running: boolean;
    ExitCode: number;
    StartedAt: string;
    Health?: { Status: string; Log?: { Output: string; ExitCode: number }[] };
  };
}

/** Creates, for real, what a program registers, and destroys it again. */
export class Applier {
  /** Created resources, in creation order. */
  readonly created: Created[] = [];
  /** Stdout of each remote command's `delete`, by resource name (RouterOS reports errors there, exit 0). */
  readonly deleteOutputs = new Map<string, string>();
  /** The program run (registrations and stack outputs), once `up` resolved. */
  run?: ProgramRun;
  private readonly byUrn = new Map<string, Created>();
  private queue: Promise<unknown> = Promise.resolve();
  private failure?: Error;
  private onFailure?: (e: Error) => void;
  private readonly handlers: Record<string, Handler>;

  constructor(private readonly opts: ApplierOptions) {
    this.handlers = this.makeHandlers();
  }

  private log(line: string) {
    this.opts.log?.(line);
  }

  /** Runs the program and creates every resource it registers; rejects on the first failure. */
  async up(): Promise<ProgramRun> {
    if (process.cwd() !== PROJECT_DIR)
      throw new Error(
        `run the system tier from ${PROJECT_DIR} (dynamic providers resolve modules from there)`,
      );
    // A failed creation may leave the program waiting forever on that resource's outputs: the first failure
    // ends `up` at once.
    let failed!: (e: Error) => void;
    const failure = new Promise<never>((_, reject) => (failed = reject));
    this.onFailure = failed;
    const program = runProgram({
      stack: this.opts.stack,
      config: this.opts.config,
      secretKeys: this.opts.secretKeys ?? [],
      settleOutputs: true,
      // One creation at a time, in registration order.
      provision: (request) => {
        const next = this.queue.then(() => this.provision(request));
        this.queue = next.catch(() => undefined);
        return next;
      },
    });
    program.catch(() => undefined);
    const run = await Promise.race([program, failure]);
    if (this.failure) throw this.failure;
    this.run = run;
    return run;
  }

  private async provision(request: Registration): Promise<{ id: string; state: Inputs }> {
    if (this.failure)
      throw new Error(`not created: ${request.type} ${request.name} (an earlier resource failed)`);
    try {
      const missing = request.dependencies.filter((urn) => !this.byUrn.has(urn));
      if (missing.length)
        throw new Error(
          `${request.name}: dependencies not created yet: ${missing.join(", ")} (ordering bug)`,
        );
      const started = Date.now();
      if (process.env.HAPROXY_EDGE_APPLIER_TRACE) this.log(`creating ${request.type} ${request.name} …`);
      const inputs = plain(request.wire) as Inputs;
      let result: { id: string; state: Inputs };
      if (!request.custom) result = { id: "", state: {} };
      else {
        const handler = this.handlers[request.type] ?? this.dynamicHandler(request.type);
        if (!handler) throw new Error(`the applier does not implement resource type ${request.type}`);
        result = await handler.create(inputs, request);
      }
      const created: Created = {
        urn: request.urn,
        type: request.type,
        name: request.name,
        custom: request.custom,
        id: result.id,
        inputs,
        state: result.state,
        retainOnDelete: request.retainOnDelete,
        dependencies: request.dependencies,
        provider: request.provider,
        seconds: (Date.now() - started) / 1000,
      };
      this.created.push(created);
      this.byUrn.set(created.urn, created);
      if (request.custom)
        this.log(`created ${request.type} ${request.name} (${created.seconds.toFixed(1)} s)`);
      await this.opts.afterCreate?.(created);
      return result;
    } catch (e) {
      const err = new Error(`apply failed at ${request.type} ${request.name}: ${(e as Error).message}`);
      this.failure ??= err;
      this.onFailure?.(this.failure);
      throw err;
    }
  }

  /** Destroys everything created, newest first; `retainOnDelete` resources are kept and reported. */
  async destroy(): Promise<DestroyReport> {
    const report: DestroyReport = { removed: [], retained: [] };
    const errors: string[] = [];
    for (const resource of [...this.created].reverse()) {
      if (!resource.custom) continue;
      if (resource.retainOnDelete) {
        report.retained.push(resource);
        continue;
      }
      const handler = this.handlers[resource.type] ?? this.dynamicHandler(resource.type);
      try {
        if (handler?.destroy) await handler.destroy(resource);
        report.removed.push(`${resource.type} ${resource.name}`);
      } catch (e) {
        errors.push(`${resource.type} ${resource.name}: ${(e as Error).message}`);
      }
    }
    this.created.length = 0;
    this.byUrn.clear();
    if (errors.length) throw new Error(`destroy left resources behind:\n${errors.join("\n")}`);
    return report;
  }

  /** The created resource of a type and name. */
  get(type: string, name: string): Created {
    const r = this.created.find((c) => c.type === type && c.name === name);
    if (!r) throw new Error(`no created ${type} named ${name}`);
    return r;
  }

  /** The Docker engine of a resource's explicit provider (`<provider URN>::<id>`). */
  private docker(of: { name: string; provider: string }): DockerApi {
    const provider = this.byUrn.get(of.provider.split("::").slice(0, -1).join("::"));
    if (!provider || provider.type !== "pulumi:providers:docker")
      throw new Error(`${of.name}: needs an explicit docker provider, has "${of.provider}"`);
    return DockerApi.fromHostUrl(String(provider.inputs.host));
  }

  /** Dynamic resources (`pulumi-nodejs:dynamic...`): their serialized provider, loaded as Pulumi does. */
  private dynamicHandler(type: string): Handler | undefined {
    if (!type.startsWith("pulumi-nodejs:dynamic")) return undefined;
    const load = (serialized: unknown) => {
      if (typeof serialized !== "string") throw new Error(`${type}: no __provider`);
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const requireFromString = require(
        require.resolve("require-from-string", { paths: [path.dirname(require.resolve("@pulumi/pulumi"))] }),
      ) as (code: string) => { handler(): DynamicProvider };
      return requireFromString(serialized).handler();
    };
    return {
      create: async (inputs) => {
        const provider = load(inputs.__provider);
        const { __provider, ...props } = inputs;
        let checked = props;
        if (provider.check) {
          const res = await provider.check({}, props);
          if (res.failures?.length)
            throw new Error(
              `check failed: ${res.failures.map((f) => `${f.property}: ${f.reason}`).join("; ")}`,
            );
          checked = (res.inputs as Inputs) ?? props;
        }
        const { id, outs } = await provider.create(checked);
        return { id, state: { ...(outs ?? {}), __provider } };
      },
      destroy: async (resource) => {
        const provider = load(resource.inputs.__provider);
        const outs = { ...resource.state };
        delete outs.__provider;
        await provider.delete?.(resource.id, outs);
      },
    };
  }

  private makeHandlers(): Record<string, Handler> {
    const commandTimeout = this.opts.commandTimeoutMs ?? 300_000;
    const deleteOutputs = this.deleteOutputs;
    return {
      "pulumi:providers:docker": {
        async create(inputs, request) {
          onlyKeys(`${request.name}`, inputs, ["host", "sshOpts", "version"]);
          if (inputs.sshOpts !== undefined) throw new Error(`${request.name}: sshOpts (SSH Docker hosts)`);
          DockerApi.fromHostUrl(String(inputs.host));
          return { id: `${request.name}-provider`, state: inputs };
        },
      },
      "docker:index/network:Network": {
        create: async (inputs, request) => {
          onlyKeys(request.name, inputs, ["name", "driver", "ipamConfigs", "labels"]);
          const ipam = list(`${request.name}.ipamConfigs`, inputs.ipamConfigs).map((c, i) =>
            onlyKeys(`${request.name}.ipamConfigs[${i}]`, c, ["subnet"]),
          );
          const res = await this.docker(request).request<{ Id: string }>({
            method: "POST",
            path: "/networks/create",
            body: {
              Name: inputs.name,
              Driver: inputs.driver ?? "bridge",
              CheckDuplicate: true,
              IPAM: { Driver: "default", Config: ipam.map((c) => ({ Subnet: c.subnet })) },
              Labels: labels(request.name, inputs.labels),
            },
          });
          return { id: res.Id, state: { ...inputs, id: res.Id } };
        },
        destroy: async (r) => {
          await this.docker(r).request({ method: "DELETE", path: `/networks/${r.id}` });
        },
      },
      "docker:index/volume:Volume": {
        create: async (inputs, request) => {
          onlyKeys(request.name, inputs, ["name", "labels"]);
          const res = await this.docker(request).request<{ Name: string }>({
            method: "POST",
            path: "/volumes/create",
            body: { Name: inputs.name, Labels: labels(request.name, inputs.labels) },
          });
          return { id: res.Name, state: { ...inputs, name: res.Name } };
        },
        destroy: async (r) => {
          await this.docker(r).request({ method: "DELETE", path: `/volumes/${encodeURIComponent(r.id)}` });
        },
      },
      "docker:index/remoteImage:RemoteImage": {
        create: async (inputs, request) => {
          onlyKeys(request.name, inputs, ["name", "keepLocally"]);
          const name = String(inputs.name);
          try {
            const image = await this.docker(request).request<{ Id: string }>({
              method: "GET",
              path: `/images/${encodeURIComponent(name)}/json`,
            });
            return { id: `${image.Id}${name}`, state: { ...inputs, imageId: image.Id, repoDigest: "" } };
          } catch (e) {
            if (e instanceof DockerApiError && e.status === 404)
              throw new Error(
                `image ${name} is not on the engine; build it with scripts/images.sh (never pulled)`,
              );
            throw e;
          }
        },
        destroy: async (r) => {
          if (r.inputs.keepLocally === true) return;
          await this.docker(r).request({
            method: "DELETE",
            path: `/images/${encodeURIComponent(String(r.inputs.name))}`,
          });
        },
      },
      "docker:index/container:Container": {
        create: (inputs, request) => this.createContainer(inputs, request),
        destroy: async (r) => {
          const api = this.docker(r);
          const t = Number(r.inputs.stopTimeout ?? 10);
          try {
            await api.request({
              method: "POST",
              path: `/containers/${r.id}/stop?t=${t}`,
              timeoutMs: (t + 30) * 1000,
            });
          } catch (e) {
            if (!(e instanceof DockerApiError && e.status === 304)) throw e;
          }
          await api.request({ method: "DELETE", path: `/containers/${r.id}?force=true&v=true` });
        },
      },
      "random:index/randomPassword:RandomPassword": {
        async create(inputs, request) {
          return { id: "none", state: { ...inputs, result: randomValue(request.name, inputs) } };
        },
      },
      "random:index/randomString:RandomString": {
        async create(inputs, request) {
          const result = randomValue(request.name, inputs);
          return { id: result, state: { ...inputs, result } };
        },
      },
      "command:remote:Command": {
        async create(inputs, request) {
          onlyKeys(request.name, inputs, [
            "connection",
            "create",
            "delete",
            "update",
            "triggers",
            "addPreviousOutputInEnv",
            "logging",
          ]);
          // The provider sets PULUMI_COMMAND_* through SSH setenv unless told not to; RouterOS refuses setenv.
          if (inputs.addPreviousOutputInEnv !== false)
            throw new Error(`${request.name}: the applier implements only addPreviousOutputInEnv: false`);
          const r = await sshExec(
            sshTarget(request.name, inputs.connection),
            String(inputs.create),
            commandTimeout,
          );
          // As the provider: a non-zero exit fails the resource; stdout/stderr lose their final newline.
          if (r.code !== 0)
            throw new Error(`${request.name}: exit ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
          return {
            id: `${request.name}-${Date.now()}`,
            state: { ...inputs, stdout: r.stdout.replace(/\n$/, ""), stderr: r.stderr.replace(/\n$/, "") },
          };
        },
        async destroy(r) {
          if (typeof r.inputs.delete !== "string") return;
          const out = await sshExec(sshTarget(r.name, r.inputs.connection), r.inputs.delete, commandTimeout);
          if (out.code !== 0) throw new Error(`exit ${out.code}: ${out.stderr.trim() || out.stdout.trim()}`);
          deleteOutputs.set(r.name, out.stdout);
        },
      },
      "command:remote:CopyToRemote": {
        async create(inputs, request) {
          onlyKeys(request.name, inputs, ["connection", "source", "remotePath", "triggers"]);
          const source = onlyKeys(`${request.name}.source`, inputs.source, [
            ASSET_SIG_KEY,
            "__pulumiAsset",
            "text",
          ]);
          const isAsset = source[ASSET_SIG_KEY] === ASSET_SIG || source.__pulumiAsset === true;
          if (!isAsset || typeof source.text !== "string")
            throw new Error(
              `${request.name}: the applier implements only StringAsset sources, got ${JSON.stringify(Object.keys(source))}`,
            );
          // SFTP, as the provider (github.com/pkg/sftp): the parent directory must exist.
          await sftpWrite(
            sshTarget(request.name, inputs.connection),
            String(inputs.remotePath),
            source.text,
            commandTimeout,
          );
          return { id: `${request.name}-${Date.now()}`, state: { ...inputs } };
        },
        // The provider leaves the file on delete (the program's cleanup commands remove it).
      },
      "command:local:Command": {
        async create(inputs, request) {
          onlyKeys(request.name, inputs, ["create", "delete", "environment", "triggers", "logging"]);
          const env = (inputs.environment ?? {}) as Record<string, string>;
          const { stdout, stderr } = await runLocal(String(inputs.create), env, commandTimeout);
          return {
            id: `${request.name}-${Date.now()}`,
            state: { ...inputs, stdout: stdout.replace(/\n$/, ""), stderr: stderr.replace(/\n$/, "") },
          };
        },
        async destroy(r) {
          if (typeof r.inputs.delete === "string")
            await runLocal(
              r.inputs.delete,
              (r.inputs.environment ?? {}) as Record<string, string>,
              commandTimeout,
            );
        },
      },
    };
  }

  /** `docker create` + uploads + start (+ wait until healthy), as the Docker provider does it. */
  private async createContainer(
    inputs: Inputs,
    request: Registration,
  ): Promise<{ id: string; state: Inputs }> {
    const where = request.name;
    onlyKeys(where, inputs, [
      "name",
      "image",
      "user",
      "entrypoints",
      "command",
      "restart",
      "wait",
      "waitTimeout",
      "uploads",
      "volumes",
      "networksAdvanced",
      "ports",
      "healthcheck",
      "stopTimeout",
      "labels",
      "envs",
    ]);
    const api = this.docker(request);
    const networks = list(`${where}.networksAdvanced`, inputs.networksAdvanced).map((n, i) =>
      onlyKeys(`${where}.networksAdvanced[${i}]`, n, ["name", "aliases", "ipv4Address"]),
    );
    const endpoint = (n: Inputs) => ({
      Aliases: (n.aliases as string[] | undefined) ?? [],
      ...(n.ipv4Address ? { IPAMConfig: { IPv4Address: n.ipv4Address } } : {}),
    });
    const exposed: Record<string, object> = {};
    const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
    list(`${where}.ports`, inputs.ports).forEach((p, i) => {
      onlyKeys(`${where}.ports[${i}]`, p, ["internal", "external", "ip", "protocol"]);
      // The system tier's network rule: nothing is published beyond loopback.
      if (p.ip !== "127.0.0.1")
        throw new Error(`${where}.ports[${i}]: publishes on ${String(p.ip ?? "0.0.0.0")}, not 127.0.0.1`);
      const key = `${String(p.internal)}/${String(p.protocol ?? "tcp")}`;
      exposed[key] = {};
      (bindings[key] ??= []).push({ HostIp: "127.0.0.1", HostPort: String(p.external ?? "") });
    });
    const binds = list(`${where}.volumes`, inputs.volumes).map((v, i) => {
      onlyKeys(`${where}.volumes[${i}]`, v, ["volumeName", "containerPath", "readOnly"]);
      return `${String(v.volumeName)}:${String(v.containerPath)}${v.readOnly ? ":ro" : ""}`;
    });
    let healthcheck: object | undefined;
    if (inputs.healthcheck !== undefined) {
      const h = onlyKeys(`${where}.healthcheck`, inputs.healthcheck, [
        "tests",
        "interval",
        "timeout",
        "startPeriod",
        "retries",
      ]);
      healthcheck = {
        Test: h.tests,
        Interval: durationNs(`${where}.healthcheck.interval`, h.interval ?? "30s"),
        Timeout: durationNs(`${where}.healthcheck.timeout`, h.timeout ?? "30s"),
        StartPeriod: durationNs(`${where}.healthcheck.startPeriod`, h.startPeriod ?? "0s"),
        Retries: Number(h.retries ?? 0),
      };
    }
    const [first, ...more] = networks;
    const body = {
      Image: inputs.image,
      User: inputs.user ?? "",
      Entrypoint: inputs.entrypoints,
      Cmd: inputs.command,
      Env: (inputs.envs as string[] | undefined) ?? [],
      Labels: labels(where, inputs.labels),
      StopTimeout: inputs.stopTimeout,
      Healthcheck: healthcheck,
      ExposedPorts: exposed,
      HostConfig: {
        Binds: binds,
        PortBindings: bindings,
        RestartPolicy: { Name: inputs.restart ?? "no" },
        NetworkMode: first ? String(first.name) : "default",
      },
      NetworkingConfig: first ? { EndpointsConfig: { [String(first.name)]: endpoint(first) } } : undefined,
    };
    const { Id: id } = await api.request<{ Id: string }>({
      method: "POST",
      path: `/containers/create?name=${encodeURIComponent(String(inputs.name))}`,
      body,
    });
    for (const n of more)
      await api.request({
        method: "POST",
        path: `/networks/${encodeURIComponent(String(n.name))}/connect`,
        body: { Container: id, EndpointConfig: endpoint(n) },
      });
    const uploads = list(`${where}.uploads`, inputs.uploads).map((u, i) => {
      onlyKeys(`${where}.uploads[${i}]`, u, ["file", "content", "permissions"]);
      return {
        path: String(u.file),
        content: Buffer.from(String(u.content), "utf8"),
        mode: parseInt(String(u.permissions ?? "0644"), 8),
      };
    });
    if (uploads.length)
      await api.request({
        method: "PUT",
        path: `/containers/${id}/archive?path=/`,
        body: tarFiles(uploads),
        contentType: "application/x-tar",
      });
    await api.request({ method: "POST", path: `/containers/${id}/start` });
    if (inputs.wait === true) await this.waitHealthy(api, id, where, Number(inputs.waitTimeout ?? 60));
    return { id, state: { ...inputs, id } };
  }

  /** Polls until the container is healthy (or running, without a healthcheck); fails fast when it exits. */
  private async waitHealthy(api: DockerApi, id: string, where: string, timeoutSeconds: number) {
    const deadline = Date.now() + timeoutSeconds * 1000;
    for (;;) {
      const c = await api.request<ContainerJson>({ method: "GET", path: `/containers/${id}/json` });
      const health = c.State.Health?.Status;
      if (c.State.Running && (health === undefined || health === "healthy")) return;
      const problem =
        !c.State.Running && c.State.Status !== "created"
          ? `exited with code ${c.State.ExitCode}`
          : health === "unhealthy"
            ? `unhealthy: ${c.State.Health?.Log?.at(-1)?.Output.trim() ?? ""}`
            : Date.now() > deadline
              ? `not healthy within ${timeoutSeconds} s (${health ?? c.State.Status})`
              : "";
      if (problem) {
        const logs = await api.logs(id, 30).catch(() => "");
        throw new Error(`container ${where} ${problem}\n--- last log lines ---\n${logs}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

interface DynamicProvider {
  check?(
    olds: Inputs,
    news: Inputs,
  ): Promise<{ inputs?: unknown; failures?: { property: string; reason: string }[] }>;
  create(inputs: Inputs): Promise<{ id: string; outs?: Inputs }>;
  delete?(id: string, outs: Inputs): Promise<void>;
}

/** Docker provider labels (`[{label, value}]`) → engine labels. */
function labels(where: string, value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  list(`${where}.labels`, value).forEach((l, i) => {
    onlyKeys(`${where}.labels[${i}]`, l, ["label", "value"]);
    out[String(l.label)] = String(l.value);
  });
  return out;
}
