/**
 * A worker: HAProxy in master-worker mode behind the load balancer (PROXY protocol), with its Data Plane API
 * sidecar sharing the config volume and the master CLI socket, and the check that gates the rollout. On a Docker
 * host or as RouterOS containers (the sidecar then mounts the worker's own mount lists).
 */
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { encrypt } from "unixcrypt";
import {
  DATAPLANE_API_CONTAINER_PORT,
  FILES,
  HEALTH_URI,
  PATHS,
  WORKER_FRONTEND,
  WORKER_HEALTH_PORT,
  dockerVolumeName,
  vethOf,
  type DockerHostModel,
  type EdgeModel,
  type WorkerModel,
} from "../config/model";
import type { RouterSsh } from "../routeros/ssh";
import { renderUserlist, renderWorker } from "../render/haproxy";
import { sha256, type RenderedFile } from "../render/template";
import { dockerLabels, edgeContainer, tcpHealthcheck, uploadsOf, type DockerHost } from "../docker/host";
import type { UploadFile } from "../service/files";
import { mergeDeps } from "../service/dependencies";
import { RouterOsContainer } from "../routeros/components";
import type { RouterOsCommand } from "../routeros/command-provider";
import { routerContainerArgs, type RouterTarget } from "../routeros/target";
import type { ServicePlacement } from "./placement";
import { WorkerRoutes } from "../dataplane/provider";

/** Inputs of {@link Worker}. */
export interface WorkerArgs {
  /** The whole edge model (timeouts, 404 page, names). */
  model: EdgeModel;
  /** This worker (staging or prod-i). */
  worker: WorkerModel;
  /** Where it runs: a Docker host (provider, network, images) or a RouterOS router. */
  placement: ServicePlacement;
}

/**
 * SHA-512 crypt (`$6$salt$hash`, no `rounds=`: the only forms the Data Plane API accepts besides `$5$`).
 * Deterministic for a given password and salt, so a second `pulumi up` renders the same userlist.
 */
export function sha512Crypt(password: string, salt: string): string {
  if (!/^[A-Za-z0-9./]{8,16}$/.test(salt))
    throw new Error("sha512Crypt: salt must be 8-16 characters [A-Za-z0-9./]");
  return encrypt(password, `$6$${salt}`);
}

/** How the check and the routes reach a worker's Data Plane API from the machine running Pulumi. */
interface ApiAccess {
  /** Environment of dataplane/check-worker.ts besides the URL and credentials. */
  checkEnv: Record<string, pulumi.Input<string>>;
  /** The matching {@link WorkerRoutes} arguments. */
  routesArgs: { ssh?: string; sshOpts?: string[]; router?: RouterSsh; routerKey?: pulumi.Input<string> };
}

/** What both placements of a worker build from. */
interface WorkerParts {
  name: string;
  model: EdgeModel;
  worker: WorkerModel;
  files: Record<string, RenderedFile>;
  /** The HAProxy container's files: bootstrap, 404 page, start script. */
  haproxyFiles: RenderedFile[];
  /** The API sidecar's files (`live` only; the userlist is a secret). */
  apiFiles: UploadFile[];
  live: boolean;
  /** The component's `opts.dependsOn`, forwarded to every child. */
  dependsOn: pulumi.ComponentResourceOptions["dependsOn"];
}

/** One HAProxy worker with its Data Plane API and its readiness check. */
export class Worker extends pulumi.ComponentResource {
  /** The HAProxy container (Docker container, or the RouterOS container command). */
  public readonly haproxy: pulumi.Resource;
  /** The Data Plane API sidecar (`routeUpdates: live` only). */
  public readonly dataplaneApi?: pulumi.Resource;
  /**
   * Passes once HAProxy and the Data Plane API of this worker answer: the next rollout step waits for it
   * (`live` only; in `restart` mode the container's own health gate, or on a router its running state, is the
   * check).
   */
  public readonly check?: command.local.Command;
  /** Data Plane API password (secret; `live` only). */
  public readonly password?: pulumi.Output<string>;
  /**
   * The stack's routes on this worker, written through its Data Plane API once the check passed (`live` only).
   * The next rollout step waits for it.
   */
  public readonly routes?: WorkerRoutes;
  /** SHA-256 of each rendered file that is not secret. */
  public readonly fileHashes: Record<string, string>;

  constructor(name: string, args: WorkerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("haproxy-edge:worker:Worker", name, {}, opts);
    const { model, worker } = args;
    const dependsOn = opts?.dependsOn;
    const live = model.routeUpdates === "live";

    // Everything but the userlist is rendered without the password: plain, hashable, diffable.
    const files = renderWorker(model, worker);
    const deployed = live ? Object.keys(files) : ["haproxy.cfg", "404.html", "start.sh"];
    this.fileHashes = Object.fromEntries(deployed.map((k) => [k, sha256(files[k].content)]));
    const haproxyFiles = [files["haproxy.cfg"], files["404.html"], files["start.sh"]];

    // `live`: a random API password; only its SHA-512 crypt hash reaches the worker (userlist file, 0600).
    let apiFiles: UploadFile[] = [];
    if (live) {
      const password = new random.RandomPassword(
        `${name}-dataplaneapi-password`,
        { length: 32, special: false },
        { parent: this, dependsOn },
      );
      const salt = new random.RandomString(
        `${name}-dataplaneapi-salt`,
        { length: 16, special: false },
        { parent: this, dependsOn },
      );
      this.password = password.result;
      const passwordHash = pulumi.secret(
        pulumi.all([password.result, salt.result]).apply(([p, s]) => sha512Crypt(p, s)),
      );
      const userlist = passwordHash.apply((h) => renderUserlist(model, worker, h).content);
      apiFiles = [
        files["dataplaneapi.yml"],
        { path: FILES.userlist, content: userlist, mode: 0o600, secret: true },
        files["404.html"],
        files["dataplaneapi-status.sh"],
        files["dataplaneapi-start.sh"],
      ];
    }

    // The containers; `instance` changes whenever HAProxy is re-created or restarted with new files.
    let instance: pulumi.Output<string>;
    let apiInstance: pulumi.Output<string> | undefined;
    let access: ApiAccess;
    const parts: WorkerParts = { name, model, worker, files, haproxyFiles, apiFiles, live, dependsOn };
    if (args.placement.kind === "docker") {
      const d = this.onDocker(args.placement.dockerHost, parts);
      this.haproxy = d.haproxy;
      this.dataplaneApi = d.dataplaneApi;
      instance = d.haproxy.id;
      apiInstance = d.dataplaneApi?.id;
      const host = worker.placement.host as DockerHostModel;
      const ssh = host.url.startsWith("ssh://") ? host.url.slice("ssh://".length) : "";
      access = {
        checkEnv: { DPAPI_SSH: ssh, DPAPI_SSH_OPTS: JSON.stringify(host.sshOpts) },
        routesArgs: { ...(ssh ? { ssh } : {}), sshOpts: host.sshOpts },
      };
    } else {
      const router = args.placement.router;
      const r = this.onRouter(router, parts);
      this.haproxy = r.haproxy.container;
      this.dataplaneApi = r.dataplaneApi?.container;
      instance = (r.haproxy.started as RouterOsCommand).id;
      apiInstance = r.dataplaneApi?.started?.id;
      const { ssh, privateKey } = router;
      access = {
        checkEnv: { DPAPI_ROUTER: JSON.stringify(ssh), DPAPI_ROUTER_KEY: privateKey },
        routesArgs: { router: ssh, routerKey: privateKey },
      };
    }
    if (!live || !this.password || !this.dataplaneApi || !apiInstance) {
      // `restart` mode: the routes are in the bootstrap; the container's own gate is the rollout check.
      this.registerOutputs({ haproxy: worker.containerName, fileHashes: this.fileHashes });
      return;
    }

    this.check = new command.local.Command(
      `${name}-check`,
      {
        create: "node --import tsx dataplane/check-worker.ts",
        environment: {
          WORKER_NAME: worker.name,
          DPAPI_URL: worker.dataplaneApi.url,
          DPAPI_USER: worker.dataplaneApi.user,
          DPAPI_PASSWORD: pulumi.secret(this.password),
          DPAPI_FRONTEND: WORKER_FRONTEND,
          ...access.checkEnv,
          CHECK_TIMEOUT_SECONDS: "120",
        },
        // Re-run whenever either container is re-created (or, on a router, HAProxy restarted with new files).
        triggers: [instance, apiInstance],
        logging: "stdoutAndStderr",
      },
      { parent: this, dependsOn: mergeDeps(dependsOn, [this.haproxy, this.dataplaneApi]) },
    );

    // The routes go in through the API only once the worker is proven ready; a new HAProxy container (which may
    // start from a fresh bootstrap configuration) re-applies them.
    this.routes = new WorkerRoutes(
      `${name}-routes`,
      {
        worker: worker.name,
        url: worker.dataplaneApi.url,
        user: worker.dataplaneApi.user,
        password: this.password,
        ...access.routesArgs,
        frontend: WORKER_FRONTEND,
        instance,
        routes: worker.routes,
        // Staging is the smoke test of a route change: production waits for its servers' health checks.
        smokeCheck: worker.role === "staging",
      },
      // The routes live in the API's configuration: when its sidecar goes (destroy, or a switch to restart mode,
      // whose fresh bootstrap replaces the configuration), there is nothing left to delete them from.
      { parent: this, dependsOn: mergeDeps(dependsOn, [this.check]), deletedWith: this.dataplaneApi },
    );

    this.registerOutputs({
      haproxy: worker.containerName,
      dataplaneApi: worker.dataplaneApiContainerName,
      endpoint: worker.dataplaneApi.endpoint,
      fileHashes: this.fileHashes,
    });
  }

  /** Docker: volumes, the HAProxy container and (live) the API sidecar on the same volumes. */
  private onDocker(
    dockerHost: DockerHost,
    { name, model, worker, files, haproxyFiles, apiFiles, live, dependsOn }: WorkerParts,
  ): { haproxy: docker.Container; dataplaneApi?: docker.Container } {
    const child = { parent: this, provider: dockerHost.provider, dependsOn };
    const volume = (suffix: string, volumeName: string, labels: Record<string, string> = {}) =>
      new docker.Volume(
        `${name}-${suffix}`,
        {
          name: dockerVolumeName(model.stack, volumeName),
          labels: dockerLabels(model.stack, `worker-${suffix}`, labels),
        },
        { ...child, deleteBeforeReplace: true },
      );
    // The config volume carries the bootstrap's hash: a new bootstrap means a fresh volume (and fresh routes).
    const configVolume = volume("config", worker.volumes.config, {
      "haproxy-edge.bootstrap-sha256": this.fileHashes["haproxy.cfg"],
    });
    const masterVolume = volume("master", worker.volumes.master);
    const shared = [
      { volumeName: configVolume.name, containerPath: PATHS.workerConfigDir },
      { volumeName: masterVolume.name, containerPath: PATHS.workerMasterDir },
    ];

    const haproxy = edgeContainer(
      `${name}-haproxy`,
      {
        name: worker.containerName,
        image: dockerHost.images[model.images.haproxy].imageId,
        startScript: files["start.sh"].path,
        uploads: uploadsOf(haproxyFiles),
        volumes: shared,
        networksAdvanced: [{ name: dockerHost.network.name, aliases: [worker.alias] }],
        ports: worker.publish
          ? [
              {
                internal: worker.port,
                external: worker.publish.port,
                ip: worker.publish.address,
                protocol: "tcp",
              },
            ]
          : [],
        healthcheck: tcpHealthcheck(WORKER_HEALTH_PORT, { path: HEALTH_URI, expectStatus: 200 }),
        stopTimeout: 30,
        labels: dockerLabels(model.stack, `worker-${worker.role}`, { "haproxy-edge.worker": worker.name }),
      },
      { ...child, dependsOn: mergeDeps(dependsOn, [configVolume, masterVolume]) },
    );
    if (!live) return { haproxy };

    const stateVolume = volume("api-state", worker.volumes.apiState);
    const dataplaneApi = edgeContainer(
      `${name}-dataplaneapi`,
      {
        name: worker.dataplaneApiContainerName,
        image: dockerHost.images[model.images.dataplaneApi].imageId,
        startScript: files["dataplaneapi-start.sh"].path,
        uploads: uploadsOf(apiFiles),
        volumes: [...shared, { volumeName: stateVolume.name, containerPath: PATHS.dataplaneStateDir }],
        networksAdvanced: [{ name: dockerHost.network.name, aliases: [`${worker.alias}-dataplaneapi`] }],
        // The API is published on the Docker host's loopback only.
        ports: [
          {
            internal: DATAPLANE_API_CONTAINER_PORT,
            external: worker.dataplaneApi.publishedPort,
            ip: "127.0.0.1",
            protocol: "tcp",
          },
        ],
        healthcheck: tcpHealthcheck(DATAPLANE_API_CONTAINER_PORT),
        labels: dockerLabels(model.stack, "dataplaneapi", { "haproxy-edge.worker": worker.name }),
      },
      { ...child, dependsOn: mergeDeps(dependsOn, [haproxy, stateVolume]) },
    );
    return { haproxy, dataplaneApi };
  }

  /**
   * RouterOS: the HAProxy container (its own veth on the container bridge; edge files, config and master socket
   * mounts) and (live) the API sidecar with its own veth, its files and state, and the worker's config and
   * master-socket mount lists: the same router directories at the same paths, as the Docker volumes are shared.
   */
  private onRouter(
    router: RouterTarget,
    { name, model, worker, files, haproxyFiles, apiFiles, live, dependsOn }: WorkerParts,
  ): { haproxy: RouterOsContainer; dataplaneApi?: RouterOsContainer } {
    const haproxy = new RouterOsContainer(
      `${name}-container`,
      routerContainerArgs(
        router,
        model.stack,
        {
          containerName: worker.containerName,
          image: model.images.haproxy,
          veth: vethOf(worker.placement, worker.name),
          cmd: files["start.sh"].path,
          rootVolume: `${worker.name}-root`,
          mounts: [
            { id: "edge", volume: `${worker.name}-edge`, dst: PATHS.edgeDir, readOnly: true },
            { id: "config", volume: worker.volumes.config, dst: PATHS.workerConfigDir, readOnly: false },
            { id: "master", volume: worker.volumes.master, dst: PATHS.workerMasterDir, readOnly: false },
          ],
          files: haproxyFiles,
          filesMount: "edge",
          start: true,
        },
        this,
      ),
      { parent: this, dependsOn: mergeDeps(dependsOn, router.host.ready) },
    );
    if (!live) return { haproxy };

    const apiVeth = worker.dataplaneApi.veth;
    if (!apiVeth)
      throw new pulumi.ResourceError(`haproxy-edge bug: no API veth for ${worker.name} on a router`, this);
    const dataplaneApi = new RouterOsContainer(
      `${name}-dataplaneapi`,
      {
        ...routerContainerArgs(
          router,
          model.stack,
          {
            containerName: worker.dataplaneApiContainerName,
            image: model.images.dataplaneApi,
            veth: apiVeth,
            cmd: files["dataplaneapi-start.sh"].path,
            rootVolume: `${worker.name}-api-root`,
            mounts: [
              { id: "edge", volume: `${worker.name}-api-edge`, dst: PATHS.edgeDir, readOnly: true },
              {
                id: "state",
                volume: worker.volumes.apiState,
                dst: PATHS.dataplaneStateDir,
                readOnly: false,
              },
            ],
            files: apiFiles,
            filesMount: "edge",
            start: true,
          },
          this,
        ),
        sharedMountLists: [haproxy.mountLists.config, haproxy.mountLists.master],
      },
      // After HAProxy (which owns the shared mounts): destroy removes the sidecar first.
      { parent: this, dependsOn: mergeDeps(dependsOn, [...router.host.ready, haproxy]) },
    );
    return { haproxy, dataplaneApi };
  }
}
