/**
 * `ContainerLimits`: a dynamic resource that sets what the Docker provider cannot, the pids limit of a running
 * container (`POST /containers/{id}/update` of the Engine API, as `docker update --pids-limit`), checks that the
 * engine reports it back, and reads it on refresh, so a limit changed by hand shows as drift.
 *
 * A new container gets it right after it started (the resource's `instance` input is the container's id).
 *
 * The provider's functions are serialized by Pulumi's closure serializer and run in the dynamic-provider process;
 * they use only pure functions of this program and Node's own modules.
 */
import * as pulumi from "@pulumi/pulumi";
import { DockerApi, DockerApiError, type DockerEndpoint } from "./api";

/** Inputs of {@link ContainerLimits}, resolved. */
export interface ContainerLimitsInputs {
  /** The Docker host holding the container. */
  endpoint: DockerEndpoint;
  /** The container's name: the resource's identity, and used in messages. */
  container: string;
  /** The container's id: a new container gets its limit again. */
  instance: string;
  /** Most processes and threads in the container. */
  pidsLimit: number;
}

type Args = { [K in keyof ContainerLimitsInputs]: pulumi.Input<ContainerLimitsInputs[K]> };

const TIMEOUT_MS = 30_000;

/** The container's pids limit as the engine reports it (0 or absent: none). */
export async function pidsLimitOf(api: DockerApi, instance: string): Promise<number> {
  const c = await api.request<{ HostConfig?: { PidsLimit?: number | null } }>({
    method: "GET",
    path: `/containers/${encodeURIComponent(instance)}/json`,
    timeoutMs: TIMEOUT_MS,
  });
  return c.HostConfig?.PidsLimit ?? 0;
}

/** Sets the limit and reads it back. Errors name the container and host. */
export async function applyLimits(
  inputs: ContainerLimitsInputs,
  api = new DockerApi(inputs.endpoint),
): Promise<void> {
  try {
    await api.request({
      method: "POST",
      path: `/containers/${encodeURIComponent(inputs.instance)}/update`,
      body: { PidsLimit: inputs.pidsLimit },
      timeoutMs: TIMEOUT_MS,
    });
    const now = await pidsLimitOf(api, inputs.instance);
    if (now !== inputs.pidsLimit)
      throw new Error(`the engine reports a pids limit of ${now} after the update`);
  } catch (e) {
    throw new Error(`pids limit of container ${inputs.container} on ${api.where}: ${(e as Error).message}`);
  }
}

const INPUT_KEYS: (keyof ContainerLimitsInputs)[] = ["endpoint", "container", "instance", "pidsLimit"];

/** The provider. */
export function containerLimitsProvider(): pulumi.dynamic.ResourceProvider<
  ContainerLimitsInputs,
  ContainerLimitsInputs
> {
  return {
    async check(_olds, news) {
      const failures: { property: string; reason: string }[] = [];
      if (!Number.isInteger(news.pidsLimit) || news.pidsLimit < 1)
        failures.push({ property: "pidsLimit", reason: `must be a whole number from 1: ${news.pidsLimit}` });
      return { inputs: news, failures };
    },
    async diff(_id, olds, news) {
      const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
      return {
        changes: INPUT_KEYS.some((k) => !same(olds[k], news[k])),
        replaces: same(olds.container, news.container) ? [] : ["container"],
        deleteBeforeReplace: false,
      };
    },
    async create(inputs) {
      await applyLimits(inputs);
      return { id: inputs.container, outs: inputs };
    },
    async update(_id, _olds, news) {
      await applyLimits(news);
      return { outs: news };
    },
    async read(id, props) {
      if (!props) return { id, props };
      const api = new DockerApi(props.endpoint);
      try {
        return { id, props: { ...props, pidsLimit: await pidsLimitOf(api, props.instance) } };
      } catch (e) {
        // The container is gone: it has no limit (the next up gives its successor one).
        if (e instanceof DockerApiError && e.status === 404) return { id, props: { ...props, pidsLimit: 0 } };
        throw new Error(
          `pids limit of container ${props.container} on ${api.where}: ${(e as Error).message}`,
        );
      }
    },
    // The limit goes with the container.
    async delete() {},
  };
}

const provider = containerLimitsProvider();

/** The pids limit of a running container (dynamic resource). */
export class ContainerLimits extends pulumi.dynamic.Resource {
  constructor(name: string, args: Args, opts?: pulumi.CustomResourceOptions) {
    super(provider, name, args, opts, "docker", "ContainerLimits");
  }
}
