/**
 * Pulumi.yaml declares the scalar settings of config/schema.ts with the same type and default, so that
 * `pulumi config` and the program agree on what a stack may set. The real CLI treats a declared key without a
 * default as required, so an optional key without a default is not declared but listed in the file's comment.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import type { z } from "zod";
import { parseStackConfig } from "../../config/parse";
import { STRING_KEYS, topLevel, type TopLevelKey } from "../../config/schema";
import { readProjectYaml } from "../support/stack-config";

interface ConfigType {
  type?: unknown;
  description?: unknown;
  default?: unknown;
  secret?: unknown;
  items?: { type?: unknown };
}

interface ProjectFile {
  name?: unknown;
  runtime?: { name?: unknown; options?: Record<string, unknown> } | string;
  config?: Record<string, ConfigType>;
}

const CTX = { project: "haproxy-edge", stack: "dev", secretKeys: new Set<string>() };
const STRUCTURED = new Set<string>(["hosts", "routes"]);
const SCALAR_KEYS = (Object.keys(topLevel) as TopLevelKey[]).filter((k) => !STRUCTURED.has(k));
/** The one required scalar key: Pulumi may declare it without a default. */
const REQUIRED = new Set<string>(["domains"]);
/** Optional keys without a schema default: declaring them would make the CLI require them. */
const UNDECLARED = SCALAR_KEYS.filter(
  (k) =>
    !REQUIRED.has(k) &&
    topLevel[k].safeParse(undefined).success &&
    topLevel[k].parse(undefined) === undefined,
);
const DECLARED = SCALAR_KEYS.filter((k) => !UNDECLARED.includes(k));

/** The zod type under defaults, optionals and pipes: "string", "number", "array", "enum", ... */
function baseType(schema: z.ZodType): { type: string; schema: z.ZodType } {
  let s = schema;
  for (;;) {
    const def = (s as unknown as { def: { type: string; innerType?: z.ZodType; in?: z.ZodType } }).def;
    if (def.innerType) s = def.innerType;
    else if (def.type === "pipe" && def.in) s = def.in;
    else return { type: def.type, schema: s };
  }
}

/** The Pulumi config type a zod base type is declared with. */
function pulumiType(key: TopLevelKey): string {
  const { type } = baseType(topLevel[key]);
  if (type === "string" || type === "enum") return "string";
  if (type === "number") return "integer";
  if (type === "boolean") return "boolean";
  if (type === "array") return "array";
  throw new Error(`no Pulumi type for zod type ${type} of ${key}`);
}

describe("Pulumi.yaml", () => {
  let project: ProjectFile;
  let config: Record<string, ConfigType>;
  /** The parsed config of a stack that sets only `domains`: every schema default. */
  let defaults: Record<string, unknown>;
  before(() => {
    project = readProjectYaml("Pulumi.yaml") as ProjectFile;
    config = project.config ?? {};
    const parsed = parseStackConfig({ domains: ["example.com"] }, CTX);
    if (!parsed.ok) assert.fail(`defaults do not parse: ${JSON.stringify(parsed.issues)}`);
    defaults = parsed.config as unknown as Record<string, unknown>;
  });

  it("declares the haproxy-edge project on the nodejs runtime", () => {
    assert.equal(project.name, "haproxy-edge");
    const runtime = typeof project.runtime === "string" ? project.runtime : project.runtime?.name;
    assert.equal(runtime, "nodejs");
  });

  it("declares exactly the scalar keys that are required or have a default (not hosts and routes)", () => {
    assert.ok(DECLARED.length > 30, `only ${DECLARED.length} declared keys found`);
    assert.deepEqual(Object.keys(config).sort(), [...DECLARED].sort());
  });

  it("lists every optional key without a default, and hosts and routes, in its comment", () => {
    assert.deepEqual([...UNDECLARED].sort(), [
      "acmeCaBundle",
      "acmeDnsServer",
      "acmeEmail",
      "acmeTsigKeyName",
      "acmeTsigSecret",
      "certbotHost",
    ]);
    const text = fs.readFileSync("Pulumi.yaml", "utf8");
    const optional = /^#\s+optional: (.*)$/m.exec(text)?.[1] ?? "";
    const structured = /^#\s+structured[^:]*: (.*)$/m.exec(text)?.[1] ?? "";
    for (const key of UNDECLARED) assert.match(optional, new RegExp(`\\b${key}\\b`), `${key} not listed`);
    for (const key of STRUCTURED) assert.match(structured, new RegExp(`\\b${key}\\b`), `${key} not listed`);
  });

  for (const key of DECLARED) {
    describe(key, () => {
      it("has a type matching the schema and a description", () => {
        const decl = config[key];
        assert.ok(decl, `${key} is not declared in Pulumi.yaml`);
        assert.equal(decl.type, pulumiType(key));
        assert.equal(typeof decl.description, "string");
        assert.ok((decl.description as string).trim().length > 10, `${key} has no real description`);
        if (decl.type === "array") assert.deepEqual(decl.items, { type: "string" });
        // The program reads a string-typed key as is and JSON-decodes the others (config/parse.ts).
        assert.equal(STRING_KEYS.has(key), decl.type === "string");
      });

      it("has the schema's default, or none when the schema has none", () => {
        const decl = config[key] ?? {};
        if (REQUIRED.has(key))
          assert.ok(!("default" in decl), `Pulumi.yaml has a default for a required key`);
        else assert.deepEqual(decl.default, defaults[key]);
      });
    });
  }

  it("every Pulumi.yaml default is valid for the schema", () => {
    const values = Object.fromEntries(
      Object.entries(config)
        .filter(([, d]) => "default" in d)
        .map(([k, d]) => [k, d.default]),
    );
    assert.ok(Object.keys(values).length > 20);
    const res = parseStackConfig({ domains: ["example.com"], ...values }, CTX);
    assert.ok(res.ok, res.ok ? "" : JSON.stringify(res.issues));
  });

  it("declares the integer keys as integers the schema accepts, and rejects fractions", () => {
    for (const key of SCALAR_KEYS.filter((k) => config[k]?.type === "integer")) {
      const bad = parseStackConfig({ domains: ["example.com"], [key]: 1.5 }, CTX);
      assert.equal(bad.ok, false, `${key} accepts 1.5`);
    }
  });

  it("marks no declared key secret (the secret acmeTsigSecret is optional; the program enforces --secret)", () => {
    assert.deepEqual(
      Object.entries(config)
        .filter(([, d]) => d.secret === true)
        .map(([k]) => k),
      [],
    );
  });
});
