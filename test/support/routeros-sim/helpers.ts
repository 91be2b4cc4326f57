/**
 * Helpers for the simulator's tests: a simulator on a temporary disk root, and the command set of one edge
 * stack built by the real builders of routeros/commands.ts.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  addressCommands,
  bridgeCommands,
  bridgePortCommands,
  containerCommands,
  containerConfigCommands,
  containerRestartCommands,
  containerTmpDir,
  directoriesCommands,
  dstNatCommands,
  envCommands,
  masqueradeCommands,
  mountCommands,
  prerequisitesCommands,
  routerOsVersion,
  schedulerCommands,
  scriptCommands,
  vethCommands,
  type ContainerSpec,
  type RouterCommand,
  type RouterOsVersion,
} from "../../../routeros/commands";
import { RouterOsSim } from "./interpreter";
import type { SimOptions } from "./state";

/** Versions the builders support and the simulator is tested on. */
export const VERSIONS = ["7.16", "7.19", "7.20", "7.21", "7.23"] as const;

/** Simulators on temporary disk roots; `cleanup()` removes the folders. */
export class SimFactory {
  private readonly dirs: string[] = [];

  make(version: string, options: Partial<SimOptions> = {}, disks?: string[]): RouterOsSim {
    const diskRoot = mkdtempSync(join(tmpdir(), "routeros-sim-test-"));
    this.dirs.push(diskRoot);
    return new RouterOsSim({ version, diskRoot, options, ...(disks ? { disks } : {}) });
  }

  cleanup(): void {
    for (const d of this.dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  }
}

export function versionOf(text: string): RouterOsVersion {
  const [a, b, c] = text.split(".").map(Number);
  return routerOsVersion([a, b, c ?? 0]);
}

/** The edge container of the stack (veth `edge-lb`, two mounts, an env list, started). */
export function lbSpec(overrides: Partial<ContainerSpec> = {}): ContainerSpec {
  return {
    stack: "dev",
    id: "ctr-dev-lb",
    name: "dev-lb",
    remoteImage: "haproxy:3.0",
    interface: "edge-lb",
    rootDir: "disk1/haproxy-edge/dev/lb-root",
    mountLists: ["dev-lb-etc", "dev-lb-certs"],
    envList: "dev-lb",
    entrypoint: "/bin/sh",
    cmd: "/usr/local/etc/haproxy-edge/start.sh",
    user: "0:0",
    start: false,
    startOnBoot: true,
    ...overrides,
  };
}

/**
 * Every object of one stack on one router, in the order routeros/components.ts creates them (delete runs in
 * reverse). Names of the steps are for messages.
 */
export function stackCommands(v: RouterOsVersion): [string, RouterCommand][] {
  const stack = "dev";
  const tmpdir = containerTmpDir("disk1");
  const lb = lbSpec();
  return [
    [
      "prerequisites",
      prerequisitesCommands({ disk: "disk1", diskKey: "hosts.r.disk", user: "admin", scheduler: true }),
    ],
    ["host dirs", directoriesCommands({ paths: [tmpdir] })],
    [
      "container config",
      containerConfigCommands({
        registryUrl: "https://registry-1.docker.io",
        tmpdir,
        registryKey: "hosts.r.registryUrl",
      }),
    ],
    ["bridge", bridgeCommands({ stack, id: "bridge", name: "br-edge" })],
    [
      "bridge address",
      addressCommands({
        stack,
        id: "bridge-address",
        address: "172.20.0.1",
        prefixLength: 24,
        interface: "br-edge",
      }),
    ],
    ["masquerade", masqueradeCommands({ stack, id: "masquerade", subnet: "172.20.0.0/24" })],
    [
      "veth",
      vethCommands({
        stack,
        id: "veth-edge-lb",
        name: "edge-lb",
        address: "172.20.0.2",
        prefixLength: 24,
        gateway: "172.20.0.1",
      }),
    ],
    [
      "bridge port",
      bridgePortCommands({ stack, id: "port-edge-lb", bridge: "br-edge", interface: "edge-lb" }),
    ],
    [
      "container dirs",
      directoriesCommands({
        paths: ["disk1/haproxy-edge/dev", "disk1/haproxy-edge/dev/lb-etc", "disk1/haproxy-edge/dev/certs"],
      }),
    ],
    [
      "mount etc",
      mountCommands(
        {
          stack,
          id: "mnt-dev-lb-etc",
          list: "dev-lb-etc",
          src: "disk1/haproxy-edge/dev/lb-etc",
          dst: "/usr/local/etc/haproxy",
          readOnly: true,
        },
        v,
      ),
    ],
    [
      "mount certs",
      mountCommands(
        {
          stack,
          id: "mnt-dev-lb-certs",
          list: "dev-lb-certs",
          src: "disk1/haproxy-edge/dev/certs",
          dst: "/usr/local/etc/haproxy/certs",
          readOnly: false,
        },
        v,
      ),
    ],
    [
      "env TZ",
      envCommands({ stack, id: "env-dev-lb-TZ", list: "dev-lb", key: "TZ", value: "Europe/Berlin" }, v),
    ],
    [
      "env MULTI",
      envCommands(
        {
          stack,
          id: "env-dev-lb-MULTI",
          list: "dev-lb",
          key: "MULTI",
          value: 'line1\nline2\r\n$HOME? "q" é',
        },
        v,
      ),
    ],
    ["container", containerCommands(lb, v)],
    ["start", containerRestartCommands(lb, v)],
    [
      "dst-nat",
      dstNatCommands({
        stack,
        id: "dstnat-lb-https",
        inInterfaceList: "WAN",
        port: 443,
        toAddress: "172.20.0.2",
        toPort: 8443,
      }),
    ],
    [
      "script",
      scriptCommands({
        stack,
        id: "script-renew",
        name: "renew",
        source: '/container/start [find where name="dev-certbot"]\n:log info $x',
        policy: ["read", "write", "test"],
      }),
    ],
    [
      "scheduler",
      schedulerCommands({
        stack,
        id: "sched-renew",
        name: "renew",
        interval: "1d",
        startTime: "03:17:00",
        script: "renew",
        policy: ["read", "write", "test"],
      }),
    ],
  ];
}

/** The load balancer's veth of the `dev` stack, as the builder tests use it. */
export const LB_VETH = {
  stack: "dev",
  id: "veth-edge-lb",
  name: "edge-lb",
  address: "172.20.0.2",
  prefixLength: 24,
  gateway: "172.20.0.1",
} as const;
