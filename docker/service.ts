/**
 * A service (service/spec.ts) on a Docker host: the volumes it creates and its container, with the policy every
 * container of the edge shares.
 */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { dockerVolumeName } from "../config/model";
import { mergeDeps } from "../service/dependencies";
import type { DeclareOptions, ServiceHealth, ServiceSpec } from "../service/spec";
import { dockerLabels, tcpHealthcheck, uploadsOf, type DockerHost } from "./host";

/** Where and how a service is declared on a Docker host. */
export interface DockerServiceOptions extends DeclareOptions {
  /** Volumes of another service, by volume name, that this one mounts too. */
  sharedVolumes?: Record<string, docker.Volume>;
}

/** A service on a Docker host. */
export interface DockerService {
  container: docker.Container;
  /** The volumes it created, by volume name. */
  volumes: Record<string, docker.Volume>;
}

/** Declares `spec` on `host`: its own volumes, then its container (named `name`). */
export function dockerService(
  name: string,
  spec: ServiceSpec,
  host: DockerHost,
  o: DockerServiceOptions,
): DockerService {
  const child = { parent: o.parent, provider: host.provider, dependsOn: o.dependsOn };
  const volumes: Record<string, docker.Volume> = {};
  for (const m of spec.mounts) {
    if (!m.owned) continue;
    volumes[m.volume] = new docker.Volume(
      m.owned.resource,
      {
        name: dockerVolumeName(o.stack, m.volume),
        labels: dockerLabels(o.stack, m.owned.role, m.owned.labels),
      },
      // Certificates and ACME state outlive the stack by design: re-creating a lab must not burn ACME rate limits.
      m.owned.retain ? { ...child, retainOnDelete: true } : { ...child, deleteBeforeReplace: true },
    );
  }
  const volumeName = (v: string) =>
    (volumes[v] ?? o.sharedVolumes?.[v])?.name ?? dockerVolumeName(o.stack, v);
  const container = edgeContainer(
    name,
    {
      name: spec.containerName,
      image: host.images[spec.image].imageId,
      startScript: spec.startScript,
      uploads: uploadsOf(spec.files),
      volumes: spec.mounts.map((m) => ({ volumeName: volumeName(m.volume), containerPath: m.path })),
      ...hardening({ capabilities: spec.capabilities, memoryMb: spec.memoryMb }),
      networksAdvanced: [
        {
          name: host.network.name,
          ...(spec.address ? { ipv4Address: spec.address } : {}),
          ...(spec.aliases && spec.aliases.length > 0 ? { aliases: spec.aliases } : {}),
        },
      ],
      ...(spec.ports
        ? {
            ports: spec.ports.map((p) => ({
              internal: p.port,
              external: p.external.port,
              ip: p.external.address,
              protocol: "tcp",
            })),
          }
        : {}),
      ...(spec.health ? { healthcheck: healthcheckOf(spec.health) } : {}),
      ...(spec.stopTimeoutSeconds !== undefined ? { stopTimeout: spec.stopTimeoutSeconds } : {}),
      ...(spec.stopSignal ? { stopSignal: spec.stopSignal } : {}),
      // Not ready at once (certbot's first issuance can take minutes): its healthcheck reports failures instead.
      ...(spec.waitForReady ? {} : { wait: false }),
      labels: dockerLabels(o.stack, spec.role, spec.labels),
    },
    {
      ...child,
      dependsOn: mergeDeps(o.dependsOn, [...Object.values(volumes), ...(o.after ?? [])]),
      // Files kept up to date in the running container by another resource: no replacement for them.
      ignoreChanges: liveUploads(spec),
    },
  );
  return { container, volumes };
}

/** The `uploads[i]` property paths of the spec's live files (see `ServiceSpec.liveFiles`). */
export function liveUploads(spec: Pick<ServiceSpec, "files" | "liveFiles">): string[] {
  const live = new Set(spec.liveFiles ?? []);
  return spec.files.flatMap((f, i) => (live.has(f.path) ? [`uploads[${i}]`] : []));
}

function healthcheckOf(h: ServiceHealth) {
  if ("tcp" in h) return tcpHealthcheck(h.tcp.port, h.tcp.http);
  return {
    tests: ["CMD", "sh", "-c", h.command],
    interval: h.interval,
    timeout: h.timeout,
    retries: h.retries,
  };
}

/** What a container of the edge may do beyond nothing: see {@link hardening}. */
export interface ContainerAllowance {
  /** Linux capabilities it keeps; all the others are dropped. */
  capabilities: readonly string[];
  /** Memory limit in MiB. */
  memoryMb: number;
}

/**
 * The hardening every container of the edge gets: all capabilities dropped but `capabilities` (Docker's
 * defaults include NET_RAW, i.e. ARP spoofing on the bridge, CHOWN, DAC_OVERRIDE, FOWNER, SETPCAP...), no new
 * privileges through setuid files (`no-new-privileges:true`, the form Docker reports back) and a memory limit
 * without swap.
 * The root filesystem stays writable: the Docker provider uploads files through the container's `/` (checked: on
 * a read-only root filesystem its create fails with "container rootfs is marked read-only", even for files on a
 * volume), so a read-only root needs the files written into a volume by a provider of the edge's own.
 */
export function hardening(a: ContainerAllowance) {
  return {
    capabilities: { drops: ["ALL"], ...(a.capabilities.length > 0 ? { adds: [...a.capabilities] } : {}) },
    securityOpts: ["no-new-privileges:true"],
    memory: a.memoryMb,
    // No swap on top (Docker's default doubles the limit with swap; left unset it shows as a change at every preview).
    memorySwap: a.memoryMb,
  };
}

/** Inputs of {@link edgeContainer}: a container's own settings; the shared policy is added. */
type EdgeContainerArgs = Omit<docker.ContainerArgs, "user" | "entrypoints" | "command" | "restart"> & {
  /** Path (inside the container) of the rendered start script it runs with /bin/sh. */
  startScript: string;
};

/**
 * A container of the edge, with the policy they all share: it runs its rendered start script as root (the
 * scripts seed volumes Docker creates owned by root, and HAProxy drops privileges itself; the capabilities it
 * keeps are in its args, see {@link hardening}), restarts unless stopped, waits until healthy, and
 * is deleted before it is replaced (fixed names and ports) and replaced when its healthcheck changes (the
 * provider cannot update a healthcheck in place).
 */
function edgeContainer(name: string, args: EdgeContainerArgs, opts: pulumi.CustomResourceOptions) {
  const { startScript, ...own } = args;
  return new docker.Container(
    name,
    {
      user: "root",
      entrypoints: ["/bin/sh"],
      command: [startScript],
      restart: "unless-stopped",
      wait: true,
      waitTimeout: 90,
      ...own,
    },
    { deleteBeforeReplace: true, replaceOnChanges: ["healthcheck"], ...opts },
  );
}
