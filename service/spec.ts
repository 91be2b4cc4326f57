/**
 * A service of the edge (a load balancer, a worker's HAProxy or its Data Plane API, certbot), whatever its
 * placement: files, mounts, ports, health and schedule. `docker/service.ts` realises it on a Docker host,
 * `routeros/service.ts` on a RouterOS router; each is written once.
 *
 * Every service runs its rendered start script with /bin/sh as root (the scripts seed volumes, and HAProxy drops
 * privileges itself), keeping only the Linux capabilities its spec lists.
 */
import type * as pulumi from "@pulumi/pulumi";
import type { UploadFile } from "./files";

/** How a service is declared, whatever realises it. */
export interface DeclareOptions {
  stack: string;
  /** The component declaring it: the parent of its resources, named in errors. */
  parent: pulumi.Resource;
  /** The component's `opts.dependsOn`, forwarded to every resource. */
  dependsOn: pulumi.ComponentResourceOptions["dependsOn"];
  /** What its container waits for besides its host and its own volumes. */
  after?: pulumi.Resource[];
}

/** A volume a service mounts. */
export interface ServiceMount {
  /** Unique in the service (a router tags its mount rows `mnt-<container>-<id>`). */
  id: string;
  /** The stack's volume: Docker volume `<stack>-<volume>`, router directory `<disk>/haproxy-edge/<stack>/<volume>`. */
  volume: string;
  /** Where it is mounted in the container. */
  path: string;
  /**
   * The service creates the volume on a Docker host (a router makes directories with its mounts): `resource` is
   * the resource name of the `docker.Volume`, `role` its `haproxy-edge.role` label; a volume to `retain` is kept on
   * `pulumi destroy`, the others are deleted before they are replaced.
   */
  owned?: {
    resource: string;
    role: string;
    retain?: boolean;
    labels?: Record<string, string>;
  };
  /**
   * The same mount as the service this one shares with (see `DeployOptions.sharesWith`): a router gives both
   * containers the one mount list; without it, a router mounts the directory on its own.
   */
  shared?: boolean;
}

/** A TCP port of the service. */
export interface ServicePort {
  /** Unique in the service (a router tags its dst-nat rule with it). */
  id: string;
  /** The port in the container. */
  port: number;
  /**
   * Where it is reached from outside its host: published on this address and port on a Docker host; forwarded
   * from the router's WAN interface list on a router (the address is the Docker host's only).
   */
  external: { address: string; port: number };
}

/** How a Docker host tells the service is healthy (a router has no container healthchecks: it waits for "running"). */
export type ServiceHealth =
  | { tcp: { port: number; http?: { path: string; expectStatus: number } } }
  | { command: string; interval: string; timeout: string; retries: number };

/** One service. */
export interface ServiceSpec {
  /** Its key: `lb`, `certbot`, `<worker>`, `<worker>-api`; names its router directories (`<key>-root`, `<key>-edge`). */
  key: string;
  containerName: string;
  /** Image reference (a Docker host pulls it; a router pulls it from its registry). */
  image: string;
  /** The rendered start script. */
  startScript: string;
  /** Its files: all lie under `filesDir` (on a router, a read-only mount of their own). */
  files: UploadFile[];
  filesDir: string;
  /**
   * Paths of `files` that something else keeps up to date in the running container (Docker: the load balancer's
   * docker/lb-live.ts): the container starts with them, and a change to them does not replace it. A router
   * restarts the container with them.
   */
  liveFiles?: string[];
  mounts: ServiceMount[];
  /** Ports reached from outside its host (absent: none, not even an empty list on Docker). */
  ports?: ServicePort[];
  health?: ServiceHealth;
  /** False for a service whose start may take long or end at once (certbot): nothing waits for it to be ready. */
  waitForReady: boolean;
  /** Names other services on a Docker host's edge network reach it by. */
  aliases?: string[];
  /** A Docker host only: its fixed address on the edge network (else Docker picks one from the dynamic range). */
  address?: string;
  /** `haproxy-edge.role` label and the other labels of its Docker container. */
  role: string;
  labels?: Record<string, string>;
  /**
   * Linux capabilities it keeps (`CAPABILITIES` in the model); a Docker host drops all the others. A router has
   * no such setting.
   */
  capabilities: string[];
  /** Memory limit in MiB. */
  memoryMb: number;
  /** Most processes and threads (a Docker host; a router has no such setting). */
  pidsLimit: number;
  /**
   * Directories it writes outside its volumes (`TMPFS` in the model): a Docker host mounts a tmpfs on each, its
   * root filesystem being read-only. A router has no such setting.
   */
  tmpfs: readonly string[];
  /** Seconds a Docker host waits for it to stop before killing it. */
  stopTimeoutSeconds?: number;
  /** The signal a Docker host stops it with (Docker's default: SIGTERM). */
  stopSignal?: string;
  /** A router only: its veth on the container bridge (from the model's placement). */
  veth?: { name: string; address: string };
  /**
   * A periodic job (certbot): on a Docker host its script loops by itself; on a router the container runs
   * `<script> once` and a scheduler (`resource`, named `name` on the router) starts it again every
   * `intervalHours`, first at `startTime`.
   */
  schedule?: { resource: string; name: string; intervalHours: number; startTime: string };
}
