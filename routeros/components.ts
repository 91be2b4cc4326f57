/**
 * RouterOS v7 pieces of the edge: host-level setup (container config, bridge, router address, masquerade),
 * containers (veth, bridge port, directories, files, mounts, envs, the container and its start), dst-nat rules
 * and scheduled scripts.
 *
 * These components only declare resources. Every RouterOS object is one {@link RouterOsCommand} whose one-line
 * `create`/`delete` strings come from the pure builders in `routeros/commands.ts`; it checks the router's output of
 * every run, so a step RouterOS refused fails (and holds back what depends on it) on create, update and delete.
 * Files are written over SFTP by {@link RouterOsSftpFile}.
 */
import * as pulumi from "@pulumi/pulumi";
import type { RouterOsHostModel } from "../config/model";
import { routerMountRowId } from "../config/validators";
import type { RouterSsh } from "./ssh";
import { sha256 } from "../render/template";
import {
  COMMAND_SECONDS,
  SENTINEL,
  addressCommands,
  bridgeCommands,
  bridgePortCommands,
  containerCommands,
  containerConfigCommands,
  containerRestartCommands,
  containerStartScript,
  containerTmpDir,
  directoriesCommands,
  dstNatCommands,
  fileCleanupCommands,
  envCommands,
  masqueradeCommands,
  mountCommands,
  prerequisitesCommands,
  routerName,
  routerOsVersion,
  routerPath,
  schedulerCommands,
  scriptCommands,
  vethCommands,
  type ContainerSpec,
  type RouterCommand,
} from "./commands";
import { mergeDeps } from "../service/dependencies";
import { RouterOsCommand } from "./command-provider";
import { RouterOsSftpFile } from "./file-provider";

type DependsOn = pulumi.ComponentResourceOptions["dependsOn"];

/** What every RouterOS component needs. */
export interface RouterOsConnectionArgs {
  /** The router (validated config): version, disk, bridge, subnet, registry. */
  router: RouterOsHostModel;
  /** Pulumi stack name: part of every object's comment tag `haproxy-edge:<stack>:<id>`. */
  stack: string;
  /** The router's SSH endpoint (host key pinned when known). */
  ssh: RouterSsh;
  /** The router's SSH private key (a secret). */
  privateKey: pulumi.Input<string>;
}

/** Options of one command: where it sits in the graph and what replaces it. */
interface CommandOptions {
  parent: pulumi.Resource;
  /** The component's `opts.dependsOn` (forwarded). */
  inherited: DependsOn;
  /** Local ordering: resources of this component that must exist first. */
  after?: pulumi.Resource[];
  /** Extra replacement triggers (the `delete` string, i.e. the object's identity, is always one). */
  triggers?: pulumi.Input<string>[];
  /** `update` command; by default an update re-runs the (idempotent) `create`. */
  update?: string;
}

/** One RouterOS object as a {@link RouterOsCommand}. */
function routerCommand(
  name: string,
  connection: RouterOsConnectionArgs,
  cmd: RouterCommand,
  o: CommandOptions,
): RouterOsCommand {
  return new RouterOsCommand(
    name,
    {
      router: connection.ssh,
      privateKey: connection.privateKey,
      create: cmd.create,
      delete: cmd.delete,
      ...(o.update !== undefined ? { update: o.update } : {}),
      // A changed identity (name, tag) is a new object: the delete string replaces it (delete, then create).
      ...(o.triggers ? { triggers: o.triggers } : {}),
      timeoutSeconds: cmd.seconds ?? COMMAND_SECONDS,
    },
    { parent: o.parent, dependsOn: mergeDeps(o.inherited, o.after ?? []), deleteBeforeReplace: true },
  );
}

/** Inputs of {@link RouterOsHost}. */
export type RouterOsHostArgs = RouterOsConnectionArgs;

/**
 * Router-wide setup for the stack's containers: `/container/config` (registry, tmpdir on the disk), the bridge,
 * the router's address on it (the containers' gateway) and the masquerade of the container subnet.
 */
export class RouterOsHost extends pulumi.ComponentResource {
  /** What containers on this router must wait for: pass it in their `dependsOn`. */
  public readonly ready: pulumi.Resource[];

  constructor(name: string, args: RouterOsHostArgs, opts?: pulumi.ComponentResourceOptions) {
    super("haproxy-edge:routeros:Host", name, {}, opts);
    const { router, stack } = args;
    routerOsVersion(router.versionParts); // refuse unsupported versions before anything is registered
    const inherited = opts?.dependsOn;
    const cmd = (suffix: string, c: RouterCommand, after: pulumi.Resource[] = []) =>
      routerCommand(`${name}-${suffix}`, args, c, { parent: this, inherited, after });

    // Checked before anything on the router changes: every other command waits for it.
    const key = `hosts.${router.name}`;
    const prerequisites = cmd(
      "prerequisites",
      prerequisitesCommands({
        disk: router.disk,
        diskKey: `${key}.disk`,
        user: router.user,
        // certbot's renewal needs the router's scheduler.
        scheduler: router.renewsCertificates,
      }),
    );
    const tmpdir = containerTmpDir(router.disk);
    const dirs = cmd("dirs", directoriesCommands({ paths: [tmpdir] }), [prerequisites]);
    const config = cmd(
      "container-config",
      containerConfigCommands({ registryUrl: router.registryUrl, tmpdir, registryKey: `${key}.registryUrl` }),
      [dirs],
    );
    const bridge = cmd("bridge", bridgeCommands({ stack, id: "bridge", name: router.bridge }), [
      prerequisites,
    ]);
    const address = cmd(
      "bridge-address",
      addressCommands({
        stack,
        id: "bridge-address",
        address: router.bridgeAddress,
        prefixLength: router.prefixLength,
        interface: router.bridge,
      }),
      [bridge],
    );
    const masquerade = cmd(
      "masquerade",
      masqueradeCommands({ stack, id: "masquerade", subnet: router.subnet }),
      // After the bridge address: `pulumi destroy` then removes NAT before the address and the bridge.
      [address],
    );

    this.ready = [prerequisites, config, bridge, address, masquerade];
    this.registerOutputs({});
  }
}

/** A volume of a {@link RouterOsContainer}. */
export interface RouterOsMount {
  /** Id, unique in the container: part of the mount list name and of resource names. */
  id: string;
  /** RouterOS directory without a leading slash, e.g. `disk1/haproxy-edge/dev/lb-certs` (created if missing). */
  dir: string;
  /** Absolute path inside the container. */
  dst: string;
  /** Read-only inside the container (7.20+; RouterOS 7.16 to 7.19 mounts are always read-write). */
  readOnly: boolean;
}

/** A file uploaded (SFTP) into a mount's directory before the container starts. */
export interface RouterOsFile {
  /** The {@link RouterOsMount.id} whose directory receives the file. */
  mountId: string;
  /** Path relative to the mount directory, e.g. `haproxy.cfg` (subdirectories are created). */
  name: string;
  /** File content. */
  content: pulumi.Input<string>;
  /** Secret content: kept in `pulumi.secret` (state, diffs); its hash too. */
  secret?: boolean;
}

/** Inputs of {@link RouterOsContainer}. */
export interface RouterOsContainerArgs extends RouterOsConnectionArgs {
  /** Container name on the router (its key on 7.19+); also its env list and mount list prefix. */
  containerName: string;
  /** Image reference, e.g. `haproxy:3.0`, pulled from the router's `registryUrl`. */
  image: string;
  /** Its veth: name and address (without prefix) on the container subnet. */
  veth: { name: string; address: string };
  /**
   * Overrides the image ENTRYPOINT. RouterOS splits it on whitespace into argv: no shell, no quoting, so an
   * argument can never contain a space.
   */
  entrypoint?: string;
  /** Overrides the image CMD; split on whitespace like {@link entrypoint}. Put complex commands in a script file. */
  cmd?: string;
  /** `uid[:gid]` to run as, e.g. `0:0` (needed to bind ports below 1024 with images that run unprivileged). */
  user?: string;
  /** Memory limit in MiB (RouterOS 7.20+; older versions have no per-container limit). */
  memoryMb?: number;
  /** Environment variables (non-secret only: values appear in the command line and in `/export`). */
  env?: Record<string, string>;
  /** Volumes. */
  mounts: RouterOsMount[];
  /**
   * Mount lists (7.21+; mount names before) another {@link RouterOsContainer} owns, see
   * {@link RouterOsContainer.mountLists}: this container sees the same directories at the same paths. Make this
   * container depend on the owner, so `pulumi destroy` removes it before the owner's mounts.
   */
  sharedMountLists?: string[];
  /** Files uploaded into mount directories; a change restarts the container. */
  files: RouterOsFile[];
  /** Start it (and restart it when its files, envs, mounts or veth change); false leaves it stopped. */
  start: boolean;
  /** Ports forwarded to the container's veth address from the router's `wanInterfaceList` (dst-nat). */
  ports?: RouterOsPort[];
  /**
   * With `start`: wait until it runs, and fail if it does not within 60 s (default true). Set false for one-shot
   * containers that may exit at once.
   */
  waitForRunning?: boolean;
  /** Where RouterOS extracts the image: unique per container, on the disk, e.g. `disk1/haproxy-edge/dev/lb-root`. */
  rootDir: string;
}

/**
 * One RouterOS container: veth, bridge port, directories, files, mounts, envs, the container (added and
 * extracted) and, with `start`, a start command that (re)starts it whenever something it reads at start changes.
 * Order: veth → bridge port → port forwards; directories → files, mounts; all of them → container → start.
 */
export class RouterOsContainer extends pulumi.ComponentResource {
  /** The container (add, wait for extraction; delete stops and removes it). */
  public readonly container: RouterOsCommand;
  /** The start command (with `start`): replaced, i.e. re-run, when files, envs, mounts, veth or image change. */
  public readonly started?: RouterOsCommand;
  /** Uploaded files, in the order of `args.files`. */
  public readonly files: RouterOsSftpFile[];
  /** This container's mount list (mount name before 7.21) per mount id, for {@link RouterOsContainerArgs.sharedMountLists}. */
  public readonly mountLists: Record<string, string>;
  /**
   * A script line that starts this container, found by its tag (on 7.16 to 7.18 `name` cannot be set, so a find
   * by name matches nothing): what a scheduler runs to start it again.
   */
  public readonly startScript: string;

  constructor(name: string, args: RouterOsContainerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("haproxy-edge:routeros:Container", name, {}, opts);
    const { router, stack, containerName, veth } = args;
    const version = routerOsVersion(router.versionParts);
    const inherited = opts?.dependsOn;
    const cmd = (
      suffix: string,
      c: RouterCommand,
      after: pulumi.Resource[] = [],
      extra: Partial<CommandOptions> = {},
    ) => routerCommand(`${name}-${suffix}`, args, c, { parent: this, inherited, after, ...extra });
    routerName("container name", containerName);

    const mounts = new Map<string, RouterOsMount>();
    for (const m of args.mounts) {
      routerName("mount id", m.id);
      routerPath("mount dir", m.dir);
      if (mounts.has(m.id))
        throw new pulumi.ResourceError(`RouterOsContainer ${name}: duplicate mount id ${m.id}`, this);
      mounts.set(m.id, m);
    }
    const filePaths = args.files.map((f) => {
      const mount = mounts.get(f.mountId);
      if (!mount)
        throw new pulumi.ResourceError(
          `RouterOsContainer ${name}: file ${f.name} names unknown mount ${f.mountId}`,
          this,
        );
      return routerPath("file name", `${mount.dir}/${f.name}`);
    });
    if (new Set(filePaths).size !== filePaths.length)
      throw new pulumi.ResourceError(`RouterOsContainer ${name}: duplicate files`, this);

    // Network: veth (the container's address; gateway = the router on the bridge) and its bridge port.
    const vethCmd = vethCommands({
      stack,
      id: `veth-${veth.name}`,
      name: veth.name,
      address: veth.address,
      prefixLength: router.prefixLength,
      gateway: router.bridgeAddress,
    });
    const vethRes = cmd("veth", vethCmd);
    const port = cmd(
      "bridge-port",
      bridgePortCommands({ stack, id: `port-${veth.name}`, bridge: router.bridge, interface: veth.name }),
      [vethRes],
    );

    // Port forwards after the veth and its bridge port, before the mounts, envs and the container: `pulumi
    // destroy` then removes containers → mounts/envs → NAT → bridge ports → veths.
    const portIds = (args.ports ?? []).map((p) => routerName("port id", p.id));
    if (new Set(portIds).size !== portIds.length)
      throw new pulumi.ResourceError(`RouterOsContainer ${name}: duplicate port ids`, this);
    const natRes = (args.ports ?? []).map((p) =>
      cmd(
        `nat-${p.id}`,
        dstNatCommands({
          stack,
          id: `dstnat-${p.id}`,
          inInterfaceList: router.wanInterfaceList,
          port: p.port,
          toAddress: veth.address,
          toPort: p.toPort,
        }),
        [vethRes, port],
      ),
    );

    // Directories: the root-dir's parent, every mount directory and every file's directory.
    const parent = (p: string) => p.slice(0, Math.max(p.lastIndexOf("/"), 0));
    const dirPaths = [parent(routerPath("root-dir", args.rootDir)), ...args.mounts.map((m) => m.dir)];
    for (const p of filePaths) dirPaths.push(parent(p));
    const dirs = cmd(
      "dirs",
      directoriesCommands({ paths: [...new Set(dirPaths.filter((p) => p.length > 0))] }),
    );

    // Files: SFTP uploads into the mount directories (which exist by then). An update re-uploads changed content.
    // Each file is removed by its own delete; the cleanup command (deleted after them) also removes what an
    // interrupted run left behind.
    const cleanup =
      filePaths.length > 0
        ? cmd("files-cleanup", fileCleanupCommands({ paths: filePaths }), [dirs])
        : undefined;
    const fileHashes: pulumi.Output<string>[] = [];
    this.files = args.files.map((f, i) => {
      const text = f.secret ? pulumi.secret(f.content) : pulumi.output(f.content);
      const hash = text.apply((t) => `${filePaths[i]}:${sha256(t)}`);
      fileHashes.push(f.secret ? pulumi.secret(hash) : hash);
      return new RouterOsSftpFile(
        `${name}-file-${f.mountId}-${f.name}`,
        { router: args.ssh, privateKey: args.privateKey, path: filePaths[i], content: text },
        { parent: this, dependsOn: mergeDeps(inherited, cleanup ? [dirs, cleanup] : [dirs]) },
      );
    });

    // Mount rows: one mount list per mount (`<container>-<id>`), valid both before and after 7.21.
    this.mountLists = Object.fromEntries(args.mounts.map((m) => [m.id, `${containerName}-${m.id}`]));
    const shared = (args.sharedMountLists ?? []).map((l) => routerName("shared mount list", l));
    const own = Object.values(this.mountLists);
    if (new Set([...own, ...shared]).size !== own.length + shared.length)
      throw new pulumi.ResourceError(
        `RouterOsContainer ${name}: a shared mount list is also one of its own`,
        this,
      );
    const mountCmds = args.mounts.map((m) =>
      mountCommands(
        {
          stack,
          id: routerMountRowId(containerName, m.id),
          list: `${containerName}-${m.id}`,
          src: m.dir,
          dst: m.dst,
          readOnly: m.readOnly,
        },
        version,
      ),
    );
    const mountRes = args.mounts.map((m, i) => cmd(`mount-${m.id}`, mountCmds[i], [dirs, ...natRes]));

    // Env rows: one list per container.
    const env = args.env ?? {};
    const envKeys = Object.keys(env).sort();
    const envCmds = envKeys.map((key) =>
      envCommands(
        { stack, id: `env-${containerName}-${key}`, list: containerName, key, value: env[key] },
        version,
      ),
    );
    const envRes = envKeys.map((key, i) => cmd(`env-${key}`, envCmds[i], natRes));

    const spec: ContainerSpec = {
      stack,
      id: `ctr-${containerName}`,
      name: containerName,
      remoteImage: args.image,
      interface: veth.name,
      rootDir: args.rootDir,
      mountLists: [...own, ...shared],
      ...(envKeys.length > 0 ? { envList: containerName } : {}),
      ...(args.entrypoint !== undefined ? { entrypoint: args.entrypoint } : {}),
      ...(args.cmd !== undefined ? { cmd: args.cmd } : {}),
      ...(args.user !== undefined ? { user: args.user } : {}),
      ...(args.memoryMb !== undefined ? { memoryMb: args.memoryMb } : {}),
      start: false,
      waitForRunning: args.waitForRunning ?? true,
      startOnBoot: args.start,
    };
    // The container is added stopped; any change of its own settings replaces it (stop, remove, add again).
    const ctr = containerCommands(spec, version);
    this.container = cmd("container", ctr, [vethRes, port, dirs, ...this.files, ...mountRes, ...envRes], {
      triggers: [ctr.create],
    });

    this.startScript = containerStartScript(spec, version);
    if (args.start) {
      // (Re)start: replaced whenever what RouterOS reads at start changes. An update (a connection change) does
      // nothing, so rotating the SSH key does not restart the container.
      this.started = cmd("start", containerRestartCommands(spec, version), [this.container, ...this.files], {
        triggers: [
          ctr.create,
          vethCmd.create,
          ...mountCmds.map((c) => c.create),
          ...envCmds.map((c) => c.create),
          ...fileHashes,
        ],
        update: `:put "${SENTINEL}"`,
      });
    }

    this.registerOutputs({ container: this.container.id, started: this.started?.id });
  }
}

/** A TCP port forwarded to a container from the router's WAN interface list (a dst-nat rule). */
export interface RouterOsPort {
  /** Id, unique in the container: part of the rule's comment tag and resource name. */
  id: string;
  /** TCP port on the router. */
  port: number;
  /** TCP port in the container. */
  toPort: number;
}

/** Inputs of {@link RouterOsSchedule}. */
export interface RouterOsScheduleArgs extends RouterOsConnectionArgs {
  /** Name of both the script and the scheduler entry. */
  name: string;
  /** Script source; may span lines (sent as one quoted string with `\n`). */
  source: string;
  /** RouterOS duration between runs, e.g. `1d` or `12h`. */
  interval: string;
  /** First run time of day, `HH:MM:SS`. */
  startTime: string;
  /** Policy of the script and of the scheduler (which runs it with its own policy), e.g. `["read","write","test"]`. */
  policy: string[];
}

/** A `/system/script` and the `/system/scheduler` entry that runs it (deleted scheduler first). */
export class RouterOsSchedule extends pulumi.ComponentResource {
  public readonly script: RouterOsCommand;
  public readonly scheduler: RouterOsCommand;

  constructor(name: string, args: RouterOsScheduleArgs, opts?: pulumi.ComponentResourceOptions) {
    super("haproxy-edge:routeros:Schedule", name, {}, opts);
    const { router, stack } = args;
    routerOsVersion(router.versionParts);
    const inherited = opts?.dependsOn;
    this.script = routerCommand(
      `${name}-script`,
      args,
      scriptCommands({
        stack,
        id: `script-${args.name}`,
        name: args.name,
        source: args.source,
        policy: args.policy,
      }),
      { parent: this, inherited },
    );
    this.scheduler = routerCommand(
      `${name}-scheduler`,
      args,
      schedulerCommands({
        stack,
        id: `sched-${args.name}`,
        name: args.name,
        interval: args.interval,
        startTime: args.startTime,
        script: args.name,
        policy: args.policy,
      }),
      { parent: this, inherited, after: [this.script] },
    );
    this.registerOutputs({});
  }
}
