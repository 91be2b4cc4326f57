/**
 * Where a service of the edge runs, and the one place that declares a service (service/spec.ts) on it: on a
 * Docker host (docker/service.ts) or on a RouterOS router (routeros/service.ts).
 */
import type * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { DockerHost } from "../docker/host";
import { dockerService } from "../docker/service";
import type { RouterOsContainer } from "../routeros/components";
import { routerService } from "../routeros/service";
import type { RouterPlacement } from "../routeros/placement";
import type { DeclareOptions, ServiceSpec } from "../service/spec";

/** A service's host: the type admits exactly one placement, so no component checks it at run time. */
export type ServicePlacement =
  { kind: "docker"; dockerHost: DockerHost } | { kind: "routeros"; router: RouterPlacement };

/** A declared service. */
export interface DeployedService {
  /** Its container (a `docker.Container`, or the RouterOS container command). */
  container: pulumi.Resource;
  /** Changes whenever it is re-created, or restarted with new files. */
  instance: pulumi.Output<string>;
  /** Docker: the volumes it created, by volume name. */
  volumes: Record<string, docker.Volume>;
  /** RouterOS: its container component (mount lists, start script). */
  routerContainer?: RouterOsContainer;
}

/** How {@link deployService} declares a service. */
export interface DeployOptions extends DeclareOptions {
  /** A service on the same host whose volumes (Docker) or mount lists (RouterOS, `shared` mounts) it uses. */
  sharesWith?: DeployedService;
}

/**
 * Declares `spec` on `placement`. Resource names are kept per placement (`names.docker` for the container on a
 * Docker host, `names.routeros` for the container component on a router) so existing stacks keep their URNs.
 */
export function deployService(
  names: { docker: string; routeros: string },
  spec: ServiceSpec,
  placement: ServicePlacement,
  o: DeployOptions,
): DeployedService {
  const common = { stack: o.stack, parent: o.parent, dependsOn: o.dependsOn, after: o.after };
  if (placement.kind === "docker") {
    const d = dockerService(names.docker, spec, placement.dockerHost, {
      ...common,
      sharedVolumes: o.sharesWith?.volumes,
    });
    return { container: d.container, instance: d.container.id, volumes: d.volumes };
  }
  const r = routerService(names.routeros, spec, placement.router, {
    ...common,
    sharesWith: o.sharesWith?.routerContainer,
  });
  const started = r.container.started;
  if (!started) throw new pulumi.ResourceError(`haproxy-edge bug: ${spec.key} is not started`, o.parent);
  return {
    container: r.container.container,
    instance: started.id,
    volumes: {},
    routerContainer: r.container,
  };
}
