/**
 * RouterOS failures through the real engine: `pulumi up`/`destroy` of the example stack with every service on the
 * RouterOS simulator (over a real OpenSSH server): missing prerequisites, then a fault in a create, an update and
 * a delete. Each stops the rollout with the router's own message, the state keeps the failed resource (and what
 * depends on it is not touched), and the next `up`/`destroy` runs it again and succeeds once the fault is gone.
 * After every run, each object on the router is held by a resource of the state: nothing is orphaned.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { DEFAULT_OPTIONS } from "../support/routeros-sim/state";
import { startRouterOsSim, type RouterOsSimServer } from "../support/routeros-sim/sshd";
import type { Engine, StateResource } from "./engine";
import {
  COMMAND,
  TAG,
  UPLOAD,
  assertRouterCleared,
  exampleOverrides,
  exampleStack,
  log,
  rows,
  simulatedRouter,
  ROUTER_VERSION,
} from "./routeros-support";
import { STACK, assertNoChanges } from "./support";

const failed = (rs: StateResource[]) => rs.filter((r) => r.initErrors.length > 0).map((r) => r.name);

describe("system: RouterOS failures stop the rollout and are retried (simulator over SSH)", function () {
  this.timeout(900_000);
  let sim: RouterOsSimServer;
  let engine: Engine | undefined;
  let overrides: Record<string, unknown>;

  /** Every tagged object on the router is held by a command of the state whose delete removes it. */
  async function assertNoOrphans(): Promise<StateResource[]> {
    assert.ok(engine);
    const resources = await engine.resources();
    const deletes = resources.filter((r) => r.type === COMMAND).map((r) => String(r.inputs.delete));
    for (const [menu, table] of Object.entries(sim.state().tables))
      for (const row of table.items) {
        const tag = row.props.comment ?? "";
        assert.ok(tag.startsWith(TAG), `${menu} ${JSON.stringify(row.props)} is not ours`);
        assert.ok(
          deletes.some((d) => d.includes(`\\"${tag}\\"`) || d.includes(`"${tag}"`)),
          `${menu} ${tag} is on the router, but no resource of the state deletes it`,
        );
      }
    return resources;
  }

  before(async function () {
    sim = await startRouterOsSim({ version: ROUTER_VERSION, disks: ["usb1"] });
    overrides = exampleOverrides(sim, "router");
    ({ engine } = await exampleStack(overrides));
  });

  after(async function () {
    await engine?.dispose().catch((e: unknown) => console.error(e));
    await sim?.stop();
  });

  it("a router missing prerequisites fails `pulumi up` before the first change, naming each fix", async () => {
    assert.ok(engine);
    sim.setOptions({ deviceMode: "home", dynamicDnsServers: [] });
    const r = await engine.up();
    assert.notEqual(r.code, 0, r.stdout);
    for (const fix of ["/system/device-mode/update scheduler=yes", "/ip/dns/set servers=<resolver>"])
      assert.ok(r.stdout.includes(fix), `${fix}\n${r.stdout}`);
    // Nothing on the router changed: no object, no setting, no file.
    assert.deepEqual(sim.state().tables, {});
    assert.deepEqual(sim.state().settings, {});
    assert.deepEqual(fs.readdirSync(path.join(sim.diskRoot, "usb1")), []);
    const commands = (await engine.resources()).filter((x) => x.type === COMMAND || x.type === UPLOAD);
    assert.deepEqual(
      commands.map((c) => [c.name, c.initErrors.length]),
      [[`${STACK}-edge-router-prerequisites`, 1]],
    );
    sim.setOptions({
      deviceMode: DEFAULT_OPTIONS.deviceMode,
      dynamicDnsServers: DEFAULT_OPTIONS.dynamicDnsServers,
    });
  });

  it("a refused create (the router has no WAN interface list) stops the rollout, is kept, and the next up retries it", async () => {
    assert.ok(engine);
    sim.setOptions({ interfaceLists: DEFAULT_OPTIONS.interfaceLists.filter((l) => l !== "WAN") });
    const r = await engine.up();
    log?.(r.stdout);
    assert.notEqual(r.code, 0, r.stdout);
    assert.match(
      r.stdout,
      /create on 127\.0\.0\.1: RouterOS reported an error: input does not match any value of in-interface-list/,
    );
    const resources = await assertNoOrphans();
    // The load balancer's dst-nat rules failed; they are in the state, with the router's message.
    const nat = resources.filter(
      (x) => x.type === COMMAND && x.name.startsWith(`${STACK}-lb-container-nat-`),
    );
    assert.ok(nat.length > 0, "the load balancer forwards ports");
    assert.ok(
      nat.every((n) => n.initErrors.some((e) => /in-interface-list/.test(e))),
      JSON.stringify(nat.map((n) => [n.name, n.initErrors])),
    );
    // What depends on them did not run: no load balancer container, no certbot.
    for (const name of [`${STACK}-lb-container-container`, `${STACK}-certbot-container-container`])
      assert.ok(!resources.some((x) => x.name === name), `${name} was created`);
    assert.ok(!rows(sim.state(), "/container").some((c) => c.comment === `${TAG}ctr-${STACK}-lb`));
    // The router key stays encrypted in the state, in the failed resources too.
    const key = sim.privateKey.split("\n")[1];
    assert.ok(!(await engine.exportedState()).includes(key), "the router key is in the state in clear");

    sim.setOptions({ interfaceLists: DEFAULT_OPTIONS.interfaceLists });
    await engine.mustUp();
    const after = await assertNoOrphans();
    assert.deepEqual(failed(after), []);
    const dstnat = rows(sim.state(), "/ip/firewall/nat").filter((n) => n.chain === "dstnat");
    assert.equal(dstnat.length, nat.length);
    assert.ok(rows(sim.state(), "/container").some((c) => c.comment === `${TAG}ctr-${STACK}-certbot`));
    await assertNoChanges(engine);
  });

  it("an update the router refuses (registry-url is router-wide, and another value is set) is kept and retried once fixed", async () => {
    assert.ok(engine);
    const registry = "https://registry.example.net";
    overrides = {
      ...overrides,
      hosts: { "edge-router": simulatedRouter(sim, { subnet: "172.20.0.0/27", registryUrl: registry }) },
    };
    await engine.configure(overrides);
    const r = await engine.up();
    assert.notEqual(r.code, 0, r.stdout);
    assert.match(
      r.stdout,
      /update on 127\.0\.0\.1: .*registry-url is set to another registry.*this stack pulls its images from https:\/\/registry\.example\.net \(hosts\.edge-router\.registryUrl\)/,
    );
    const resources = await assertNoOrphans();
    assert.deepEqual(failed(resources), [`${STACK}-edge-router-container-config`]);
    const config = resources.find((x) => x.name === `${STACK}-edge-router-container-config`);
    // Its state (outputs) holds the new command and the step to run again.
    assert.ok(String(config?.outputs.create).includes(registry), JSON.stringify(config?.outputs.create));
    assert.equal(config?.outputs.failed, "update");
    assert.equal(sim.state().settings["/container/config"]?.["registry-url"], "https://registry-1.docker.io");

    // The operator sets it by hand; nothing changed in the stack: the failed update alone runs again.
    assert.equal(await sim.exec(`/container/config/set registry-url="${registry}"`), "");
    const again = await engine.mustUp();
    assert.match(
      again.stdout,
      /~\s+pulumi-nodejs:dynamic\/routeros:Command\s+systest-edge-router-container-config\s+updated/,
    );
    assert.equal(sim.state().settings["/container/config"]?.["registry-url"], registry);
    assert.deepEqual(failed(await assertNoOrphans()), []);
    await assertNoChanges(engine);
  });

  it("a refused delete (a container that does not stop) keeps it and everything it holds; the next destroy removes all", async () => {
    assert.ok(engine);
    const before = await engine.resources();
    sim.setOptions({ stopSeconds: 100_000 });
    const r = await engine.destroy();
    assert.notEqual(r.code, 0, r.stdout);
    // The first container deleted (certbot or the last worker: neither waits for the other) refuses to stop.
    const refused =
      /delete on 127\.0\.0\.1: RouterOS command did not finish \(no PULUMI-OK at the end\): (systest-[a-z0-9-]+): not stopped after 60s/.exec(
        r.stdout,
      );
    assert.ok(refused, r.stdout);
    const resources = await assertNoOrphans();
    // Every container is still on the router, with its veth and mounts, and so in the state.
    const containers = rows(sim.state(), "/container");
    assert.equal(containers.length, before.filter((x) => /-container-container$/.test(x.name)).length);
    assert.equal(rows(sim.state(), "/interface/veth").length, containers.length);
    assert.ok(
      resources.some((x) => x.name === `${refused[1]}-container-container`),
      refused[1],
    );

    // The containers stop in the end; destroy again removes everything.
    sim.setOptions({ stopSeconds: DEFAULT_OPTIONS.stopSeconds });
    sim.advance(100_000);
    const again = await engine.destroy();
    assertRouterCleared(
      sim,
      again,
      before.filter((x) => x.type === COMMAND),
      before.filter((x) => x.type === UPLOAD),
    );
    assert.deepEqual(await engine.resources().then((rs) => rs.filter((x) => x.custom)), []);
  });
});
