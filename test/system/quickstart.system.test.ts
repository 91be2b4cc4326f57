/**
 * The README's quick start, as a new user runs it: its commands, read from README.md, in a temporary copy of
 * the project (so `pulumi stack init dev` writes its salt there, not here) with a HOME of its own, then the
 * README's "Try it" requests against the dev stack on 127.0.0.1. Changes to the commands, all said here: `npm ci`
 * is left to CI (node_modules is linked from this checkout); `pulumi login --local` becomes a login to that HOME
 * (`--local` means the home in the user database, not $HOME: the real user's, here); the two image settings
 * point at the images built locally (nothing can be pulled here); and `pulumi up` gets `--yes` (no terminal to
 * confirm on). The user's Pulumi CLI is the toolchain's
 * (scripts/toolchain.sh), its providers installed into that HOME's ~/.pulumi as the script does for a user.
 */
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { toolchainBin } from "./engine";
import { run, dockerCli } from "./support";

const ROOT = path.resolve(__dirname, "../..");
const IMAGE_OVERRIDES = {
  haproxyImage: "haproxy-edge/haproxy:3.0",
  dataplaneApiImage: "haproxy-edge/dataplaneapi:3.2.7",
};

/** The shell code blocks of README.md that follow `heading` (up to the next level-2 heading). */
function readmeBlocks(heading: string): string[] {
  const text = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
  const start = text.indexOf(`\n${heading}\n`);
  assert.ok(start >= 0, `README.md has no "${heading}"`);
  const rest = text.slice(start + heading.length + 2);
  const end = rest.search(/\n## /);
  const section = end >= 0 ? rest.slice(0, end) : rest;
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]);
}

/** A "Try it" block split into its snippets: each starts at a comment (one or more lines) before its code. */
function snippets(block: string): { comment: string; code: string }[] {
  const out: { comment: string; code: string }[] = [];
  for (const line of block.split("\n")) {
    const last = out[out.length - 1];
    if (line.startsWith("#") && last && !last.code) last.comment += `\n${line}`;
    else if (line.startsWith("#")) out.push({ comment: line, code: "" });
    else if (line.trim() && out.length > 0) out[out.length - 1].code += `${line}\n`;
  }
  return out;
}

describe("system: the README's quick start, as written, on the dev stack", function () {
  this.timeout(900_000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "haproxy-edge-quickstart-"));
  const project = path.join(dir, "project");
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: path.join(dir, "home"),
    PATH: `${toolchainBin()}:${process.env.PATH ?? ""}`,
    // Pulumi takes its home from the user database (/etc/passwd), not from HOME: named here, or the plugins and
    // credentials would go to the real user's ~/.pulumi. For a user the two are the same directory.
    PULUMI_HOME: path.join(dir, "home", ".pulumi"),
    PULUMI_SKIP_UPDATE_CHECK: "true",
    NO_COLOR: "1",
  };
  delete env.PULUMI_BACKEND_URL;
  delete env.PULUMI_CONFIG_PASSPHRASE;
  let started: { code: number; stdout: string; stderr: string };
  let noChanges: { code: number; stdout: string; stderr: string };
  /** The README's own `export PULUMI_CONFIG_PASSPHRASE=…` line, for the commands run after its block. */
  let passphrase = "";
  const tries: { comment: string; code: number; out: string }[] = [];

  // `run` passes no environment of its own: the scripts export what the README tells the user to.
  const exports = Object.entries(env)
    .filter(([k]) => ["HOME", "PATH", "PULUMI_HOME", "PULUMI_SKIP_UPDATE_CHECK", "NO_COLOR"].includes(k))
    .map(([k, v]) => `export ${k}='${String(v)}'`)
    .join("\n");

  const bash = (script: string, timeoutMs: number) =>
    run("bash", ["-c", script], timeoutMs, undefined, project);

  /** Removes the dev stack's Docker objects an interrupted run may have left (they carry its label). */
  const removeDevStack = async () => {
    const label = "label=haproxy-edge.stack=dev";
    const ids = (await dockerCli(["ps", "-aq", "--filter", label])).split("\n").filter(Boolean);
    if (ids.length > 0) await dockerCli(["rm", "-f", ...ids]);
    for (const n of (await dockerCli(["network", "ls", "-q", "--filter", label])).split("\n").filter(Boolean))
      await dockerCli(["network", "rm", n]);
    for (const v of (await dockerCli(["volume", "ls", "-q", "--filter", label])).split("\n").filter(Boolean))
      await dockerCli(["volume", "rm", "-f", v]);
  };

  before(async function () {
    await removeDevStack();
    // The project as a user has it: its files (tracked, or new and not ignored), and the installed node_modules.
    fs.mkdirSync(project, { recursive: true });
    fs.mkdirSync(env.HOME as string);
    const files = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], {
      cwd: ROOT,
      encoding: "utf8",
    })
      .split("\0")
      .filter((f) => f && fs.existsSync(path.join(ROOT, f)));
    for (const f of files) {
      fs.mkdirSync(path.join(project, path.dirname(f)), { recursive: true });
      fs.copyFileSync(path.join(ROOT, f), path.join(project, f));
    }
    fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(project, "node_modules"));
    // The providers where the user's `pulumi` looks for them, as `bash scripts/toolchain.sh` installs them.
    execFileSync("bash", [path.join(ROOT, "scripts/toolchain.sh"), "--install-plugins"], {
      env,
      stdio: "pipe",
    });

    const [commands] = readmeBlocks("## Quick start (dev stack)");
    assert.match(commands, /^npm ci$/m);
    assert.match(commands, /^pulumi up --stack dev$/m);
    assert.match(commands, /^pulumi login --local\b/m);
    passphrase = /^export PULUMI_CONFIG_PASSPHRASE=.*$/m.exec(commands)?.[0] ?? "";
    assert.ok(passphrase, "the quick start sets PULUMI_CONFIG_PASSPHRASE");
    const overrides = Object.entries(IMAGE_OVERRIDES)
      .map(([k, v]) => `pulumi config set --stack dev ${k} ${v}`)
      .join("\n");
    const script = commands
      .replace(/^npm ci$/m, "test -d node_modules/@pulumi/pulumi # npm ci: done by CI in this checkout")
      .replace(/^pulumi login --local\b/m, `pulumi login file://${String(env.HOME)}`)
      .replace(/^pulumi up --stack dev$/m, `${overrides}\npulumi up --stack dev --yes`);
    started = await bash(`set -euo pipefail\n${exports}\n${script}`, 900_000);

    noChanges = await bash(
      `${exports}\n${passphrase}\npulumi preview --stack dev --expect-no-changes --non-interactive`,
      300_000,
    );
    const [, tryIt] = readmeBlocks("## Quick start (dev stack)");
    for (const s of snippets(tryIt)) {
      const r = await bash(`${exports}\n${s.code}`, 120_000);
      tries.push({ comment: s.comment, code: r.code, out: r.stdout });
    }
  });

  after(async function () {
    await bash(
      `${exports}\n${passphrase}\npulumi destroy --stack dev --yes --non-interactive && pulumi stack rm dev --yes --non-interactive`,
      600_000,
    );
    await removeDevStack();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("runs every quick-start command to the end: `pulumi up` brings up the dev stack", () => {
    assert.equal(started.code, 0, `${started.stdout.slice(-4000)}\n${started.stderr.slice(-4000)}`);
    assert.match(started.stdout, /Resources:\s*\n\s*\+ \d+ created/);
    // Every plugin came from where Pulumi looks for it, none from PATH with a warning.
    assert.ok(!`${started.stdout}${started.stderr}`.includes("from $PATH"), started.stdout);
    assert.ok(!fs.readFileSync(path.join(ROOT, "Pulumi.dev.yaml"), "utf8").includes("encryptionsalt"));
    assert.match(fs.readFileSync(path.join(project, "Pulumi.dev.yaml"), "utf8"), /^encryptionsalt: /m);
  });

  it("`pulumi preview --expect-no-changes` right after it finds nothing to do", () => {
    assert.equal(noChanges.code, 0, `${noChanges.stdout.slice(-4000)}\n${noChanges.stderr.slice(-2000)}`);
  });

  it('answers the README\'s five "Try it" requests with real pages', () => {
    assert.equal(tries.length, 5, tries.map((t) => t.comment).join("\n"));
    const [redirect, route, staging, notFound, rateLimit] = tries;
    assert.match(redirect.out, /^HTTP\/1\.1 301/m, redirect.out);
    assert.match(redirect.out, /^location: https:\/\/127\.0\.0\.1:8443\/\r?$/im, redirect.out);

    const app = JSON.parse(route.out) as Record<string, string>;
    assert.equal(app.backend, "172.29.80.100:8080", route.out);
    assert.equal(app.host, "app.lab.example.com:8443");
    assert.match(app.worker, /^prod-[12]$/);

    const preview = JSON.parse(staging.out) as Record<string, string>;
    assert.equal(preview.worker, "staging", staging.out);
    assert.equal(preview.backend, "172.29.80.100:8080");

    assert.match(notFound.out, /haproxy-edge custom 404/, notFound.out);

    const counts = Object.fromEntries(
      rateLimit.out
        .trim()
        .split("\n")
        .map((l) => l.trim().split(/\s+/))
        .map(([n, code]) => [code, Number(n)]),
    );
    assert.ok((counts["200"] ?? 0) > 0 && (counts["429"] ?? 0) > 0, rateLimit.out);
    assert.equal((counts["200"] ?? 0) + (counts["429"] ?? 0), 230, rateLimit.out);
  });

  it("the docs' command for a worker's Data Plane API password gives one that authenticates", async () => {
    const doc = fs.readFileSync(path.join(ROOT, "docs/configuration.md"), "utf8");
    const block = [...doc.matchAll(/```sh\n([\s\S]*?)```/g)]
      .map((m) => m[1])
      .find((b) => b.includes("PASSWORD=$(pulumi stack export"));
    assert.ok(block, "docs/configuration.md has no password command");
    const r = await bash(`${exports}\n${passphrase}\nset -eo pipefail\n${block}`, 120_000);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /"api"/, r.stdout);
    const wrong = await bash(
      "curl -s -o /dev/null -w '%{http_code}' -u haproxy-edge:wrong http://127.0.0.1:5555/v3/info",
      30_000,
    );
    assert.equal(wrong.stdout, "401", "the API asks for the password at all");
  });

  it("a route added on a demo backend's server restarts nothing: the same demo containers serve it", async () => {
    const demoIds = async () =>
      (
        await dockerCli([
          "ps",
          "-q",
          "--no-trunc",
          "--filter",
          "label=haproxy-edge.stack=dev",
          "--filter",
          "label=haproxy-edge.role=demo-backend",
        ])
      )
        .split("\n")
        .filter(Boolean)
        .sort();
    const before = await demoIds();
    assert.equal(before.length, 2);
    const up = await bash(
      [
        exports,
        passphrase,
        "set -e",
        "pulumi config set --stack dev --path 'routes[2].name' extra",
        "pulumi config set --stack dev --path 'routes[2].hosts[0]' extra.lab.example.com",
        "pulumi config set --stack dev --path 'routes[2].servers[0]' 172.29.80.100:8080",
        "pulumi up --stack dev --yes --non-interactive",
      ].join("\n"),
      600_000,
    );
    assert.equal(up.code, 0, `${up.stdout.slice(-4000)}\n${up.stderr.slice(-2000)}`);
    assert.doesNotMatch(up.stdout, /dev-demo-.*(replac|delet)/, up.stdout);
    assert.deepEqual(await demoIds(), before, "the demo backends' containers");
    const r = await bash(
      "curl -sk --max-time 10 --resolve extra.lab.example.com:8443:127.0.0.1 https://extra.lab.example.com:8443/",
      60_000,
    );
    assert.equal((JSON.parse(r.stdout) as Record<string, string>).backend, "172.29.80.100:8080", r.stdout);
  });
});
