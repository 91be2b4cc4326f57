/** Where a service of the edge runs: exactly one Docker host or one RouterOS router, by type. */
import type { DockerHost } from "../docker/host";
import type { RouterTarget } from "../routeros/target";

/** A service's host: the type admits exactly one placement, so no component checks it at run time. */
export type ServicePlacement =
  { kind: "docker"; dockerHost: DockerHost } | { kind: "routeros"; router: RouterTarget };
