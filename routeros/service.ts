/**
 * A service (service/spec.ts) on a RouterOS router: its container with its files in a read-only mount of their
 * own, its mounts, dst-nat for its ports and, for a periodic job, its scheduler.
 */
import * as pulumi from "@pulumi/pulumi";
import { mergeDeps } from "../service/dependencies";
import type { DeclareOptions, ServiceSpec } from "../service/spec";
import { RouterOsContainer, RouterOsSchedule } from "./components";
import { routerContainerArgs, type RouterPlacement } from "./placement";

/** Where and how a service is declared on a router. */
export interface RouterServiceOptions extends DeclareOptions {
  /** The container whose mount lists this one's `shared` mounts use (make `after` include it). */
  sharesWith?: RouterOsContainer;
}

/** A service on a router. */
export interface RouterService {
  container: RouterOsContainer;
  schedule?: RouterOsSchedule;
}

/** Declares `spec` on `router` (its container component is named `name`). */
export function routerService(
  name: string,
  spec: ServiceSpec,
  router: RouterPlacement,
  o: RouterServiceOptions,
): RouterService {
  if (!spec.veth)
    throw new pulumi.ResourceError(
      `haproxy-edge bug: ${spec.key} has no veth on ${router.model.name}`,
      o.parent,
    );
  const shared = o.sharesWith ? spec.mounts.filter((m) => m.shared) : [];
  const own = spec.mounts.filter((m) => !shared.includes(m));
  const args = routerContainerArgs(
    router,
    o.stack,
    {
      containerName: spec.containerName,
      image: spec.image,
      veth: spec.veth,
      // RouterOS splits `cmd` on whitespace: a periodic job runs one pass per start.
      cmd: spec.schedule ? `${spec.startScript} once` : spec.startScript,
      rootVolume: `${spec.key}-root`,
      mounts: [
        { id: "edge", volume: `${spec.key}-edge`, dst: spec.filesDir, readOnly: true },
        ...own.map((m) => ({ id: m.id, volume: m.volume, dst: m.path, readOnly: false })),
      ],
      files: spec.files,
      filesMount: "edge",
      start: true,
      memoryMb: spec.memoryMb,
      // A pass may finish within seconds: do not wait for the "running" state.
      ...(spec.waitForReady ? {} : { waitForRunning: false }),
      ...(spec.ports
        ? { ports: spec.ports.map((p) => ({ id: p.id, port: p.external.port, toPort: p.port })) }
        : {}),
    },
    o.parent,
  );
  const sharesWith = o.sharesWith;
  const container = new RouterOsContainer(
    name,
    sharesWith && shared.length > 0
      ? { ...args, sharedMountLists: shared.map((m) => sharesWith.mountLists[m.id]) }
      : args,
    { parent: o.parent, dependsOn: mergeDeps(o.dependsOn, [...router.host.ready, ...(o.after ?? [])]) },
  );
  if (!spec.schedule) return { container };
  const schedule = new RouterOsSchedule(
    spec.schedule.resource,
    {
      router: router.model,
      stack: o.stack,
      ssh: router.ssh,
      privateKey: router.privateKey,
      name: spec.schedule.name,
      // Started by its tag: a find by name matches nothing on RouterOS 7.16 to 7.18.
      source: container.startScript,
      interval: `${spec.schedule.intervalHours}h`,
      startTime: spec.schedule.startTime,
      policy: ["read", "write", "test"],
    },
    { parent: o.parent, dependsOn: mergeDeps(o.dependsOn, [container]) },
  );
  return { container, schedule };
}
