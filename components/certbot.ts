/**
 * certbot: DNS-01 issuance through RFC 2136, the deploy hook that hot-swaps certificates into the load
 * balancer through its runtime API unix socket, and the renewal schedule.
 */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { FILES, PATHS, VOLUMES, dockerVolumeName, vethOf, type EdgeModel } from "../config/model";
import { renderCertbot } from "../render/certbot";
import { sha256 } from "../render/template";
import { dockerLabels, edgeContainer, uploadsOf } from "../docker/host";
import type { LoadBalancer } from "./loadbalancer";
import { mergeDeps } from "../service/dependencies";
import { RouterOsContainer, RouterOsSchedule } from "../routeros/components";
import { routerContainerArgs } from "../routeros/target";
import type { ServicePlacement } from "./placement";

/** Inputs of {@link Certbot}. */
export interface CertbotArgs {
  /** The whole edge model (its `certbot` part must be set: tlsMode acme). */
  model: EdgeModel;
  /** The load balancer whose certificate volume and runtime socket it shares (same host). */
  loadBalancer: LoadBalancer;
  /** Where it runs: the load balancer's Docker host or router. */
  placement: ServicePlacement;
}

/** certbot with its renewal schedule. */
export class Certbot extends pulumi.ComponentResource {
  /** SHA-256 of each rendered file that is not secret. */
  public readonly fileHashes: Record<string, string>;
  /** Docker: the ACME state volume (`/etc/letsencrypt`), kept on `pulumi destroy`. */
  public readonly stateVolume?: docker.Volume;

  constructor(name: string, args: CertbotArgs, opts?: pulumi.ComponentResourceOptions) {
    super("haproxy-edge:certbot:Certbot", name, {}, opts);
    const { model, loadBalancer } = args;
    const cb = model.certbot;
    if (!cb)
      throw new pulumi.ResourceError(
        `Certbot ${name}: the model has no certbot (tlsMode is not "acme")`,
        this,
      );
    const dependsOn = opts?.dependsOn;
    const files = renderCertbot(model);
    this.fileHashes = Object.fromEntries(
      Object.entries(files)
        .filter(([, f]) => !f.secret)
        .map(([k, f]) => [k, sha256(f.content)]),
    );
    // The credentials file is the only secret: it stays a secret output end to end.
    const all = Object.values(files).map((f) => (f.secret ? { ...f, content: pulumi.secret(f.content) } : f));

    if (args.placement.kind === "docker") {
      const host = args.placement.dockerHost;
      if (!loadBalancer.certsVolume || !loadBalancer.runtimeVolume) {
        throw new pulumi.ResourceError(`Certbot ${name}: the load balancer is not on a Docker host`, this);
      }
      const child = { parent: this, provider: host.provider, dependsOn };
      this.stateVolume = new docker.Volume(
        `${name}-letsencrypt`,
        {
          name: dockerVolumeName(model.stack, VOLUMES.letsencrypt),
          labels: dockerLabels(model.stack, VOLUMES.letsencrypt),
        },
        { ...child, retainOnDelete: true },
      );
      edgeContainer(
        `${name}-certbot`,
        {
          name: cb.containerName,
          image: host.images[model.images.certbot].imageId,
          startScript: files["renew.sh"].path,
          uploads: uploadsOf(all),
          volumes: [
            { volumeName: this.stateVolume.name, containerPath: PATHS.letsencryptDir },
            { volumeName: loadBalancer.certsVolume.name, containerPath: PATHS.certbotCertsDir },
            { volumeName: loadBalancer.runtimeVolume.name, containerPath: PATHS.certbotRuntimeDir },
          ],
          networksAdvanced: [{ name: host.network.name }],
          // Unhealthy while the last certificate push into HAProxy failed (certbot itself exits 0 then).
          healthcheck: {
            tests: ["CMD", "sh", "-c", `test ! -e ${FILES.deployFailedMark}`],
            interval: "30s",
            timeout: "5s",
            retries: 1,
          },
          // First issuance can take minutes; the healthcheck reports a failed push instead.
          wait: false,
          labels: dockerLabels(model.stack, "certbot"),
        },
        { ...child, dependsOn: mergeDeps(dependsOn, [this.stateVolume, loadBalancer]) },
      );
    } else {
      const router = args.placement.router;
      const veth = vethOf(cb.placement, "certbot");
      const ctr = new RouterOsContainer(
        `${name}-container`,
        routerContainerArgs(
          router,
          model.stack,
          {
            containerName: cb.containerName,
            image: model.images.certbot,
            veth,
            // One pass per start: the router's scheduler starts the container again every day.
            cmd: `${files["renew.sh"].path} once`,
            rootVolume: "certbot-root",
            mounts: [
              { id: "edge", volume: "certbot-edge", dst: PATHS.certbotEdgeDir, readOnly: true },
              { id: "letsencrypt", volume: VOLUMES.letsencrypt, dst: PATHS.letsencryptDir, readOnly: false },
              // The load balancer's certificates and runtime socket: the same router directories it mounts.
              { id: "certs", volume: VOLUMES.certs, dst: PATHS.certbotCertsDir, readOnly: false },
              { id: "runtime", volume: VOLUMES.lbRuntime, dst: PATHS.certbotRuntimeDir, readOnly: false },
            ],
            files: all,
            filesMount: "edge",
            start: true,
            // A pass may finish within seconds: do not wait for the "running" state.
            waitForRunning: false,
          },
          this,
        ),
        { parent: this, dependsOn: mergeDeps(dependsOn, [...router.host.ready, loadBalancer]) },
      );
      new RouterOsSchedule(
        `${name}-renew`,
        {
          router: router.model,
          stack: model.stack,
          ssh: router.ssh,
          privateKey: router.privateKey,
          name: `${model.stack}-certbot-renew`,
          // Started by its tag: a find by name matches nothing on RouterOS 7.16 to 7.18.
          source: ctr.startScript,
          interval: `${cb.renewIntervalHours}h`,
          startTime: "03:17:00",
          policy: ["read", "write", "test"],
        },
        { parent: this, dependsOn: mergeDeps(dependsOn, [ctr]) },
      );
    }

    this.registerOutputs({ fileHashes: this.fileHashes });
  }
}
