/**
 * System tier: HAProxy 3.0 in a container needs two file descriptors per connection of `maxconn`, and refuses to
 * start when the container's limit does not allow them; the highest `maxConnections` the config accepts fits the
 * descriptors a default Linux kernel gives a process (fs.nr_open).
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import { MAX_CONNECTIONS } from "../../config/schema";
import { IMAGES, dockerCli } from "./support";

/** Runs `script` in a throw-away container of the HAProxy image, without a network. */
function inContainer(script: string): Promise<string> {
  return dockerCli(["run", "--rm", "--network", "none", "--entrypoint", "sh", IMAGES.haproxy, "-c", script]);
}

/** Runs HAProxy with `maxconn` for at most 3 s; its output and exit status (124: still serving when stopped). */
function haproxyWithMaxconn(maxconn: number): Promise<string> {
  const cfg = [
    "global",
    `  maxconn ${maxconn}`,
    "defaults",
    "  mode http",
    "  timeout connect 5s",
    "  timeout client 5s",
    "  timeout server 5s",
    "frontend f",
    "  bind 127.0.0.1:8080",
    "  http-request return status 200",
  ].join("\\n");
  return inContainer(
    `printf '${cfg}\\n' > /tmp/h.cfg; timeout 3 haproxy -db -f /tmp/h.cfg 2>&1; echo "exit $?"`,
  );
}

describe("system: maxConnections and the file descriptors of a container", function () {
  this.timeout(120_000);
  let limit = 0;

  before(async () => {
    limit = Number((await inContainer("ulimit -Hn")).trim());
    assert.ok(limit > 1000, `the container's open-files limit: ${limit}`);
  });

  it("HAProxy starts when the container's open-files limit holds two descriptors per connection", async () => {
    const out = await haproxyWithMaxconn(Math.floor((limit - 100) / 2));
    assert.match(out, /^exit 124$/m, out);
    assert.doesNotMatch(out, /ALERT/, out);
  });

  it("and refuses to start when it does not", async () => {
    const out = await haproxyWithMaxconn(Math.floor(limit / 2) + 1);
    assert.doesNotMatch(out, /^exit 124$/m, out);
    assert.match(out, /Cannot raise FD limit to \d+, limit is \d+/, out);
  });

  it(`the highest maxConnections (${MAX_CONNECTIONS}) fits a default kernel's per-process limit`, () => {
    const nrOpen = Number(fs.readFileSync("/proc/sys/fs/nr_open", "utf8"));
    assert.ok(2 * MAX_CONNECTIONS + 100 <= nrOpen, `fs.nr_open ${nrOpen}`);
  });
});
