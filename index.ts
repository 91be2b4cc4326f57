/**
 * haproxy-edge: the Pulumi program. Thin shell: read the stack config, validate it into a model (every
 * problem reported together, nothing registered when any is found), declare the edge, export its outputs.
 */
import * as pulumi from "@pulumi/pulumi";
import { Edge } from "./components/edge";
import { loadModel, type EdgeModel } from "./config/model";
import { ConfigError, decodeRawConfig } from "./config/parse";
import { secretConfigKeys } from "./config/secrets";

const project = pulumi.getProject();
const stack = pulumi.getStack();
const prefix = `${project}:`;
const raw: Record<string, string> = {};
const secretKeys = new Set<string>();
const otherKeys: string[] = [];
const all = pulumi.runtime.allConfig();
const secret = secretConfigKeys(
  Object.keys(all),
  (pulumi.runtime as { isConfigSecret?: (key: string) => boolean }).isConfigSecret,
  process.env.PULUMI_CONFIG_SECRET_KEYS,
);
for (const [fullKey, value] of Object.entries(all)) {
  if (!fullKey.startsWith(prefix)) {
    otherKeys.push(fullKey);
    continue;
  }
  const key = fullKey.slice(prefix.length);
  raw[key] = value;
  if (secret.has(fullKey)) secretKeys.add(key);
}

/**
 * The model, or the end of the run: a config error goes to Pulumi as a RunError, which it prints once, as its
 * message (every problem, redacted), instead of an "unhandled exception" with a stack trace. The ConfigError,
 * with its issues, is the RunError's `cause`.
 */
function modelOrStop(): EdgeModel {
  try {
    return loadModel(decodeRawConfig(raw), { project, stack, secretKeys, otherKeys });
  } catch (e) {
    if (e instanceof ConfigError) throw new pulumi.RunError(e.message, { cause: e });
    throw e;
  }
}

const model = modelOrStop();
const edge = new Edge(stack, { model });
// A host that accepts any SSH host key says so on every run (config/host-keys.ts).
for (const warning of model.hostKeyWarnings) void pulumi.log.warn(warning);

/** Where the load balancer answers (on the Docker host or the router). */
export const loadBalancerEndpoint = model.loadBalancer.endpoint;
/** Public URL of every route host. */
export const urls = Object.fromEntries(model.routes.map((r) => [r.name, r.urls]));
/** Staging URL of every route (internal clients only). */
export const stagingUrls = Object.fromEntries(model.routes.map((r) => [r.name, r.stagingUrl]));
/** Worker names in rollout order. */
export const workerNames = model.workers.map((w) => w.name);
/** Data Plane API endpoint and user of every worker (never the password; see docs/configuration.md "Data Plane API access"). */
export const dataplaneApiEndpoints = Object.fromEntries(
  model.routeUpdates === "live"
    ? model.workers.map((w) => [w.name, { url: w.dataplaneApi.endpoint, user: w.dataplaneApi.user }])
    : [],
);
/** SHA-256 of each rendered file, by service: a changed hash is a changed file. */
export const fileHashes = edge.fileHashes;
/** Volumes kept on `pulumi destroy` by design (certificates, ACME account and state). */
export const retainedVolumes = model.retainedVolumes;
/** Serial of the self-signed certificate (the lab certificate, or the placeholder before the first issuance). */
export const selfSignedCertificateSerial = edge.certificate.serial;
