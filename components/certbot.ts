/**
 * certbot: DNS-01 issuance through RFC 2136, the deploy hook that hot-swaps certificates into the load
 * balancer through its runtime API unix socket, and the renewal schedule.
 */
import type * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { CAPABILITIES, PATHS, TMPFS, VOLUMES, type EdgeModel } from "../config/model";
import { renderCertbot } from "../render/certbot";
import { sha256 } from "../render/template";
import type { ServiceSpec } from "../service/spec";
import type { LoadBalancer } from "./loadbalancer";
import { deployService, type ServicePlacement } from "./placement";

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

    const spec: ServiceSpec = {
      key: "certbot",
      containerName: cb.containerName,
      image: model.images.certbot,
      startScript: files["renew.sh"].path,
      files: all,
      filesDir: PATHS.certbotEdgeDir,
      mounts: [
        {
          id: "letsencrypt",
          volume: VOLUMES.letsencrypt,
          path: PATHS.letsencryptDir,
          owned: { resource: `${name}-letsencrypt`, role: VOLUMES.letsencrypt, retain: true },
        },
        // The load balancer's certificates and runtime socket, at certbot's own paths.
        { id: "certs", volume: VOLUMES.certs, path: PATHS.certbotCertsDir },
        { id: "runtime", volume: VOLUMES.lbRuntime, path: PATHS.certbotRuntimeDir },
      ],
      // Unhealthy while the last renewal or push failed, or the served certificate is bad or expires soon.
      health: { command: `/bin/sh ${files["health.sh"].path}`, interval: "30s", timeout: "10s", retries: 1 },
      // First issuance can take minutes; the healthcheck reports a failed push instead.
      waitForReady: false,
      role: "certbot",
      // Root (its volumes and the load balancer's are root-owned) with no capability: it only writes root's files.
      capabilities: [...CAPABILITIES.none],
      memoryMb: model.containerLimits.memoryMb,
      pidsLimit: model.containerLimits.pidsLimit,
      tmpfs: TMPFS.certbot,
      veth: cb.placement.veth,
      schedule: {
        resource: `${name}-renew`,
        name: cb.routerSchedule.name,
        intervalHours: cb.renewIntervalHours,
        startTime: cb.routerSchedule.startTime,
      },
    };
    const lbVolumes = loadBalancer.service.volumes;
    if (args.placement.kind === "docker" && (!lbVolumes[VOLUMES.certs] || !lbVolumes[VOLUMES.lbRuntime])) {
      throw new pulumi.ResourceError(`Certbot ${name}: the load balancer is not on its Docker host`, this);
    }
    const service = deployService(
      { docker: `${name}-certbot`, routeros: `${name}-container` },
      spec,
      args.placement,
      {
        stack: model.stack,
        parent: this,
        dependsOn,
        after: [loadBalancer],
        sharesWith: loadBalancer.service,
      },
    );
    this.stateVolume = service.volumes[VOLUMES.letsencrypt];

    this.registerOutputs({ fileHashes: this.fileHashes });
  }
}
