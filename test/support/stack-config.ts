/**
 * Reads a stack file (Pulumi.<stack>.yaml) into what the Pulumi program receives at run time, so tests can
 * feed the committed example stacks through the same decode/parse/model path as index.ts.
 *
 * - `config` is what `pulumi.runtime.allConfig()` returns: keys `haproxy-edge:<key>`, string values as they
 *   are, every other value JSON-encoded.
 * - `secretKeys` are the top-level keys (namespace stripped, as index.ts passes them) Pulumi would hold as
 *   secrets. The committed prod file has no secrets in it (they are set with `--secret`), so test values are
 *   added for `acmeTsigSecret` and `hosts.edge-router.privateKey`, as `pulumi config set --secret` would.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { SECRET_PATHS } from "../../config/schema";

export const PROJECT_NAME = "haproxy-edge";
const ROOT = path.resolve(__dirname, "..", "..");

/** Test-only secrets added to the prod stack (not real keys). */
export const TEST_SECRETS = {
  acmeTsigSecret: "dGVzdC10c2lnLXNlY3JldC1ub3QtcmVhbA==",
  routerPrivateKey:
    "-----BEGIN OPENSSH PRIVATE KEY-----\ndGVzdC1yb3V0ZXIta2V5LW5vdC1yZWFs\n-----END OPENSSH PRIVATE KEY-----\n",
} as const;

export interface StackFile {
  /** As `pulumi.runtime.allConfig()`: `haproxy-edge:<key>` → string. */
  config: Record<string, string>;
  /** Top-level keys (without namespace) whose value is a secret. */
  secretKeys: ReadonlySet<string>;
}

/** Parses Pulumi.yaml (or any file under the project root) with the `yaml` package. */
export function readProjectYaml(file: string): unknown {
  return parse(fs.readFileSync(path.join(ROOT, file), "utf8"));
}

/**
 * A committed stack (`dev`, `prod`: `Pulumi.<name>.yaml` at the root) or any stack file by its path under the
 * project root (e.g. the system tier's `test/system/Pulumi.systest.yaml`), with `overrides` (top-level keys
 * without namespace) applied on top.
 */
export function loadStackFile(name: string, overrides: Record<string, unknown> = {}): StackFile {
  const file = name.endsWith(".yaml") ? name : `Pulumi.${name}.yaml`;
  const doc = readProjectYaml(file) as { config?: Record<string, unknown> } | null;
  const values: Record<string, unknown> = { ...(doc?.config ?? {}) };
  const secretKeys = new Set<string>();
  for (const [key, value] of Object.entries(overrides)) {
    values[`${PROJECT_NAME}:${key}`] = value;
    // As `pulumi config set --secret` would for the keys the program treats as secrets.
    if (SECRET_PATHS.some((re) => re.test(key))) secretKeys.add(key);
  }
  if (name === "prod") {
    const ns = `${PROJECT_NAME}:`;
    // Test values where the caller gave none (the system tier gives a real key for the simulated router).
    values[`${ns}acmeTsigSecret`] ??= TEST_SECRETS.acmeTsigSecret;
    secretKeys.add("acmeTsigSecret");
    const hosts = structuredClone(values[`${ns}hosts`]) as Record<string, Record<string, unknown>>;
    hosts["edge-router"].privateKey ??= TEST_SECRETS.routerPrivateKey;
    values[`${ns}hosts`] = hosts;
    // `--secret --path hosts.x.privateKey` makes the whole `hosts` value a secret.
    secretKeys.add("hosts");
  }
  const config: Record<string, string> = {};
  for (const [key, value] of Object.entries(values)) {
    config[key] = typeof value === "string" ? value : JSON.stringify(value);
  }
  return { config, secretKeys };
}

/** `haproxy-edge:<key>` → `<key>` (what index.ts does before decodeRawConfig); other namespaces dropped. */
export function stripNamespace(config: Record<string, string>): Record<string, string> {
  const prefix = `${PROJECT_NAME}:`;
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(config)) {
    if (key.startsWith(prefix)) out[key.slice(prefix.length)] = value;
  }
  return out;
}

/**
 * The defaults Pulumi.yaml declares, as the engine passes them to the program (`haproxy-edge:<key>` → string,
 * non-strings JSON-encoded): every declared key with a default is in `allConfig()` whether the stack sets it or
 * not. A stack's own values go on top.
 */
export function projectDefaults(): Record<string, string> {
  const doc = readProjectYaml("Pulumi.yaml") as { config?: Record<string, { default?: unknown }> };
  const out: Record<string, string> = {};
  for (const [key, decl] of Object.entries(doc.config ?? {})) {
    if (decl.default === undefined) continue;
    out[`${PROJECT_NAME}:${key}`] =
      typeof decl.default === "string" ? decl.default : JSON.stringify(decl.default);
  }
  return out;
}
