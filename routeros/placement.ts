/**
 * What a service placed on a RouterOS router needs: the router's model, its SSH connection and the host-level
 * resources (bridge, address, container config) its containers must wait for.
 */
import * as pulumi from "@pulumi/pulumi";
import type { RouterOsHostModel } from "../config/model";
import type { RouterSsh } from "./ssh";
import type { UploadFile } from "../service/files";
import type { RouterOsContainerArgs, RouterOsHost, RouterOsPort } from "./components";

export interface RouterPlacement {
  model: RouterOsHostModel;
  /** The router's SSH endpoint (host key pinned when known). */
  ssh: RouterSsh;
  /** The router's SSH private key (a secret). */
  privateKey: pulumi.Output<string>;
  /** Host-level resources; containers depend on `host.ready`. */
  host: RouterOsHost;
}

/** Router directory of one of the stack's volumes, e.g. `disk1/haproxy-edge/dev/certs` (no leading slash). */
export function routerVolumeDir(router: RouterOsHostModel, stack: string, volume: string): string {
  return `${router.disk}/haproxy-edge/${stack}/${volume}`;
}

/** A container of the edge on a router: its own settings; {@link routerContainerArgs} adds the shared ones. */
export interface RouterContainerSpec {
  containerName: string;
  image: string;
  veth: { name: string; address: string };
  /** Rendered start script and its arguments (RouterOS splits `cmd` on whitespace). */
  cmd: string;
  /** Volume (directory under `<disk>/haproxy-edge/<stack>/`) holding the extracted image. */
  rootVolume: string;
  /** Volumes mounted into the container; the same volume name on two containers is the same directory. */
  mounts: { id: string; volume: string; dst: string; readOnly: boolean }[];
  /** Rendered files, uploaded into the mount `filesMount` (their paths lie under its `dst`). */
  files: UploadFile[];
  filesMount: string;
  start: boolean;
  waitForRunning?: boolean;
  /** Memory limit in MiB. */
  memoryMb: number;
  /** Ports forwarded to the container from the router's WAN interface list. */
  ports?: RouterOsPort[];
}

/**
 * RouterOsContainer arguments for an edge container: like on Docker, it runs its rendered start script with
 * /bin/sh as root (the official images run as a non-root user, which cannot seed the mounted volumes), and its
 * root dir and volumes live under `<disk>/haproxy-edge/<stack>/`.
 */
export function routerContainerArgs(
  placed: RouterPlacement,
  stack: string,
  spec: RouterContainerSpec,
  /** The component declaring the container: errors name it. */
  parent: pulumi.Resource,
): RouterOsContainerArgs {
  const dir = (volume: string) => routerVolumeDir(placed.model, stack, volume);
  const filesMount = spec.mounts.find((m) => m.id === spec.filesMount);
  if (!filesMount)
    throw new pulumi.ResourceError(
      `${spec.containerName}: no mount "${spec.filesMount}" for its files`,
      parent,
    );
  return {
    router: placed.model,
    stack,
    ssh: placed.ssh,
    privateKey: placed.privateKey,
    containerName: spec.containerName,
    image: spec.image,
    veth: spec.veth,
    entrypoint: "/bin/sh",
    cmd: spec.cmd,
    user: "0:0",
    memoryMb: spec.memoryMb,
    rootDir: dir(spec.rootVolume),
    mounts: spec.mounts.map((m) => ({ id: m.id, dir: dir(m.volume), dst: m.dst, readOnly: m.readOnly })),
    files: spec.files.map((f) => {
      if (!f.path.startsWith(`${filesMount.dst}/`))
        throw new pulumi.ResourceError(`${f.path} is not under ${filesMount.dst}`, parent);
      return {
        mountId: filesMount.id,
        name: f.path.slice(filesMount.dst.length + 1),
        content: f.content,
        secret: f.secret,
      };
    }),
    start: spec.start,
    ...(spec.waitForRunning === undefined ? {} : { waitForRunning: spec.waitForRunning }),
    ...(spec.ports === undefined ? {} : { ports: spec.ports }),
  };
}
