/**
 * The front load balancer: TLS termination, redirects, host routing to the worker pools, rate limits and
 * blocklists. On a Docker host or as a RouterOS container.
 */
import * as pulumi from "@pulumi/pulumi";
import { FILES, PATHS, TMPFS, VOLUMES, type EdgeModel } from "../config/model";
import { LoadBalancerLive } from "../docker/lb-live";
import {
  LB_LISTS,
  LB_LIVE_FILES,
  loadBalancerSettings,
  renderLoadBalancer,
  renderLoadBalancerApply,
} from "../render/haproxy";
import { sha256 } from "../render/template";
import { mergeDeps } from "../service/dependencies";
import type { ServiceSpec } from "../service/spec";
import { deployService, type DeployedService, type ServicePlacement } from "./placement";

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
  /** The container resource (Docker container or RouterOS container command). */
  public readonly container: pulumi.Resource;
  /** The service as declared on its host; certbot shares its volumes (Docker: `certs`, `lb-runtime`). */
  public readonly service: DeployedService;
  /**
   * Docker: what keeps its configuration and lists up to date in the running container (lists at run time,
   * the rest by a checked reload), so that a change to them never replaces the container.
   */
  public readonly live?: LoadBalancerLive;

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

    const spec: ServiceSpec = {
      key: "lb",
      containerName: lb.containerName,
      image: model.images.haproxy,
      startScript: files["start.sh"].path,
      files: [...edgeFiles, placeholder],
      filesDir: PATHS.edgeDir,
      liveFiles: LB_LIVE_FILES.map((k) => files[k].path),
      mounts: [
        // Certificates outlive the stack by design: re-creating a lab must not burn ACME rate limits.
        {
          id: "certs",
          volume: VOLUMES.certs,
          path: PATHS.certsDir,
          owned: { resource: `${name}-certs`, role: VOLUMES.certs, retain: true },
        },
        {
          id: "runtime",
          volume: VOLUMES.lbRuntime,
          path: PATHS.lbRuntimeDir,
          owned: { resource: `${name}-runtime`, role: VOLUMES.lbRuntime },
        },
      ],
      ports: [
        { id: "lb-http", port: lb.httpPort, external: { address: lb.publishAddress, port: lb.httpPort } },
        { id: "lb-https", port: lb.httpsPort, external: { address: lb.publishAddress, port: lb.httpsPort } },
      ],
      health: { tcp: { port: lb.httpPort, http: { path: "/", expectStatus: 301 } } },
      waitForReady: true,
      aliases: ["lb"],
      ...(lb.edgeAddress ? { address: lb.edgeAddress } : {}),
      role: "loadbalancer",
      stopTimeoutSeconds: 30,
      // Root start (it seeds the certs volume); see CAPABILITIES for what HAProxy keeps.
      capabilities: lb.capabilities,
      memoryMb: model.containerLimits.memoryMb,
      pidsLimit: model.containerLimits.pidsLimit,
      tmpfs: TMPFS.haproxy,
      veth: lb.placement.veth,
    };
    this.service = deployService(
      { docker: `${name}-haproxy`, routeros: `${name}-container` },
      spec,
      args.placement,
      {
        stack: model.stack,
        parent: this,
        dependsOn,
      },
    );
    this.container = this.service.container;

    if (args.placement.kind === "docker") {
      const host = args.placement.dockerHost.host;
      this.live = new LoadBalancerLive(
        `${name}-live`,
        {
          endpoint: { url: host.url, sshArgs: host.ssh ? host.sshArgs : [] },
          container: lb.containerName,
          instance: this.service.instance,
          appliedAtRunTime: {
            blocklist: { file: FILES.blocklist, title: LB_LISTS.blocklist.title, cidrs: lb.blocklistCidrs },
            internalNetworks: {
              file: FILES.internalNetworks,
              title: LB_LISTS.internalNetworks.title,
              cidrs: lb.internalCidrs,
            },
          },
          appliedByReload: {
            settings: loadBalancerSettings(model),
            file: FILES.lbConfig,
            content: files["haproxy.cfg"].content,
          },
          script: renderLoadBalancerApply(model),
        },
        { parent: this, dependsOn: mergeDeps(dependsOn, [this.service.container]) },
      );
    }

    this.registerOutputs({ fileHashes: this.fileHashes });
  }
}
