/**
 * What a service placed on a RouterOS router needs: the router's model, its SSH connection and the host-level
 * resources (bridge, address, container config) its containers must wait for.
 */
import type * as command from "@pulumi/command";
import type * as pulumi from "@pulumi/pulumi";
import type { RouterOsHostModel } from "../config/model";
import type { RouterOsHost } from "./routeros";

export interface RouterTarget {
  model: RouterOsHostModel;
  /** SSH connection (the private key is a secret). */
  connection: pulumi.Input<command.types.input.remote.ConnectionArgs>;
  /** Host-level resources; containers depend on `host.ready`. */
  host: RouterOsHost;
}

/** Router directory of one of the stack's volumes, e.g. `disk1/haproxy-edge/dev/certs` (no leading slash). */
export function routerVolumeDir(router: RouterOsHostModel, stack: string, volume: string): string {
  return `${router.disk}/haproxy-edge/${stack}/${volume}`;
}
