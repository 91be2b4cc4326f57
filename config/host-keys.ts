/**
 * SSH host keys are always verified: a router's `hostKey` is required, and a Docker host's `sshOpts` may not turn
 * OpenSSH's host key checking off, unless the host opts out with `insecureAcceptAnyHostKey: true` (every
 * `pulumi up` and preview then warns). Whoever answers on the management network in the router's or the Docker
 * host's place would otherwise receive the router key, the TSIG secret and the Data Plane API passwords.
 */

/** The opt-out key of `hosts.<name>`, the same for both host kinds. */
export const HOST_KEY_OPT_OUT = "insecureAcceptAnyHostKey";

/** Where the docs say how to get and check a host key. */
const HOW = "docs/operations.md#ssh-host-keys";

/** One SSH wire string at `at` of `blob` (RFC 4251 §5: uint32 length, then the bytes), or undefined. */
function wireString(blob: Buffer, at: number): { value: Buffer; next: number } | undefined {
  if (at + 4 > blob.length) return undefined;
  const len = blob.readUInt32BE(at);
  if (at + 4 + len > blob.length) return undefined;
  return { value: blob.subarray(at + 4, at + 4 + len), next: at + 4 + len };
}

/**
 * What is wrong with a `hostKey` value (`<type> <base64>`, the type one of `ssh-ed25519`, `ssh-rsa`,
 * `ecdsa-sha2-nistp256`), if anything: the base64 must be a public key of that very type (RFC 4253 §6.6,
 * RFC 8709, RFC 5656), as `ssh-keyscan` prints it.
 */
export function hostKeyProblem(value: string): string | undefined {
  const m = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256) ([A-Za-z0-9+/]+={0,2})$/.exec(value);
  if (!m) return undefined; // the schema's pattern reports the shape
  const [, type, b64] = m;
  const blob = Buffer.from(b64, "base64");
  const fields: Buffer[] = [];
  for (let at = 0; at < blob.length;) {
    const s = wireString(blob, at);
    if (!s) return `is not an SSH public key: its base64 does not decode to a ${type} key`;
    fields.push(s.value);
    at = s.next;
  }
  if (blob.toString("base64") !== b64 || fields[0]?.toString("latin1") !== type)
    return `is not a ${type} public key: the base64 part holds ${fields[0] ? `a ${JSON.stringify(fields[0].toString("latin1").slice(0, 40))} key` : "no key"}`;
  const ok =
    type === "ssh-ed25519"
      ? fields.length === 2 && fields[1].length === 32
      : type === "ssh-rsa"
        ? fields.length === 3 && fields[2].length >= 128 // n of at least 1024 bits
        : fields.length === 3 && fields[1].toString("latin1") === "nistp256" && fields[2].length === 65;
  return ok ? undefined : `is not a complete ${type} public key`;
}

/** `StrictHostKeyChecking` values that check (OpenSSH readconf.c compares them without case). */
const CHECKING = ["yes", "true", "ask"];

/** What is wrong with a known-hosts file option's value, if it could hold no key or one we cannot know. */
function knownHostsProblem(key: string, file: string): string | undefined {
  if (file.toLowerCase() === "none") return `${key}=none keeps no known host keys`;
  if (!file.startsWith("/"))
    return `${key} must be an absolute path: a relative one depends on the directory pulumi runs in`;
  if (file.split("/").includes("..")) return `${key} must not contain '..'`;
  const path = file
    .replace(/\/+/g, "/")
    .replace(/\/(\.\/)+/g, "/")
    .replace(/\/\.$/, "")
    .toLowerCase();
  if (/^\/(dev|proc|sys)(\/|$)/.test(path))
    return `${key}=${file} is a device, not a file of known host keys: it holds none`;
  return undefined;
}

/**
 * The `sshOpts` arguments (one per element, as the schema accepts them) that turn OpenSSH's host key checking
 * off, by index, with why: `StrictHostKeyChecking` other than yes/true/ask (`no`, `off`, `false`, and
 * `accept-new`, which accepts any key the first time), and `UserKnownHostsFile`/`GlobalKnownHostsFile` that hold no
 * key (`none`, a device such as `/dev/null` however it is spelled). `-o Key=Value` and `-oKey=Value`, any case.
 */
export function sshOptsHostKeyProblems(args: readonly string[]): { index: number; message: string }[] {
  const out: { index: number; message: string }[] = [];
  for (let i = 0; i < args.length; i++) {
    let value: string;
    let at = i;
    if (args[i] === "-o" && i + 1 < args.length) value = args[(at = ++i)];
    else if (args[i].startsWith("-o") && args[i].length > 2) value = args[i].slice(2);
    else continue;
    const m = /^([A-Za-z]+)=(.*)$/.exec(value);
    if (!m) continue;
    const key = m[1].toLowerCase();
    if (key === "stricthostkeychecking" && !CHECKING.includes(m[2].toLowerCase()))
      out.push({
        index: at,
        message:
          m[2].toLowerCase() === "accept-new"
            ? "StrictHostKeyChecking=accept-new accepts any host key the first time it connects"
            : `StrictHostKeyChecking=${m[2]} turns host key checking off`,
      });
    if (key === "userknownhostsfile" || key === "globalknownhostsfile") {
      const problem = knownHostsProblem(
        key === "userknownhostsfile" ? "UserKnownHostsFile" : "GlobalKnownHostsFile",
        m[2],
      );
      if (problem) out.push({ index: at, message: problem });
    }
  }
  return out;
}

/** A host as the schema parsed it: the fields these rules read. */
type HostKeyFields =
  | { kind: "docker"; sshOpts: string[]; insecureAcceptAnyHostKey: boolean }
  | { kind: "routeros"; hostKey?: string; insecureAcceptAnyHostKey: boolean };

/** The problems of host `name` with the rules above: `{ path, message, value? }` as parse.ts reports them. */
export function hostKeyIssues(
  name: string,
  host: HostKeyFields,
): { path: string; message: string; value?: unknown }[] {
  const optOut = `hosts.${name}.${HOST_KEY_OPT_OUT}`;
  const orOptOut = `or set ${optOut}: true to accept any host key (insecure: whoever answers in its place gets its secrets)`;
  if (host.kind === "routeros") {
    if (host.hostKey === undefined && !host.insecureAcceptAnyHostKey)
      return [
        {
          path: `hosts.${name}.hostKey`,
          message:
            `is required: the router's SSH host key as "<type> <base64>", e.g. a line of ` +
            "`ssh-keyscan -t rsa,ed25519 -p <port> <address>` without its first field, checked on the " +
            `router's console (${HOW}); ${orOptOut}`,
        },
      ];
    if (host.hostKey !== undefined && host.insecureAcceptAnyHostKey)
      return [
        { path: optOut, message: "must not be true with hostKey set: remove one of them", value: true },
      ];
    return [];
  }
  const problems = sshOptsHostKeyProblems(host.sshOpts);
  if (host.insecureAcceptAnyHostKey)
    return problems.length > 0
      ? []
      : [
          {
            path: optOut,
            message:
              "is true, but sshOpts keep host key checking on (haproxy-edge adds StrictHostKeyChecking=yes): remove it",
            value: true,
          },
        ];
  return problems.map((p) => ({
    path: `hosts.${name}.sshOpts[${p.index}]`,
    message: `${p.message}: pin the host in known_hosts instead (${HOW}), ${orOptOut}`,
    value: host.sshOpts[p.index],
  }));
}

/**
 * `sshOpts` as haproxy-edge passes them to \`ssh\` (the Docker provider's and the worker check's): with
 * `-o StrictHostKeyChecking=yes` first unless they set StrictHostKeyChecking themselves, so that no
 * `~/.ssh/config` can turn checking off (ssh keeps the first value it reads of an option).
 */
export function sshArgsWithHostKeyChecking(sshOpts: readonly string[]): string[] {
  const sets = sshOpts.some((a, i) =>
    /^stricthostkeychecking=/i.test(
      a === "-o" ? (sshOpts[i + 1] ?? "") : a.startsWith("-o") ? a.slice(2) : "",
    ),
  );
  return sets ? [...sshOpts] : ["-o", "StrictHostKeyChecking=yes", ...sshOpts];
}

/** The warning every `pulumi up` and preview prints for a host that accepts any host key. */
export function hostKeyWarning(name: string, kind: "docker" | "routeros"): string {
  const what =
    kind === "routeros"
      ? "the router's SSH host key is not verified"
      : "its sshOpts turn SSH host key checking off";
  return (
    `host ${name}: ${what} (hosts.${name}.${HOST_KEY_OPT_OUT}: true): whoever answers at its address receives ` +
    `its secrets; pin the key instead (${HOW})`
  );
}
