/**
 * RouterOS v7 CLI command strings for the router pieces of the edge (bridge, veths, NAT, container mounts, envs
 * and containers, scripts and schedulers). Pure functions: no Pulumi, no I/O.
 *
 * Every builder returns one-line `create`/`delete` strings meant for one SSH exec each (`RouterOsCommand`):
 * - no raw newline ever (RouterOS runs each stdin line as its own command), see {@link rq};
 * - idempotent: running `create` again changes nothing harmful, `delete` of an absent object is a no-op;
 * - every object we own carries `comment="haproxy-edge:<stack>:<id>"` ({@link routerTag}); `delete` removes only
 *   tagged objects, and `create` refuses to take over a same-named object that is not tagged (`:error`);
 * - every value is encoded with {@link rq}; names are also validated ({@link routerName});
 * - each string ends with `:put "PULUMI-OK"` ({@link SENTINEL}). RouterOS exits 0 even on errors, so the caller
 *   must check the output with {@link checkRouterOutput}.
 *
 * Reference: MikroTik's RouterOS v7 manual (help.mikrotik.com: Scripting, Container, Bridge, NAT); the menus and
 * properties it uses are those of test/support/routeros-sim/routeros-menus.json, which the simulator enforces.
 */
import { isIPv4 } from "node:net";
import { ROUTEROS_NAME_MAX, routerTagText } from "../config/validators";

/** Printed by the last statement of every command: its absence means the command did not run to the end. */
export const SENTINEL = "PULUMI-OK";
const OK = `:put "${SENTINEL}"`;

/**
 * RouterOS error texts (routeros-menus.json `_meta.errors.detect_regex`). RouterOS prints them on stdout and
 * still exits 0.
 */
export const ROUTEROS_ERROR =
  /^\s*(failure:|syntax error|expected |bad command name|bad parameter|bad argument|input does not match any value of|invalid value|ambiguous value|no such item|no such command|not enough permissions|missing value\(s\) of argument\(s\)|Script Error:|value of .* out of range|unknown parameter)/m;

/**
 * Throws when a command's output shows it failed: a line matching {@link ROUTEROS_ERROR}, or no
 * {@link SENTINEL} as the last line (a parse error, an `:error`, or a runtime error stopped the line early).
 */
export function checkRouterOutput(stdout: string): void {
  const lines = stdout
    .split(/\r?\n|\r/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
  const error = lines.find((l) => ROUTEROS_ERROR.test(l));
  if (error !== undefined) throw new Error(`RouterOS reported an error: ${error}`);
  if (lines[lines.length - 1] !== SENTINEL) {
    const shown = lines.length > 0 ? lines.join(" | ") : "(no output)";
    throw new Error(`RouterOS command did not finish (no ${SENTINEL} at the end): ${shown}`);
  }
}

/**
 * RouterOS double-quoted string: the only way values enter a command. Encodes the UTF-8 bytes of `value`:
 * `"` `\` `$` are backslash-escaped (`$` would otherwise interpolate `$var`, `$(expr)`, `$[command]`), `?` is
 * written `\3F` (it is the help key on consoles), LF/CR/TAB become `\n` `\r` `\t`, every other control byte,
 * DEL and every non-ASCII byte become `\XX` (two upper-case hex digits). Everything else, including
 * `[ ] { } ; # = ,` and spaces, is literal inside quotes. NUL cannot be represented and throws.
 */
export function rq(value: string): string {
  let out = '"';
  for (const byte of Buffer.from(value, "utf8")) {
    if (byte === 0x00) throw new Error("RouterOS strings cannot contain NUL");
    if (byte === 0x22) out += '\\"';
    else if (byte === 0x5c) out += "\\\\";
    else if (byte === 0x24) out += "\\$";
    else if (byte === 0x3f) out += "\\3F";
    else if (byte === 0x0a) out += "\\n";
    else if (byte === 0x0d) out += "\\r";
    else if (byte === 0x09) out += "\\t";
    else if (byte < 0x20 || byte >= 0x7f) out += "\\" + byte.toString(16).toUpperCase().padStart(2, "0");
    else out += String.fromCharCode(byte);
  }
  return out + '"';
}

/** Names, list names and comments we put in commands (defence in depth; config validates them first). */
export const ROUTEROS_NAME = new RegExp(`^[A-Za-z0-9._:-]{1,${ROUTEROS_NAME_MAX}}$`);

/** Returns `value` if it is a safe RouterOS name, else throws naming `what`. */
export function routerName(what: string, value: string): string {
  if (!ROUTEROS_NAME.test(value)) {
    throw new Error(`${what} ${JSON.stringify(value)} is not a safe RouterOS name (${ROUTEROS_NAME.source})`);
  }
  return value;
}

/** The comment that marks an object as ours: `haproxy-edge:<stack>:<id>`. */
export function routerTag(stack: string, id: string): string {
  routerName("stack", stack);
  routerName("object id", id);
  return routerName("comment", routerTagText(stack, id));
}

/**
 * The RouterOS version of a router, and the CLI spelling it needs (routeros.md §1). 7.16 is the minimum
 * (the config schema enforces it; so does {@link routerOsVersion}).
 */
export interface RouterOsVersion {
  readonly parts: readonly [number, number, number];
  /** `/container/envs` list key: `name=` up to 7.19, `list=` from 7.20. */
  readonly envListKey: "name" | "list";
  /** `/container` env lists argument: `envlist=` (one list) up to 7.19, `envlists=` from 7.20. */
  readonly containerEnvListsKey: "envlist" | "envlists";
  /** `/container/mounts` key: `name=` (unique per mount) up to 7.20, `list=` from 7.21. */
  readonly mountListKey: "name" | "list";
  /** `/container` mounts argument: `mounts=` up to 7.20, `mountlists=` from 7.21. */
  readonly containerMountsKey: "mounts" | "mountlists";
  /** How a mount is made read-only: nothing up to 7.19, `read-only=` 7.20 to 7.22, `mode=` from 7.23. */
  readonly mountAccess: "none" | "read-only" | "mode";
  /** `/container` has a settable `name` (7.19+); before, containers are found by their comment. */
  readonly containerName: boolean;
  /** Container state as boolean flags (`stopped`, `running`; 7.20+) instead of `status="..."` text. */
  readonly containerStateFlags: boolean;
  /**
   * Per-container memory limits: `memory-high` (7.20+) and `memory-max` (7.23+). Before 7.20 there is only the
   * router-wide `/container/config ram-high`, shared with containers that are not ours: left alone.
   */
  readonly containerMemory: "none" | "high" | "high-max";
}

/** Decides the CLI spelling for `[7, minor, patch]` (`RouterOsHostModel.versionParts`). */
export function routerOsVersion(parts: readonly [number, number, number]): RouterOsVersion {
  const [major, minor, patch] = parts;
  if (![major, minor, patch].every((n) => Number.isInteger(n) && n >= 0)) {
    throw new Error(`invalid RouterOS version ${parts.join(".")}`);
  }
  if (major !== 7 || minor < 16)
    throw new Error(`RouterOS ${parts.join(".")} is not supported (7.16 or later)`);
  return {
    parts: [major, minor, patch],
    envListKey: minor <= 19 ? "name" : "list",
    containerEnvListsKey: minor <= 19 ? "envlist" : "envlists",
    mountListKey: minor <= 20 ? "name" : "list",
    containerMountsKey: minor <= 20 ? "mounts" : "mountlists",
    mountAccess: minor <= 19 ? "none" : minor <= 22 ? "read-only" : "mode",
    containerName: minor >= 19,
    containerStateFlags: minor >= 20,
    containerMemory: minor <= 19 ? "none" : minor <= 22 ? "high" : "high-max",
  };
}

/** A pair of one-line commands: `create` (also re-run on update) and `delete`. */
export interface RouterCommand {
  create: string;
  delete: string;
  /** Longest either may run, in seconds, when it waits (bounded) on the router; default {@link COMMAND_SECONDS}. */
  seconds?: number;
}

/** Bound of a command that does not wait on the router (SSH round trips only). */
export const COMMAND_SECONDS = 60;

/** What every tagged object needs: the stack and the object's id within the stack (see {@link routerTag}). */
export interface Tagged {
  /** Pulumi stack name. */
  stack: string;
  /** Id of the object within the stack, e.g. `veth-edge-lb`. */
  id: string;
}

// ---------------------------------------------------------------------------------------------------------------
// Value validators (throw; config validates the same things with friendlier messages).

function ipv4(what: string, value: string): string {
  if (!isIPv4(value)) throw new Error(`${what} ${JSON.stringify(value)} is not an IPv4 address`);
  return value;
}

function ipv4Prefix(what: string, value: string): string {
  const m = /^([0-9.]+)\/([0-9]{1,2})$/.exec(value);
  if (!m || !isIPv4(m[1]) || Number(m[2]) > 32) {
    throw new Error(`${what} ${JSON.stringify(value)} is not an IPv4 prefix such as 172.20.0.0/24`);
  }
  return value;
}

function prefixLength(value: number): number {
  if (!Number.isInteger(value) || value < 1 || value > 32) throw new Error(`invalid prefix length ${value}`);
  return value;
}

function port(what: string, value: number): string {
  if (!Number.isInteger(value) || value < 1 || value > 65535)
    throw new Error(`${what} ${value} is not a TCP port`);
  return String(value);
}

function positiveSeconds(what: string, value: number): number {
  if (!Number.isInteger(value) || value < 1 || value > 86400)
    throw new Error(`${what} ${value} is not 1 to 86400`);
  return value;
}

const PATH_SEGMENT = /^[A-Za-z0-9._-]{1,128}$/;

/** A RouterOS file path without a leading slash, e.g. `disk1/haproxy-edge/dev/certs`. */
export function routerPath(what: string, value: string): string {
  const segments = value.split("/");
  if (!segments.every((s) => PATH_SEGMENT.test(s) && s !== "." && s !== "..")) {
    throw new Error(
      `${what} ${JSON.stringify(value)} is not a RouterOS path such as disk1/haproxy-edge/dev/certs`,
    );
  }
  return value;
}

function containerPath(what: string, value: string): string {
  const segments = value.split("/").slice(1);
  if (
    !value.startsWith("/") ||
    !segments.every((s) => s === "" || (PATH_SEGMENT.test(s) && s !== "." && s !== ".."))
  ) {
    throw new Error(`${what} ${JSON.stringify(value)} is not an absolute container path`);
  }
  return value;
}

function noControl(what: string, value: string): string {
  // eslint-disable-next-line no-control-regex
  if (value.length === 0 || /[\x00-\x1f\x7f]/.test(value)) {
    throw new Error(`${what} ${JSON.stringify(value)} must be non-empty and free of control characters`);
  }
  return value;
}

/** Script and scheduler policies (routeros-menus.json `/system/script` policy values). */
export const ROUTEROS_POLICIES = [
  "ftp",
  "reboot",
  "read",
  "write",
  "policy",
  "test",
  "password",
  "sniff",
  "sensitive",
  "romon",
] as const;

function policyList(policy: readonly string[]): string {
  if (policy.length === 0) throw new Error("policy must list at least one policy");
  for (const p of policy) {
    if (!(ROUTEROS_POLICIES as readonly string[]).includes(p)) {
      throw new Error(
        `unknown RouterOS policy ${JSON.stringify(p)} (one of ${ROUTEROS_POLICIES.join(", ")})`,
      );
    }
  }
  return rq(policy.join(","));
}

// ---------------------------------------------------------------------------------------------------------------
// Statement helpers.

const count = (menu: string, where: string) => `[:len [${menu}/find where ${where}]]`;

/** Upsert of an object found by its comment tag (§7 template). */
function upsertByComment(menu: string, comment: string, props: string): RouterCommand {
  const c = rq(comment);
  return {
    create:
      `:if (${count(menu, `comment=${c}`)}=0) do={${menu}/add ${props} comment=${c}} ` +
      `else={${menu}/set [find where comment=${c}] ${props}}; ${OK}`,
    delete: `${menu}/remove [find where comment=${c}]; ${OK}`,
  };
}

/**
 * Upsert of a named object: added if no object has the name; updated if the object with that name is ours;
 * `:error` if it exists without our tag. `delete` removes it only when it carries our tag.
 */
function upsertByName(
  menu: string,
  what: string,
  name: string,
  comment: string,
  props: string,
): RouterCommand {
  const n = rq(name);
  const c = rq(comment);
  const ours = `name=${n} and comment=${c}`;
  return {
    create:
      `:if (${count(menu, `name=${n}`)}=0) do={${menu}/add name=${n} ${props} comment=${c}} ` +
      `else={:if (${count(menu, ours)}=0) do={:error ${rq(`${what} ${name} exists but is not tagged ${comment}`)}}; ` +
      `${menu}/set [find where ${ours}] ${props}}; ${OK}`,
    delete: `${menu}/remove [find where ${ours}]; ${OK}`,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Builders.

/** `/interface/bridge`: the bridge the container veths are ports of. */
export interface BridgeSpec extends Tagged {
  /** Bridge name. */
  name: string;
}

/**
 * Adds the bridge if no interface has its name. An existing bridge of that name is used as it is (never
 * modified); `delete` removes the bridge only if it carries our tag.
 */
export function bridgeCommands(spec: BridgeSpec): RouterCommand {
  const menu = "/interface/bridge";
  const n = rq(routerName("bridge name", spec.name));
  const c = rq(routerTag(spec.stack, spec.id));
  return {
    create: `:if (${count(menu, `name=${n}`)}=0) do={${menu}/add name=${n} comment=${c}}; ${OK}`,
    delete: `${menu}/remove [find where name=${n} and comment=${c}]; ${OK}`,
  };
}

/** `/ip/address`: the router's own address on the bridge (the containers' gateway). */
export interface AddressSpec extends Tagged {
  /** Router address, e.g. `172.20.0.1`. */
  address: string;
  /** Prefix length of the subnet, e.g. 24. */
  prefixLength: number;
  /** Interface (the bridge). */
  interface: string;
}

export function addressCommands(spec: AddressSpec): RouterCommand {
  const address = rq(`${ipv4("address", spec.address)}/${prefixLength(spec.prefixLength)}`);
  const iface = rq(routerName("interface", spec.interface));
  return upsertByComment(
    "/ip/address",
    routerTag(spec.stack, spec.id),
    `address=${address} interface=${iface}`,
  );
}

/** `/interface/veth`: a container's interface. */
export interface VethSpec extends Tagged {
  /** Veth name (14 characters or fewer on 7.20+; config checks it). */
  name: string;
  /** The container's address, e.g. `172.20.0.2`. */
  address: string;
  /** Prefix length of the container subnet. */
  prefixLength: number;
  /** The container's gateway: the router's address on the bridge. */
  gateway: string;
}

export function vethCommands(spec: VethSpec): RouterCommand {
  const address = rq(`${ipv4("veth address", spec.address)}/${prefixLength(spec.prefixLength)}`);
  const gateway = rq(ipv4("veth gateway", spec.gateway));
  return upsertByName(
    "/interface/veth",
    "veth",
    routerName("veth name", spec.name),
    routerTag(spec.stack, spec.id),
    `address=${address} gateway=${gateway}`,
  );
}

/** `/interface/bridge/port`: a veth on the bridge (found by its interface: one bridge per interface). */
export interface BridgePortSpec extends Tagged {
  bridge: string;
  /** The veth. */
  interface: string;
}

export function bridgePortCommands(spec: BridgePortSpec): RouterCommand {
  const menu = "/interface/bridge/port";
  const bridge = rq(routerName("bridge name", spec.bridge));
  const iface = rq(routerName("interface", spec.interface));
  const c = rq(routerTag(spec.stack, spec.id));
  return {
    create:
      `:if (${count(menu, `interface=${iface}`)}=0) do={${menu}/add bridge=${bridge} interface=${iface} comment=${c}} ` +
      // Someone else's port for this interface is never taken over (nor, later, removed by our delete).
      `else={:if (${count(menu, `interface=${iface} and comment=${c}`)}=0) do={:error ${rq(`bridge port of ${spec.interface} exists but is not tagged ${routerTag(spec.stack, spec.id)}`)}}; ` +
      `${menu}/set [find where interface=${iface} and comment=${c}] bridge=${bridge}}; ${OK}`,
    delete: `${menu}/remove [find where interface=${iface} and comment=${c}]; ${OK}`,
  };
}

/** `/ip/firewall/nat` srcnat masquerade of the container subnet (outbound traffic of the containers). */
export interface MasqueradeSpec extends Tagged {
  /** Container subnet, e.g. `172.20.0.0/24`. */
  subnet: string;
}

/**
 * Upsert by tag: the rule is added (at the end) once, and later runs `set` the same properties in place, so
 * re-running `create` keeps the rule's id and position.
 */
export function masqueradeCommands(spec: MasqueradeSpec): RouterCommand {
  const subnet = rq(ipv4Prefix("subnet", spec.subnet));
  return upsertByComment(
    "/ip/firewall/nat",
    routerTag(spec.stack, spec.id),
    `chain=srcnat action=masquerade src-address=${subnet}`,
  );
}

/** `/ip/firewall/nat` dstnat rule: TCP `port` on the WAN interface list → `toAddress:toPort`. */
export interface DstNatSpec extends Tagged {
  /** Interface list the rule applies to (`WAN`); keeps LAN and hairpin traffic out. */
  inInterfaceList: string;
  port: number;
  toAddress: string;
  toPort: number;
}

/** Upsert by tag, like {@link masqueradeCommands}: re-running `create` keeps the rule's id and position. */
export function dstNatCommands(spec: DstNatSpec): RouterCommand {
  const list = rq(routerName("interface list", spec.inInterfaceList));
  const props =
    `chain=dstnat action=dst-nat in-interface-list=${list} protocol=tcp dst-port=${rq(port("port", spec.port))} ` +
    `to-addresses=${rq(ipv4("to-address", spec.toAddress))} to-ports=${rq(port("to-port", spec.toPort))}`;
  return upsertByComment("/ip/firewall/nat", routerTag(spec.stack, spec.id), props);
}

/** `/container/config`: the router-wide container settings (a singleton: `delete` does nothing). */
export interface ContainerConfigSpec {
  /** Registry, e.g. `https://registry-1.docker.io`. */
  registryUrl: string;
  /** Where images are pulled to before extraction (a RouterOS path on the external disk). */
  tmpdir: string;
  /** The config key that sets `registryUrl`, for the message, e.g. `hosts.edge-router.registryUrl`. */
  registryKey: string;
}

/** RouterOS's `registry-url` when nobody set it: empty, or lscr.io on some versions (routeros.md §4). */
const DEFAULT_REGISTRY = "https://lscr.io";

/**
 * `/container/config` is shared by every container on the router, so values someone else set are kept:
 * `registry-url` is set only when it is unset (or RouterOS's default); a different one fails with what this stack
 * needs; `tmpdir` is set only when it is empty.
 */
export function containerConfigCommands(spec: ContainerConfigSpec): RouterCommand {
  if (!/^https?:\/\/[A-Za-z0-9.:-]+\/?$/.test(spec.registryUrl)) {
    throw new Error(`registry URL ${JSON.stringify(spec.registryUrl)} is not an https:// URL`);
  }
  const ours = rq(spec.registryUrl);
  const taken =
    `/container/config registry-url is set to another registry, and it is shared by every container on the ` +
    `router; this stack pulls its images from ${spec.registryUrl} (${spec.registryKey}): set ` +
    `/container/config registry-url=${spec.registryUrl} by hand if nothing else on the router needs the other ` +
    `one, or set ${spec.registryKey} to it. It is now: `;
  const create = [
    ":local r [/container/config/get registry-url]",
    `:if (($r!="") and ($r!=${rq(DEFAULT_REGISTRY)}) and ($r!=${ours})) do={:error (${rq(taken)} . $r)}`,
    `:if ($r!=${ours}) do={/container/config/set registry-url=${ours}}`,
    `:if ([:len [/container/config/get tmpdir]]=0) do={/container/config/set tmpdir=${rq(routerPath("tmpdir", spec.tmpdir))}}`,
    OK,
  ];
  return { create: `{${create.join("; ")}}`, delete: OK };
}

/** What {@link prerequisitesCommands} checks on a router before the stack changes anything on it. */
export interface PrerequisitesSpec {
  /** The disk holding root dirs, volumes and tmpdir, e.g. `disk1`. */
  disk: string;
  /** The config key that names the disk, for the message, e.g. `hosts.edge-router.disk`. */
  diskKey: string;
  /** The SSH user the stack logs in as. */
  user: string;
  /** The router's scheduler renews the certificates (certbot runs on it). */
  scheduler: boolean;
}

/** Policies the SSH user's group needs: SFTP uploads (`ftp`); containers, scripts and schedulers. */
export const ROUTEROS_USER_POLICIES = ["ftp", "read", "write", "test"] as const;

/**
 * `create` only reads the router: it fails with every missing prerequisite, each with its fix, and changes
 * nothing. Device-mode must allow containers (and keep the scheduler when it renews the certificates: `home`
 * mode turns it off); the router needs a DNS server (containers do not start without one); the disk must exist;
 * the SSH user's group needs {@link ROUTEROS_USER_POLICIES}. `delete` does nothing.
 */
export function prerequisitesCommands(spec: PrerequisitesSpec): RouterCommand {
  const miss = (message: string) => `:set e ($e . ${rq(`${message}. `)})`;
  const yes = (v: string) => `(($${v}="yes") or ($${v}="true"))`;
  const feature = (name: string) =>
    `:local ${name} ""; :do {:set ${name} [:tostr [/system/device-mode/get ${name}]]} on-error={}`;
  const user = rq(spec.user);
  const has = (p: string) =>
    `[:len [/user/group/find where name=$g and policy~${rq(`(^|[,;])${p}($|[,;])`)}]]`;
  const create = [
    ':local e ""',
    feature("container"),
    `:if (!${yes("container")}) do={${miss(
      "Device-mode does not allow containers: run /system/device-mode/update container=yes, then confirm it on " +
        "the router within 5 minutes (press its reset button briefly, or power-cycle it)",
    )}}`,
    ...(spec.scheduler
      ? [
          feature("scheduler"),
          // Versions without the feature have the scheduler on: only an explicit "no" is missing.
          `:if (($scheduler="no") or ($scheduler="false")) do={${miss(
            "Device-mode turns off the scheduler that renews the certificates (home mode does): run " +
              "/system/device-mode/update scheduler=yes, then confirm it on the router",
          )}}`,
        ]
      : []),
    `:if (([:len [/ip/dns/get servers]]=0) and ([:len [/ip/dns/get dynamic-servers]]=0)) do={${miss(
      "The router has no DNS server, and containers do not start without one: /ip/dns/set servers=<resolver>, " +
        "or get them by DHCP",
    )}}`,
    `:if ([:len [/file/find where name=${rq(routerPath("disk", spec.disk))}]]=0) do={${miss(
      `Disk ${spec.disk} not found (/disk print): attach and format an ext4 disk, or set ${spec.diskKey}`,
    )}}`,
    `:local g ""; :do {:set g [/user/get [find where name=${user}] group]} on-error={}`,
    `:if ([:len $g]=0) do={${miss(`User ${spec.user} not found in /user`)}} else={` +
      ROUTEROS_USER_POLICIES.map(
        (p) =>
          `:if (${has(p)}=0) do={:set e ($e . ${rq(`The group of user ${spec.user} (`)} . $g . ${rq(
            `) lacks the ${p} policy (${p === "ftp" ? "files are uploaded over SFTP" : "containers, scripts and schedulers need it"}): /user/group/set `,
          )} . $g . ${rq(` policy=<its policies>,${p}. `)})}`,
      ).join("; ") +
      "}",
    `:if ([:len $e]>0) do={:error (${rq("The router is not ready for this stack. ")} . $e)}`,
    OK,
  ];
  return { create: `{${create.join("; ")}}`, delete: OK };
}

/**
 * The router-wide `tmpdir` for image pulls on `disk`. Outside the per-stack trees (`<disk>/haproxy-edge/<stack>`)
 * because `/container/config` is shared by every stack on the router.
 */
export function containerTmpDir(disk: string): string {
  return routerPath("disk", disk) + "/haproxy-edge-tmp";
}

/** Directories to create on the router (RouterOS paths; their first segment is the disk). */
export interface DirectoriesSpec {
  paths: readonly string[];
}

/**
 * Every level of every path, parents first, created with `/file/add type=directory` (7.15+) if missing. The
 * first segment is the disk: it is never created (that would make a RAM directory), the command fails if it is
 * missing. `delete` does nothing: directories hold volumes (certificates, ACME account) that outlive the stack.
 */
export function directoriesCommands(spec: DirectoriesSpec): RouterCommand {
  if (spec.paths.length === 0) throw new Error("directories: no paths");
  const disks: string[] = [];
  const levels: string[] = [];
  for (const path of spec.paths) {
    const segments = routerPath("directory", path).split("/");
    if (!disks.includes(segments[0])) disks.push(segments[0]);
    for (let i = 2; i <= segments.length; i++) {
      const level = segments.slice(0, i).join("/");
      if (!levels.includes(level)) levels.push(level);
    }
  }
  levels.sort((a, b) => a.split("/").length - b.split("/").length);
  const diskChecks = disks.map(
    (d) =>
      `:if (${count("/file", `name=${rq(d)}`)}=0) do={:error ${rq(`disk ${d} not found (see /disk print)`)}}; `,
  );
  const loop =
    levels.length === 0
      ? ""
      : `:foreach p in={${levels.map(rq).join(";")}} do={:if (${count("/file", "name=$p")}=0) do={/file/add name=$p type=directory}}; `;
  return { create: `${diskChecks.join("")}${loop}${OK}`, delete: OK };
}

/** `/container/mounts`: one mount row. */
export interface MountSpec extends Tagged {
  /** Mount list name (7.21+; the unique mount name up to 7.20). Use one per mount: it works on both sides. */
  list: string;
  /** RouterOS directory, e.g. `disk1/haproxy-edge/dev/certs`. */
  src: string;
  /** Absolute path inside the container. */
  dst: string;
  /** Read-only (ignored up to 7.19, which has no read-only mounts). */
  readOnly: boolean;
}

export function mountCommands(spec: MountSpec, version: RouterOsVersion): RouterCommand {
  const props = [
    `${version.mountListKey}=${rq(routerName("mount list", spec.list))}`,
    `src=${rq(routerPath("mount src", spec.src))}`,
    `dst=${rq(containerPath("mount dst", spec.dst))}`,
  ];
  if (version.mountAccess === "read-only") props.push(`read-only=${spec.readOnly ? "yes" : "no"}`);
  if (version.mountAccess === "mode") props.push(`mode=${spec.readOnly ? "ro" : "rw"}`);
  return upsertByComment("/container/mounts", routerTag(spec.stack, spec.id), props.join(" "));
}

/** `/container/envs`: one environment variable (non-secret: it is visible in the command and in exports). */
export interface EnvSpec extends Tagged {
  /** Env list name (the container's). */
  list: string;
  key: string;
  value: string;
}

export function envCommands(spec: EnvSpec, version: RouterOsVersion): RouterCommand {
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,127}$/.test(spec.key)) {
    throw new Error(`environment variable name ${JSON.stringify(spec.key)} is not valid`);
  }
  const props =
    `${version.envListKey}=${rq(routerName("env list", spec.list))} ` +
    `key=${rq(spec.key)} value=${rq(spec.value)}`;
  return upsertByComment("/container/envs", routerTag(spec.stack, spec.id), props);
}

/** `/container`: one container. */
export interface ContainerSpec extends Tagged {
  /** Container name (the key from 7.19; before, the comment tag is). */
  name: string;
  /** Image, e.g. `haproxy:3.0` (pulled from `/container/config registry-url`). */
  remoteImage: string;
  /** Its veth. */
  interface: string;
  /** Where the image is extracted (unique per container, on the external disk). */
  rootDir: string;
  /** Mount lists (7.21+) or mount names (up to 7.20) of its mounts. */
  mountLists: readonly string[];
  /** Its env list, if it has environment variables. */
  envList?: string;
  /** Overrides the image ENTRYPOINT; RouterOS splits it on whitespace (no shell, no quoting). */
  entrypoint?: string;
  /** Overrides the image CMD; RouterOS splits it on whitespace (no shell, no quoting). */
  cmd?: string;
  /** `uid[:gid]`, e.g. `0:0`. */
  user?: string;
  /** Memory limit in MiB, where the version has a per-container one ({@link RouterOsVersion.containerMemory}). */
  memoryMb?: number;
  /** Start it after extraction (only if it is not running). */
  start: boolean;
  /** With `start`: wait until it is running (false for one-shot containers, which may exit at once). */
  waitForRunning?: boolean;
  /** `start-on-boot`; defaults to `start`. */
  startOnBoot?: boolean;
  /** Bound of the wait for pull and extraction, in seconds (default 900). */
  extractTimeoutSeconds?: number;
  /** Bound of the waits for start, stop and removal, in seconds (default 60). */
  timeoutSeconds?: number;
}

/** Where-expressions for a container, by version. */
function containerSelectors(spec: ContainerSpec, version: RouterOsVersion) {
  const name = routerName("container name", spec.name);
  const comment = routerTag(spec.stack, spec.id);
  const n = rq(name);
  const c = rq(comment);
  const byKey = version.containerName ? `name=${n}` : `comment=${c}`;
  const ours = version.containerName ? `name=${n} and comment=${c}` : `comment=${c}`;
  const state = (s: "stopped" | "running") => (version.containerStateFlags ? s : `status="${s}"`);
  const has = (where: string) => count("/container", where);
  // A failed pull or extraction: `status=error` up to 7.19; from 7.20 the `F` flag, whose property name is not
  // documented, so: none of the known state flags.
  const busy = "!running and !starting and !stopping and !extracting";
  return {
    name,
    comment,
    byKey,
    ours,
    has,
    stopped: `${ours} and ${state("stopped")}`,
    running: `${ours} and ${state("running")}`,
    ready: `${ours} and (${state("stopped")} or ${state("running")})`,
    failed: version.containerStateFlags ? `${ours} and !stopped and ${busy}` : `${ours} and status="error"`,
    /** Stopped or failed: nothing to wait for before a removal. */
    settled: version.containerStateFlags
      ? `${ours} and ${busy}`
      : `${ours} and (status="stopped" or status="error")`,
  };
}

/**
 * Statements that `:error` with `message` and the router's last container log line (RouterOS logs why a pull or
 * an extraction failed there).
 */
function errorWithLastLog(message: string): string {
  return (
    ':local m ""; :foreach l in=[/log/find where topics~"container"] do={:set m [/log/get $l message]}; ' +
    `:error (${rq(`${message}; the router's last container log line: `)} . $m)`
  );
}

/**
 * Statements that wait (bounded) until `[find where cond]` is non-empty (`present`) or empty, then `:error` with
 * `message` if it still is not. The counter `n` is declared (`declare`) or must exist in an enclosing block.
 */
function boundedWait(
  has: (where: string) => string,
  cond: string,
  present: boolean,
  seconds: number,
  message: string,
  declare = false,
): string[] {
  const notYet = present ? `${has(cond)}=0` : `${has(cond)}>0`;
  return [
    declare ? ":local n 0" : ":set n 0",
    `:while ((${notYet}) and ($n<${seconds})) do={:delay 1s; :set n ($n+1)}`,
    `:if (${notYet}) do={:error ${rq(message)}}`,
  ];
}

/** The `start` step: start it if it is not running, then optionally wait (bounded) until it runs. */
function startStep(s: ReturnType<typeof containerSelectors>, wait: boolean, seconds: number): string {
  const body = [
    `/container/start [find where ${s.ours}]`,
    ...(wait
      ? boundedWait(
          s.has,
          s.running,
          true,
          seconds,
          `${s.name}: not running ${seconds}s after start (see /log)`,
        )
      : []),
  ];
  return `:if (${s.has(s.running)}=0) do={${body.join("; ")}}`;
}

/**
 * `create`: add the container if missing (or `:error` if a same-named one is not ours), wait (bounded) until
 * the image is pulled and extracted (stopped, or already running), then optionally start it. `delete`: stop it
 * (bounded wait), remove it, wait (bounded) until it is gone (removal is asynchronous; the root-dir is deleted).
 */
export function containerCommands(spec: ContainerSpec, version: RouterOsVersion): RouterCommand {
  const s = containerSelectors(spec, version);
  const extract = positiveSeconds("extract timeout", spec.extractTimeoutSeconds ?? 900);
  const timeout = positiveSeconds("timeout", spec.timeoutSeconds ?? 60);
  const props: string[] = [];
  if (version.containerName) props.push(`name=${rq(s.name)}`);
  props.push(`remote-image=${rq(noControl("image", spec.remoteImage))}`);
  props.push(`interface=${rq(routerName("interface", spec.interface))}`);
  props.push(`root-dir=${rq(routerPath("root-dir", spec.rootDir))}`);
  if (spec.mountLists.length > 0) {
    const lists = spec.mountLists.map((l) => routerName("mount list", l));
    props.push(`${version.containerMountsKey}=${rq(lists.join(","))}`);
  }
  if (spec.envList !== undefined)
    props.push(`${version.containerEnvListsKey}=${rq(routerName("env list", spec.envList))}`);
  if (spec.entrypoint !== undefined) props.push(`entrypoint=${rq(noControl("entrypoint", spec.entrypoint))}`);
  if (spec.cmd !== undefined) props.push(`cmd=${rq(noControl("cmd", spec.cmd))}`);
  if (spec.user !== undefined) {
    if (!/^[A-Za-z0-9._-]{1,32}(:[A-Za-z0-9._-]{1,32})?$/.test(spec.user)) {
      throw new Error(`container user ${JSON.stringify(spec.user)} is not uid[:gid]`);
    }
    props.push(`user=${rq(spec.user)}`);
  }
  if (spec.memoryMb !== undefined && version.containerMemory !== "none") {
    if (!Number.isInteger(spec.memoryMb) || spec.memoryMb < 1) {
      throw new Error(`container memory limit ${spec.memoryMb} is not a whole number of MiB`);
    }
    // The kernel reclaims above memory-high and kills above memory-max: the same limit as on Docker.
    props.push(`memory-high=${spec.memoryMb}M`);
    if (version.containerMemory === "high-max") props.push(`memory-max=${spec.memoryMb}M`);
  }
  props.push(
    "logging=yes",
    `start-on-boot=${(spec.startOnBoot ?? spec.start) ? "yes" : "no"}`,
    `comment=${rq(s.comment)}`,
  );

  const failed = `${s.name}: the image pull or extraction failed`;
  const create = [
    // A container of ours whose pull or extraction failed is removed and added again: this is the retry.
    `:if (${s.has(s.failed)}>0) do={/container/remove [find where ${s.ours}]; ` +
      boundedWait(s.has, s.ours, false, timeout, `${s.name}: not removed after ${timeout}s`, true).join(
        "; ",
      ) +
      "}",
    `:if (${s.has(s.byKey)}=0) do={/container/add ${props.join(" ")}; :delay 2s} ` +
      `else={:if (${s.has(s.ours)}=0) do={:error ${rq(`container ${s.name} exists but is not tagged ${s.comment}`)}}}`,
    // Wait (bounded) for the extraction, and stop waiting at once if it failed.
    ":local n 0",
    `:while ((${s.has(s.ready)}=0) and (${s.has(s.failed)}=0) and ($n<${extract})) do={:delay 1s; :set n ($n+1)}`,
    `:if (${s.has(s.failed)}>0) do={${errorWithLastLog(failed)}}`,
    `:if (${s.has(s.ready)}=0) do={:error ${rq(`${s.name}: not pulled and extracted after ${extract}s (see /log)`)}}`,
    ...(spec.start ? [startStep(s, spec.waitForRunning ?? true, timeout)] : []),
    OK,
  ];

  // Stopped, or failed (a container whose extraction failed never stops, but can be removed).
  const removal = [
    ":local n 0",
    `:while ((${s.has(s.settled)}=0) and ($n<${timeout})) do={` +
      `:if (${s.has(s.running)}>0) do={/container/stop $id}; :delay 1s; :set n ($n+1)}`,
    `:if (${s.has(s.settled)}=0) do={:error ${rq(`${s.name}: not stopped after ${timeout}s`)}}`,
    "/container/remove $id",
    ...boundedWait(s.has, s.ours, false, timeout, `${s.name}: not removed after ${timeout}s`),
  ];
  const del = [
    `:local id [/container/find where ${s.ours}]`,
    `:if ([:len $id]>0) do={${removal.join("; ")}}`,
    OK,
  ];
  return {
    create: `{${create.join("; ")}}`,
    delete: `{${del.join("; ")}}`,
    // The longer of create (removal of a failed one, add, extraction, start) and delete (stop, removal), and a
    // margin.
    seconds: 2 + extract + 2 * timeout + COMMAND_SECONDS,
  };
}

/**
 * (Re)start a container: stop it if it runs (bounded wait until stopped), start it, optionally wait (bounded)
 * until it runs. `:error` if the container does not exist. `delete` does nothing (the container's own delete
 * stops it). Used to apply new files, envs or mounts, which RouterOS reads at start.
 */
export function containerRestartCommands(spec: ContainerSpec, version: RouterOsVersion): RouterCommand {
  const s = containerSelectors(spec, version);
  const timeout = positiveSeconds("timeout", spec.timeoutSeconds ?? 60);
  const create = [
    `:if (${s.has(s.ours)}=0) do={:error ${rq(`container ${s.name} not found`)}}`,
    `:if (${s.has(s.running)}>0) do={/container/stop [find where ${s.ours}]}`,
    ...boundedWait(s.has, s.stopped, true, timeout, `${s.name}: not stopped after ${timeout}s`, true),
    startStep(s, spec.waitForRunning ?? true, timeout),
    OK,
  ];
  return { create: `{${create.join("; ")}}`, delete: OK, seconds: 2 * timeout + COMMAND_SECONDS };
}

/**
 * A script line that starts the container if it is stopped (a no-op while it runs), found by its tag on every
 * version: `name` is settable only from 7.19, so a find by name alone matches nothing on 7.16 to 7.18.
 */
export function containerStartScript(spec: ContainerSpec, version: RouterOsVersion): string {
  const s = containerSelectors(spec, version);
  return `:if (${s.has(s.running)}=0) do={/container/start [find where ${s.ours}]}`;
}

/** `/system/script`. */
export interface ScriptSpec extends Tagged {
  name: string;
  /** Script source; may span lines (encoded as `\n`). */
  source: string;
  policy: readonly string[];
}

export function scriptCommands(spec: ScriptSpec): RouterCommand {
  return upsertByName(
    "/system/script",
    "script",
    routerName("script name", spec.name),
    routerTag(spec.stack, spec.id),
    `policy=${policyList(spec.policy)} source=${rq(spec.source)}`,
  );
}

/** `/system/scheduler` running a script by name (with the scheduler's policy, which must cover the script's). */
export interface SchedulerSpec extends Tagged {
  name: string;
  /** RouterOS duration such as `1d`, `12h`, `1d12h` or `01:00:00`. */
  interval: string;
  /** `HH:MM:SS` or `startup`. */
  startTime: string;
  /** Name of the `/system/script` to run. */
  script: string;
  policy: readonly string[];
}

export function schedulerCommands(spec: SchedulerSpec): RouterCommand {
  if (!/^(([0-9]{1,5}(w|d|h|m|s|ms))+|[0-9]{1,2}:[0-5][0-9]:[0-5][0-9])$/.test(spec.interval)) {
    throw new Error(
      `scheduler interval ${JSON.stringify(spec.interval)} is not a RouterOS duration such as 1d`,
    );
  }
  if (!/^(([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]|startup)$/.test(spec.startTime)) {
    throw new Error(`scheduler start time ${JSON.stringify(spec.startTime)} is not HH:MM:SS or startup`);
  }
  return upsertByName(
    "/system/scheduler",
    "scheduler",
    routerName("scheduler name", spec.name),
    routerTag(spec.stack, spec.id),
    `start-time=${rq(spec.startTime)} interval=${rq(spec.interval)} ` +
      `on-event=${rq(routerName("script name", spec.script))} policy=${policyList(spec.policy)}`,
  );
}

/** Files uploaded over SFTP (`remote.CopyToRemote` leaves them behind on delete). */
export interface FilesSpec {
  /** RouterOS paths, e.g. `disk1/haproxy-edge/dev/lb-edge/haproxy.cfg`. */
  paths: readonly string[];
}

/**
 * `create` does nothing (the uploads create the files); `delete` removes every listed file that exists, so
 * `pulumi destroy` leaves no uploaded file on the router. Removing an absent file is a no-op.
 */
export function fileCleanupCommands(spec: FilesSpec): RouterCommand {
  if (spec.paths.length === 0) throw new Error("file cleanup: no paths");
  const names = spec.paths.map((p) => rq(routerPath("file", p)));
  return {
    create: OK,
    delete: `:foreach f in={${names.join(";")}} do={/file/remove [find where name=$f]}; ${OK}`,
  };
}
