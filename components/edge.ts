/**
 * The whole edge. The dependency graph is the rollout order:
 * hosts (providers, networks, images) → staging worker → its check → its routes (Data Plane API) → prod-1 → its
 * check → its routes → … → prod-N → load balancer → certbot. `pulumi destroy` walks it backwards.
 */
import * as pulumi from "@pulumi/pulumi";
import type { EdgeModel, HostModel, RouterOsHostModel } from "../config/model";
import { Certbot } from "./certbot";
import { DemoBackend } from "./demo-backend";
import { DockerHost } from "../docker/host";
import { LoadBalancer } from "./loadbalancer";
import { mergeDeps } from "../service/dependencies";
import type { RouterSsh } from "../routeros/ssh";
import { RouterOsHost } from "../routeros/components";
import type { RouterPlacement } from "../routeros/placement";
import { SelfSignedCertificate } from "./self-signed-certificate";
import { Worker } from "./worker";
import type { ServicePlacement } from "./placement";

/** Inputs of {@link Edge}. */
export interface EdgeArgs {
  /** The validated model of the stack (see config/model.ts). Secret values in it are wrapped here. */
  model: EdgeModel;
}

/** The load balancer, the workers, certbot and the hosts they run on. */
export class Edge extends pulumi.ComponentResource {
  public readonly workers: Worker[];
  public readonly loadBalancer: LoadBalancer;
  public readonly certbot?: Certbot;
  /** SHA-256 of each rendered file, by service (`loadBalancer`, each worker by name, `certbot`). */
  public readonly fileHashes: Record<string, Record<string, string>>;
  /** The self-signed certificate (lab certificate, or the placeholder until certbot's first issuance). */
  public readonly certificate: SelfSignedCertificate;
  public readonly dockerHosts: Record<string, DockerHost>;
  public readonly routers: Record<string, RouterPlacement>;
  /** Demo backends (`demoBackends: true`). */
  public readonly demoBackends: DemoBackend[];

  constructor(name: string, args: EdgeArgs, opts?: pulumi.ComponentResourceOptions) {
    super("haproxy-edge:index:Edge", name, {}, opts);
    const { model } = args;
    const dependsOn = opts?.dependsOn;

    this.dockerHosts = {};
    this.routers = {};
    for (const { host, images } of model.placedHosts) {
      const hostName = host.name;
      if (host.kind === "docker") {
        this.dockerHosts[hostName] = new DockerHost(
          `${name}-${hostName}`,
          { host, stack: model.stack, images },
          { parent: this, dependsOn },
        );
      } else {
        const access = routerAccess(host);
        this.routers[hostName] = {
          model: host,
          ...access,
          host: new RouterOsHost(
            `${name}-${hostName}`,
            { router: host, stack: model.stack, ...access },
            { parent: this, dependsOn },
          ),
        };
      }
    }
    const placement = (host: HostModel): ServicePlacement =>
      host.kind === "docker"
        ? { kind: "docker", dockerHost: this.dockerHosts[host.name] }
        : { kind: "routeros", router: this.routers[host.name] };

    // A lab's demo backends, at the route servers' addresses (nothing waits for them: they are not the edge).
    this.demoBackends = model.demoBackends.map(
      (d) =>
        new DemoBackend(
          `${name}-demo-${d.key}`,
          { model, demo: d, dockerHost: this.dockerHosts[d.host.name] },
          { parent: this, dependsOn },
        ),
    );

    this.certificate = new SelfSignedCertificate(
      `${name}-certificate`,
      { domains: model.tls.domains, validityDays: model.tls.selfSignedValidityDays },
      { parent: this, dependsOn },
    );

    // The load balancer first and on its own: its changes (a blocklist entry at 3 a.m.) never wait for the
    // workers, nor fail with one (it finds them at run time and retries around a missing one).
    this.loadBalancer = new LoadBalancer(
      `${name}-lb`,
      {
        model,
        placeholderPem: this.certificate.pem,
        placement: placement(model.loadBalancer.placement.host),
      },
      { parent: this, dependsOn },
    );

    // Then staging; each production worker waits for the previous worker, its check and its routes.
    this.workers = [];
    const workerHashes: Record<string, Record<string, string>> = {};
    let previous: Worker | undefined;
    for (const w of model.workers) {
      const deps = previous
        ? [
            previous,
            ...(previous.check ? [previous.check] : []),
            ...(previous.routes ? [previous.routes] : []),
          ]
        : [this.loadBalancer];
      const worker: Worker = new Worker(
        `${name}-${w.name}`,
        { model, worker: w, placement: placement(w.placement.host) },
        { parent: this, dependsOn: mergeDeps(dependsOn, deps) },
      );
      this.workers.push(worker);
      workerHashes[w.name] = worker.fileHashes;
      previous = worker;
    }

    if (model.certbot) {
      this.certbot = new Certbot(
        `${name}-certbot`,
        { model, loadBalancer: this.loadBalancer, placement: placement(model.certbot.placement.host) },
        { parent: this, dependsOn: mergeDeps(dependsOn, [this.loadBalancer]) },
      );
    }

    this.fileHashes = {
      loadBalancer: this.loadBalancer.fileHashes,
      ...workerHashes,
      ...(this.certbot ? { certbot: this.certbot.fileHashes } : {}),
    };
    this.registerOutputs({ workers: model.workers.map((w) => w.name), fileHashes: this.fileHashes });
  }
}

/** SSH access to a router: its endpoint (from the model), and its private key as a secret. */
function routerAccess(router: RouterOsHostModel): { ssh: RouterSsh; privateKey: pulumi.Output<string> } {
  return { ssh: router.ssh, privateKey: pulumi.secret(router.privateKey ?? "") };
}
