/**
 * `ServiceFiles`: a dynamic resource that writes a service's rendered files into its own Docker volume, so that
 * its container needs no `uploads` (the Docker provider uploads through the container's `/`, which Docker refuses
 * on a read-only root filesystem).
 *
 * Each write creates a container that is never started (the service's own image, no network) with the volume
 * mounted, extracts the files into it through the Engine API (`PUT /containers/{id}/archive`) and removes that
 * container again. The state keeps a digest of the files, never their content: secret files stay out of it.
 *
 * The provider's functions are serialized by Pulumi's closure serializer and run in the dynamic-provider process;
 * they use only pure functions of this program and Node's own modules.
 */
import * as pulumi from "@pulumi/pulumi";
import { DockerApi, tarFiles, type DockerEndpoint } from "./api";

/** One file, its path relative to the volume's root. */
export interface VolumeFile {
  path: string;
  content: string;
  mode: number;
}

/** Inputs of {@link ServiceFiles}, resolved. */
export interface ServiceFilesInputs {
  /** The Docker host holding the volume. */
  endpoint: DockerEndpoint;
  /** The volume's name: part of the resource's identity. */
  volume: string;
  /** The volume's resource id: a new volume gets every file again (replacement). */
  volumeId: string;
  /** An image present on the host (the service's own): the writer container is created from it, never started. */
  image: string;
  /** The files, written at every change. */
  files: VolumeFile[];
  /**
   * Files written only when the volume is new: something else keeps them up to date in the running service
   * (the load balancer's docker/lb-live.ts), so a change to them is not this resource's.
   */
  seedFiles: VolumeFile[];
  /** {@link filesDigest} of `files`: a container carries it as a label, so it is replaced when they change. */
  digest: string;
}

/** The state: the inputs without any file content. */
export interface ServiceFilesOutputs {
  endpoint: DockerEndpoint;
  volume: string;
  volumeId: string;
  image: string;
  digest: string;
  /** The written paths, for a reader of the state. */
  paths: string[];
  seedPaths: string[];
}

/** A file whose content may still be an Output (a secret, a generated password). */
type FileArg = { path: string; content: pulumi.Input<string>; mode: number };
type Args = {
  [K in Exclude<keyof ServiceFilesInputs, "files" | "seedFiles">]: pulumi.Input<ServiceFilesInputs[K]>;
} & { files: FileArg[]; seedFiles: FileArg[] };

/** SHA-256 of the files (paths, modes and contents), in path order: equal files, equal digest. */
export function filesDigest(files: readonly VolumeFile[]): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { createHash } = require("node:crypto") as typeof import("node:crypto");
  const h = createHash("sha256");
  for (const f of [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) {
    h.update(`${f.path}\0${f.mode.toString(8)}\0${Buffer.byteLength(f.content)}\0`);
    h.update(f.content);
  }
  return h.digest("hex");
}

/** The input problems the provider refuses. */
export function filesInputProblems(news: ServiceFilesInputs): { property: string; reason: string }[] {
  const problems: { property: string; reason: string }[] = [];
  const seen = new Set<string>();
  for (const [key, list] of [
    ["files", news.files ?? []],
    ["seedFiles", news.seedFiles ?? []],
  ] as const) {
    list.forEach((f, i) => {
      const parts = f.path.split("/");
      if (f.path.startsWith("/") || parts.some((p) => p === "" || p === "." || p === ".."))
        problems.push({
          property: `${key}[${i}].path`,
          reason: `must be a relative path inside the volume: ${f.path}`,
        });
      if (seen.has(f.path))
        problems.push({ property: `${key}[${i}].path`, reason: `is written twice: ${f.path}` });
      seen.add(f.path);
    });
  }
  return problems;
}

/** How long the writer's calls (one archive of every file) may take. */
const WRITE_TIMEOUT_MS = 60_000;

/**
 * Removes the writer containers a killed run may have left for `volume` (created, never started: they would keep
 * the volume from being deleted).
 */
export async function removeWriters(api: DockerApi, volume: string): Promise<void> {
  const filters = encodeURIComponent(JSON.stringify({ label: [`haproxy-edge.volume=${volume}`] }));
  const left = await api.request<{ Id: string }[]>({
    method: "GET",
    path: `/containers/json?all=1&filters=${filters}`,
    timeoutMs: WRITE_TIMEOUT_MS,
  });
  for (const c of left ?? [])
    await api.request({
      method: "DELETE",
      path: `/containers/${c.Id}?force=1&v=0`,
      timeoutMs: WRITE_TIMEOUT_MS,
    });
}

/** Writes `files` into the volume through a created, never started, container. Errors name the volume and host. */
export async function writeVolumeFiles(
  inputs: Pick<ServiceFilesInputs, "endpoint" | "volume" | "image">,
  files: readonly VolumeFile[],
  api = new DockerApi(inputs.endpoint),
): Promise<void> {
  const mount = "/haproxy-edge-files";
  let id: string | undefined;
  try {
    await removeWriters(api, inputs.volume);
    const created = await api.request<{ Id: string }>({
      method: "POST",
      path: "/containers/create",
      body: {
        Image: inputs.image,
        Entrypoint: ["/bin/true"],
        Cmd: [],
        NetworkDisabled: true,
        Labels: { "haproxy-edge.role": "files-writer", "haproxy-edge.volume": inputs.volume },
        HostConfig: { Binds: [`${inputs.volume}:${mount}`], NetworkMode: "none" },
      },
      timeoutMs: WRITE_TIMEOUT_MS,
    });
    id = created.Id;
    await api.putArchive(
      id,
      mount,
      tarFiles(files.map((f) => ({ path: f.path, content: Buffer.from(f.content), mode: f.mode }))),
      WRITE_TIMEOUT_MS,
    );
  } catch (e) {
    throw new Error(`files of volume ${inputs.volume} on ${api.where}: ${(e as Error).message}`);
  } finally {
    if (id !== undefined)
      await api
        .request({ method: "DELETE", path: `/containers/${id}?force=1&v=0`, timeoutMs: WRITE_TIMEOUT_MS })
        .catch(() => undefined);
  }
}

/** Inputs whose change means another volume: the resource is replaced (and every file written again). */
const IDENTITY = ["volume", "volumeId"] as const;

/** The provider. */
export function serviceFilesProvider(): pulumi.dynamic.ResourceProvider<
  ServiceFilesInputs,
  ServiceFilesOutputs
> {
  const outsOf = (i: ServiceFilesInputs): ServiceFilesOutputs => ({
    endpoint: i.endpoint,
    volume: i.volume,
    volumeId: i.volumeId,
    image: i.image,
    digest: i.digest,
    paths: i.files.map((f) => f.path),
    seedPaths: i.seedFiles.map((f) => f.path),
  });
  return {
    async check(_olds, news) {
      const failures = filesInputProblems(news);
      // In a preview, a content or the digest may not be known yet (the engine's sentinel for an unknown value).
      const unknown = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
      const known = news.digest !== unknown && news.files.every((f) => f.content !== unknown);
      if (failures.length === 0 && known && filesDigest(news.files) !== news.digest)
        failures.push({ property: "digest", reason: "is not the digest of files" });
      return { inputs: news, failures };
    },
    async diff(_id, olds, news) {
      const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
      const replaces = IDENTITY.filter((k) => !same(olds[k], news[k]));
      // The image only names the writer: a new image alone writes nothing. Seed files are not this resource's.
      const changes =
        replaces.length > 0 || !same(olds.digest, news.digest) || !same(olds.endpoint, news.endpoint);
      return { changes, replaces, deleteBeforeReplace: false };
    },
    async create(inputs) {
      await writeVolumeFiles(inputs, [...inputs.seedFiles, ...inputs.files]);
      return { id: inputs.volume, outs: outsOf(inputs) };
    },
    async update(_id, _olds, news) {
      await writeVolumeFiles(news, news.files);
      return { outs: outsOf(news) };
    },
    // The files live in the volume: deleting the volume deletes them. A writer a killed run left would keep it.
    async delete(_id, olds) {
      const api = new DockerApi(olds.endpoint);
      try {
        await removeWriters(api, olds.volume);
      } catch (e) {
        throw new Error(`files of volume ${olds.volume} on ${api.where}: ${(e as Error).message}`);
      }
    },
  };
}

const provider = serviceFilesProvider();

/** A service's rendered files, written into its files volume (dynamic resource). */
export class ServiceFiles extends pulumi.dynamic.Resource {
  /** {@link filesDigest} of the files written at every change. */
  declare public readonly digest: pulumi.Output<string>;

  constructor(name: string, args: Args, opts?: pulumi.CustomResourceOptions) {
    super(
      provider,
      name,
      { ...args, paths: undefined, seedPaths: undefined },
      opts,
      "docker",
      "ServiceFiles",
    );
  }
}
