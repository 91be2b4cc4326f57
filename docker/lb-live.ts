/**
 * `LoadBalancerLive`: a dynamic resource that keeps a running load balancer's changing files (its configuration
 * and its lists) up to date on a Docker host, without replacing its container.
 *
 * Each apply writes the new files next to the served ones (`<name>.next`, through the Docker Engine API) and runs
 * the rendered apply script (templates/lb-apply.sh.mustache) in the container: a list-only change is swapped at
 * run time through the runtime API (no reload), anything else is checked with `haproxy -c` and activated by a
 * master-CLI reload; a refused configuration fails the apply with HAProxy's own message and changes nothing.
 *
 * The inputs are named for what a change costs, so a preview reads as such: `appliedAtRunTime` (the lists) and
 * `appliedByReload` (the configuration, with the settings it was rendered from).
 *
 * The provider's functions are serialized by Pulumi's closure serializer and run in the dynamic-provider process;
 * they use only pure functions of this program and Node's own modules.
 */
import * as pulumi from "@pulumi/pulumi";
import { cidrListText } from "../render/lists";
import { DockerApi, tarFiles, type DockerEndpoint } from "./api";

/** A list HAProxy loads with `-f`, changed at run time. */
export interface LiveList {
  /** Its file in the container (the ACL's reference in the runtime API). */
  file: string;
  /** The title line of its file. */
  title: string;
  /** The entries (CIDRs). */
  cidrs: string[];
}

/** Inputs of {@link LoadBalancerLive}, resolved. */
export interface LoadBalancerLiveInputs {
  /** The Docker host holding the container. */
  endpoint: DockerEndpoint;
  /** The container's name: part of the resource's identity, and used in messages. */
  container: string;
  /** The container's id: a new container gets every file again. */
  instance: string;
  /** The lists, by name (`blocklist`, `internalNetworks`): applied through the runtime API, no reload. */
  appliedAtRunTime: Record<string, LiveList>;
  /** The configuration: applied by a reload after `haproxy -c` accepted it. */
  appliedByReload: {
    /** What it is rendered from, for a reviewer: a change here shows in a preview as what changes. */
    settings: Record<string, unknown>;
    file: string;
    content: string;
  };
  /** The apply script (templates/lb-apply.sh.mustache), run with `sh -c` in the container. */
  script: string;
}

/** The state: the inputs, and what the last apply did (`unchanged`, `runtime <lists>` or `reload`). */
export interface LoadBalancerLiveOutputs extends LoadBalancerLiveInputs {
  applied: string;
}

type Args = { [K in keyof LoadBalancerLiveInputs]: pulumi.Input<LoadBalancerLiveInputs[K]> };

/** How long one exec (checking and reloading a large configuration included) may take. */
const EXEC_TIMEOUT_MS = 120_000;
/** A CIDR as the runtime API gets it: nothing that could end or add a command. */
const CIDR = /^[0-9A-Fa-f:.]+(\/[0-9]{1,3})?$/;

/** The input problems the provider refuses (paths, list entries). */
export function liveInputProblems(news: LoadBalancerLiveInputs): { property: string; reason: string }[] {
  const problems: { property: string; reason: string }[] = [];
  const dir = dirOf(news.appliedByReload?.file ?? "");
  if (!news.appliedByReload?.file?.startsWith("/"))
    problems.push({ property: "appliedByReload.file", reason: "must be an absolute path" });
  for (const [name, list] of Object.entries(news.appliedAtRunTime ?? {})) {
    if (dirOf(list.file) !== dir)
      problems.push({
        property: `appliedAtRunTime.${name}.file`,
        reason: `must be in ${dir}, next to the configuration`,
      });
    list.cidrs.forEach((c, i) => {
      if (typeof c === "string" && !CIDR.test(c))
        problems.push({
          property: `appliedAtRunTime.${name}.cidrs[${i}]`,
          reason: `is not an address or CIDR: ${c}`,
        });
    });
  }
  return problems;
}

function dirOf(path: string): string {
  return path.slice(0, path.lastIndexOf("/")) || "/";
}

/** The `.next` files an apply writes, relative to the configuration's directory. */
export function stagedFiles(
  inputs: LoadBalancerLiveInputs,
): { path: string; content: Buffer; mode: number }[] {
  const base = (p: string) => p.slice(p.lastIndexOf("/") + 1);
  return [
    {
      path: `${base(inputs.appliedByReload.file)}.next`,
      content: Buffer.from(inputs.appliedByReload.content),
      mode: 0o644,
    },
    ...Object.values(inputs.appliedAtRunTime).map((l) => ({
      path: `${base(l.file)}.next`,
      content: Buffer.from(cidrListText(l.title, l.cidrs)),
      mode: 0o644,
    })),
  ];
}

/**
 * The largest file handed to the apply script as an argument (Linux takes at most 128 KiB per argument); a larger
 * one is uploaded as an archive first.
 */
export const INLINE_MAX_BYTES = 96 * 1024;

/**
 * Writes the files and runs the apply script; what it did. Errors name the container and carry HAProxy's words.
 * The files go to the script as arguments (one exec, no upload: a blocklist change is served sooner), unless one
 * is larger than {@link INLINE_MAX_BYTES}.
 */
export async function applyLive(
  inputs: LoadBalancerLiveInputs,
  api = new DockerApi(inputs.endpoint),
): Promise<string> {
  const who = `load balancer ${inputs.container} on ${inputs.endpoint.url}`;
  try {
    const staged = stagedFiles(inputs);
    const inline = staged.every((f) => f.content.length <= INLINE_MAX_BYTES);
    if (!inline) await api.putArchive(inputs.instance, dirOf(inputs.appliedByReload.file), tarFiles(staged));
    const args = inline ? staged.flatMap((f) => [f.path, f.content.toString("utf8")]) : [];
    const r = await api.exec(
      inputs.instance,
      ["sh", "-c", inputs.script, "lb-apply", ...args],
      EXEC_TIMEOUT_MS,
    );
    if (r.exitCode !== 0)
      throw new Error(
        `${r.stderr.trim() || r.stdout.trim() || "no output"} (apply script exit code ${r.exitCode})`,
      );
    return r.stdout.trim().split("\n").pop() ?? "";
  } catch (e) {
    throw new Error(`${who}: ${(e as Error).message}`);
  }
}

/** Inputs whose change means another container: the resource is replaced. */
const IDENTITY = ["container"] as const;

const INPUT_KEYS: (keyof LoadBalancerLiveInputs)[] = [
  "endpoint",
  "container",
  "instance",
  "appliedAtRunTime",
  "appliedByReload",
  "script",
];

/** The provider. */
export function loadBalancerLiveProvider(): pulumi.dynamic.ResourceProvider<
  LoadBalancerLiveInputs,
  LoadBalancerLiveOutputs
> {
  const inputsOf = (o: LoadBalancerLiveInputs): LoadBalancerLiveInputs => {
    const out: Partial<LoadBalancerLiveInputs> = {};
    for (const k of INPUT_KEYS) (out as Record<string, unknown>)[k] = o[k];
    return out as LoadBalancerLiveInputs;
  };
  return {
    async check(_olds, news) {
      return { inputs: news, failures: liveInputProblems(news) };
    },
    async diff(_id, olds, news) {
      const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
      const replaces = IDENTITY.filter((k) => !same(olds[k], news[k]));
      const changes = INPUT_KEYS.some((k) => !same(olds[k], news[k]));
      return { changes, replaces, deleteBeforeReplace: false };
    },
    async create(inputs) {
      const applied = await applyLive(inputs);
      return { id: inputs.container, outs: { ...inputsOf(inputs), applied } };
    },
    async update(_id, _olds, news) {
      const applied = await applyLive(news);
      return { outs: { ...inputsOf(news), applied } };
    },
    // The files live in the container: deleting the container deletes them; nothing to undo here.
    async delete() {},
  };
}

const provider = loadBalancerLiveProvider();

/** The running load balancer's configuration and lists, applied live (dynamic resource). */
export class LoadBalancerLive extends pulumi.dynamic.Resource {
  /** What the last apply did: `unchanged`, `runtime <lists>` or `reload`. */
  declare public readonly applied: pulumi.Output<string>;

  constructor(name: string, args: Args, opts?: pulumi.CustomResourceOptions) {
    super(provider, name, { ...args, applied: undefined }, opts, "docker", "LoadBalancerLive");
  }
}
