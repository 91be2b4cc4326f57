/**
 * Small, pure validators shared by the config schema. Every string that ends up in a rendered file, a
 * container name, a RouterOS command or an HAProxy ACL passes one of these first: safety comes from
 * validation, never from escaping.
 */
import { X509Certificate } from "node:crypto";
import { isIPv4, isIPv6 } from "node:net";

/** One DNS label: a-z, 0-9 and inner hyphens, 1–63 characters (RFC 1123). */
const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** A fully qualified host name such as `app.example.com` (lower case, no wildcard, no trailing dot). */
export function isHostname(value: string): boolean {
  if (value.length === 0 || value.length > 253) return false;
  const labels = value.split(".");
  if (!labels.every((l) => LABEL.test(l))) return false;
  // The last label of a real host name is never all digits; this also rejects dotted IPv4 addresses.
  return !/^[0-9]+$/.test(labels[labels.length - 1]);
}

/** A host name, or a wildcard whose only `*` is the whole first label: `*.example.com`. */
export function isCertificateName(value: string): boolean {
  if (value.startsWith("*.")) return isHostname(value.slice(2)) && value.slice(2).includes(".");
  return isHostname(value);
}

/** Whether the certificate name `pattern` (possibly `*.x`) covers the host name `host`. */
export function certificateCovers(pattern: string, host: string): boolean {
  if (!pattern.startsWith("*.")) return pattern === host;
  const suffix = pattern.slice(1); // ".example.com"
  if (!host.endsWith(suffix)) return false;
  const first = host.slice(0, host.length - suffix.length);
  return first.length > 0 && !first.includes(".");
}

export { isIPv4 };

/** A route server `host:port` (host name or IPv4 address, port 1 to 65535, lower case), or why it is not one. */
export function serverProblem(value: string): string | undefined {
  const m = /^(.+):([0-9]{1,5})$/.exec(value);
  return m && (isIPv4(m[1]) || isHostname(m[1])) && Number(m[2]) >= 1 && Number(m[2]) <= 65535
    ? undefined
    : "must be host:port with a host name or IPv4 address and a port from 1 to 65535";
}

/** IPv4 or IPv6 prefix in CIDR form (a bare address is not accepted: write /32 or /128). */
export function cidrProblem(value: string): string | undefined {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(value);
  if (!m) return "must be an address prefix in CIDR form such as 10.0.0.0/8 or 2001:db8::/32";
  const [, addr, lenText] = m;
  if (addr.includes("%")) return "must not carry a zone index such as %eth0: write the prefix alone";
  const len = Number(lenText);
  if (isIPv4(addr)) {
    if (len > 32) return "has a prefix length over 32";
    const n = addr.split(".").reduce((acc, o) => acc * 256 + Number(o), 0);
    const hostBits = 32 - len;
    const network = hostBits === 32 ? 0 : Math.floor(n / 2 ** hostBits) * 2 ** hostBits;
    if (network !== n) {
      const o = [24, 16, 8, 0].map((s) => Math.floor(network / 2 ** s) % 256).join(".");
      return `has host bits set (did you mean ${o}/${len}?)`;
    }
    return undefined;
  }
  if (isIPv6(addr)) {
    if (len > 128) return "has a prefix length over 128";
    const bits = ipv6ToBigInt(addr);
    const mask = len === 0 ? 0n : ((1n << BigInt(len)) - 1n) << BigInt(128 - len);
    return (bits & ~mask & ((1n << 128n) - 1n)) === 0n ? undefined : "has host bits set";
  }
  return "is not a valid IPv4 or IPv6 prefix";
}

/** IPv6 address (any valid textual form, including an embedded IPv4 tail) to a 128-bit integer. */
export function ipv6ToBigInt(addr: string): bigint {
  let text = addr;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const n = ipv4ToInt(v4[1]);
    text = `${text.slice(0, -v4[1].length)}${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const [head, tail] = text.includes("::") ? text.split("::") : [text, undefined];
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

/** Dotted IPv4 address to a 32-bit unsigned integer. */
export function ipv4ToInt(addr: string): number {
  return addr.split(".").reduce((acc, o) => acc * 256 + Number(o), 0);
}

/** 32-bit unsigned integer to a dotted IPv4 address. */
export function intToIpv4(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join(".");
}

/** Is the IPv4 address `addr` inside the IPv4 prefix `cidr`? */
export function ipv4InCidr(addr: string, cidr: string): boolean {
  const [base, len] = cidr.split("/");
  const size = 2 ** (32 - Number(len));
  const start = Math.floor(ipv4ToInt(base) / size) * size;
  const n = ipv4ToInt(addr);
  return n >= start && n < start + size;
}

/** HAProxy time value: a positive integer with a unit (`500ms`, `5s`, `1m`, `1h`, `1d`). */
export const DURATION = /^[1-9][0-9]{0,6}(ms|s|m|h|d)$/;

/** HAProxy keeps times in milliseconds in a signed 32-bit integer: at most 2147483647 ms (~24.8 days). */
export const MAX_DURATION_MS = 2 ** 31 - 1;

/** Milliseconds of a {@link DURATION}. */
export function durationMs(value: string): number {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(value);
  if (!m) return NaN;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[
    m[2] as "ms" | "s" | "m" | "h" | "d"
  ];
  return Number(m[1]) * unit;
}

/** A Docker image reference: `[registry[:port]/]name[/name...][:tag][@sha256:digest]`. */
export const IMAGE =
  /^([a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?\/)?[a-z0-9]+([._-][a-z0-9]+)*(\/[a-z0-9]+([._-][a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$/;

/** Names of our own things (hosts, routes): a DNS label of at most 32 characters. */
export const NAME = /^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/;

/** RouterOS interface names: letters, digits, `.`, `_`, `-`; RouterOS 7.20+ needs 14 characters or fewer. */
export const ROUTEROS_INTERFACE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
export const ROUTEROS_INTERFACE_MAX = 14;

/**
 * A URL path prefix such as `/api/v1`: unreserved URL characters only, so nothing in it can be HAProxy
 * syntax (quotes, `$`, `#`, spaces) once it is written into a config line.
 */
export const PATH_PREFIX = /^\/[A-Za-z0-9._~/-]*$/;

/**
 * The ssh client options `hosts.<name>.sshOpts` may hold: `-o Key=Value` with these keys (compared without case),
 * `-i <identity file>`, `-p <port>`, `-l <user>`, and the flags `-4`, `-6`, `-C`, `-q`, `-v`. Anything else is
 * refused: options that run local programs (`ProxyCommand`, `LocalCommand`, `KnownHostsCommand`), read another
 * configuration (`-F`, `Include`), open forwardings or jump elsewhere (`-L`, `-R`, `-D`, `-J`, `ProxyJump`).
 */
export const SSH_OPTION_KEYS = [
  "AddressFamily",
  "BatchMode",
  "CertificateFile",
  "Ciphers",
  "Compression",
  "ConnectionAttempts",
  "ConnectTimeout",
  "GlobalKnownHostsFile",
  "HostKeyAlgorithms",
  "HostKeyAlias",
  "IdentitiesOnly",
  "IdentityFile",
  "KexAlgorithms",
  "LogLevel",
  "MACs",
  "Port",
  "PubkeyAcceptedAlgorithms",
  "ServerAliveCountMax",
  "ServerAliveInterval",
  "StrictHostKeyChecking",
  "User",
  "UserKnownHostsFile",
];
const SSH_FLAGS = ["-4", "-6", "-C", "-q", "-v"];
const SSH_VALUE_FLAGS: Record<string, string> = { "-i": "IdentityFile", "-p": "Port", "-l": "User" };

/** What is wrong with the value of ssh option `key` (an allowed one), if anything. */
function sshValueProblem(key: string, value: string): string | undefined {
  if (value === "" || value.startsWith("-")) return `${key} needs a value that does not start with '-'`;
  if (key === "Port" && !(/^\d{1,5}$/.test(value) && Number(value) >= 1 && Number(value) <= 65535))
    return "Port must be a port number, 1 to 65535";
  return undefined;
}

/**
 * Why each refused argument of `args` (extra ssh client arguments, one per element) is refused, by index; empty
 * when all are allowed (see {@link SSH_OPTION_KEYS}).
 */
export function sshOptsProblems(args: readonly string[]): { index: number; message: string }[] {
  const out: { index: number; message: string }[] = [];
  const allowed = "only connection settings are: see sshOpts in docs/configuration.md";
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (SSH_FLAGS.includes(arg)) continue;
    const flag = arg.slice(0, 2);
    if (!arg.startsWith("-") || (flag !== "-o" && !(flag in SSH_VALUE_FLAGS))) {
      out.push({
        index: i,
        message: arg.startsWith("-")
          ? `ssh option ${flag} is not allowed (${allowed})`
          : "must be an ssh option such as -o, with its value right after it",
      });
      // A refused option's value, if any, is part of the same problem.
      if (arg.startsWith("-") && arg.length === 2 && i + 1 < args.length && !args[i + 1].startsWith("-")) i++;
      continue;
    }
    let value = arg.slice(2);
    let at = i;
    if (value === "") {
      if (i + 1 >= args.length) {
        out.push({ index: i, message: `${flag} needs a value after it` });
        continue;
      }
      value = args[++i];
      at = i;
    }
    if (flag !== "-o") {
      const problem = sshValueProblem(SSH_VALUE_FLAGS[flag], value);
      if (problem) out.push({ index: at, message: problem });
      continue;
    }
    const m = /^([A-Za-z]+)=(.*)$/.exec(value);
    const key = m && SSH_OPTION_KEYS.find((k) => k.toLowerCase() === m[1].toLowerCase());
    if (!m || !key) {
      out.push({
        index: at,
        message: m
          ? `ssh option ${m[1]} is not allowed (${allowed})`
          : "-o takes Key=Value, e.g. StrictHostKeyChecking=yes",
      });
      continue;
    }
    const problem = sshValueProblem(key, m[2]);
    if (problem) out.push({ index: at, message: problem });
  }
  return out;
}

/**
 * Whether a (valid) CIDR prefix is wider than an IPv4 /8 or an IPv6 /16 and reaches beyond private space: IPv6
 * unique local (fc00::/7) and link-local (fe80::/10) prefixes are private however wide.
 */
export function coversMuchOfTheInternet(cidr: string): boolean {
  const [addr, lenText] = cidr.split("/");
  const len = Number(lenText);
  if (isIPv4(addr)) return len < 8;
  if (len >= 16) return false;
  const first = Number(ipv6ToBigInt(addr) >> 112n);
  const within = (prefix: number, bits: number) =>
    len >= bits && first >> (16 - bits) === prefix >> (16 - bits);
  return !(within(0xfc00, 7) || within(0xfe80, 10));
}

/** Whether every `BEGIN CERTIFICATE` block of a PEM text parses as an X.509 certificate. */
export function pemCertificatesParse(pem: string): boolean {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length !== (pem.match(/-----BEGIN CERTIFICATE-----/g) ?? []).length) return false;
  try {
    for (const b of blocks) new X509Certificate(b);
    return true;
  } catch {
    return false;
  }
}

/** RouterOS names, list names and comments: at most this many characters. */
export const ROUTEROS_NAME_MAX = 63;

/**
 * The comment tag that marks a router object as the edge's: `haproxy-edge:<stack>:<id>` (at most
 * {@link ROUTEROS_NAME_MAX} characters). routeros/commands.ts `routerTag` writes it; config/parse.ts checks the
 * stack name against the longest one.
 */
export function routerTagText(stack: string, id: string): string {
  return `haproxy-edge:${stack}:${id}`;
}

/** The id (in its comment tag) of a container's mount row on a router: `mnt-<container>-<mount id>`. */
export function routerMountRowId(container: string, mountId: string): string {
  return `mnt-${container}-${mountId}`;
}
