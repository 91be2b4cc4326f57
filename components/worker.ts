/**
 * A worker: HAProxy in master-worker mode behind the load balancer (PROXY protocol), with its Data Plane API
 * sidecar sharing the config volume and the master CLI socket, and the check that gates the rollout. On a Docker
 * host or as RouterOS containers (the sidecar then mounts the worker's own mount lists).
 */
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { encrypt } from "unixcrypt";
import {
  CAPABILITIES,
  DATAPLANE_API_CONTAINER_PORT,
  FILES,
  HEALTH_URI,
  PATHS,
  TMPFS,
  WORKER_FRONTEND,
  WORKER_HEALTH_PORT,
  type EdgeModel,
  type WorkerModel,
} from "../config/model";
import { WorkerRoutes } from "../dataplane/provider";
import { renderUserlist, renderWorker } from "../render/haproxy";
import { sha256 } from "../render/template";
import type { RouterSsh } from "../routeros/ssh";
import { mergeDeps } from "../service/dependencies";
import type { UploadFile } from "../service/files";
import type { ServiceSpec } from "../service/spec";
import { deployService, type ServicePlacement } from "./placement";

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
    const haproxySpec: ServiceSpec = {
      key: worker.name,
      containerName: worker.containerName,
      image: model.images.haproxy,
      startScript: files["start.sh"].path,
      files: haproxyFiles,
      filesDir: PATHS.edgeDir,
      mounts: [
        // The config volume carries the bootstrap's hash: a new bootstrap means a fresh volume (and fresh routes).
        {
          id: "config",
          volume: worker.volumes.config,
          path: PATHS.workerConfigDir,
          owned: {
            resource: `${name}-config`,
            role: "worker-config",
            labels: { "haproxy-edge.bootstrap-sha256": this.fileHashes["haproxy.cfg"] },
          },
        },
        {
          id: "master",
          volume: worker.volumes.master,
          path: PATHS.workerMasterDir,
          owned: { resource: `${name}-master`, role: "worker-master" },
        },
      ],
      ports: worker.publish ? [{ id: "proxy", port: worker.port, external: worker.publish }] : [],
      health: { tcp: { port: WORKER_HEALTH_PORT, http: { path: HEALTH_URI, expectStatus: 200 } } },
      waitForReady: true,
      aliases: [worker.alias],
      role: `worker-${worker.role}`,
      labels: { "haproxy-edge.worker": worker.name },
      // HAProxy's soft stop: it stops accepting at once (the load balancer retries elsewhere) and finishes the
      // requests it holds; SIGTERM would cut them.
      stopSignal: "SIGUSR1",
      stopTimeoutSeconds: 30,
      // Root start (it seeds the config volume); see CAPABILITIES for what HAProxy keeps.
      capabilities: worker.capabilities,
      memoryMb: model.containerLimits.memoryMb,
      pidsLimit: model.containerLimits.pidsLimit,
      tmpfs: TMPFS.haproxy,
      veth: worker.placement.veth,
    };
    const haproxy = deployService(
      { docker: `${name}-haproxy`, routeros: `${name}-container` },
      haproxySpec,
      args.placement,
      { stack: model.stack, parent: this, dependsOn },
    );
    this.haproxy = haproxy.container;
    const instance = haproxy.instance;
    let apiInstance: pulumi.Output<string> | undefined;
    if (live) {
      const apiSpec: ServiceSpec = {
        key: `${worker.name}-api`,
        containerName: worker.dataplaneApiContainerName,
        image: model.images.dataplaneApi,
        startScript: files["dataplaneapi-start.sh"].path,
        files: apiFiles,
        filesDir: PATHS.edgeDir,
        // HAProxy's configuration and master socket, shared with it; the API's own state.
        mounts: [
          { id: "config", volume: worker.volumes.config, path: PATHS.workerConfigDir, shared: true },
          { id: "master", volume: worker.volumes.master, path: PATHS.workerMasterDir, shared: true },
          {
            id: "state",
            volume: worker.volumes.apiState,
            path: PATHS.dataplaneStateDir,
            owned: { resource: `${name}-api-state`, role: "worker-api-state" },
          },
        ],
        // Published on the Docker host's loopback only; on a router, reached through an SSH forward.
        ports: worker.dataplaneApi.publish
          ? [{ id: "api", port: DATAPLANE_API_CONTAINER_PORT, external: worker.dataplaneApi.publish }]
          : [],
        health: { tcp: { port: DATAPLANE_API_CONTAINER_PORT } },
        waitForReady: true,
        aliases: [`${worker.alias}-dataplaneapi`],
        role: "dataplaneapi",
        labels: { "haproxy-edge.worker": worker.name },
        // Root, to write HAProxy's root-owned configuration and reach its master socket (mode 600), with no capability.
        capabilities: [...CAPABILITIES.none],
        memoryMb: model.containerLimits.memoryMb,
        pidsLimit: model.containerLimits.pidsLimit,
        tmpfs: TMPFS.dataplaneApi,
        veth: worker.dataplaneApi.veth,
      };
      // After HAProxy (which owns the shared volumes or mounts): destroy removes the sidecar first.
      const api = deployService(
        { docker: `${name}-dataplaneapi`, routeros: `${name}-dataplaneapi` },
        apiSpec,
        args.placement,
        {
          stack: model.stack,
          parent: this,
          dependsOn,
          after: [haproxy.routerContainer ?? haproxy.container],
          sharesWith: haproxy,
        },
      );
      this.dataplaneApi = api.container;
      apiInstance = api.instance;
    }
    const access = apiAccess(args.placement);
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
}

/** How the check and the routes reach a worker's Data Plane API from the machine running Pulumi. */
function apiAccess(placement: ServicePlacement): ApiAccess {
  if (placement.kind === "docker") {
    const { ssh, sshArgs } = placement.dockerHost.host;
    // A local engine needs no ssh; a remote one gets StrictHostKeyChecking=yes unless sshOpts set it.
    const sshOpts = ssh ? sshArgs : placement.dockerHost.host.sshOpts;
    return {
      checkEnv: { DPAPI_SSH: ssh ?? "", DPAPI_SSH_OPTS: JSON.stringify(sshOpts) },
      routesArgs: { ...(ssh ? { ssh } : {}), sshOpts },
    };
  }
  const { ssh, privateKey } = placement.router;
  return {
    checkEnv: { DPAPI_ROUTER: JSON.stringify(ssh), DPAPI_ROUTER_KEY: privateKey },
    routesArgs: { router: ssh, routerKey: privateKey },
  };
}
