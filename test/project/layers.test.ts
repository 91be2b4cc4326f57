/**
 * The layers of docs/architecture.md, kept true: config → render → service → the external systems (dataplane,
 * routeros, docker) → components → index.ts. A file may import only from its own layer or the layers before it
 * (the external systems form one layer), and production code never imports tests, benchmarks or scripts.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";

const ROOT = path.resolve(__dirname, "../..");
/** Layer order: each may import the ones before it; folders in one layer may import each other. */
const TIERS = [
  ["config"],
  ["render"],
  ["service"],
  ["dataplane", "routeros", "docker"],
  ["components"],
  ["index.ts"],
];
const LAYERS = TIERS.flat();
const tierOf = (layer: string) => TIERS.findIndex((t) => t.includes(layer));
const NOT_PRODUCTION = ["test", "bench", "scripts", "node_modules"];

/** The layer of a repository-relative path (`components/edge.ts` → `components`), or its first segment. */
function layerOf(rel: string): string {
  const first = rel.split(/[\\/]/)[0];
  return first;
}

/** Relative module specifiers a TypeScript source imports (`import … from`, `import(…)`, `require(…)`). */
export function importsOf(source: string): string[] {
  const out: string[] = [];
  const re = /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|^\s*import\s+)["']([^"']+)["']/gm;
  for (const m of source.matchAll(re)) if (m[1].startsWith(".")) out.push(m[1]);
  return out;
}

/** Why `file` (repository-relative) may not import `spec`, or undefined when it may. */
export function violation(file: string, spec: string): string | undefined {
  const target = path.relative(ROOT, path.resolve(ROOT, path.dirname(file), spec));
  const from = layerOf(file);
  const to = layerOf(target);
  if (target.startsWith("..")) return `${file} imports ${spec}, outside the repository`;
  if (NOT_PRODUCTION.includes(to)) return `${file} imports ${spec}: production code never imports ${to}/`;
  const a = tierOf(from);
  const layer = to === "index" ? "index.ts" : to;
  const b = tierOf(layer);
  if (b < 0) return undefined; // package.json, templates: data, not a layer
  if (b > a) return `${file} (${from}) imports ${spec} (${layer}), a later layer`;
  return undefined;
}

function sources(dir: string): string[] {
  const abs = path.join(ROOT, dir);
  if (dir.endsWith(".ts")) return [dir];
  return fs
    .readdirSync(abs, { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".ts"))
    .map((f) => path.join(dir, f));
}

describe("project: layers (docs/architecture.md)", () => {
  it("every production file imports only its own layer or earlier ones, and never tests or scripts", () => {
    const found: string[] = [];
    let files = 0;
    for (const layer of LAYERS)
      for (const file of sources(layer)) {
        files++;
        for (const spec of importsOf(fs.readFileSync(path.join(ROOT, file), "utf8"))) {
          const why = violation(file, spec);
          if (why) found.push(why);
        }
      }
    assert.ok(files > 20, `${files} files read`);
    assert.deepEqual(found, []);
  });

  it("tsconfig.json type-checks every layer, the tests and the bench, and names no folder without TypeScript", () => {
    const tsconfig = JSON.parse(fs.readFileSync(path.join(ROOT, "tsconfig.json"), "utf8")) as {
      include: string[];
    };
    const folders = tsconfig.include.map((p) => p.replace(/\/\*\*\/\*\.ts$/, ""));
    assert.deepEqual(
      [...LAYERS, "test", "bench"].filter((l) => !folders.includes(l)),
      [],
      "layers tsconfig.json leaves out",
    );
    assert.deepEqual(
      folders.filter((f) => sources(f).length === 0),
      [],
      "folders tsconfig.json names without a .ts file",
    );
  });

  it("catches an upward import, an import of tests, and reads every import form", () => {
    assert.match(violation("config/model.ts", "../render") ?? "", /a later layer/);
    assert.match(violation("render/haproxy.ts", "../components/edge") ?? "", /a later layer/);
    assert.match(violation("render/haproxy.ts", "../dataplane/routes") ?? "", /a later layer/);
    assert.match(violation("routeros/components.ts", "../components/worker") ?? "", /a later layer/);
    assert.match(violation("config/model.ts", "../routeros/commands") ?? "", /a later layer/);
    assert.equal(violation("dataplane/tunnel.ts", "../routeros/ssh"), undefined);
    assert.equal(violation("routeros/components.ts", "../render/template"), undefined);
    assert.match(violation("components/edge.ts", "../index") ?? "", /a later layer/);
    assert.match(violation("components/edge.ts", "../test/support/program") ?? "", /never imports test/);
    assert.equal(violation("components/edge.ts", "../routeros/components"), undefined);
    assert.equal(violation("index.ts", "./components/edge"), undefined);
    assert.deepEqual(
      importsOf(
        'import { a } from "../a";\nimport type { B } from "./b";\nimport "./c";\n' +
          'const d = require("../d");\nconst e = await import("./e");\nimport * as f from "node:fs";',
      ),
      ["../a", "./b", "./c", "../d", "./e"],
    );
  });
});
