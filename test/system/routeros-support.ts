/**
 * Shared by the RouterOS system tests (routeros.system.test.ts, routeros-workers.system.test.ts): the example stack
 * (Pulumi.prod.yaml) pointed at the RouterOS CLI simulator, its model and its real-engine stack, and the checks
 * both tests make of the router: every command's sentinel, the uploads on the simulated disk, no secret in a
 * command string, re-running creates and deletes, the empty router after destroy, and the safe order of the
 * deletes.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { loadModel, type EdgeModel } from "../../config/model";
import { decodeRawConfig } from "../../config/parse";
import { checkRouterOutput } from "../../routeros/commands";
import { TEST_SECRETS, loadStackFile } from "../support/stack-config";
import type { RouterOsSimServer } from "../support/routeros-sim/sshd";
import type { SimState } from "../support/routeros-sim/state";
import { Engine, type CliResult, type StateResource } from "./engine";
import { STACK } from "./support";

export const log = process.env.HAPROXY_EDGE_SYSTEM_VERBOSE
  ? (l: string) => console.log(`    ${l}`)
  : undefined;
export const ROUTER_VERSION = "7.21.2";
/** A RouterOS command (routeros/command-provider.ts). */
export const COMMAND = "pulumi-nodejs:dynamic/routeros:Command";
/** Files written to the router over SFTP (routeros/file-provider.ts). */
export const UPLOAD = "pulumi-nodejs:dynamic/routeros:SftpFile";
export const TAG = `haproxy-edge:${STACK}:`;

/** The example's router, pointed at the simulator (`extra` overrides its settings, e.g. `subnet`). */
export function simulatedRouter(
  sim: RouterOsSimServer,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  const file = loadStackFile("prod");
  const hosts = JSON.parse(file.config["haproxy-edge:hosts"]) as Record<string, Record<string, unknown>>;
  return {
    ...hosts["edge-router"],
    address: "127.0.0.1",
    port: sim.port,
    user: sim.user,
    privateKey: sim.privateKey,
    hostKey: sim.hostPublicKey.split(/\s+/).slice(0, 2).join(" "),
    version: ROUTER_VERSION,
    ...extra,
  };
}

/**
 * The example stack, pointed at the simulator (top-level config keys).
 * - `docker` (as the example): the load balancer and certbot on the router, the workers on the local engine.
 * - `router`: every service on the router (no Docker host at all), routes rendered into the workers' bootstraps
 *   (`routeUpdates: restart`: the `live` sidecars need the real Data Plane API and its SSH forward), on the
 *   smallest subnet `restart` allows (a /27: 22 addresses reserved).
 */
export function exampleOverrides(
  sim: RouterOsSimServer,
  workers: "docker" | "router" = "docker",
): Record<string, unknown> {
  if (workers === "router") {
    return {
      hosts: { "edge-router": simulatedRouter(sim, { subnet: "172.20.0.0/27" }) },
      stagingWorkerHost: "edge-router",
      productionWorkerHosts: ["edge-router", "edge-router"],
      routeUpdates: "restart",
    };
  }
  return {
    hosts: {
      "edge-router": simulatedRouter(sim),
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
 * The example stack with `overrides`: its model (as index.ts builds it) and its stack on the real engine (the TSIG
 * secret and the router key set with `--secret`, as an operator does).
 */
export async function exampleStack(
  overrides: Record<string, unknown>,
): Promise<{ model: EdgeModel; engine: Engine }> {
  const file = loadStackFile("prod", overrides);
  const model = loadModel(
    decodeRawConfig(
      Object.fromEntries(Object.entries(file.config).map(([k, v]) => [k.replace(/^haproxy-edge:/, ""), v])),
    ),
    { project: "haproxy-edge", stack: STACK, secretKeys: file.secretKeys },
  );
  const engine = await Engine.create({
    stack: STACK,
    stackFile: "Pulumi.prod.yaml",
    overrides,
    secrets: { acmeTsigSecret: TEST_SECRETS.acmeTsigSecret },
    log,
  });
  return { model, engine };
}

/**
 * The simulator's objects (ids and properties) and settings: what "changes nothing" compares. Not compared: the
 * clock, the log, and a container's run phase (re-running the start command restarts it, by design).
 */
export function objects(state: SimState) {
  const tables = Object.fromEntries(
    Object.entries(state.tables).map(([menu, t]) => [
      menu,
      t.items.map((i) => ({ id: i.id, props: i.props })),
    ]),
  );
  return { tables, settings: state.settings };
}

/** The properties of every row of a menu. */
export function rows(state: SimState, menu: string) {
  return state.tables[menu]?.items.map((i) => i.props) ?? [];
}

/** Every command's stdout carries the sentinel and no RouterOS error. */
export function assertSentinels(commands: StateResource[]): void {
  for (const c of commands) assert.doesNotThrow(() => checkRouterOutput(String(c.outputs.stdout)), c.name);
}

/** Every upload's file is on the simulated disk with exactly the uploaded content. */
export function assertUploadsOnDisk(sim: RouterOsSimServer, uploads: StateResource[]): void {
  for (const u of uploads) {
    const text = String(u.inputs.content);
    const onDisk = fs.readFileSync(path.join(sim.diskRoot, String(u.inputs.path)), "utf8");
    assert.equal(onDisk, text, String(u.inputs.path));
  }
}

/** No `secrets` value in any command's create, update or delete string. */
export function assertNoSecretInCommands(commands: StateResource[], secrets: string[]): void {
  for (const c of commands) {
    for (const k of ["create", "update", "delete"]) {
      for (const s of secrets) assert.ok(!String(c.inputs[k] ?? "").includes(s), `${c.name}.${k}`);
    }
  }
}

/** Runs every create again over SSH: each succeeds, and the router's objects do not change. */
export async function assertCreatesChangeNothing(
  sim: RouterOsSimServer,
  commands: StateResource[],
): Promise<void> {
  const before = objects(sim.state());
  for (const c of commands) {
    const out = await sim.exec(String(c.inputs.create));
    assert.doesNotThrow(() => checkRouterOutput(out), c.name);
  }
  assert.deepEqual(objects(sim.state()), before);
}

/** Runs every delete again over SSH: each succeeds, and every menu stays empty. */
export async function assertDeletesChangeNothing(
  sim: RouterOsSimServer,
  commands: StateResource[],
): Promise<void> {
  for (const c of commands) {
    const out = await sim.exec(String(c.inputs.delete));
    assert.doesNotThrow(() => checkRouterOutput(out), c.name);
  }
  for (const [menu, table] of Object.entries(sim.state().tables)) assert.deepEqual(table.items, [], menu);
}

/**
 * After `pulumi destroy`: it succeeded (a delete whose output shows a RouterOS error fails it: RouterOsCommand
 * checks every run), every menu is empty, and every uploaded file is gone.
 */
export function assertRouterCleared(
  sim: RouterOsSimServer,
  destroyed: CliResult,
  commands: StateResource[],
  uploads: StateResource[],
): void {
  assert.equal(destroyed.code, 0, `${destroyed.stdout}\n${destroyed.stderr}`);
  assert.ok(commands.length > 0);
  const state = sim.state();
  for (const [menu, table] of Object.entries(state.tables))
    assert.deepEqual(table.items, [], `${menu} still holds objects`);
  for (const u of uploads)
    assert.ok(!fs.existsSync(path.join(sim.diskRoot, String(u.inputs.path))), String(u.inputs.path));
}

/** Names of the commands `pulumi destroy` removed, in the order it reported them deleted. */
export function deletedCommands(destroyed: CliResult): string[] {
  const re = new RegExp(`^\\s*-\\s+${COMMAND}\\s+(\\S+)\\s+deleted\\b`);
  return destroyed.stdout
    .split("\n")
    .map((l) => re.exec(l)?.[1])
    .filter((n): n is string => n !== undefined);
}

/**
 * What RouterOS needs of a delete order, within one group of commands (a service's container, NAT rules and
 * schedule; or the router-wide objects): each pair's first command is deleted before its second. The engine
 * deletes independent resources in parallel, so only these pairs have an order.
 */
export const DELETE_BEFORE: [RegExp, RegExp, string][] = [
  [/-renew-scheduler$/, /-renew-script$/, "the scheduler runs the script"],
  [/-start$/, /-container$/, "the start command starts the container"],
  [
    /-(container|start)$/,
    /-(mount|env)-|-nat-|-bridge-port$|-veth$/,
    "a container holds its mounts, envs and veth",
  ],
  [/-nat-/, /-veth$/, "a dst-nat rule forwards to the veth's address"],
  [/-bridge-port$/, /-veth$/, "the bridge port holds the veth"],
  [/-masquerade$/, /-bridge-address$/, "the masquerade covers the bridge's subnet"],
  [/-bridge-address$/, /-bridge$/, "the address is on the bridge"],
];

/**
 * Within each group (a name prefix), every {@link DELETE_BEFORE} pair was deleted in order, and the router-wide
 * group (`routerWide`, also one of `groups`) went last. Returns each group's deleted commands, in their order.
 */
export function assertSafeDeleteOrder(
  order: string[],
  groups: string[],
  routerWide: string,
): Map<string, string[]> {
  const deleted = new Map<string, string[]>();
  for (const g of groups) {
    const names = order.filter((n) => n.startsWith(g));
    assert.ok(names.length > 0, g);
    for (const [first, second, why] of DELETE_BEFORE) {
      const last = Math.max(...names.map((n, i) => (first.test(n) ? i : -1)));
      const before = names.findIndex((n) => second.test(n));
      if (last >= 0 && before >= 0)
        assert.ok(
          last < before,
          `${names[last]} was deleted after ${names[before]} (${why}): ${order.join(", ")}`,
        );
    }
    deleted.set(g, names);
  }
  const firstRouterWide = order.findIndex((n) => n.startsWith(routerWide));
  assert.ok(
    order.slice(firstRouterWide).every((n) => n.startsWith(routerWide)),
    `router-wide objects go last: ${order.join(", ")}`,
  );
  return deleted;
}
