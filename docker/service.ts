/**
 * A service (service/spec.ts) on a Docker host: the volumes it creates and its container, with the policy every
 * container of the edge shares.
 */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { dockerVolumeName } from "../config/model";
import { mergeDeps } from "../service/dependencies";
import type { DeclareOptions, ServiceHealth, ServiceSpec } from "../service/spec";
import type { UploadFile } from "../service/files";
import { filesDigest, ServiceFiles } from "./files";
import { ContainerLimits } from "./limits";
import { dockerLabels, tcpHealthcheck, type DockerHost } from "./host";

/** Where and how a service is declared on a Docker host. */
export interface DockerServiceOptions extends DeclareOptions {
  /** Volumes of another service, by volume name, that this one mounts too. */
  sharedVolumes?: Record<string, docker.Volume>;
}

/** A service on a Docker host. */
export interface DockerService {
  container: docker.Container;
  /** Its pids limit (set on the running container: the Docker provider has no such setting). */
  limits: ContainerLimits;
  /** The volumes it created, by volume name (its files volume not included). */
  volumes: Record<string, docker.Volume>;
  /** What writes its files into its files volume. */
  files: FilesVolume;
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
  const files = filesVolume(
    name,
    {
      stack: o.stack,
      key: spec.key,
      host,
      image: spec.image,
      files: spec.files,
      dir: spec.filesDir,
      liveFiles: spec.liveFiles ?? [],
      // Another mount inside it needs its mount point made there at start.
      nestedMounts: spec.mounts.some((m) => m.path.startsWith(`${spec.filesDir}/`)),
    },
    { ...child, dependsOn: mergeDeps(o.dependsOn, o.after ?? []) },
  );
  const container = edgeContainer(
    name,
    {
      name: spec.containerName,
      image: host.images[spec.image].imageId,
      startScript: spec.startScript,
      volumes: [
        files.mount,
        ...spec.mounts.map((m) => ({ volumeName: volumeName(m.volume), containerPath: m.path })),
      ],
      ...hardening({
        capabilities: spec.capabilities,
        memoryMb: spec.memoryMb,
        tmpfs: spec.tmpfs,
      }),
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
      labels: files.labels(dockerLabels(o.stack, spec.role, spec.labels)),
    },
    {
      ...child,
      dependsOn: mergeDeps(o.dependsOn, [...Object.values(volumes), files.writer, ...(o.after ?? [])]),
    },
  );
  const limits = containerLimits(name, host, spec.containerName, container, spec.pidsLimit, {
    parent: o.parent,
    dependsOn: mergeDeps(o.dependsOn, o.after ?? []),
  });
  return { container, volumes, files, limits };
}

/** The pids limit of `container` on `host`: after it, and after what `opts` waits for (a dynamic resource: never
 * the Docker provider). */
export function containerLimits(
  name: string,
  host: DockerHost,
  containerName: string,
  container: docker.Container,
  pidsLimit: number,
  opts: { parent: pulumi.Resource; dependsOn: pulumi.CustomResourceOptions["dependsOn"] },
): ContainerLimits {
  return new ContainerLimits(
    `${name}-limits`,
    {
      endpoint: { url: host.host.url, sshArgs: host.host.ssh ? host.host.sshArgs : [] },
      container: containerName,
      instance: container.id,
      pidsLimit,
    },
    { parent: opts.parent, dependsOn: mergeDeps(opts.dependsOn, [container]) },
  );
}

/** Inputs of {@link filesVolume}. */
export interface FilesVolumeArgs {
  stack: string;
  /** The service's key: the volume is `<stack>-<key>-files`. */
  key: string;
  host: DockerHost;
  /** The service's image reference (the writer container is created from it). */
  image: string;
  /** The files, all under `dir`. */
  files: UploadFile[];
  /** Where the container mounts the volume. */
  dir: string;
  /** Paths of `files` another resource keeps up to date in the running container: written when the volume is new. */
  liveFiles: readonly string[];
  /** Whether another of the container's mounts lies inside `dir`. */
  nestedMounts: boolean;
}

/** A service's files volume, what writes it and how its container mounts it. */
export interface FilesVolume {
  volume: docker.Volume;
  writer: ServiceFiles;
  /** The container's mount: read-only unless something writes there while it runs (live files, nested mounts). */
  mount: { volumeName: pulumi.Output<string>; containerPath: string; readOnly: boolean };
  /** The container's labels with the digest of its files: a change to them replaces the container. */
  labels(base: { label: string; value: string }[]): pulumi.Output<{ label: string; value: string }[]>;
}

/** The label that carries the digest of a container's files. */
export const FILES_LABEL = "haproxy-edge.files-sha256";

/**
 * The files of a service on a Docker host, in a volume of their own (`<stack>-<key>-files`) that the container
 * mounts at `dir`: written by {@link ServiceFiles}, so the container needs no uploads and its root filesystem can
 * be read-only.
 */
export function filesVolume(
  name: string,
  a: FilesVolumeArgs,
  opts: pulumi.CustomResourceOptions,
): FilesVolume {
  const outside = a.files.filter((f) => !f.path.startsWith(`${a.dir}/`));
  if (outside.length > 0)
    throw new Error(`files outside ${a.dir} cannot be written: ${outside.map((f) => f.path).join(", ")}`);
  const live = new Set(a.liveFiles);
  const volumeFile = (f: UploadFile) => ({
    path: f.path.slice(a.dir.length + 1),
    content: f.secret ? pulumi.secret(f.content) : pulumi.output(f.content),
    mode: f.mode,
  });
  const files = a.files.filter((f) => !live.has(f.path)).map(volumeFile);
  const seedFiles = a.files.filter((f) => live.has(f.path)).map(volumeFile);
  // A digest of secret files reveals nothing of them: it is kept in the clear (a container label).
  const digest = pulumi.unsecret(
    pulumi
      .all(files.map((f) => f.content))
      .apply((contents) =>
        filesDigest(files.map((f, i) => ({ path: f.path, mode: f.mode, content: contents[i] }))),
      ),
  );
  const volume = new docker.Volume(
    `${name}-files-volume`,
    { name: dockerVolumeName(a.stack, `${a.key}-files`), labels: dockerLabels(a.stack, "files") },
    { ...opts, deleteBeforeReplace: true },
  );
  const writer = new ServiceFiles(
    `${name}-files`,
    {
      endpoint: { url: a.host.host.url, sshArgs: a.host.host.ssh ? a.host.host.sshArgs : [] },
      volume: volume.name,
      volumeId: volume.id,
      image: a.host.images[a.image].imageId,
      files,
      seedFiles,
      digest,
    },
    // A dynamic resource: never the Docker provider of `opts`.
    { parent: opts.parent, dependsOn: mergeDeps(opts.dependsOn, [volume, a.host.images[a.image]]) },
  );
  return {
    volume,
    writer,
    mount: { volumeName: volume.name, containerPath: a.dir, readOnly: live.size === 0 && !a.nestedMounts },
    labels: (base) =>
      digest.apply((d) =>
        [...base, { label: FILES_LABEL, value: d }].sort((x, y) => x.label.localeCompare(y.label)),
      ),
  };
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
  /** Directories it writes outside its volumes: tmpfs on its read-only root filesystem. */
  tmpfs: readonly string[];
}

/** Each tmpfs's mount options: small, no devices, no setuid programs. */
export const TMPFS_OPTIONS = "rw,nosuid,nodev,size=16m";

/**
 * The hardening every container of the edge gets: all capabilities dropped but `capabilities` (Docker's
 * defaults include NET_RAW, i.e. ARP spoofing on the bridge, CHOWN, DAC_OVERRIDE, FOWNER, SETPCAP...), no new
 * privileges through setuid files (`no-new-privileges:true`, the form Docker reports back), a read-only root
 * filesystem with a small tmpfs where the program writes outside its volumes, and a memory limit without swap.
 * The files come from a volume ({@link filesVolume}): the Docker provider's `uploads` go through the container's
 * `/`, which Docker refuses on a read-only root filesystem ("container rootfs is marked read-only").
 */
export function hardening(a: ContainerAllowance) {
  return {
    capabilities: { drops: ["ALL"], ...(a.capabilities.length > 0 ? { adds: [...a.capabilities] } : {}) },
    securityOpts: ["no-new-privileges:true"],
    readOnly: true,
    tmpfs: Object.fromEntries(a.tmpfs.map((d) => [d, TMPFS_OPTIONS])),
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
