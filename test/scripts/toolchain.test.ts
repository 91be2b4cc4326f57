/**
 * scripts/toolchain.sh without building anything: the dynamic-provider launcher it puts next to the CLI is
 * @pulumi/pulumi's, and `--install-plugins` installs the built providers into the Pulumi home with
 * `pulumi plugin install --file … --reinstall` at package.json's versions (a fake `pulumi` records the calls).
 * The real CLI and providers are exercised by the system tier (test/system/stacks.system.test.ts).
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const ROOT = path.resolve(__dirname, "..", "..");
const SCRIPT = path.join(ROOT, "scripts", "toolchain.sh");
const PINS = { "@pulumi/docker": "5.2.0", "@pulumi/command": "1.2.1", "@pulumi/random": "4.21.2" };

/** A `pulumi` that implements `plugin install resource NAME VERSION --file F --reinstall` and logs its args. */
const FAKE_PULUMI = `#!/bin/sh
printf '%s\\n' "$*" >>"$FAKE_LOG"
[ "$1 $2 $3" = "plugin install resource" ] || exit 2
dir="$PULUMI_HOME/plugins/resource-$4-v$5"
mkdir -p "$dir" && cp "$7" "$dir/pulumi-resource-$4"
`;

describe("scripts/toolchain.sh", function () {
  this.timeout(30_000);

  it("writes @pulumi/pulumi's own pulumi-resource-pulumi-nodejs next to the CLI", () => {
    const script = fs.readFileSync(SCRIPT, "utf8");
    const m = /<<'LAUNCHER'\n([\s\S]*?\n)LAUNCHER\n/.exec(script);
    assert.ok(m, "no LAUNCHER heredoc in toolchain.sh");
    const upstream = fs.readFileSync(
      path.join(ROOT, "node_modules/@pulumi/pulumi/pulumi-resource-pulumi-nodejs"),
      "utf8",
    );
    assert.equal(m[1], upstream);
  });

  describe("--install-plugins", () => {
    let dir: string;
    let home: string;
    let log: string;
    const links = () => path.join(dir, ".cache/toolchain/plugins");
    const run = (env: Record<string, string> = {}) =>
      spawnSync("bash", [path.join(dir, "scripts/toolchain.sh"), "--install-plugins"], {
        encoding: "utf8",
        env: { ...process.env, PULUMI_HOME: home, FAKE_LOG: log, ...env },
      });
    const calls = () => (fs.existsSync(log) ? fs.readFileSync(log, "utf8").trim().split("\n") : []);

    beforeEach(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "toolchain-test-"));
      home = path.join(dir, "pulumi-home");
      log = path.join(dir, "calls.log");
      fs.mkdirSync(path.join(dir, "scripts"));
      fs.copyFileSync(SCRIPT, path.join(dir, "scripts/toolchain.sh"));
      fs.writeFileSync(
        path.join(dir, "package.json"),
        JSON.stringify({ dependencies: { "@pulumi/pulumi": "3.248.0", ...PINS } }),
      );
      fs.mkdirSync(path.join(dir, ".cache/toolchain/bin"), { recursive: true });
      fs.writeFileSync(path.join(dir, ".cache/toolchain/bin/pulumi"), FAKE_PULUMI, { mode: 0o755 });
      fs.mkdirSync(path.join(dir, "built"));
      fs.mkdirSync(links(), { recursive: true });
      for (const [pkg, version] of Object.entries(PINS)) {
        const name = pkg.split("/")[1];
        const bin = path.join(dir, "built", `pulumi-resource-${name}`);
        fs.writeFileSync(bin, `#!/bin/sh\necho ${name} ${version}\n`, { mode: 0o755 });
        fs.symlinkSync(bin, path.join(links(), `resource-${name}-v${version}`));
      }
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("installs each provider at package.json's version, from the built binary, with --reinstall", () => {
      const r = run();
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(
        calls(),
        Object.entries(PINS).map(([pkg, version]) => {
          const name = pkg.split("/")[1];
          const file = path.join(fs.realpathSync(dir), "built", `pulumi-resource-${name}`);
          return `plugin install resource ${name} ${version} --file ${file} --reinstall --non-interactive`;
        }),
      );
      for (const [pkg, version] of Object.entries(PINS)) {
        const name = pkg.split("/")[1];
        const installed = path.join(
          home,
          "plugins",
          `resource-${name}-v${version}`,
          `pulumi-resource-${name}`,
        );
        assert.equal(fs.readFileSync(installed, "utf8"), `#!/bin/sh\necho ${name} ${version}\n`);
      }
      assert.match(r.stderr, /resource-docker 5\.2\.0: installed into .*pulumi-home\/plugins/);
    });

    it("leaves a provider that is there byte for byte, and replaces one that differs", () => {
      assert.equal(run().status, 0);
      fs.writeFileSync(log, "");
      fs.writeFileSync(path.join(dir, "built/pulumi-resource-random"), "#!/bin/sh\necho rebuilt\n");
      const r = run();
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(
        calls().map((c) => c.split(" ").slice(3, 5).join(" ")),
        ["random 4.21.2"],
      );
      assert.match(r.stderr, /resource-docker 5\.2\.0: already in /);
      assert.equal(
        fs.readFileSync(path.join(home, "plugins/resource-random-v4.21.2/pulumi-resource-random"), "utf8"),
        "#!/bin/sh\necho rebuilt\n",
      );
    });

    it("fails, naming the fix, when the provider at package.json's version was not built", () => {
      fs.rmSync(path.join(links(), "resource-docker-v5.2.0"));
      const r = run();
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /no .*resource-docker-v5\.2\.0: build the toolchain first/);
    });

    it("fails when the install leaves no identical copy where the Pulumi home keeps it", () => {
      fs.writeFileSync(path.join(dir, ".cache/toolchain/bin/pulumi"), "#!/bin/sh\nexit 0\n");
      const r = run();
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /left no copy of .* at .*pulumi-home\/plugins\/resource-docker-v5\.2\.0/);
    });
  });
});
