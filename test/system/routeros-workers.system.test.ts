/**
 * System tier, RouterOS with the workers on the router: the example stack (Pulumi.prod.yaml) with every service
 * (load balancer, certbot, staging, prod-1, prod-2) on one RouterOS 7.21 router and no Docker host, with
 * `routeUpdates: restart` (the routes in the workers' bootstraps; `live` needs the real Data Plane API and its SSH
 * forward, which cannot run here). The router is the RouterOS CLI simulator behind a real OpenSSH server on
 * 127.0.0.1. It proves the router's objects (one veth, bridge port and container per service, each worker with
 * exactly its own mount lists), that the load balancer's uploaded configuration points at each worker's veth and
 * each worker's uploaded bootstrap trusts only the load balancer's veth, that the containers' views of the uploaded
 * files pass the real `haproxy -c` (HAProxy 3.0), then that re-running every create changes nothing, destroy
 * removes each service's objects in a safe order and leaves the router empty, and re-running every delete changes
 * nothing.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { FILES, PATHS, type EdgeModel, type RouterOsHostModel, type WorkerModel } from "../../config/model";
import { renderCertbot } from "../../render/certbot";
import { renderLoadBalancer, renderWorker } from "../../render/haproxy";
import { haproxyCheck } from "../support/haproxy-check";
import { TEST_SECRETS } from "../support/stack-config";
import { startRouterOsSim, type RouterOsSimServer } from "../support/routeros-sim/sshd";
import type { SimState } from "../support/routeros-sim/state";
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
import { assertNoChanges, STACK } from "./support";

/** The commands of one worker's RouterOsContainer on the router (restart mode: no API sidecar). */
const WORKER_COMMANDS = [
  "bridge-port",
  "container",
  "dirs",
  "files-cleanup",
  "mount-config",
  "mount-edge",
  "mount-master",
  "start",
  "veth",
];

/** HAProxy's warnings and alerts in `haproxy -c` output. */
function problems(output: string): string[] {
  return output.split("\n").filter((l) => /\[(WARNING|ALERT)\]/.test(l));
}

/** `server` lines of each backend of an HAProxy configuration (trimmed). */
function serverLines(cfg: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  let section = "";
  for (const line of cfg.split("\n")) {
    if (/^\S/.test(line)) section = line.trim();
    else if (/^\s+server\s/.test(line)) (out[section] ??= []).push(line.trim().replace(/\s+/g, " "));
  }
  return out;
}

/**
 * What a container sees of the simulated disk: every file under the `src` of each mount of its mount lists, at
 * `dst` + its relative path (read from the router's `/container/mounts` rows and the disk, not from the program).
 */
function containerView(state: SimState, diskRoot: string, containerName: string): Record<string, Buffer> {
  const ctr = rows(state, "/container").find((c) => c.name === containerName);
  assert.ok(ctr, `no container ${containerName}`);
  const view: Record<string, Buffer> = {};
  for (const list of ctr.mountlists.split(",")) {
    const mounts = rows(state, "/container/mounts").filter((m) => m.list === list);
    assert.equal(mounts.length, 1, `mount list ${list}`);
    const { src, dst } = mounts[0];
    const root = path.join(diskRoot, src);
    if (!fs.existsSync(root)) continue;
    const walk = (rel: string, depth: number) => {
      assert.ok(depth < 8, `${root}: too deep`);
      for (const e of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
        const r = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) walk(r, depth + 1);
        else view[`${dst}/${r}`] = fs.readFileSync(path.join(root, r));
      }
    };
    walk("", 0);
  }
  return view;
}

/** The base64 body line of a PEM private key (a secret that must never reach a command string). */
function keyLine(pem: string): string {
  const lines = pem.split("\n");
  const begin = lines.findIndex((l) => /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(l));
  assert.ok(begin >= 0 && lines[begin + 1].length > 16, "no private key in the PEM");
  return lines[begin + 1];
}

describe("system: the example stack with every service on one RouterOS router (simulator over SSH)", function () {
  this.timeout(600_000);
  let sim: RouterOsSimServer;
  let engine: Engine | undefined;
  let model: EdgeModel;
  let router: RouterOsHostModel;
  let resources: StateResource[];
  let commands: StateResource[];
  let uploads: StateResource[];
  let report: CliResult | undefined;

  const veth = (p: { placement: { veth?: { name: string; address: string } } }) => {
    assert.ok(p.placement.veth, "a service on the router has a veth");
    return p.placement.veth;
  };
  const edgeFile = (volume: string, name: string) =>
    path.join(sim.diskRoot, router.disk, "haproxy-edge", STACK, volume, name);

  before(async function () {
    sim = await startRouterOsSim({ version: ROUTER_VERSION, disks: ["usb1"] });
    ({ model, engine } = await exampleStack(exampleOverrides(sim, "router")));
    const host = model.hosts.find((h) => h.kind === "routeros");
    assert.ok(host && host.kind === "routeros");
    router = host;
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

  it("places every service on the router, with no Docker host and no API sidecar", () => {
    assert.deepEqual(
      model.hosts.map((h) => [h.name, h.kind]),
      [["edge-router", "routeros"]],
    );
    assert.ok(router.prefixLength <= 27, router.subnet);
    assert.equal(model.routeUpdates, "restart");
    assert.deepEqual(
      model.workers.map((w) => [w.name, w.placement.host.name]),
      [
        ["staging", "edge-router"],
        ["prod-1", "edge-router"],
        ["prod-2", "edge-router"],
      ],
    );
    assert.equal(model.loadBalancer.placement.host.name, "edge-router");
    assert.equal(model.certbot?.placement.host.name, "edge-router");
    const docker = resources.filter((c) => c.type.startsWith("docker:"));
    assert.deepEqual(
      docker.map((c) => c.name),
      [],
    );
    for (const w of model.workers) {
      const prefix = `${STACK}-${w.name}-container-`;
      assert.deepEqual(
        commands
          .filter((c) => c.name.startsWith(`${STACK}-${w.name}-`))
          .map((c) => c.name.slice(prefix.length))
          .sort(),
        WORKER_COMMANDS,
        w.name,
      );
      assert.deepEqual(
        uploads
          .filter((u) => u.name.startsWith(`${STACK}-${w.name}-`))
          .map((u) => String(u.inputs.path))
          .sort(),
        ["404.html", "haproxy.cfg", "start.sh"].map(
          (f) => `${router.disk}/haproxy-edge/${STACK}/${w.name}-edge/${f}`,
        ),
        w.name,
      );
    }
    assert.ok(!resources.some((c) => /dataplaneapi|-api\b/.test(c.name)), "no Data Plane API");
  });

  it("ran every command to its sentinel, with no RouterOS error", () => {
    // 6 router-wide (the prerequisites check among them), 9 per worker, 11 for the load balancer (its 2 dst-nat
    // rules), 12 for certbot (its schedule).
    assert.equal(commands.length, 6 + 3 * WORKER_COMMANDS.length + 11 + 12, `${commands.length} commands`);
    assertSentinels(commands);
  });

  it("left the router holding one veth, bridge port and container per service, with its own mounts", () => {
    const state = sim.state();
    const services = [
      { name: "lb", container: model.loadBalancer.containerName, veth: veth(model.loadBalancer) },
      { name: "certbot", container: `${STACK}-certbot`, veth: veth(model.certbot ?? { placement: {} }) },
      ...model.workers.map((w) => ({ name: w.name, container: w.containerName, veth: veth(w) })),
    ];
    // The model's slots: lb .2, certbot .3, staging .4, prod-i .4+i, all inside the subnet.
    const base = router.subnet.split("/")[0].split(".").slice(0, 3).join(".");
    assert.deepEqual(
      services.map((s) => [s.veth.name, s.veth.address]),
      [
        [`${router.vethPrefix}lb`, `${base}.2`],
        [`${router.vethPrefix}certbot`, `${base}.3`],
        [`${router.vethPrefix}staging`, `${base}.4`],
        [`${router.vethPrefix}prod-1`, `${base}.5`],
        [`${router.vethPrefix}prod-2`, `${base}.6`],
      ],
    );

    assert.deepEqual(
      rows(state, "/interface/bridge").map((b) => b.name),
      [router.bridge],
    );
    assert.deepEqual(
      rows(state, "/ip/address").map((a) => [a.address, a.interface]),
      [[`${router.bridgeAddress}/${router.prefixLength}`, router.bridge]],
    );
    assert.deepEqual(
      rows(state, "/interface/veth")
        .map((v) => [v.name, v.address, v.gateway])
        .sort(),
      services
        .map((s) => [s.veth.name, `${s.veth.address}/${router.prefixLength}`, router.bridgeAddress])
        .sort(),
    );
    assert.deepEqual(
      rows(state, "/interface/bridge/port")
        .map((p) => [p.interface, p.bridge])
        .sort(),
      services.map((s) => [s.veth.name, router.bridge]).sort(),
    );

    const containers = rows(state, "/container");
    assert.deepEqual(containers.map((c) => c.name).sort(), services.map((s) => s.container).sort());
    for (const s of services) {
      const c = containers.find((x) => x.name === s.container);
      assert.ok(c, s.container);
      assert.equal(c.interface, s.veth.name, `${s.container} interface`);
      assert.equal(c.entrypoint, "/bin/sh", s.container);
      assert.equal(c["root-dir"], `${router.disk}/haproxy-edge/${STACK}/${s.name}-root`, s.container);
    }
    const mounts = rows(state, "/container/mounts");
    for (const m of mounts) assert.match(m.src, new RegExp(`^${router.disk}/haproxy-edge/${STACK}/`));
    for (const w of model.workers) {
      const c = containers.find((x) => x.name === w.containerName);
      assert.ok(c, w.containerName);
      assert.equal(c.cmd, `${PATHS.edgeDir}/start.sh`, w.name);
      // Exactly its own three lists: no other service's mounts, and no sidecar sharing in restart mode.
      const lists = ["edge", "config", "master"].map((id) => `${w.containerName}-${id}`);
      assert.deepEqual(c.mountlists.split(",").sort(), [...lists].sort(), `${w.name} mountlists`);
      assert.deepEqual(
        mounts
          .filter((m) => lists.includes(m.list))
          .map((m) => [m.list, m.src, m.dst, m["read-only"]])
          .sort(),
        [
          [lists[0], `${router.disk}/haproxy-edge/${STACK}/${w.name}-edge`, PATHS.edgeDir, "yes"],
          [lists[1], `${router.disk}/haproxy-edge/${STACK}/${w.name}-config`, PATHS.workerConfigDir, "no"],
          [lists[2], `${router.disk}/haproxy-edge/${STACK}/${w.name}-master`, PATHS.workerMasterDir, "no"],
        ].sort(),
        `${w.name} mounts`,
      );
    }
    // Started, and running once the start command returned.
    for (const item of state.tables["/container"].items.filter((i) => i.props.name !== `${STACK}-certbot`))
      assert.equal(item.container?.phase, "running", item.props.name);

    const nat = rows(state, "/ip/firewall/nat");
    const lb = veth(model.loadBalancer);
    assert.deepEqual(
      nat
        .filter((r) => r.chain === "dstnat")
        .map((r) => [r["dst-port"], r["to-addresses"], r["to-ports"], r["in-interface-list"]])
        .sort(),
      [
        ["443", lb.address, "443", router.wanInterfaceList],
        ["80", lb.address, "80", router.wanInterfaceList],
      ],
      "dst-nat only to the load balancer",
    );
    assert.deepEqual(
      nat.filter((r) => r.chain === "srcnat").map((r) => [r.action, r["src-address"]]),
      [["masquerade", router.subnet]],
    );
    for (const [menu, table] of Object.entries(state.tables)) {
      for (const item of table.items) assert.ok(item.props.comment?.startsWith(TAG), `${menu} ${item.id}`);
    }
  });

  it("uploaded every file over SFTP with exactly the rendered content", () => {
    // 3 per worker; the load balancer: config, blocklist, internal networks, start script, placeholder; certbot's.
    const certbotFiles = model.certbot ? Object.keys(renderCertbot(model)).length : 0;
    assert.equal(
      certbotFiles,
      model.certbot ? 5 : 0,
      "rfc2136.ini, deploy-hook.sh, renew.sh, pem-check.py, health.sh",
    );
    assert.equal(uploads.length, 3 * 3 + 5 + certbotFiles, `${uploads.length} uploads`);
    assertUploadsOnDisk(sim, uploads);
    // What the container sees in its edge directory is exactly what the model renders, file for file.
    const state = sim.state();
    for (const w of model.workers) {
      const view = containerView(state, sim.diskRoot, w.containerName);
      const rendered = renderWorker(model, w);
      const expected = ["haproxy.cfg", "404.html", "start.sh"].map((k) => rendered[k]);
      assert.deepEqual(
        Object.keys(view).sort(),
        expected.map((f) => f.path).sort(),
        `${w.name}: files in its mounts`,
      );
      for (const f of expected) assert.equal(view[f.path].toString("utf8"), f.content, `${w.name} ${f.path}`);
    }
    const lbView = containerView(state, sim.diskRoot, model.loadBalancer.containerName);
    for (const f of Object.values(renderLoadBalancer(model)))
      assert.equal(lbView[f.path]?.toString("utf8"), f.content, `lb ${f.path}`);
  });

  it("points the load balancer's uploaded config at each worker's veth and workerPort", () => {
    const cfg = fs.readFileSync(edgeFile("lb-edge", "haproxy.cfg"), "utf8");
    const line = (w: WorkerModel) => `server ${w.name} ${w.upstream.address}:${w.upstream.port}`;
    for (const w of model.workers) {
      assert.deepEqual(w.upstream, { address: veth(w).address, port: w.port }, `${w.name} upstream`);
    }
    assert.deepEqual(serverLines(cfg), {
      "backend be_production": model.workers.filter((w) => w.role === "production").map(line),
      "backend be_staging": model.workers.filter((w) => w.role === "staging").map(line),
    });
    // Addresses, not names: no resolver is needed on the router.
    assert.ok(!/^resolvers /m.test(cfg), "no resolvers section");
  });

  it("has each worker's uploaded bootstrap trust exactly the load balancer's veth, with the routes in it", () => {
    const lb = veth(model.loadBalancer);
    for (const w of model.workers) {
      const cfg = fs.readFileSync(edgeFile(`${w.name}-edge`, "haproxy.cfg"), "utf8");
      assert.deepEqual(w.trustedSources, [`${lb.address}/32`], w.name);
      const rules = [...cfg.matchAll(/^\s*tcp-request connection reject if !\{ src ([^}]*) \}\s*$/gm)];
      assert.deepEqual(
        rules.map((m) => m[1].trim()),
        [`${lb.address}/32`],
        `${w.name}: the PROXY frontend's source rule`,
      );
      assert.equal((cfg.match(/^\s*tcp-request /gm) ?? []).length, 1, `${w.name}: one tcp-request rule`);
      assert.match(cfg, new RegExp(`^\\s*bind :${w.port} accept-proxy$`, "m"), w.name);
      for (const r of model.routes) assert.match(cfg, new RegExp(`^backend route_${r.name}$`, "m"), w.name);
    }
  });

  it("passes the real haproxy -c (HAProxy 3.0) with each container's view of its uploaded files", async () => {
    const state = sim.state();
    const checks: { what: string; files: Record<string, Buffer>; config: string }[] = [];
    for (const w of model.workers) {
      const files = containerView(state, sim.diskRoot, w.containerName);
      // As the uploaded start.sh does: seed the config directory from the bootstrap, run HAProxy on the copy.
      const start = files[`${PATHS.edgeDir}/start.sh`].toString("utf8");
      assert.ok(start.includes(`cp '${FILES.workerBootstrap}' '${FILES.workerConfig}.tmp'`), start);
      assert.ok(start.includes(`-f '${FILES.workerConfig}'`), start);
      files[FILES.workerConfig] = files[FILES.workerBootstrap];
      checks.push({ what: w.name, files, config: FILES.workerConfig });
    }
    const lbFiles = containerView(state, sim.diskRoot, model.loadBalancer.containerName);
    // As the uploaded start.sh does before certbot's first issuance: serve the placeholder at the certificate path.
    const lbStart = lbFiles[`${PATHS.edgeDir}/start.sh`].toString("utf8");
    const certPath = model.loadBalancer.certPath;
    assert.ok(lbStart.includes(`CERT='${certPath}'`), lbStart);
    assert.ok(lbStart.includes(`PLACEHOLDER='${FILES.placeholderCert}'`), lbStart);
    assert.ok(lbStart.includes(`install "$PLACEHOLDER"`), lbStart);
    assert.ok(lbStart.includes(`-f '${FILES.lbConfig}'`), lbStart);
    assert.equal(lbFiles[certPath], undefined, "no certificate before the container's first start");
    lbFiles[certPath] = lbFiles[FILES.placeholderCert];
    checks.push({ what: "lb", files: lbFiles, config: FILES.lbConfig });

    const results = await Promise.all(
      checks.map(async (c) => ({ c, r: await haproxyCheck(c.files, [c.config], { timeoutMs: 60_000 }) })),
    );
    for (const { c, r } of results) {
      assert.ok(r.ok, `haproxy -c failed for ${c.what}:\n${r.output}`);
      assert.deepEqual(problems(r.output), [], `${c.what}:\n${r.output}`);
      assert.match(r.version, /^HAProxy version 3\.0\./);
    }
  });

  it("puts no secret in any command string", () => {
    const placeholder = fs.readFileSync(edgeFile("lb-edge", "placeholder.pem"), "utf8");
    assertNoSecretInCommands(commands, [
      TEST_SECRETS.acmeTsigSecret,
      keyLine(sim.privateKey),
      keyLine(placeholder),
    ]);
  });

  it("changes nothing when every create is run again", async () => {
    await assertCreatesChangeNothing(sim, commands);
  });

  it("destroy removes each service's objects in a safe order, the router-wide ones last, and empties the router", async () => {
    assert.ok(engine);
    report = await engine.destroy();
    assertRouterCleared(sim, report, commands, uploads);
    const order = deletedCommands(report);
    const workerGroups = model.workers.map((w) => `${STACK}-${w.name}-`);
    const sequences = assertSafeDeleteOrder(
      order,
      [`${STACK}-lb-`, `${STACK}-certbot-`, ...workerGroups, `${STACK}-edge-router-`],
      `${STACK}-edge-router-`,
    );
    // Each worker: start, then its container, then its three mounts, bridge port and veth (the veth after the
    // bridge port), its directories and files; nothing left out.
    for (const g of workerGroups) {
      const names = sequences.get(g) ?? [];
      assert.deepEqual(
        names.map((n) => n.slice(g.length)).sort(),
        WORKER_COMMANDS.map((c) => `container-${c}`).sort(),
      );
      assert.deepEqual(names.slice(0, 2), [`${g}container-start`, `${g}container-container`]);
    }
    // Services in reverse rollout order: prod-N … staging, then the load balancer last; certbot (which waits only
    // for the load balancer) anywhere before it.
    const containers = order.filter((n) => n.endsWith("-container-container"));
    assert.deepEqual(
      containers.filter((n) => !n.startsWith(`${STACK}-certbot-`)),
      [
        ...[...model.workers].reverse().map((w) => `${STACK}-${w.name}-container-container`),
        `${STACK}-lb-container-container`,
      ],
    );
    assert.ok(containers.includes(`${STACK}-certbot-container-container`), containers.join());
  });

  it("changes nothing when every delete is run again", async () => {
    await assertDeletesChangeNothing(sim, commands);
  });
});
