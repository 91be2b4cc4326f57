/**
 * Runs the real `index.ts` under Pulumi's runtime mocks and records every resource registration: its type,
 * name, parent, dependencies, options and inputs, both as the program sent them (secrets still wrapped) and
 * as plain values.
 */
import * as pulumi from "@pulumi/pulumi";

/** Pulumi's wire marker for special values (secrets, assets). */
export const SIG = "4dabf18193072939515e22adb298388d";
export const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
/** The type of a RouterOS command (routeros/command-provider.ts). */
export const ROUTER_COMMAND = "pulumi-nodejs:dynamic/routeros:Command";

export interface Registered {
  type: string;
  name: string;
  urn: string;
  custom: boolean;
  parent: string;
  /** URNs this resource depends on (explicit dependsOn and input dependencies). */
  dependencies: string[];
  deleteBeforeReplace: boolean;
  retainOnDelete: boolean;
  replaceOnChanges: string[];
  additionalSecretOutputs: string[];
  /** Its provider reference (`<provider urn>::<id>`), or "" for the default provider of its package. */
  provider: string;
  /** Inputs as sent on the wire: secrets are `{ [SIG]: SECRET_SIG, value }` objects. */
  wire: Record<string, unknown>;
}

export interface ProgramRun {
  resources: Registered[];
  /** The program's stack exports, resolved. */
  outputs: Record<string, unknown>;
  byName(name: string): Registered;
  ofType(type: string): Registered[];
}

export interface RunOptions {
  project?: string;
  stack: string;
  /** `haproxy-edge:<key>` → raw config string, as `pulumi.runtime.allConfig()` holds it. */
  config: Record<string, string>;
  /** Full keys (`haproxy-edge:<key>`) that hold secrets. */
  secretKeys?: string[];
  preview?: boolean;
  /** PEM returned as the self-signed certificate's `pem` output. */
  certificatePem?: string;
  /** Receives every registration as it happens (also when the program throws). */
  sink?: Registered[];
}

/** Mock outputs that resources would get from their providers. */
function mockState(type: string, name: string, inputs: Record<string, unknown>, opts: RunOptions) {
  const state: Record<string, unknown> = { ...inputs };
  if (type === "random:index/randomPassword:RandomPassword") state.result = `mock-password-${name}`;
  if (type === "random:index/randomString:RandomString") state.result = "MockSaltMockSalt";
  if (type === "docker:index/remoteImage:RemoteImage") state.imageId = `sha256:mock-${String(inputs.name)}`;
  if (type.startsWith("pulumi-nodejs:dynamic")) {
    state.pem = opts.certificatePem ?? "-----BEGIN CERTIFICATE-----\nMOCK\n-----END CERTIFICATE-----\n";
    state.serial = "0123456789abcdef";
    state.notAfter = "2036-01-01T00:00:00.000Z";
  }
  if (type === "command:local:Command") {
    state.stdout = "PULUMI-OK\n";
    state.stderr = "";
  }
  if (type === ROUTER_COMMAND) state.stdout = "PULUMI-OK";
  return state;
}

async function resolve(value: unknown): Promise<unknown> {
  if (pulumi.Output.isInstance(value)) {
    return new Promise((ok) => (value as pulumi.Output<unknown>).apply((v) => ok(v)));
  }
  if (Array.isArray(value)) return Promise.all(value.map((v) => resolve(v)));
  if (value && typeof value === "object" && !pulumi.Resource.isInstance(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = await resolve(v);
    return out;
  }
  return value;
}

/** Runs `index.ts` once under mocks and waits until every registration is done. */
export async function runProgram(opts: RunOptions): Promise<ProgramRun> {
  const project = opts.project ?? "haproxy-edge";
  const resources: Registered[] = opts.sink ?? [];
  await pulumi.runtime.setMocks(
    {
      newResource: (a) => ({ id: `${a.name}-id`, state: mockState(a.type, a.name, a.inputs, opts) }),
      call: (a) => a.inputs,
    },
    project,
    opts.stack,
    opts.preview ?? false,
  );
  pulumi.runtime.setAllConfig(opts.config, opts.secretKeys ?? []);

  const monitor = pulumi.runtime.getMonitor() as unknown as {
    registerResource: (req: RegisterRequest, cb: (err: unknown, resp: { getUrn(): string }) => void) => void;
  };
  const original = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, cb) => {
    return original(req, (err, resp) => {
      if (!err) {
        resources.push({ ...describe(req), urn: resp.getUrn() });
      }
      cb(err, resp);
    });
  };

  const entry = require.resolve("../../index");
  Reflect.deleteProperty(require.cache, entry);
  let outputs: Record<string, unknown>;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const program = require(entry) as Record<string, unknown>;
    outputs = (await resolve({ ...program })) as Record<string, unknown>;
  } finally {
    // Drains every pending registration, also when the program threw.
    await pulumi.runtime.disconnect();
  }

  const find = (name: string) => {
    const r = resources.find((x) => x.name === name);
    if (!r) throw new Error(`no resource named ${name}; have: ${resources.map((x) => x.name).join(", ")}`);
    return r;
  };
  return { resources, outputs, byName: find, ofType: (t) => resources.filter((r) => r.type === t) };
}

/** A registration request's fields (all but the URN the monitor answers with). */
function describe(req: RegisterRequest): Omit<Registered, "urn"> {
  return {
    type: req.getType(),
    name: req.getName(),
    custom: req.getCustom(),
    parent: req.getParent(),
    dependencies: req.getDependenciesList(),
    deleteBeforeReplace: req.getDeletebeforereplace(),
    retainOnDelete: req.getRetainondelete?.() ?? false,
    replaceOnChanges: req.getReplaceonchangesList(),
    additionalSecretOutputs: req.getAdditionalsecretoutputsList(),
    provider: req.getProvider?.() ?? "",
    wire: (req.getObject()?.toJavaScript() ?? {}) as Record<string, unknown>,
  };
}

interface RegisterRequest {
  getType(): string;
  getName(): string;
  getCustom(): boolean;
  getParent(): string;
  getDependenciesList(): string[];
  getDeletebeforereplace(): boolean;
  getRetainondelete?(): boolean;
  getReplaceonchangesList(): string[];
  getAdditionalsecretoutputsList(): string[];
  getProvider?(): string;
  getObject(): { toJavaScript(): unknown } | undefined;
}

/** Paths (`a.b[0].c`) of every secret-wrapped value in wire inputs. */
export function secretPaths(value: unknown, path = ""): string[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => secretPaths(v, `${path}[${i}]`));
  if (value && typeof value === "object") {
    const o = value as Record<string, unknown>;
    if (o[SIG] === SECRET_SIG) return [path];
    return Object.entries(o).flatMap(([k, v]) => secretPaths(v, path ? `${path}.${k}` : k));
  }
  return [];
}

/** The wire inputs with every secret-wrapped value removed: what would be stored in clear. */
export function withoutSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutSecrets);
  if (value && typeof value === "object") {
    const o = value as Record<string, unknown>;
    if (o[SIG] === SECRET_SIG) return "[secret]";
    return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, withoutSecrets(v)]));
  }
  return value;
}

/** Wire value with secret wrappers unwrapped (plain data). */
export function plain(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(plain);
  if (value && typeof value === "object") {
    const o = value as Record<string, unknown>;
    if (o[SIG] === SECRET_SIG) return plain(o.value);
    return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, plain(v)]));
  }
  return value;
}
