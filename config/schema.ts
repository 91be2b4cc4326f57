/**
 * The stack configuration schema: one zod schema per top-level key of the `haproxy-edge:` namespace.
 *
 * Scalars (strings, numbers, booleans, lists of strings) are top-level keys so that `Pulumi.yaml` can give each
 * of them a type, a description and a default; `hosts` and `routes` are structured values. Every object is
 * strict: an unknown key is an error, so a typo is never silently ignored.
 */
import { z } from "zod";
import {
  DURATION,
  MAX_DURATION_MS,
  durationMs,
  IMAGE,
  NAME,
  PATH_PREFIX,
  ROUTEROS_INTERFACE,
  ROUTEROS_INTERFACE_MAX,
  cidrProblem,
  pemCertificatesParse,
  isCertificateName,
  isHostname,
  isIPv4,
  serverProblem,
  sshOptsProblems,
} from "./validators";
import { hostKeyProblem } from "./host-keys";
import { BALANCE_ALGORITHMS } from "./routes";

const port = z
  .number({ error: "must be a whole number from 1 to 65535" })
  .int("must be a whole number from 1 to 65535")
  .min(1, "must be a whole number from 1 to 65535")
  .max(65535, "must be a whole number from 1 to 65535");

const wholeNumber = (min: number, max: number) => {
  const message = `must be a whole number from ${min} to ${max}`;
  return z.number({ error: message }).int(message).min(min, message).max(max, message);
};
const positiveInt = (max: number) => wholeNumber(1, max);

const name = (what: string) =>
  z
    .string({ error: `must be a ${what} name` })
    .regex(NAME, `must be a ${what} name: a-z, 0-9 and inner '-', 1 to 32 characters`);

const hostname = z
  .string({ error: "must be a host name" })
  .transform((s) => s.toLowerCase())
  .refine(
    isHostname,
    "must be a host name such as app.example.com (letters, digits, '-', dots; no wildcard)",
  );

const certificateName = z
  .string({ error: "must be a domain name" })
  .transform((s) => s.toLowerCase())
  .refine(isCertificateName, "must be a domain name such as example.com or *.example.com");

const ipv4 = z.string({ error: "must be an IPv4 address" }).refine(isIPv4, "must be an IPv4 address");

const cidr = z.string({ error: "must be a CIDR prefix" }).superRefine((value, ctx) => {
  const problem = cidrProblem(value);
  if (problem) ctx.addIssue({ code: "custom", message: problem, input: value });
});

const ipv4Cidr = cidr.refine((v) => isIPv4(v.split("/")[0]), "must be an IPv4 prefix such as 172.20.0.0/24");

/** The port of a `scheme://[user@]host:port/...` URL, if it has one, is 1 to 65535. */
function urlPortInRange(url: string): boolean {
  const port = /^[a-z]+:\/\/(?:[^@/]*@)?[^/:]+:(\d+)/.exec(url)?.[1];
  return port === undefined || (Number(port) >= 1 && Number(port) <= 65535);
}

const duration = z
  .string({ error: "must be an HAProxy time such as 5s" })
  .regex(DURATION, "must be an HAProxy time: a positive whole number and a unit (ms, s, m, h, d), e.g. 5s")
  .refine(
    (v) => !DURATION.test(v) || durationMs(v) <= MAX_DURATION_MS,
    "is longer than HAProxy's timers can hold: at most 24d (2147483647ms)",
  );

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** `.max` with the project's wording. */
const atMost = (n: number) => [n, `must be at most ${n.toLocaleString("en")} characters`] as const;

const image = z
  .string({ error: "must be a Docker image reference" })
  .max(...atMost(255))
  .regex(IMAGE, "must be a Docker image reference such as haproxy:3.0 or registry.lan:5000/haproxy:3.0");

const routerOsInterface = z
  .string({ error: "must be a RouterOS interface name" })
  .regex(ROUTEROS_INTERFACE, "must be a RouterOS interface name: letters, digits, '.', '_', '-'")
  .max(
    ROUTEROS_INTERFACE_MAX,
    `must be ${ROUTEROS_INTERFACE_MAX} characters or fewer (RouterOS 7.20+ limit)`,
  );

/**
 * `unix:///path` or `ssh://[user@]host[:port]`; plain `tcp://` is refused (an unauthenticated root API). The host
 * starts with a letter or digit: `ssh://-J…` would be an ssh option.
 */
const DOCKER_URL =
  /^(unix:\/\/\/[A-Za-z0-9._/-]+|ssh:\/\/([a-z_][a-z0-9_.-]*@)?[A-Za-z0-9][A-Za-z0-9.-]*(:[0-9]{1,5})?)$/;

/** One ssh client argument: no spaces, quotes or shell characters. */
const SSH_ARG = /^[A-Za-z0-9=._,/:@-]+$/;

export const dockerHostSchema = z.strictObject({
  /** Discriminator. */
  kind: z.literal("docker"),
  /** Docker API endpoint: the local socket or `ssh://user@host` (uses the local `ssh` client and its keys). */
  url: z
    .string()
    .max(...atMost(2048))
    .regex(DOCKER_URL, "must be unix:///path/to/docker.sock or ssh://user@host[:port]")
    .refine(urlPortInRange, "has an SSH port out of range (1 to 65535)")
    .default("unix:///var/run/docker.sock"),
  /**
   * Extra arguments for the `ssh` client, e.g. ["-o", "StrictHostKeyChecking=yes"]: only the options of
   * `SSH_OPTION_KEYS` in validators.ts (none that runs a program or connects elsewhere).
   */
  sshOpts: z
    .array(z.string().regex(SSH_ARG, "must be one ssh argument without spaces or quotes"))
    .superRefine((args, ctx) => {
      if (!args.every((a) => SSH_ARG.test(a))) return; // each such argument has its issue already
      for (const p of sshOptsProblems(args))
        ctx.addIssue({ code: "custom", path: [p.index], message: p.message });
    })
    .default([]),
  /** Allows sshOpts that turn host key checking off (config/host-keys.ts); every `pulumi up` warns. */
  insecureAcceptAnyHostKey: z.boolean().default(false),
  /** LAN address of this host: where services on other hosts reach the ports it publishes. */
  address: ipv4.optional(),
  /** Subnet of the edge's Docker network on this host. */
  subnet: ipv4Cidr.default("172.29.80.0/24"),
});

/** RouterOS version: 7.x or 7.x.y (7.x only: the container package is a v7 feature). */
const ROUTEROS_VERSION = /^7\.(\d{1,2})(\.\d{1,2})?$/;

export const routerOsHostSchema = z.strictObject({
  /** Discriminator. */
  kind: z.literal("routeros"),
  /** Management address of the router (SSH). */
  address: z.string().refine((v) => isIPv4(v) || isHostname(v), "must be an IPv4 address or a host name"),
  /** SSH port. */
  port: port.default(22),
  /** SSH user (with the `ssh` key of `privateKey`). */
  user: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,32}$/, "must be a RouterOS user name")
    .default("admin"),
  /** SSH private key (PEM/OpenSSH); set it with `pulumi config set --secret --path hosts.<name>.privateKey`. */
  privateKey: z
    .string()
    .min(1, "must be an SSH private key")
    .max(...atMost(16_384))
    .optional(),
  /** The router's SSH host key (`ssh-rsa AAAA...`, `ssh-ed25519 AAAA...`): required (config/host-keys.ts). */
  hostKey: z
    .string()
    .max(...atMost(8192))
    .regex(
      /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256) [A-Za-z0-9+/=]+$/,
      "must be an SSH public host key: <type> <base64>, e.g. ssh-rsa AAAAB3NzaC1yc2E...",
    )
    .superRefine((v, ctx) => {
      const problem = hostKeyProblem(v);
      if (problem) ctx.addIssue({ code: "custom", message: problem, input: v });
    })
    .optional(),
  /** Without hostKey, accept any host key (config/host-keys.ts); every `pulumi up` warns. */
  insecureAcceptAnyHostKey: z.boolean().default(false),
  /** RouterOS disk for container roots and volumes (ext4), as `/disk/print` names it. */
  disk: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,15}$/, "must be a RouterOS disk name such as disk1 or usb1")
    .default("disk1"),
  /** Bridge the container veths are ports of. */
  bridge: routerOsInterface.default("br-edge"),
  /** Container subnet on the bridge; the router takes the first address, containers the next ones. */
  subnet: ipv4Cidr.default("172.20.0.0/24"),
  /** Prefix of the veth names (`<prefix>lb`, `<prefix>certbot`, ...). */
  vethPrefix: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,9}$/, "must be 1 to 10 letters, digits, '.', '_' or '-'")
    .default("edge-"),
  /** RouterOS version of the router (decides envs/mounts syntax). */
  version: z
    .string()
    .regex(ROUTEROS_VERSION, "must be a RouterOS 7 version such as 7.21 or 7.21.3")
    .refine((v) => Number(ROUTEROS_VERSION.exec(v)?.[1]) >= 16, "must be 7.16 or later")
    .default("7.21"),
  /** Interface list whose traffic is dst-natted to the load balancer. */
  wanInterfaceList: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,32}$/, "must be a RouterOS interface list name")
    .default("WAN"),
  /** Registry the router pulls images from. */
  registryUrl: z
    .string()
    .max(...atMost(2048))
    .regex(/^https:\/\/[A-Za-z0-9.-]+(:[0-9]{1,5})?\/?$/, "must be an https:// registry URL")
    .refine(urlPortInRange, "has a port out of range (1 to 65535)")
    .default("https://registry-1.docker.io"),
});

export const hostSchema = z.discriminatedUnion("kind", [dockerHostSchema, routerOsHostSchema]);

export const routeSchema = z.strictObject({
  /** Route name: the backend name on the workers and the label of its staging host name. */
  name: name("route"),
  /** Host names served by this route (exact names; no wildcards). */
  hosts: z.array(hostname).min(1, "must list at least one host name"),
  /** Only requests whose path starts with this prefix. */
  pathPrefix: z
    .string()
    .max(...atMost(1024))
    .regex(PATH_PREFIX, "must be a URL path such as /api (letters, digits, . _ ~ / -)")
    .optional(),
  /** Backend servers as host:port. */
  servers: z
    .array(
      z
        .string()
        .transform((v) => v.toLowerCase())
        .refine(
          (v) => serverProblem(v) === undefined,
          "must be host:port with a host name or IPv4 address and a port from 1 to 65535",
        ),
    )
    .min(1, "must list at least one server"),
  /** Load-balancing algorithm. */
  balance: z.enum(BALANCE_ALGORITHMS).default("roundrobin"),
  /** HTTP health-check path on the servers. */
  healthCheckPath: z
    .string()
    .max(...atMost(1024))
    .regex(PATH_PREFIX, "must be a URL path such as /healthz")
    .default("/"),
  /** Serve only clients from `internalCidrs`. */
  internalOnly: z.boolean().default(false),
});

/** Names of hosts (keys of `hosts`): used in resource names and placements. */
export const hostNameSchema = z
  .string()
  .regex(
    /^[a-z][a-z0-9-]{0,29}$/,
    "host names must be 1 to 30 characters a-z, 0-9, '-', starting with a letter",
  );

/**
 * The mount ids of each container on a router (its mount rows are tagged `mnt-<container>-<id>`): the stack name
 * check in config/parse.ts computes the longest tag from them, and a test of the router stack checks that the
 * components' mount rows use no other.
 */
export const ROUTER_MOUNT_IDS = {
  loadBalancer: ["edge", "certs", "runtime"],
  certbot: ["edge", "letsencrypt", "certs", "runtime"],
  worker: ["edge", "config", "master"],
  dataplaneApi: ["edge", "state"],
} as const;

/** The highest `maxConnections`: 2 × 500,000 descriptors and some to spare fit in the default fs.nr_open. */
export const MAX_CONNECTIONS = 500_000;

/** At most this many production workers (each gets a fixed address slot on a router's container subnet). */
export const MAX_PRODUCTION_WORKERS = 16;

/** First slot of the workers' Data Plane API sidecars on a router (after every possible worker). */
const ROUTER_API_SLOT_BASE = 5 + MAX_PRODUCTION_WORKERS;

/**
 * Address slot (offset in the subnet) of each service on a router's container subnet, stable whatever else is
 * placed there: the router .1, `lb` .2, `certbot` .3, `staging` .4, `prod-i` .4+i, then the API sidecars
 * `api-<worker index>` from .21.
 */
export function routerSlot(service: string): number {
  if (service === "lb") return 2;
  if (service === "certbot") return 3;
  if (service === "staging") return 4;
  const api = /^api-(\d+)$/.exec(service);
  if (api) return ROUTER_API_SLOT_BASE + Number(api[1]);
  return 4 + Number(service.replace("prod-", ""));
}

/**
 * Addresses a router's subnet must hold (network address to broadcast) when services are placed on it: every
 * possible worker keeps its slot, so adding one later never renumbers the others; with sidecars, theirs too.
 */
export function routerAddressesNeeded(sidecars: boolean): number {
  const last = sidecars ? `api-${MAX_PRODUCTION_WORKERS}` : `prod-${MAX_PRODUCTION_WORKERS}`;
  return routerSlot(last) + 2;
}

/** Offset of the load balancer's fixed address in a Docker host's edge subnet (after the gateway's `.1`). */
export const DOCKER_LB_OFFSET = 2;
/** The smallest Docker edge subnet: its upper half (Docker's dynamic range) must hold every container. */
export const DOCKER_SUBNET_MAX_PREFIX = 27;

/** Every top-level key, with its schema. */
export const topLevel = {
  hosts: z.record(hostNameSchema, hostSchema).default(() => ({
    local: {
      kind: "docker" as const,
      url: "unix:///var/run/docker.sock",
      sshOpts: [],
      insecureAcceptAnyHostKey: false,
      subnet: "172.29.80.0/24",
    },
  })),
  routes: z.array(routeSchema).default([]),
  domains: z.array(certificateName).min(1, "must list at least one domain"),
  tlsMode: z.enum(["selfsigned", "acme"]).default("selfsigned"),
  acmeServer: z
    .string()
    .max(...atMost(2048))
    .regex(
      /^https:\/\/[A-Za-z0-9.-]+(:[0-9]{1,5})?(\/[A-Za-z0-9._~/-]*)?$/,
      "must be an https:// ACME directory URL",
    )
    .refine(urlPortInRange, "has a port out of range (1 to 65535)")
    .default("https://acme-v02.api.letsencrypt.org/directory"),
  acmeEmail: z
    .string()
    .max(...atMost(254))
    .regex(/^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$/, "must be an email address")
    .optional(),
  acmeDnsServer: ipv4.optional(),
  acmeDnsPort: port.default(53),
  acmeTsigKeyName: z
    .string()
    .regex(/^[A-Za-z0-9]([A-Za-z0-9._-]{0,251}[A-Za-z0-9.])?$/, "must be a TSIG key name such as acme-key.")
    .optional(),
  acmeTsigAlgorithm: z
    .string()
    .transform((s) => s.toUpperCase())
    .pipe(z.enum(["HMAC-MD5", "HMAC-SHA1", "HMAC-SHA224", "HMAC-SHA256", "HMAC-SHA384", "HMAC-SHA512"]))
    .default("HMAC-SHA512"),
  acmeTsigSecret: z
    .string()
    .regex(BASE64, "must be a base64 TSIG secret")
    .refine((v) => {
      if (!BASE64.test(v)) return true; // reported above
      const bytes = Buffer.from(v, "base64").length;
      return v.length % 4 === 0 && bytes >= 16 && bytes <= 512;
    }, "must be the base64 secret of a TSIG key, 16 to 512 bytes with its = padding, as tsig-keygen prints it")
    .optional(),
  acmePropagationSeconds: wholeNumber(0, 3600).default(30),
  acmeCaBundle: z
    .string()
    .max(...atMost(1_000_000))
    .refine((s) => s.includes("-----BEGIN CERTIFICATE-----"), "must be PEM certificates")
    .refine(
      (s) => !s.includes("-----BEGIN CERTIFICATE-----") || pemCertificatesParse(s),
      "must be PEM certificates that parse (one of them does not)",
    )
    .optional(),
  renewIntervalHours: positiveInt(168).default(12),
  loadBalancerHost: z.string().default("local"),
  stagingWorkerHost: z.string().default("local"),
  productionWorkerHosts: z
    .array(z.string())
    .min(1, "must place at least one production worker")
    .max(MAX_PRODUCTION_WORKERS, `must place at most ${MAX_PRODUCTION_WORKERS} production workers`)
    .default(["local", "local"]),
  certbotHost: z.string().optional(),
  publishAddress: ipv4.default("0.0.0.0"),
  httpPort: port.default(80),
  httpsPort: port.default(443),
  rateLimitRequests: positiveInt(1_000_000).default(100),
  rateLimitWindowSeconds: positiveInt(3600).default(10),
  blocklistCidrs: z.array(cidr).default([]),
  internalCidrs: z.array(cidr).default(["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8"]),
  /** Acknowledges an `internalCidrs` entry wider than an IPv4 /8 or an IPv6 /16 (such as 0.0.0.0/0). */
  internalCidrsIncludeInternet: z.boolean().default(false),
  stagingHostPattern: z
    .string()
    .transform((s) => s.toLowerCase())
    .refine(
      (s) => s.startsWith("*.") && isHostname(s.slice(2)),
      "must be a wildcard host name such as *.staging.example.com",
    )
    .default("*.staging.example.com"),
  // Workers are on the LAN: a connect that takes longer is a worker gone, retried on another at once.
  timeoutConnect: duration.default("1s"),
  timeoutClient: duration.default("30s"),
  timeoutServer: duration.default("30s"),
  timeoutHttpRequest: duration.default("5s"),
  timeoutHttpKeepAlive: duration.default("5s"),
  /**
   * HAProxy's maxconn: it needs two file descriptors per connection (plus a few), and a default Linux kernel
   * (fs.nr_open) lets a process have at most 1,048,576.
   */
  maxConnections: z
    .number({ error: `must be a whole number from 1 to ${MAX_CONNECTIONS}` })
    .int(`must be a whole number from 1 to ${MAX_CONNECTIONS}`)
    .min(1, `must be a whole number from 1 to ${MAX_CONNECTIONS}`)
    .max(
      MAX_CONNECTIONS,
      `must be at most ${MAX_CONNECTIONS}: HAProxy needs two file descriptors per connection, and a default ` +
        "Linux kernel allows a process 1048576",
    )
    .default(4096),
  /**
   * Memory limit of every container of the edge, in MiB (Docker `--memory`; RouterOS 7.20+ `memory-high`, 7.23+
   * also `memory-max`). HAProxy needs about 64 KiB per TLS connection at `maxConnections`, twice during a reload.
   */
  containerMemoryMb: wholeNumber(32, 1_048_576).default(512),
  /**
   * Most processes and threads of every container of the edge on a Docker host (`--pids-limit`): a fork bomb in
   * one container cannot starve its host. HAProxy runs a thread per core (twice during a reload), the Data Plane
   * API about as many. A router has no such setting.
   */
  containerPidsLimit: wholeNumber(32, 4_194_304).default(512),
  haproxyImage: image.default("haproxy:3.0"),
  dataplaneApiImage: image.default("haproxytech/haproxy-debian:3.0"),
  certbotImage: image.default("certbot/dns-rfc2136:v5.7.0"),
  dataplaneApiUser: z
    .string()
    .regex(/^[a-z][a-z0-9_-]{0,31}$/, "must be a user name: a-z, 0-9, '_', '-'")
    .default("haproxy-edge"),
  dataplaneApiPort: port.default(5555),
  workerPort: port.default(8080),
  routeUpdates: z.enum(["live", "restart"]).default("live"),
  /**
   * Labs: run a demo backend (HAProxy from `haproxyImage` answering every request with JSON that describes it)
   * at every route server address inside a Docker host's edge subnet, so a new stack serves pages at once.
   */
  demoBackends: z.boolean().default(false),
} as const;

export type TopLevelKey = keyof typeof topLevel;

/** The parsed (validated, defaulted) configuration, before cross-key checks. */
export type StackConfig = { [K in TopLevelKey]: z.output<(typeof topLevel)[K]> };
export type DockerHostConfig = z.output<typeof dockerHostSchema>;
export type RouterOsHostConfig = z.output<typeof routerOsHostSchema>;
export type HostConfig = z.output<typeof hostSchema>;
export type RouteConfig = z.output<typeof routeSchema>;

/** Top-level keys whose raw config value is a plain string (all others are JSON: numbers, lists, objects). */
export const STRING_KEYS: ReadonlySet<string> = new Set(
  (Object.keys(topLevel) as TopLevelKey[]).filter((k) => {
    let s: z.ZodType = topLevel[k];
    // Unwrap defaults/optionals/pipes/transforms to find the base type.
    for (;;) {
      const def = (s as unknown as { def: { type: string; innerType?: z.ZodType; in?: z.ZodType } }).def;
      if (def.innerType) s = def.innerType;
      else if (def.type === "pipe" && def.in) s = def.in;
      else return def.type === "string" || def.type === "enum";
    }
  }),
);

/** Config values that are secrets: never printed in errors, and must be stored encrypted. */
export const SECRET_PATHS: readonly RegExp[] = [/^acmeTsigSecret$/, /^hosts\.[^.]+\.privateKey$/];
