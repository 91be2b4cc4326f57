/**
 * System tier, RouterOS: the example stack (Pulumi.prod.yaml: the load balancer and certbot on a RouterOS 7.21
 * router, the workers on a Docker host) applied by `pulumi up` (the real engine and command provider). The router is the RouterOS CLI simulator behind a
 * real OpenSSH server on 127.0.0.1 (key authentication, SFTP into the folder standing for its disk); the Docker
 * host is the local engine. Then every command is run again (nothing changes), the stack is destroyed (the
 * router is left empty, the uploaded files removed), and every delete is run again.
 */
import { strict as assert } from "node:assert";
import type { EdgeModel } from "../../config/model";
import { TEST_SECRETS } from "../support/stack-config";
import { startRouterOsSim, type RouterOsSimServer } from "../support/routeros-sim/sshd";
import type { CliResult, Engine, StateResource } from "./engine";
import {
  COMMAND,
  ROUTER_VERSION,
  TAG,
  UPLOAD,
  assertCreatesChangeNothing,
  assertDeletesChangeNothing,
  assertNoSecretInCommands,
  assertRouterCleared,
  assertSafeDeleteOrder,
  assertSentinels,
  assertUploadsOnDisk,
  deletedCommands,
  exampleOverrides,
  exampleStack,
  rows,
} from "./routeros-support";
import { assertNoChanges, STACK, removeLeftovers, stackObjects } from "./support";

describe("system: the example RouterOS stack through `pulumi up` over SSH to the RouterOS CLI simulator", function () {
  this.timeout(600_000);
  let sim: RouterOsSimServer;
  let engine: Engine | undefined;
  let model: EdgeModel;
  let resources: StateResource[];
  let commands: StateResource[];
  let uploads: StateResource[];
  let report: CliResult | undefined;

  before(async function () {
    await removeLeftovers();
    sim = await startRouterOsSim({ version: ROUTER_VERSION, disks: ["usb1"] });
    ({ model, engine } = await exampleStack(exampleOverrides(sim)));
    await engine.mustUp();
    resources = await engine.resources();
    commands = resources.filter((c) => c.type === COMMAND);
    uploads = resources.filter((c) => c.type === UPLOAD);
  });

  after(async function () {
    await engine?.dispose().catch((e: unknown) => console.error(e));
    await sim?.stop();
  });

  it("`pulumi preview --expect-no-changes` right after `pulumi up` finds nothing to do", async () => {
    assert.ok(engine);
    await assertNoChanges(engine);
  });

  it("ran every command to its sentinel, with no RouterOS error", () => {
    assert.ok(commands.length >= 20, `${commands.length} commands`);
    assertSentinels(commands);
  });

  it("left the router holding every expected object, tagged, with the expected properties", () => {
    const state = sim.state();
    const router = model.hosts.find((h) => h.kind === "routeros");
    assert.ok(router && router.kind === "routeros");
    const lb = model.loadBalancer.placement.veth;
    const cb = model.certbot?.placement.veth;
    assert.ok(lb && cb);

    assert.deepEqual(
      rows(state, "/interface/bridge").map((b) => b.name),
      [router.bridge],
    );
    assert.deepEqual(
      rows(state, "/ip/address").map((a) => [a.address, a.interface]),
      [[`${router.bridgeAddress}/${router.prefixLength}`, router.bridge]],
    );
    const veths = rows(state, "/interface/veth");
    assert.deepEqual(
      veths.map((v) => [v.name, v.address, v.gateway]).sort(),
      [
        [lb.name, `${lb.address}/${router.prefixLength}`, router.bridgeAddress],
        [cb.name, `${cb.address}/${router.prefixLength}`, router.bridgeAddress],
      ].sort(),
    );
    assert.deepEqual(
      rows(state, "/interface/bridge/port")
        .map((p) => [p.interface, p.bridge])
        .sort(),
      [
        [lb.name, router.bridge],
        [cb.name, router.bridge],
      ].sort(),
    );
    const nat = rows(state, "/ip/firewall/nat");
    assert.ok(
      nat.some(
        (r) => r.chain === "srcnat" && r.action === "masquerade" && r["src-address"] === router.subnet,
      ),
      JSON.stringify(nat),
    );
    for (const port of [80, 443]) {
      assert.ok(
        nat.some(
          (r) =>
            r.chain === "dstnat" &&
            r["dst-port"] === String(port) &&
            r["to-addresses"] === lb.address &&
            r["in-interface-list"] === router.wanInterfaceList,
        ),
        `dst-nat ${port}: ${JSON.stringify(nat)}`,
      );
    }
    const containers = rows(state, "/container");
    assert.deepEqual(containers.map((c) => c.name).sort(), [`${STACK}-certbot`, `${STACK}-lb`]);
    for (const c of containers) {
      assert.equal(c.interface, c.name === `${STACK}-lb` ? lb.name : cb.name);
      assert.equal(c.entrypoint, "/bin/sh");
      // 7.21: mount lists (one per mount) named after the container.
      for (const list of (c.mountlists ?? "").split(",")) assert.match(list, new RegExp(`^${c.name}-`));
    }
    const mounts = rows(state, "/container/mounts");
    assert.ok(mounts.length >= 4, JSON.stringify(mounts));
    for (const m of mounts) assert.match(m.src, new RegExp(`^${router.disk}/haproxy-edge/${STACK}/`));
    assert.deepEqual(
      rows(state, "/system/script").map((s) => s.name),
      [`${STACK}-certbot-renew`],
    );
    const scheduler = rows(state, "/system/scheduler");
    assert.deepEqual(
      scheduler.map((s) => [s.name, s["on-event"], s.interval]),
      // Every `certbot.renewIntervalHours` (12 in the example).
      [[`${STACK}-certbot-renew`, `${STACK}-certbot-renew`, `${model.certbot?.renewIntervalHours}h`]],
    );
    // Everything we made carries the stack's tag, so it is found again (and only it is removed).
    for (const [menu, table] of Object.entries(state.tables)) {
      for (const item of table.items) assert.ok(item.props.comment?.startsWith(TAG), `${menu} ${item.id}`);
    }
  });

  it("uploaded every file over SFTP with exactly the rendered content", () => {
    assert.ok(uploads.length >= 5, `${uploads.length} uploads`);
    assertUploadsOnDisk(sim, uploads);
  });

  it("puts no secret in any command string", () => {
    assertNoSecretInCommands(commands, [TEST_SECRETS.acmeTsigSecret, sim.privateKey.split("\n")[1]]);
  });

  it("changes nothing when every create is run again", async () => {
    await assertCreatesChangeNothing(sim, commands);
  });

  it("destroy runs the deletes in the safe order and leaves the router empty, files removed", async () => {
    assert.ok(engine);
    report = await engine.destroy();
    const left = await stackObjects();
    assert.deepEqual(left.containers, [], "the workers on the local engine are gone too");
    assertRouterCleared(sim, report, commands, uploads);
    // Within each service (its container, NAT rules, schedule) and then the router-wide objects last.
    assertSafeDeleteOrder(
      deletedCommands(report),
      [`${STACK}-lb-`, `${STACK}-certbot-`, `${STACK}-edge-router-`],
      `${STACK}-edge-router-`,
    );
  });

  it("changes nothing when every delete is run again", async () => {
    await assertDeletesChangeNothing(sim, commands);
  });
});
