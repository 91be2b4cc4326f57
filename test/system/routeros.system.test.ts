/**
 * System tier, RouterOS: the example stack (Pulumi.prod.yaml: the load balancer and certbot on a RouterOS 7.21
 * router, the workers on a Docker host) applied by the applier. The router is the RouterOS CLI simulator behind a
 * real OpenSSH server on 127.0.0.1 (key authentication, SFTP into the folder standing for its disk); the Docker
 * host is the local engine. Then every command is run again (nothing changes), the stack is destroyed (the
 * router is left empty, the uploaded files removed), and every delete is run again.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { loadModel, type EdgeModel } from "../../config/model";
import { decodeRawConfig } from "../../config/parse";
import { checkRouterOutput } from "../../render/routeros";
import { loadStackFile, TEST_SECRETS } from "../support/stack-config";
import { startRouterOsSim, type RouterOsSimServer } from "../support/routeros-sim/sshd";
import type { SimState } from "../support/routeros-sim/state";
import { Applier, type Created, type DestroyReport } from "./applier";
import { STACK, removeLeftovers, stackObjects } from "./support";

const log = process.env.HAPROXY_EDGE_SYSTEM_VERBOSE ? (l: string) => console.log(`    ${l}`) : undefined;
const ROUTER_VERSION = "7.21.2";
const COMMAND = "command:remote:Command";
const UPLOAD = "command:remote:CopyToRemote";
const TAG = `haproxy-edge:${STACK}:`;

/** The example stack, pointed at the simulator and the local engine (top-level config keys). */
function exampleOverrides(sim: RouterOsSimServer): Record<string, unknown> {
  const file = loadStackFile("prod");
  const hosts = JSON.parse(file.config["haproxy-edge:hosts"]) as Record<string, Record<string, unknown>>;
  return {
    hosts: {
      "edge-router": {
        ...hosts["edge-router"],
        address: "127.0.0.1",
        port: sim.port,
        user: sim.user,
        privateKey: sim.privateKey,
        hostKey: sim.hostPublicKey.split(/\s+/).slice(0, 2).join(" "),
        version: ROUTER_VERSION,
      },
      "docker-1": {
        kind: "docker",
        url: "unix:///var/run/docker.sock",
        // The workers publish on the Docker host's address: loopback only here (the network rule).
        address: "127.0.0.1",
        subnet: "172.30.90.0/24",
      },
    },
    // The workers run for real on this machine: local images, no Data Plane API (see Pulumi.systest.yaml).
    haproxyImage: "haproxy-edge/haproxy:3.0",
    routeUpdates: "restart",
    publishAddress: "127.0.0.1",
  };
}

/**
 * The simulator's objects (ids and properties) and settings: what "changes nothing" compares. Not compared: the
 * clock, the log, and a container's run phase (re-running the start command restarts it, by design).
 */
function objects(state: SimState) {
  const tables = Object.fromEntries(
    Object.entries(state.tables).map(([menu, t]) => [
      menu,
      t.items.map((i) => ({ id: i.id, props: i.props })),
    ]),
  );
  return { tables, settings: state.settings };
}

function rows(state: SimState, menu: string) {
  return state.tables[menu]?.items.map((i) => i.props) ?? [];
}

describe("system: the example RouterOS stack applied over SSH to the RouterOS CLI simulator", function () {
  this.timeout(600_000);
  let sim: RouterOsSimServer;
  let applier: Applier;
  let model: EdgeModel;
  let commands: Created[];
  let uploads: Created[];
  let report: DestroyReport | undefined;

  before(async function () {
    await removeLeftovers();
    sim = await startRouterOsSim({ version: ROUTER_VERSION, disks: ["usb1"] });
    const file = loadStackFile("prod", exampleOverrides(sim));
    model = loadModel(
      decodeRawConfig(
        Object.fromEntries(Object.entries(file.config).map(([k, v]) => [k.replace(/^haproxy-edge:/, ""), v])),
      ),
      { project: "haproxy-edge", stack: STACK, secretKeys: file.secretKeys },
    );
    applier = new Applier({
      stack: STACK,
      config: file.config,
      secretKeys: [...file.secretKeys].map((k) => `haproxy-edge:${k}`),
      log,
      commandTimeoutMs: 60_000,
    });
    await applier.up();
    commands = applier.created.filter((c) => c.type === COMMAND);
    uploads = applier.created.filter((c) => c.type === UPLOAD);
  });

  after(async function () {
    if (!report) await applier?.destroy().catch((e: unknown) => console.error(e));
    await sim?.stop();
  });

  it("ran every command to its sentinel, with no RouterOS error", () => {
    assert.ok(commands.length >= 20, `${commands.length} commands`);
    for (const c of commands) assert.doesNotThrow(() => checkRouterOutput(String(c.state.stdout)), c.name);
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
      [[`${STACK}-certbot-renew`, `${STACK}-certbot-renew`, "1d"]],
    );
    // Everything we made carries the stack's tag, so it is found again (and only it is removed).
    for (const [menu, table] of Object.entries(state.tables)) {
      for (const item of table.items) assert.ok(item.props.comment?.startsWith(TAG), `${menu} ${item.id}`);
    }
  });

  it("uploaded every file over SFTP with exactly the rendered content", () => {
    assert.ok(uploads.length >= 5, `${uploads.length} uploads`);
    for (const u of uploads) {
      const text = (u.inputs.source as { text: string }).text;
      const onDisk = fs.readFileSync(path.join(sim.diskRoot, String(u.inputs.remotePath)), "utf8");
      assert.equal(onDisk, text, String(u.inputs.remotePath));
    }
  });

  it("puts no secret in any command string", () => {
    const secrets = [TEST_SECRETS.acmeTsigSecret, sim.privateKey.split("\n")[1]];
    for (const c of commands) {
      for (const k of ["create", "update", "delete"]) {
        for (const s of secrets) assert.ok(!String(c.inputs[k] ?? "").includes(s), `${c.name}.${k}`);
      }
    }
  });

  it("changes nothing when every create is run again", async () => {
    const before = objects(sim.state());
    for (const c of commands) {
      const out = await sim.exec(String(c.inputs.create));
      assert.doesNotThrow(() => checkRouterOutput(out), c.name);
    }
    assert.deepEqual(objects(sim.state()), before);
  });

  it("destroy runs the deletes in the safe order and leaves the router empty, files removed", async () => {
    report = await applier.destroy();
    const left = await stackObjects();
    assert.deepEqual(left.containers, [], "the workers on the local engine are gone too");
    for (const c of commands) {
      assert.doesNotThrow(
        () => checkRouterOutput(applier.deleteOutputs.get(c.name) ?? ""),
        `${c.name} delete`,
      );
    }
    const state = sim.state();
    for (const [menu, table] of Object.entries(state.tables))
      assert.deepEqual(table.items, [], `${menu} still holds objects`);
    for (const u of uploads)
      assert.ok(
        !fs.existsSync(path.join(sim.diskRoot, String(u.inputs.remotePath))),
        String(u.inputs.remotePath),
      );

    // scheduler → script → containers → mounts/envs → NAT → bridge ports → veths → address → bridge.
    const rank: [RegExp, number][] = [
      [/-renew-scheduler$/, 0],
      [/-renew-script$/, 1],
      [/-(container|start)$/, 2],
      [/-(mount|env)-/, 3],
      [/-nat-|-masquerade$/, 4],
      [/-bridge-port$/, 5],
      [/-veth$/, 6],
      [/-bridge-address$/, 7],
      [/-bridge$/, 8],
    ];
    const order = report.removed
      .filter((r) => r.startsWith(`${COMMAND} `))
      .map((r) => r.slice(COMMAND.length + 1));
    // Within each service (its container, NAT rules, schedule) and then the router-wide objects last.
    const groups = [`${STACK}-lb-`, `${STACK}-certbot-`, `${STACK}-edge-router-`];
    for (const g of groups) {
      const seq = order
        .filter((n) => n.startsWith(g))
        .map((name) => ({ name, rank: rank.find(([re]) => re.test(name))?.[1] }))
        .filter((x): x is { name: string; rank: number } => x.rank !== undefined);
      assert.ok(seq.length > 0, g);
      for (let i = 1; i < seq.length; i++) {
        assert.ok(
          seq[i - 1].rank <= seq[i].rank,
          `${seq[i - 1].name} was deleted before ${seq[i].name}: ${order.join(", ")}`,
        );
      }
    }
    const firstRouterWide = order.findIndex((n) => n.startsWith(`${STACK}-edge-router-`));
    assert.ok(
      order.slice(firstRouterWide).every((n) => n.startsWith(`${STACK}-edge-router-`)),
      `router-wide objects go last: ${order.join(", ")}`,
    );
  });

  it("changes nothing when every delete is run again", async () => {
    for (const c of commands) {
      const out = await sim.exec(String(c.inputs.delete));
      assert.doesNotThrow(() => checkRouterOutput(out), c.name);
    }
    for (const [menu, table] of Object.entries(sim.state().tables)) assert.deepEqual(table.items, [], menu);
  });
});
