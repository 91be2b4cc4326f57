/**
 * Stack config → validated {@link StackConfig}: every top-level key parsed on its own, then checks that span
 * keys. All problems are collected and reported together, each with its key path and offending value.
 */
import { z } from "zod";
import {
  DOCKER_LB_OFFSET,
  DOCKER_SUBNET_MAX_PREFIX,
  SECRET_PATHS,
  hostNameSchema,
  hostSchema,
  routeSchema,
  ROUTER_MOUNT_IDS,
  routerAddressesNeeded,
  STRING_KEYS,
  topLevel,
  type HostConfig,
  type RouteConfig,
  type StackConfig,
  type TopLevelKey,
} from "./schema";
import {
  ROUTEROS_INTERFACE_MAX,
  ROUTEROS_NAME_MAX,
  routerMountRowId,
  routerTagText,
  certificateCovers,
  coversMuchOfTheInternet,
  intToIpv4,
  ipv4InCidr,
  ipv4ToInt,
  isIPv4,
} from "./validators";
import { hostKeyIssues } from "./host-keys";

/** One problem in the stack configuration. */
export interface ConfigIssue {
  /** Key path such as `routes[1].servers[0]` (relative to the `haproxy-edge:` namespace). */
  path: string;
  /** What is wrong, in words. */
  message: string;
  /** The offending value (already redacted when the path is a secret); absent when the key is missing. */
  value?: unknown;
}

/**
 * Thrown when the stack configuration is invalid; its message lists every issue (redacted, each value shortened).
 * `issues` is not enumerable: Pulumi prints an uncaught error with `util.inspect`, which shows the enumerable
 * properties in full, so the message is all it prints.
 */
export class ConfigError extends Error {
  declare readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[]) {
    super(formatIssues(issues));
    this.name = "ConfigError";
    Object.defineProperty(this, "issues", { value: issues, enumerable: false });
  }
}

/** What the program knows about the stack besides the config values. */
export interface ParseContext {
  /** Pulumi project name (the config namespace). */
  project: string;
  /** Pulumi stack name. */
  stack: string;
  /** Top-level keys whose value Pulumi holds as a secret (`pulumi config set --secret`). */
  secretKeys: ReadonlySet<string>;
  /** The stack's config keys of other namespaces (`ns:key`), to catch a misspelled project namespace. */
  otherKeys?: readonly string[];
}

/** A namespace without case and punctuation: `haproxy_edge`, `HAProxy.Edge` and `haproxy-edge` compare equal. */
function looseNamespace(ns: string): string {
  return ns.toLowerCase().replace(/[^a-z0-9]/g, "");
}

/**
 * Whether `ns` is the project's namespace misspelled: the same but for case and punctuation, or (without them)
 * within two edits of it (`haproxy-egde`). Providers' namespaces (`docker`, `command`, `pulumi`) are far from it.
 */
function misspells(ns: string, project: string): boolean {
  if (ns === project) return false;
  const a = looseNamespace(ns);
  const b = looseNamespace(project);
  return a === b || (a.length > 2 && editDistance(a, b) <= Math.min(2, b.length - 3));
}

function isSecretPath(path: string): boolean {
  return SECRET_PATHS.some((re) => re.test(path));
}

function show(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

export function formatIssues(issues: readonly ConfigIssue[]): string {
  const lines = issues.map((i) => {
    const got = "value" in i ? ` (got ${show(i.value)})` : "";
    return `  - ${i.path || "(config)"}: ${i.message}${got}`;
  });
  const n = issues.length;
  return `Invalid stack configuration (${n} problem${n === 1 ? "" : "s"}); nothing was deployed:\n${lines.join("\n")}`;
}

function joinPath(base: string, parts: readonly PropertyKey[]): string {
  let out = base;
  for (const p of parts) {
    if (typeof p === "number") out += `[${p}]`;
    else out += out ? `.${String(p)}` : String(p);
  }
  return out;
}

function getAt(value: unknown, parts: readonly PropertyKey[]): { found: boolean; value?: unknown } {
  let cur: unknown = value;
  for (const p of parts) {
    if (cur === null || typeof cur !== "object" || !(p in (cur as object))) return { found: false };
    cur = (cur as Record<PropertyKey, unknown>)[p];
  }
  return { found: true, value: cur };
}

function withValue(path: string, message: string, found: boolean, value: unknown): ConfigIssue {
  if (!found || value === undefined) return { path, message };
  return { path, message, value: isSecretPath(path) ? "[secret]" : value };
}

/** The words for a value of the wrong type, by the type expected. */
const EXPECTED: Record<string, string> = {
  boolean: "must be true or false",
  number: "must be a number",
  string: "must be text",
  array: "must be a list",
  object: "must be a map of keys and values",
};

/** Converts zod issues of one key into ConfigIssues (one per unknown key, the offending value looked up). */
function fromZod(key: string, raw: unknown, error: z.ZodError, secret = false): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const issue of error.issues) {
    if (issue.code === "unrecognized_keys") {
      for (const k of issue.keys) {
        const path = joinPath(key, [...issue.path, k]);
        const at = getAt(raw, [...issue.path, k]);
        out.push(
          withValue(
            path,
            "unknown key (check the spelling; see the config reference)",
            at.found,
            secret ? "[secret]" : at.value,
          ),
        );
      }
      continue;
    }
    const path = joinPath(key, issue.path);
    const at = getAt(raw, issue.path);
    let message = issue.message;
    if (issue.code === "invalid_type" && (!at.found || at.value === undefined)) message = "is required";
    else if (issue.code === "invalid_type" && at.value === "" && issue.expected !== "string") {
      // An empty YAML value (`key:` or `key: ~`) reaches the program as "": nothing to show.
      out.push({ path, message: "is empty: give it a value or remove the key" });
      continue;
    } else if (issue.code === "invalid_type" && typeof at.value === "number" && /(^|\.)version$/.test(path)) {
      message = `must be quoted text such as "7.20": YAML reads an unquoted 7.20 as the number ${at.value}`;
    } else if (issue.code === "invalid_type" && /^Invalid input/.test(message)) {
      message = EXPECTED[issue.expected] ?? `must be a ${issue.expected}`;
    } else if (issue.code === "invalid_value" && /^Invalid option/.test(message)) {
      message = `must be one of: ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
    } else if (issue.code === "invalid_union" && "discriminator" in issue) {
      const options = (issue as unknown as { options: string[] }).options.map((o) => `"${o}"`).join(", ");
      message = at.found ? `must be one of: ${options}` : `is required: one of ${options}`;
    }
    out.push(withValue(path, message, at.found, at.value));
  }
  return out;
}

/**
 * Decodes raw Pulumi config strings (`pulumi.runtime.allConfig()`, namespace stripped): string keys stay as they
 * are, all others are JSON (numbers, booleans, lists, objects).
 */
export function decodeRawConfig(raw: Record<string, string>): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const [key, text] of Object.entries(raw)) {
    if (STRING_KEYS.has(key)) {
      values[key] = text;
      continue;
    }
    try {
      values[key] = JSON.parse(text);
    } catch {
      // A bare word for a non-string key: the schema reports it with its expected type.
      values[key] = text;
    }
  }
  return values;
}

/** Validates decoded config values; returns the parsed config or every problem found. */
export function parseStackConfig(
  values: Record<string, unknown>,
  ctx: ParseContext,
): { ok: true; config: StackConfig } | { ok: false; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  const parsed: Partial<Record<TopLevelKey, unknown>> = {};
  const routeIndex: number[] = [];

  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$/.test(ctx.stack)) {
    issues.push({
      path: "(stack name)",
      message: "must be 1 to 40 letters, digits, '_', '.', '-' (it prefixes container names)",
      value: ctx.stack,
    });
  }
  for (const full of ctx.otherKeys ?? []) {
    const ns = full.slice(0, full.indexOf(":"));
    if (misspells(ns, ctx.project)) {
      const key = full.slice(ns.length + 1);
      // A key misspelled too is renamed to the key it most likely means.
      const meant = Object.hasOwn(topLevel, key) ? key : (closestKey(key, Object.keys(topLevel)) ?? key);
      issues.push({
        path: full,
        message:
          `is in namespace ${ns}, not ${ctx.project}: Pulumi would pass it to nobody; ` +
          `rename it to ${ctx.project}:${meant}`,
      });
    }
  }
  for (const key of Object.keys(values).sort()) {
    if (!Object.hasOwn(topLevel, key)) {
      const v = ctx.secretKeys.has(key) ? "[secret]" : values[key];
      issues.push(withValue(key, "unknown key (check the spelling; see docs/configuration.md)", true, v));
    }
  }
  for (const key of Object.keys(topLevel) as TopLevelKey[]) {
    const raw = values[key];
    if (key === "routes" && Array.isArray(raw)) {
      // Parse routes one by one so the valid ones still take part in the cross-route checks.
      const routes: RouteConfig[] = [];
      raw.forEach((r, i) => {
        const res = routeSchema.safeParse(r, { reportInput: true });
        if (res.success) {
          routes.push(res.data);
          routeIndex.push(i);
        } else issues.push(...fromZod(`routes[${i}]`, r, res.error));
      });
      parsed.routes = routes;
      continue;
    }
    if (key === "hosts" && raw !== null && typeof raw === "object" && !Array.isArray(raw)) {
      // Parse hosts one by one so the valid ones still take part in the placement checks.
      const hosts: Record<string, HostConfig> = {};
      for (const [name, h] of Object.entries(raw as Record<string, unknown>)) {
        const key = hostNameSchema.safeParse(name);
        if (!key.success)
          issues.push({ path: `hosts.${name}`, message: key.error.issues[0].message, value: name });
        const res = hostSchema.safeParse(h, { reportInput: true });
        if (res.success) {
          if (key.success) hosts[name] = res.data;
        } else issues.push(...fromZod(`hosts.${name}`, h, res.error, ctx.secretKeys.has("hosts")));
      }
      parsed.hosts = hosts;
      continue;
    }
    const res = topLevel[key].safeParse(raw, { reportInput: true });
    if (res.success) parsed[key] = res.data;
    else issues.push(...fromZod(key, raw, res.error, ctx.secretKeys.has(key)));
  }

  issues.push(...crossChecks(parsed as Partial<StackConfig>, values, ctx, routeIndex));
  if (issues.length > 0)
    return { ok: false, issues: redactSecrets(hintSpelling(issues, values), values, ctx) };
  return { ok: true, config: parsed as StackConfig };
}

/** The keys an object of the config may hold at `path` ("" for the top level), where one schema says so. */
function knownKeys(path: string, values: Record<string, unknown>): string[] | undefined {
  if (path === "") return Object.keys(topLevel);
  if (/^routes\[\d+\]$/.test(path)) return Object.keys(routeSchema.shape);
  const host = /^hosts\.([^.[\]]+)$/.exec(path);
  if (!host) return undefined;
  const kind = (getAt(values, ["hosts", host[1], "kind"]).value as string | undefined) ?? "";
  const shapes = hostSchema.options.filter((o) => o.shape.kind.value === kind);
  return [...new Set((shapes.length > 0 ? shapes : hostSchema.options).flatMap((o) => Object.keys(o.shape)))];
}

/** Edit distance of two keys, case-insensitive: inserts, deletes, substitutions and swaps of two neighbours. */
function editDistance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  let before: number[] = [];
  let prev = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const row = [i];
    for (let j = 1; j <= y.length; j++) {
      let d = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (x[i - 1] === y[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && x[i - 1] === y[j - 2] && x[i - 2] === y[j - 1])
        d = Math.min(d, before[j - 2] + 1);
      row.push(d);
    }
    before = prev;
    prev = row;
  }
  return prev[y.length];
}

/**
 * The known key `key` is most likely a misspelling of: the nearest within two edits (case aside); at equal
 * distance an absent one, then one of the same length; undefined when none is that near.
 */
function closestKey(
  key: string,
  known: readonly string[],
  present?: Record<string, unknown>,
): string | undefined {
  const absent = (k: string) => (present?.[k] === undefined ? 0 : 1);
  const length = (k: string) => Math.abs(k.length - key.length);
  return known
    .map((k) => ({ k, d: editDistance(k, key) }))
    .filter(({ k, d }) => d <= Math.min(2, k.length - 1))
    .sort((a, b) => a.d - b.d || absent(a.k) - absent(b.k) || length(a.k) - length(b.k))[0]?.k;
}

/**
 * One issue per misspelled key: an unknown key close to a known key names it ("did you mean servers?"), and
 * that key's own "is required" issue, caused by the same typo, is dropped. The known key may be present: at the
 * top level it always is when Pulumi.yaml declares a default for it (the engine passes the defaults as config).
 */
function hintSpelling(issues: readonly ConfigIssue[], values: Record<string, unknown>): ConfigIssue[] {
  const dropped = new Set<string>();
  const hinted = issues.map((issue) => {
    if (!issue.message.startsWith("unknown key (")) return issue;
    const cut = issue.path.lastIndexOf(".");
    const parent = cut < 0 ? "" : issue.path.slice(0, cut);
    const key = issue.path.slice(cut + 1);
    const parts =
      parent === "" ? [] : parent.split(/\.|\[(\d+)\]/).filter((p) => p !== undefined && p !== "");
    const present = getAt(values, parts).value as Record<string, unknown> | undefined;
    const near = closestKey(key, knownKeys(parent, values) ?? [], present);
    if (near === undefined) return issue;
    const meant = parent === "" ? near : `${parent}.${near}`;
    const required = issues.some((i) => i.path === meant && i.message === "is required");
    if (required) dropped.add(meant);
    return {
      ...issue,
      message: `unknown key: did you mean ${near}?${required ? ` (${near} is required)` : ""}`,
    };
  });
  return hinted.filter((i) => !(dropped.has(i.path) && i.message === "is required"));
}

/** Secret strings shorter than this are redacted as values only, not searched for in messages. */
const MIN_SCRUBBED = 8;

/**
 * Issues without secrets, by secret-ness rather than by key name: the value of an issue under a key Pulumi holds
 * as a secret (or at a path that is always secret) becomes `[secret]`, and any secret string of
 * {@link MIN_SCRUBBED} characters or more is cut out of every message.
 */
function redactSecrets(
  issues: readonly ConfigIssue[],
  values: Record<string, unknown>,
  ctx: ParseContext,
): ConfigIssue[] {
  const secrets = new Set<string>();
  const collect = (v: unknown): void => {
    if (typeof v === "string") {
      if (v.length >= MIN_SCRUBBED) secrets.add(v);
    } else if (v !== null && typeof v === "object") Object.values(v).forEach(collect);
  };
  for (const key of ctx.secretKeys) collect(values[key]);
  const longestFirst = [...secrets].sort((a, b) => b.length - a.length);
  return issues.map((i) => {
    let message = i.message;
    for (const secret of longestFirst) message = message.split(secret).join("[secret]");
    const top = i.path.split(/[.[]/)[0];
    if (!("value" in i)) return { ...i, message };
    const secret = ctx.secretKeys.has(top) || isSecretPath(i.path);
    return { ...i, message, value: secret ? "[secret]" : i.value };
  });
}

/** Checks that span several keys; each runs only when the keys it needs parsed. */
function crossChecks(
  c: Partial<StackConfig>,
  raw: Record<string, unknown>,
  ctx: ParseContext,
  routeIndex: readonly number[],
): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const add = (path: string, message: string, value?: unknown) =>
    issues.push(value === undefined ? { path, message } : { path, message, value });

  const hosts = c.hosts;
  // Every object on a router carries the comment tag `haproxy-edge:<stack>:<id>`, at most 63 characters; the
  // longest ids are the mount rows `mnt-<container>-<mount>`, and the container names hold the stack name too.
  const onRouter = (h: string | undefined) => h !== undefined && hosts?.[h]?.kind === "routeros";
  const routerContainers: [string, readonly string[]][] = [];
  if (onRouter(c.loadBalancerHost)) routerContainers.push([`${ctx.stack}-lb`, ROUTER_MOUNT_IDS.loadBalancer]);
  if (c.tlsMode === "acme" && onRouter(c.certbotHost ?? c.loadBalancerHost))
    routerContainers.push([`${ctx.stack}-certbot`, ROUTER_MOUNT_IDS.certbot]);
  const workerHosts: [string, string | undefined][] = [
    ["staging", c.stagingWorkerHost],
    ...(c.productionWorkerHosts ?? []).map((h, i): [string, string] => [`prod-${i + 1}`, h]),
  ];
  for (const [w] of workerHosts.filter(([, h]) => onRouter(h))) {
    routerContainers.push([`${ctx.stack}-${w}`, ROUTER_MOUNT_IDS.worker]);
    if ((c.routeUpdates ?? "live") === "live")
      routerContainers.push([`${ctx.stack}-${w}-api`, ROUTER_MOUNT_IDS.dataplaneApi]);
  }
  const longestTag = routerContainers
    .flatMap(([name, mounts]) => mounts.map((m) => routerTagText(ctx.stack, routerMountRowId(name, m))))
    .reduce((a, b) => (b.length > a.length ? b : a), "");
  if (longestTag.length > ROUTEROS_NAME_MAX) {
    const shorter = Math.ceil((longestTag.length - ROUTEROS_NAME_MAX) / 2);
    add(
      "(stack name)",
      `is too long for a RouterOS router: its objects' tags (such as ${longestTag}) would have ` +
        `${longestTag.length} characters, RouterOS allows ${ROUTEROS_NAME_MAX}; use a stack name ` +
        `${shorter} character${shorter === 1 ? "" : "s"} shorter`,
      ctx.stack,
    );
  }

  // A Docker edge network keeps its lower half for fixed addresses (gateway, load balancer, demo backends) and
  // gives the other containers the upper half: at least 16 addresses each.
  for (const [name, h] of Object.entries(hosts ?? {})) {
    if (h.kind === "docker" && Number(h.subnet.split("/")[1]) > DOCKER_SUBNET_MAX_PREFIX)
      add(
        `hosts.${name}.subnet`,
        `is too small: use a /${DOCKER_SUBNET_MAX_PREFIX} or larger (the lower half holds fixed addresses: the ` +
          "gateway, the load balancer, demo backends; Docker gives the other containers the upper half)",
        h.subnet,
      );
  }

  // A host's edge subnet must not contain the host's own LAN address: its traffic would go to the edge network.
  for (const [name, h] of Object.entries(hosts ?? {})) {
    if (h.address && isIPv4(h.address) && ipv4InCidr(h.address, h.subnet))
      add(
        `hosts.${name}.subnet`,
        `contains the host's own address ${h.address} (hosts.${name}.address): pick a subnet apart from its LAN`,
        h.subnet,
      );
  }

  // SSH host keys are verified, unless a host opts out (config/host-keys.ts).
  for (const [name, h] of Object.entries(hosts ?? {})) issues.push(...hostKeyIssues(name, h));

  // Placement: every service on a known host.
  const placements: { path: string; host: string | undefined }[] = [
    { path: "loadBalancerHost", host: c.loadBalancerHost },
    { path: "stagingWorkerHost", host: c.stagingWorkerHost },
    ...(c.productionWorkerHosts ?? []).map((h, i) => ({ path: `productionWorkerHosts[${i}]`, host: h })),
  ];
  if (c.tlsMode === "acme")
    placements.push({ path: "certbotHost", host: c.certbotHost ?? c.loadBalancerHost });
  if (hosts) {
    const known = Object.keys(hosts).sort();
    // Hosts that are defined but invalid were reported already; placements on them are not errors too.
    const rawHosts = raw.hosts !== null && typeof raw.hosts === "object" ? (raw.hosts as object) : {};
    for (const p of placements) {
      if (p.host === undefined || Object.hasOwn(rawHosts, p.host)) continue;
      if (!Object.hasOwn(hosts, p.host)) {
        add(
          p.path,
          `must name a host defined under hosts (${known.map((k) => `"${k}"`).join(", ")})`,
          p.host,
        );
      }
    }
    // A worker on a router is reached over the router's container bridge: the load balancer must be there too.
    for (const p of placements.filter(
      (q) => q.path.startsWith("staging") || q.path.startsWith("production"),
    )) {
      if (
        p.host &&
        Object.hasOwn(hosts, p.host) &&
        hosts[p.host].kind === "routeros" &&
        c.loadBalancerHost !== undefined &&
        p.host !== c.loadBalancerHost
      ) {
        add(
          p.path,
          `must be the load balancer's host "${c.loadBalancerHost}" to place a worker on router "${p.host}": the load balancer reaches it on the router's container bridge`,
          p.host,
        );
      }
    }
    // Docker hosts must be distinct endpoints.
    const seenUrls = new Map<string, string>();
    for (const [name, h] of Object.entries(hosts)) {
      if (h.kind !== "docker") continue;
      const other = seenUrls.get(h.url);
      if (other) add(`hosts.${name}.url`, `is the same Docker endpoint as hosts.${other}.url`, h.url);
      seenUrls.set(h.url, name);
    }
    // Router secrets and addressing.
    for (const [name, h] of Object.entries(hosts)) {
      if (h.kind !== "routeros") continue;
      if (!h.privateKey)
        add(`hosts.${name}.privateKey`, "is required for a RouterOS host (set it with --secret)");
      else if (!ctx.secretKeys.has("hosts")) {
        add(
          `hosts.${name}.privateKey`,
          `must be stored as a secret: pulumi config set --secret --path 'hosts.${name}.privateKey' < key`,
        );
      }
      const len = Number(h.subnet.split("/")[1]);
      const here = placements.filter((p) => p.host === name);
      // Live route updates give each worker placed here an API sidecar with an address of its own.
      const sidecars =
        (c.routeUpdates ?? "live") === "live" &&
        here.some((p) => p.path.startsWith("staging") || p.path.startsWith("production"));
      const needed = routerAddressesNeeded(sidecars);
      if (here.length > 0 && 2 ** (32 - len) < needed) {
        const prefix = 32 - Math.ceil(Math.log2(needed));
        add(
          `hosts.${name}.subnet`,
          `is too small: use a /${prefix} or larger (${needed} addresses are reserved${sidecars ? ", Data Plane API sidecars included" : ""})`,
          h.subnet,
        );
      }
      const vethLongest = `${h.vethPrefix}certbot`;
      if (vethLongest.length > ROUTEROS_INTERFACE_MAX) {
        add(
          `hosts.${name}.vethPrefix`,
          `makes veth names such as "${vethLongest}" longer than ${ROUTEROS_INTERFACE_MAX} characters (RouterOS 7.20+ limit)`,
          h.vethPrefix,
        );
      }
    }
  }

  // Certbot talks to the load balancer's runtime API over a unix socket: same host only.
  if (c.tlsMode === "acme" && c.certbotHost !== undefined && c.loadBalancerHost !== undefined) {
    if (c.certbotHost !== c.loadBalancerHost) {
      add(
        "certbotHost",
        `must be the load balancer's host "${c.loadBalancerHost}": certificates are pushed through its runtime API unix socket`,
        c.certbotHost,
      );
    }
  }

  // Workers reached from a load balancer on another host need that host's LAN address, and the load
  // balancer's host needs a fixed address for the workers to trust PROXY headers from.
  if (hosts && c.loadBalancerHost && Object.hasOwn(hosts, c.loadBalancerHost)) {
    const lbHost = hosts[c.loadBalancerHost];
    const workerPlacements = placements.filter(
      (p) => p.path !== "loadBalancerHost" && p.path !== "certbotHost",
    );
    let crossHost = false;
    for (const p of workerPlacements) {
      if (!p.host || p.host === c.loadBalancerHost) continue;
      const h = Object.hasOwn(hosts, p.host) ? hosts[p.host] : undefined;
      if (h?.kind === "docker") {
        crossHost = true;
        if (!h.address) {
          add(
            `hosts.${p.host}.address`,
            `is required: the load balancer on "${c.loadBalancerHost}" reaches the worker of ${p.path} through it`,
          );
        }
      }
    }
    if (crossHost) {
      const lbAddress = lbHost.address;
      if (!lbAddress || !isIPv4(lbAddress)) {
        add(
          `hosts.${c.loadBalancerHost}.address`,
          "must be an IPv4 address: workers on other hosts accept PROXY protocol only from it",
          lbAddress,
        );
      }
    }
  }

  // ACME needs its DNS-01 settings; the TSIG secret must be a Pulumi secret.
  if (c.tlsMode === "acme") {
    const required: [TopLevelKey, string][] = [
      ["acmeEmail", "the ACME account email"],
      ["acmeDnsServer", "the RFC 2136 DNS server address"],
      ["acmeTsigKeyName", "the TSIG key name"],
      ["acmeTsigSecret", "the TSIG secret (set it with --secret)"],
    ];
    for (const [key, what] of required) {
      if (raw[key] === undefined) add(key, `is required when tlsMode is "acme": ${what}`);
    }
    if (raw.acmeTsigSecret !== undefined && !ctx.secretKeys.has("acmeTsigSecret")) {
      add("acmeTsigSecret", "must be stored as a secret: pulumi config set --secret acmeTsigSecret <base64>");
    }
  }

  // Ports: the load balancer's two listeners differ; the Data Plane API ports do not collide with them.
  if (c.httpPort !== undefined && c.httpPort === c.httpsPort) {
    add("httpsPort", "must differ from httpPort", c.httpsPort);
  }
  if (c.dataplaneApiPort !== undefined && c.productionWorkerHosts) {
    const last = c.dataplaneApiPort + c.productionWorkerHosts.length;
    if (last > 65535)
      add(
        "dataplaneApiPort",
        `leaves no room for ${c.productionWorkerHosts.length + 1} workers`,
        c.dataplaneApiPort,
      );
    for (const key of ["httpPort", "httpsPort"] as const) {
      const p = c[key];
      if (p !== undefined && p >= c.dataplaneApiPort && p <= last) {
        add(key, `collides with the Data Plane API ports ${c.dataplaneApiPort}-${last}`, p);
      }
    }
  }
  if (
    c.workerPort !== undefined &&
    c.productionWorkerHosts &&
    c.workerPort + c.productionWorkerHosts.length > 65535
  ) {
    add("workerPort", "leaves no room for the worker ports", c.workerPort);
  }

  // Routes: unique names, each host (and path prefix) served by one route only, hosts covered by the certificate.
  if (c.routes) {
    const names = new Map<string, number>();
    const served = new Map<string, string>();
    c.routes.forEach((r, k) => {
      const i = routeIndex[k] ?? k;
      const prev = names.get(r.name);
      if (prev !== undefined) add(`routes[${i}].name`, `duplicates routes[${prev}].name`, r.name);
      else names.set(r.name, i);
      const seenServers = new Set<string>();
      r.servers.forEach((sv, j) => {
        if (seenServers.has(sv)) add(`routes[${i}].servers[${j}]`, "is listed twice in this route", sv);
        seenServers.add(sv);
      });
      const seenHere = new Set<string>();
      r.hosts.forEach((h, j) => {
        if (seenHere.has(h)) add(`routes[${i}].hosts[${j}]`, "is listed twice in this route", h);
        seenHere.add(h);
        const key = `${h}${r.pathPrefix ?? ""}`;
        const owner = served.get(key);
        if (owner !== undefined && owner !== r.name) {
          add(
            `routes[${i}].hosts[${j}]`,
            `is already served by route "${owner}"${r.pathPrefix ? ` with path prefix ${r.pathPrefix}` : ""}`,
            h,
          );
        } else served.set(key, r.name);
        if (c.stagingHostPattern && h.endsWith(c.stagingHostPattern.slice(1))) {
          add(`routes[${i}].hosts[${j}]`, `matches stagingHostPattern ${c.stagingHostPattern}`, h);
        }
        if (c.domains && !c.domains.some((d) => certificateCovers(d, h))) {
          add(
            `routes[${i}].hosts[${j}]`,
            `is not covered by any name in domains (${c.domains.join(", ")})`,
            h,
          );
        }
      });
    });
  }

  // The staging host names are served with the stack's certificate too.
  if (c.routes && c.domains && c.stagingHostPattern) {
    const suffix = c.stagingHostPattern.slice(1);
    const uncovered = c.routes
      .map((r) => `${r.name}${suffix}`)
      .filter((h) => !c.domains?.some((d) => certificateCovers(d, h)));
    if (uncovered.length > 0)
      add(
        "stagingHostPattern",
        `makes staging host names the certificate does not cover (${uncovered.slice(0, 3).join(", ")}` +
          `${uncovered.length > 3 ? ", ..." : ""}): add ${c.stagingHostPattern} to domains`,
        c.stagingHostPattern,
      );
  }

  // Demo backends take the route servers' addresses on a Docker host's edge network.
  if (c.demoBackends && c.routes && hosts) {
    const subnets = Object.entries(hosts).flatMap(([name, h]) =>
      h.kind === "docker" ? [{ name, subnet: h.subnet }] : [],
    );
    let placed = 0;
    c.routes.forEach((r, k) => {
      const i = routeIndex[k] ?? k;
      r.servers.forEach((s, j) => {
        const address = s.slice(0, s.lastIndexOf(":"));
        const on = isIPv4(address) ? subnets.find((h) => ipv4InCidr(address, h.subnet)) : undefined;
        if (!on) return;
        placed++;
        const size = 2 ** (32 - Number(on.subnet.split("/")[1]));
        const offset = ipv4ToInt(address) - ipv4ToInt(on.subnet.split("/")[0]);
        if (offset <= DOCKER_LB_OFFSET)
          add(
            `routes[${i}].servers[${j}]`,
            `is the network, gateway or load balancer address of hosts.${on.name}.subnet: a demo backend cannot take it`,
            s,
          );
        else if (offset >= size / 2)
          add(
            `routes[${i}].servers[${j}]`,
            `is in the upper half of hosts.${on.name}.subnet, where Docker gives the edge's containers their ` +
              `addresses: a demo backend needs a fixed address in the lower half (${addressInSubnet(on.subnet, DOCKER_LB_OFFSET + 1)} to ${addressInSubnet(on.subnet, size / 2 - 1)})`,
            s,
          );
      });
    });
    if (placed === 0)
      add(
        "demoBackends",
        "is true, but no route server is an address in a Docker host's subnet: nothing to run",
      );
  }

  if (c.domains) {
    const seen = new Set<string>();
    c.domains.forEach((d, i) => {
      if (seen.has(d)) add(`domains[${i}]`, "is listed twice", d);
      seen.add(d);
      const wildcard = c.domains?.find((w) => w !== d && w.startsWith("*.") && certificateCovers(w, d));
      if (c.tlsMode === "acme" && wildcard && !d.startsWith("*."))
        add(
          `domains[${i}]`,
          `is covered by ${wildcard}: an ACME CA refuses a name redundant with a wildcard in the same order; ` +
            "remove it",
          d,
        );
    });
  }
  if (c.internalCidrs && c.internalCidrsIncludeInternet !== true) {
    c.internalCidrs.forEach((n, i) => {
      if (coversMuchOfTheInternet(n))
        add(
          `internalCidrs[${i}]`,
          "is wider than an IPv4 /8 or an IPv6 /16: clients from a large part of the Internet could use the " +
            "staging host names and the internal-only routes; list your own networks, or set " +
            "internalCidrsIncludeInternet: true if that is really meant",
          n,
        );
    });
  }
  if (c.blocklistCidrs && c.internalCidrs) {
    for (const [i, b] of c.blocklistCidrs.entries()) {
      if (c.internalCidrs.includes(b)) add(`blocklistCidrs[${i}]`, "is also in internalCidrs", b);
    }
  }
  return issues;
}

/** Usable address `offset` of an IPv4 prefix (offset 1 = first host address). */
export function addressInSubnet(subnet: string, offset: number): string {
  return intToIpv4(ipv4ToInt(subnet.split("/")[0]) + offset);
}
