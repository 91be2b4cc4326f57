/**
 * `ContainerLimits` (docker/limits.ts) against a fake engine on a unix socket: the update it sends, the check that
 * the engine reports the limit back, refresh (drift, a container that is gone), errors. The system tier sets it on
 * every container of a real dockerd and runs a process bomb against it.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { containerLimitsProvider, type ContainerLimitsInputs } from "../../docker/limits";

const fullProvider = () => containerLimitsProvider() as Required<ReturnType<typeof containerLimitsProvider>>;

describe("docker/limits", () => {
  let tmp: string;
  let server: http.Server;
  let seen: { method: string; url: string; body: string }[];
  /** What the fake engine reports as the container's limit; undefined: no such container. */
  let reported: number | undefined;
  /** Whether an update changes what it reports (a real engine does). */
  let applies: boolean;
  let inputs: ContainerLimitsInputs;

  beforeEach(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "docker-limits-"));
    seen = [];
    reported = 0;
    applies = true;
    server = http.createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        const u = (req.url ?? "").replace(/^\/v1\.41/, "");
        seen.push({ method: req.method ?? "", url: u, body });
        const json = (status: number, o: unknown) => {
          res.writeHead(status, { "Content-Type": "application/json" });
          res.end(JSON.stringify(o));
        };
        if (reported === undefined) return json(404, { message: "No such container: c1" });
        if (req.method === "POST" && u === "/containers/c1/update") {
          if (applies) reported = (JSON.parse(body) as { PidsLimit: number }).PidsLimit;
          return json(200, { Warnings: [] });
        }
        if (req.method === "GET" && u === "/containers/c1/json")
          return json(200, { HostConfig: { PidsLimit: reported } });
        json(404, { message: `unexpected ${req.method} ${u}` });
      });
    });
    await new Promise<void>((resolve) => server.listen(path.join(tmp, "docker.sock"), resolve));
    inputs = {
      endpoint: { url: `unix://${path.join(tmp, "docker.sock")}`, sshArgs: [] },
      container: "dev-lb",
      instance: "c1",
      pidsLimit: 512,
    };
  });

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("create sets the limit with the Engine API's update and reads it back", async () => {
    const r = await fullProvider().create(inputs);
    assert.equal(r.id, "dev-lb");
    assert.deepEqual(
      seen.map((s) => `${s.method} ${s.url}`),
      ["POST /containers/c1/update", "GET /containers/c1/json"],
    );
    assert.deepEqual(JSON.parse(seen[0].body), { PidsLimit: 512 });
    assert.equal(reported, 512);
  });

  it("fails naming the container and host when the engine does not report the limit back, or has no container", async () => {
    applies = false;
    await assert.rejects(
      fullProvider().create(inputs),
      /pids limit of container dev-lb on unix:.*reports a pids limit of 0/,
    );
    reported = undefined;
    await assert.rejects(
      fullProvider().update("dev-lb", inputs, inputs),
      /dev-lb .*HTTP 404: No such container/,
    );
  });

  it("refresh reads the limit (a change by hand is drift); a container that is gone has none", async () => {
    const p = fullProvider();
    reported = 4096;
    assert.equal((await p.read("dev-lb", inputs)).props?.pidsLimit, 4096);
    reported = undefined;
    assert.equal((await p.read("dev-lb", inputs)).props?.pidsLimit, 0);
  });

  it("a new container (another id) or another limit is an update; another container name a replacement", async () => {
    const p = fullProvider();
    assert.equal((await p.diff("dev-lb", inputs, inputs)).changes, false);
    assert.deepEqual(await p.diff("dev-lb", inputs, { ...inputs, instance: "c2" }), {
      changes: true,
      replaces: [],
      deleteBeforeReplace: false,
    });
    assert.equal((await p.diff("dev-lb", inputs, { ...inputs, pidsLimit: 600 })).changes, true);
    assert.deepEqual((await p.diff("dev-lb", inputs, { ...inputs, container: "x" })).replaces, ["container"]);
    assert.equal((await p.check(inputs, { ...inputs, pidsLimit: 0 })).failures?.length, 1);
  });
});
