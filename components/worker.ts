/**
 * A worker: HAProxy in master-worker mode behind the load balancer (PROXY protocol), with its Data Plane API
 * sidecar sharing the config volume and the master CLI socket, and the check that gates the rollout.
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
  type DockerHostModel,
  type EdgeModel,
  type WorkerModel,
} from "../config/model";
import { renderUserlist, renderWorker, sha256 } from "../render";
import { dockerLabels, edgeContainer, tcpHealthcheck, uploadsOf, type DockerHost } from "./docker-host";
import { mergeDeps } from "./options";
import { WorkerRoutes, workerRoutesOf } from "./worker-routes";

/** Inputs of {@link Worker}. */
export interface WorkerArgs {
  /** The whole edge model (timeouts, 404 page, names). */
  model: EdgeModel;
  /** This worker (staging or prod-i). */
  worker: WorkerModel;
  /** The Docker host it runs on (provider, network, images). */
  dockerHost: DockerHost;
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

/** One HAProxy worker with its Data Plane API and its readiness check. */
export class Worker extends pulumi.ComponentResource {
  public readonly haproxy: docker.Container;
  /** The Data Plane API sidecar (`routeUpdates: live` only). */
  public readonly dataplaneApi?: docker.Container;
  /**
   * Passes once HAProxy and the Data Plane API of this worker answer: the next rollout step waits for it
   * (`live` only; in `restart` mode the container's own health gate is the check).
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
    const { model, worker, dockerHost } = args;
    const host = worker.placement.host as DockerHostModel;
    const dependsOn = opts?.dependsOn;
    const child = { parent: this, provider: dockerHost.provider, dependsOn };
    const live = model.routeUpdates === "live";

    // Everything but the userlist is rendered without the password: plain, hashable, diffable.
    const files = renderWorker(model, worker);
    const deployed = live ? Object.keys(files) : ["haproxy.cfg", "404.html", "start.sh"];
    this.fileHashes = Object.fromEntries(deployed.map((k) => [k, sha256(files[k].content)]));

    const volume = (suffix: string, labels: Record<string, string> = {}) =>
      new docker.Volume(
        `${name}-${suffix}`,
        {
          name: `${model.stack}-${worker.name}-${suffix}`,
          labels: dockerLabels(model.stack, `worker-${suffix}`, labels),
        },
        { ...child, deleteBeforeReplace: true },
      );
    // The config volume carries the bootstrap's hash: a new bootstrap means a fresh volume (and fresh routes).
    const configVolume = volume("config", {
      "haproxy-edge.bootstrap-sha256": this.fileHashes["haproxy.cfg"],
    });
    const masterVolume = volume("master");

    const shared = [
      { volumeName: configVolume.name, containerPath: PATHS.workerConfigDir },
      { volumeName: masterVolume.name, containerPath: PATHS.workerMasterDir },
    ];
    const network = [{ name: dockerHost.network.name, aliases: [worker.alias] }];

    this.haproxy = edgeContainer(
      `${name}-haproxy`,
      {
        name: worker.containerName,
        image: dockerHost.images[model.images.haproxy].imageId,
        startScript: files["start.sh"].path,
        uploads: uploadsOf([files["haproxy.cfg"], files["404.html"], files["start.sh"]]),
        volumes: shared,
        networksAdvanced: network,
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
    if (!live) {
      // `restart` mode: the routes are in the bootstrap; the container's health gate is the rollout check.
      this.registerOutputs({ haproxy: this.haproxy.name, fileHashes: this.fileHashes });
      return;
    }

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
    const stateVolume = volume("api-state");

    this.dataplaneApi = edgeContainer(
      `${name}-dataplaneapi`,
      {
        name: worker.dataplaneApiContainerName,
        image: dockerHost.images[model.images.dataplaneApi].imageId,
        startScript: files["dataplaneapi-start.sh"].path,
        uploads: uploadsOf([
          files["dataplaneapi.yml"],
          { path: FILES.userlist, content: userlist, mode: 0o600, secret: true },
          files["404.html"],
          files["dataplaneapi-start.sh"],
        ]),
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
      {
        ...child,
        dependsOn: mergeDeps(dependsOn, [this.haproxy, stateVolume]),
      },
    );

    const ssh = host.url.startsWith("ssh://") ? host.url.slice("ssh://".length) : "";
    this.check = new command.local.Command(
      `${name}-check`,
      {
        create: "node scripts/check-worker.mjs",
        environment: {
          WORKER_NAME: worker.name,
          DPAPI_URL: `http://127.0.0.1:${worker.dataplaneApi.publishedPort}`,
          DPAPI_USER: worker.dataplaneApi.user,
          DPAPI_PASSWORD: pulumi.secret(password.result),
          DPAPI_FRONTEND: WORKER_FRONTEND,
          DPAPI_SSH: ssh,
          DPAPI_SSH_OPTS: JSON.stringify(host.sshOpts),
          CHECK_TIMEOUT_SECONDS: "120",
        },
        // Re-run whenever either container is re-created.
        triggers: [this.haproxy.id, this.dataplaneApi.id],
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
        url: `http://127.0.0.1:${worker.dataplaneApi.publishedPort}`,
        user: worker.dataplaneApi.user,
        password: password.result,
        ...(ssh ? { ssh } : {}),
        sshOpts: host.sshOpts,
        frontend: WORKER_FRONTEND,
        instance: this.haproxy.id,
        routes: workerRoutesOf(model.routes),
      },
      { parent: this, dependsOn: mergeDeps(dependsOn, [this.check]) },
    );

    this.registerOutputs({
      haproxy: this.haproxy.name,
      dataplaneApi: this.dataplaneApi.name,
      endpoint: worker.dataplaneApi.endpoint,
      fileHashes: this.fileHashes,
    });
  }
}
