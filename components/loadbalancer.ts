/**
 * The front load balancer: TLS termination, redirects, host routing to the worker pools, rate limits and
 * blocklists. On a Docker host or as a RouterOS container.
 */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { FILES, PATHS, VOLUMES, dockerVolumeName, vethOf, type EdgeModel } from "../config/model";
import { renderLoadBalancer } from "../render/haproxy";
import { sha256 } from "../render/template";
import { dockerLabels, edgeContainer, tcpHealthcheck, uploadsOf } from "../docker/host";
import { mergeDeps } from "../service/dependencies";
import { RouterOsContainer } from "../routeros/components";
import { routerContainerArgs } from "../routeros/target";
import type { ServicePlacement } from "./placement";

/** Inputs of {@link LoadBalancer}. */
export interface LoadBalancerArgs {
  /** The whole edge model. */
  model: EdgeModel;
  /** Certificate + key PEM served until certbot installs one (secret). */
  placeholderPem: pulumi.Input<string>;
  /** Where it runs. */
  placement: ServicePlacement;
}

/** The load balancer, and the volumes it shares with certbot. */
export class LoadBalancer extends pulumi.ComponentResource {
  /** SHA-256 of each rendered file. */
  public readonly fileHashes: Record<string, string>;
  /** Docker: the certificates volume (survives `pulumi destroy`) and the runtime API socket volume. */
  public readonly certsVolume?: docker.Volume;
  public readonly runtimeVolume?: docker.Volume;
  /** The container resource (Docker container or RouterOS container command). */
  public readonly container: pulumi.Resource;

  constructor(name: string, args: LoadBalancerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("haproxy-edge:loadbalancer:LoadBalancer", name, {}, opts);
    const { model } = args;
    const lb = model.loadBalancer;
    const dependsOn = opts?.dependsOn;
    const files = renderLoadBalancer(model);
    this.fileHashes = Object.fromEntries(Object.entries(files).map(([k, f]) => [k, sha256(f.content)]));
    const placeholder = {
      path: FILES.placeholderCert,
      content: pulumi.secret(args.placeholderPem),
      mode: 0o600,
      secret: true,
    };
    const edgeFiles = Object.values(files);

    if (args.placement.kind === "docker") {
      const host = args.placement.dockerHost;
      const child = { parent: this, provider: host.provider, dependsOn };
      // Certificates outlive the stack by design: re-creating a lab must not burn ACME rate limits.
      this.certsVolume = new docker.Volume(
        `${name}-certs`,
        {
          name: dockerVolumeName(model.stack, VOLUMES.certs),
          labels: dockerLabels(model.stack, VOLUMES.certs),
        },
        { ...child, retainOnDelete: true },
      );
      this.runtimeVolume = new docker.Volume(
        `${name}-runtime`,
        {
          name: dockerVolumeName(model.stack, VOLUMES.lbRuntime),
          labels: dockerLabels(model.stack, VOLUMES.lbRuntime),
        },
        { ...child, deleteBeforeReplace: true },
      );
      this.container = edgeContainer(
        `${name}-haproxy`,
        {
          name: lb.containerName,
          image: host.images[model.images.haproxy].imageId,
          startScript: files["start.sh"].path,
          uploads: uploadsOf([...edgeFiles, placeholder]),
          volumes: [
            { volumeName: this.certsVolume.name, containerPath: PATHS.certsDir },
            { volumeName: this.runtimeVolume.name, containerPath: PATHS.lbRuntimeDir },
          ],
          networksAdvanced: [{ name: host.network.name, aliases: ["lb"] }],
          ports: [
            { internal: lb.httpPort, external: lb.httpPort, ip: lb.publishAddress, protocol: "tcp" },
            { internal: lb.httpsPort, external: lb.httpsPort, ip: lb.publishAddress, protocol: "tcp" },
          ],
          healthcheck: tcpHealthcheck(lb.httpPort, { path: "/", expectStatus: 301 }),
          stopTimeout: 30,
          labels: dockerLabels(model.stack, "loadbalancer", {
            "haproxy-edge.config-sha256": this.fileHashes["haproxy.cfg"],
          }),
        },
        { ...child, dependsOn: mergeDeps(dependsOn, [this.certsVolume, this.runtimeVolume]) },
      );
    } else {
      const router = args.placement.router;
      const veth = vethOf(lb.placement, "lb");
      const ctr = new RouterOsContainer(
        `${name}-container`,
        routerContainerArgs(
          router,
          model.stack,
          {
            containerName: lb.containerName,
            image: model.images.haproxy,
            veth,
            cmd: files["start.sh"].path,
            rootVolume: "lb-root",
            mounts: [
              { id: "edge", volume: "lb-edge", dst: PATHS.edgeDir, readOnly: true },
              { id: "certs", volume: VOLUMES.certs, dst: PATHS.certsDir, readOnly: false },
              { id: "runtime", volume: VOLUMES.lbRuntime, dst: PATHS.lbRuntimeDir, readOnly: false },
            ],
            files: [...edgeFiles, placeholder],
            filesMount: "edge",
            start: true,
            ports: [
              { id: "lb-http", port: lb.httpPort, toPort: lb.httpPort },
              { id: "lb-https", port: lb.httpsPort, toPort: lb.httpsPort },
            ],
          },
          this,
        ),
        { parent: this, dependsOn: mergeDeps(dependsOn, router.host.ready) },
      );
      this.container = ctr.container;
    }

    this.registerOutputs({ fileHashes: this.fileHashes });
  }
}
