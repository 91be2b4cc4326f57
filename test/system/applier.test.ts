/**
 * Unit tests (no Docker) of the applier's pure parts: the tar it uploads files with, durations, random
 * values, and the refusal of inputs it does not implement.
 */
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { durationNs, randomValue } from "./applier";
import { DockerApi, tarFiles } from "./docker-api";

describe("system/applier (pure parts)", () => {
  it("builds a tar that GNU tar extracts with the exact paths, modes and contents", () => {
    const long = `deep/${"d".repeat(90)}/${"f".repeat(60)}.cfg`;
    const files = [
      { path: "/etc/haproxy-edge/haproxy.cfg", content: Buffer.from("global\n"), mode: 0o644 },
      { path: "/etc/haproxy-edge/userlist.cfg", content: Buffer.from("secret\n"), mode: 0o600 },
      { path: "/usr/local/bin/start.sh", content: Buffer.from("#!/bin/sh\n"), mode: 0o755 },
      { path: `/${long}`, content: Buffer.alloc(1500, 65), mode: 0o640 },
    ];
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "applier-tar-"));
    try {
      fs.writeFileSync(path.join(dir, "a.tar"), tarFiles(files));
      execFileSync("tar", ["-xf", "a.tar", "-C", dir, "--no-same-owner"], { cwd: dir });
      for (const f of files) {
        const p = path.join(dir, f.path);
        assert.deepEqual(fs.readFileSync(p), f.content, f.path);
        assert.equal(fs.statSync(p).mode & 0o777, f.mode, f.path);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("is deterministic (same files, same bytes)", () => {
    const f = [{ path: "/a/b", content: Buffer.from("x"), mode: 0o644 }];
    assert.deepEqual(tarFiles(f), tarFiles(f));
    assert.equal(tarFiles(f).length % 512, 0);
  });

  it("converts the Docker provider's durations to nanoseconds and refuses others", () => {
    assert.equal(durationNs("x", "5s"), 5e9);
    assert.equal(durationNs("x", "250ms"), 250e6);
    assert.equal(durationNs("x", "1m"), 60e9);
    assert.throws(() => durationNs("hc.interval", "5 seconds"), /hc\.interval: unsupported duration/);
  });

  it("makes random values of the requested length and classes, and refuses options it does not implement", () => {
    const v = randomValue("p", { length: 32, special: false });
    assert.match(v, /^[A-Za-z0-9]{32}$/);
    assert.notEqual(v, randomValue("p", { length: 32, special: false }));
    assert.match(
      randomValue("p", { length: 64, upper: false, lower: false, numeric: false }),
      /^[^A-Za-z0-9]{64}$/,
    );
    assert.throws(
      () => randomValue("pw", { length: 8, minUpper: 2 }),
      /pw: the applier does not implement "minUpper"/,
    );
  });

  it("drives local engines only", () => {
    assert.equal(DockerApi.fromHostUrl("unix:///var/run/docker.sock").socketPath, "/var/run/docker.sock");
    assert.throws(() => DockerApi.fromHostUrl("ssh://deploy@docker-1.lan"), /local Docker engines only/);
  });
});
