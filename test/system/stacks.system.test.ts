/**
 * The example stacks pass the real CLI: `pulumi preview` of Pulumi.dev.yaml as a new user runs it, and of a
 * copy of Pulumi.prod.yaml whose hosts are on 127.0.0.1 (the file's LAN hosts are never contacted), with its
 * secrets set through `pulumi config set --secret`. Their output has no "using … from $PATH" warning: the
 * toolchain's plugins are where Pulumi looks for them, and the providers are package.json's.
 */
import { strict as assert } from "node:assert";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { parse, stringify } from "yaml";
import { Engine } from "./engine";
import { COMMAND } from "./routeros-support";

/** The number of resources `pulumi preview` plans to create, from its summary ("+ 42 to create"). */
function toCreate(stdout: string): number {
  const m = /\+\s*(\d+) to create/.exec(stdout);
  return m ? Number(m[1]) : 0;
}

/** The planned creates of `pulumi preview --json`, as `type name`. */
async function planned(engine: Engine): Promise<string[]> {
  const steps = await engine.previewSteps();
  assert.ok(
    steps.every((s) => s.op === "create"),
    steps.map((s) => `${s.op} ${s.urn}`).join("\n"),
  );
  return steps.map((s) => `${s.type} ${s.name}`);
}

/**
 * No plugin was taken from PATH: Pulumi warns "using pulumi-resource-docker from $PATH at …" for each one it
 * finds there (scripts/toolchain.sh installs the providers into the Pulumi home and keeps the language host
 * and the dynamic-provider launcher next to the CLI).
 */
function assertNoPluginFromPath(r: { stdout: string; stderr: string }): void {
  const lines = `${r.stdout}\n${r.stderr}`.split("\n").filter((l) => l.includes("from $PATH"));
  assert.deepEqual(lines, [], lines.join("\n"));
}

/** The providers in the engine's plugin cache: exactly package.json's, as `pulumi plugin ls` lists them. */
async function assertProviders(engine: Engine): Promise<void> {
  const pkg = JSON.parse(fs.readFileSync(path.resolve(__dirname, "../../package.json"), "utf8")) as {
    dependencies: Record<string, string>;
  };
  const listed = JSON.parse((await engine.must(["plugin", "ls", "--json"])).stdout) as {
    name: string;
    kind: string;
    version: string;
  }[];
  assert.deepEqual(
    listed.map((p) => `${p.kind} ${p.name} ${p.version}`).sort(),
    ["command", "docker", "random"].map((n) => `resource ${n} ${pkg.dependencies[`@pulumi/${n}`]}`),
  );
}

describe("system: the example stacks through the real CLI", function () {
  it("`pulumi preview` of the dev stack (Pulumi.dev.yaml as it is) plans the whole edge", async () => {
    const engine = await Engine.create({ stack: "dev", stackFile: "Pulumi.dev.yaml" });
    try {
      const r = await engine.preview();
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
      assert.ok(toCreate(r.stdout) > 30, r.stdout);
      assertNoPluginFromPath(r);
      await assertProviders(engine);
      const plan = await planned(engine);
      for (const name of [
        "lb-haproxy",
        "staging-haproxy",
        "prod-1-haproxy",
        "prod-2-haproxy",
        "staging-dataplaneapi",
      ])
        assert.ok(
          plan.includes(`docker:index/container:Container dev-${name}`),
          `${name}: ${plan.join("\n")}`,
        );
    } finally {
      await engine.dispose();
    }
  });

  it("`pulumi preview` of a stack whose secrets are invalid fails naming their keys, and prints no part of them", async () => {
    const keyName = `bad/${randomBytes(12).toString("hex")}`; // secret under a name that is not secret by itself
    const tsig = `!${randomBytes(6000).toString("base64")}`; // not base64, 8,001 characters
    const engine = await Engine.create({
      stack: "dev",
      stackFile: "Pulumi.dev.yaml",
      secrets: { acmeTsigKeyName: keyName, acmeTsigSecret: tsig },
    });
    try {
      const r = await engine.preview();
      const out = `${r.stdout}\n${r.stderr}`;
      assert.notEqual(r.code, 0, out);
      assert.match(out, /acmeTsigKeyName: must be a TSIG key name .*\(got "\[secret\]"\)/, out);
      assert.match(out, /acmeTsigSecret: must be a base64 TSIG secret \(got "\[secret\]"\)/, out);
      for (const part of [keyName.slice(4, 20), tsig.slice(1, 25), tsig.slice(3000, 3024), tsig.slice(-24)])
        assert.ok(!out.includes(part), `printed: ${part}`);
      assert.ok(out.length < 20_000, `${out.length} characters of output`);
      assert.doesNotMatch(out, /unhandled exception|^\s+at \S/m, out);
    } finally {
      await engine.dispose();
    }
  });

  it("`pulumi preview` and `pulumi up` of a stack with misspelled keys and a bad value print each problem once, with the key meant, and no stack trace", async () => {
    const engine = await Engine.create({
      stack: "dev",
      stackFile: "Pulumi.dev.yaml",
      overrides: { rateLimitRequest: 50, timeoutClient: "30 s" },
    });
    try {
      // Keys of other namespaces, as an operator would write them in the stack file: the project's misspelled,
      // and a provider's (not flagged).
      const doc = parse(fs.readFileSync(engine.configFile, "utf8")) as { config: Record<string, unknown> };
      doc.config["haproxy-egde:maxConnection"] = 1000;
      doc.config["docker:host"] = "unix:///var/run/docker.sock";
      fs.writeFileSync(engine.configFile, stringify(doc), { mode: 0o600 });
      const problems = [
        "  - haproxy-egde:maxConnection: is in namespace haproxy-egde, not haproxy-edge: Pulumi would pass it " +
          "to nobody; rename it to haproxy-edge:maxConnections\n",
        // Pulumi.yaml's default makes rateLimitRequests present whatever the stack sets: it is named all the same.
        "  - rateLimitRequest: unknown key: did you mean rateLimitRequests? (got 50)\n",
        "  - timeoutClient: must be an HAProxy time: a positive whole number and a unit (ms, s, m, h, d), e.g. " +
          '5s (got "30 s")\n',
      ];
      const count = (text: string, part: string) => text.split(part).length - 1;
      for (const [command, r] of [
        ["preview", await engine.preview()],
        ["up", await engine.up()],
      ] as const) {
        const out = `${r.stdout}\n${r.stderr}`;
        assert.notEqual(r.code, 0, `${command}: ${out}`);
        const diagnostics = out.slice(out.indexOf("\nDiagnostics:"));
        assert.equal(
          count(diagnostics, "    error: Invalid stack configuration (3 problems); nothing was deployed:\n"),
          1,
          `${command}: ${out}`,
        );
        for (const line of problems) assert.equal(count(out, line), 1, `${command}: ${line}in ${out}`);
        assert.equal(count(diagnostics, "error:"), 1, `${command}: ${out}`);
        assert.doesNotMatch(
          out,
          /unhandled exception|ConfigError|RunError|^\s+at \S|\.ts:\d+/m,
          `${command}: ${out}`,
        );
        assert.ok(!out.includes("docker:host"), `${command}: ${out}`);
      }
      // Nothing registered: the state holds the stack alone.
      assert.deepEqual(
        (await engine.resources()).map((r) => r.type),
        ["pulumi:pulumi:Stack"],
      );
    } finally {
      await engine.dispose();
    }
  });

  it("`pulumi preview` of a copy of the prod stack, hosts on 127.0.0.1 and secrets set with --secret", async () => {
    const file = parse(fs.readFileSync("Pulumi.prod.yaml", "utf8")) as { config: Record<string, unknown> };
    const hosts = structuredClone(file.config["haproxy-edge:hosts"]) as Record<
      string,
      Record<string, unknown>
    >;
    assert.equal(hosts["edge-router"]?.kind, "routeros");
    assert.equal(hosts["docker-1"]?.kind, "docker");
    hosts["edge-router"].address = "127.0.0.1";
    // Nothing listens there: preview needs no connection, and none may go to the file's LAN hosts.
    hosts["docker-1"].url = "ssh://deploy@127.0.0.1:1";
    hosts["docker-1"].address = "127.0.0.1";
    const key = generateKeyPairSync("ed25519").privateKey.export({ format: "pem", type: "pkcs8" }).toString();
    const tsig = randomBytes(64).toString("base64");
    const engine = await Engine.create({
      stack: "prod",
      stackFile: "Pulumi.prod.yaml",
      overrides: { hosts },
      secrets: { acmeTsigSecret: tsig, "hosts.edge-router.privateKey": key },
    });
    try {
      const stored = fs.readFileSync(engine.configFile, "utf8");
      assert.ok(
        !stored.includes(tsig) && !stored.includes(key.split("\n")[1]),
        "a secret is stored in clear",
      );
      assert.match(stored, /secure: v1:/);
      const r = await engine.preview();
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
      assert.ok(toCreate(r.stdout) > 30, r.stdout);
      assertNoPluginFromPath(r);
      for (const secret of [tsig, key.split("\n")[1]]) {
        assert.ok(!r.stdout.includes(secret) && !r.stderr.includes(secret), "a secret is printed");
      }
      const plan = await planned(engine);
      assert.ok(
        plan.some((p) => p.startsWith(`${COMMAND} prod-`)),
        plan.join("\n"),
      );
      for (const name of ["staging-haproxy", "prod-1-haproxy", "prod-2-haproxy"])
        assert.ok(
          plan.includes(`docker:index/container:Container prod-${name}`),
          `${name}: ${plan.join("\n")}`,
        );
    } finally {
      await engine.dispose();
    }
  });
});
