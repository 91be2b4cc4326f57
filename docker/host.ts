/**
 * One Docker host: its provider, the edge network and the images the services placed on it use.
 */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { DockerHostModel } from "../config/model";

/** Inputs of {@link DockerHost}. */
export interface DockerHostArgs {
  /** The host (URL, ssh options, subnet). */
  host: DockerHostModel;
  /** Stack name: prefixes Docker object names so stacks can share a host. */
  stack: string;
  /** Images pulled on this host (references such as `haproxy:3.0`); pulled once each. */
  images: string[];
}

/** Provider, network and images of one Docker host. */
export class DockerHost extends pulumi.ComponentResource {
  /** The host as the model holds it. */
  public readonly host: DockerHostModel;
  /** Docker provider for this host: pass it to every resource placed here. */
  public readonly provider: docker.Provider;
  /** The edge network (load balancer, workers, Data Plane API, certbot). */
  public readonly network: docker.Network;
  /** Pulled images by reference; use `imageId` for containers so a re-pull replaces them. */
  public readonly images: Record<string, docker.RemoteImage>;

  constructor(name: string, args: DockerHostArgs, opts?: pulumi.ComponentResourceOptions) {
    super("haproxy-edge:docker:Host", name, {}, opts);
    const { host, stack } = args;
    this.host = host;
    const dependsOn = opts?.dependsOn;

    this.provider = new docker.Provider(
      `${name}-provider`,
      // sshArgs: sshOpts with StrictHostKeyChecking=yes unless they set it (config/host-keys.ts).
      { host: host.url, sshOpts: host.ssh ? host.sshArgs : undefined },
      { parent: this, dependsOn },
    );
    const child = { parent: this, provider: this.provider, dependsOn };

    this.network = new docker.Network(
      `${name}-network`,
      {
        name: `${stack}-edge`,
        driver: "bridge",
        // Fixed addresses in the lower half (the load balancer's is one), every other container in the upper.
        ipamConfigs: [{ subnet: host.subnet, gateway: host.network.gateway, ipRange: host.network.ipRange }],
        labels: dockerLabels(stack, "network"),
      },
      { ...child, deleteBeforeReplace: true },
    );

    this.images = {};
    for (const ref of [...new Set(args.images)].sort()) {
      this.images[ref] = new docker.RemoteImage(
        `${name}-image-${imageSlug(ref)}`,
        { name: ref, keepLocally: true },
        child,
      );
    }

    this.registerOutputs({ network: this.network.name, images: Object.keys(this.images) });
  }
}

/** A resource-name-safe slug of an image reference (`haproxytech/haproxy-debian:3.0` → `haproxytech-haproxy-debian-3-0`). */
export function imageSlug(ref: string): string {
  return ref
    .replace(/@sha256:([a-f0-9]{12})[a-f0-9]*$/, "-$1")
    .replace(/[^a-z0-9]+/gi, "-")
    .replace(/^-|-$/g, "")
    .toLowerCase();
}

/** Labels every Docker object of the edge carries (find them with `docker ps --filter label=haproxy-edge.stack=dev`). */
export function dockerLabels(stack: string, role: string, extra: Record<string, string> = {}) {
  return Object.entries({ "haproxy-edge.stack": stack, "haproxy-edge.role": role, ...extra })
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([label, value]) => ({ label, value }));
}

/**
 * A container healthcheck that opens a TCP connection with bash's `/dev/tcp` (no curl needed in the image),
 * optionally sends an HTTP/1.0 request and expects a status code in the answer.
 */
export function tcpHealthcheck(port: number, http?: { path: string; expectStatus: number }) {
  const probe = http
    ? `exec 3<>/dev/tcp/127.0.0.1/${port} && printf 'GET ${http.path} HTTP/1.0\\r\\nHost: healthcheck\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' ${http.expectStatus} '`
    : `exec 3<>/dev/tcp/127.0.0.1/${port}`;
  return {
    tests: ["CMD", "bash", "-c", probe],
    interval: "5s",
    timeout: "3s",
    startPeriod: "10s",
    retries: 3,
  };
}
