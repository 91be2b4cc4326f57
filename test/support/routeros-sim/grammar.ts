/**
 * The RouterOS menu grammar of one version, built from `routeros-menus.json` (its source: README.md): the menu
 * tree, each menu's commands and settable properties
 * (gated by their `since`/`until` versions), the names a `where` expression may use, and the script commands.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

/** One property of a menu, as the JSON describes it. */
export interface PropSpec {
  type: string;
  items?: string;
  values?: string[];
  also?: string[];
  special?: string[];
  range?: [number | string, number | string];
  negatable?: boolean;
  custom?: boolean;
  ref?: string;
  format?: string;
  maxLength?: number;
  required?: boolean;
  since?: string;
  until?: string;
}

interface MenuJson {
  commands: string[];
  subdirs?: string[];
  properties: Record<string, PropSpec>;
  key?: string;
  flags?: Record<string, string>;
  readonly?: Record<string, string>;
}

/** The parts of routeros-menus.json the simulator reads. */
export interface MenusJson {
  _meta: { errors: { detect_regex: string; formats: Record<string, string> } };
  [menu: string]: unknown;
}

/** How a menu stores its items. */
export type MenuKind = "none" | "table" | "singleton" | "file" | "resource" | "log" | "derived";

/** One menu of the tree, for one version. */
export interface MenuDef {
  /** `/interface/veth`; the root is `/`. */
  readonly path: string;
  readonly children: Map<string, MenuDef>;
  /** Commands available in this version (empty for menus the JSON only implies, e.g. `/interface`). */
  readonly commands: Set<string>;
  /** Settable properties in this version. */
  readonly props: Map<string, PropSpec>;
  /** Read-only properties (readable with `get` and in `where`). */
  readonly readonly: Set<string>;
  /** Boolean flag properties (`disabled`, `running`, `stopped`, ...). */
  readonly flags: Set<string>;
  /** The property that names an item (`/container/start haproxy`), if any. */
  readonly key?: string;
  readonly kind: MenuKind;
}

/** `7.20.1` → `[7, 20, 1]`. */
export type Version = readonly [number, number, number];

export function parseVersion(text: string): Version {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?(?:\s.*)?$/.exec(text.trim());
  if (!m) throw new Error(`invalid RouterOS version ${JSON.stringify(text)} (expected e.g. 7.20.1)`);
  return [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
}

/**
 * Whether a name that exists from `since` to `until` (inclusive) exists in `v`. The JSON samples one build per
 * minor release, so the comparison is by major.minor: `since: "7.15.3"` means "from the 7.15 line on".
 */
export function inVersion(v: Version, since?: string, until?: string): boolean {
  const key = (x: Version) => x[0] * 1000 + x[1];
  if (since !== undefined && key(v) < key(parseVersion(since))) return false;
  if (until !== undefined && key(v) > key(parseVersion(until))) return false;
  return true;
}

let loaded: MenusJson | undefined;

/** routeros-menus.json, next to this file (also next to the compiled copy the sshd launcher runs). */
export function menusJson(): MenusJson {
  if (!loaded) loaded = JSON.parse(readFileSync(join(__dirname, "routeros-menus.json"), "utf8")) as MenusJson;
  return loaded;
}

/** The script commands (`:put`, `:if`, ...) the simulator implements. */
export const SCRIPT_COMMANDS = new Set([
  "put",
  "local",
  "global",
  "set",
  "if",
  "while",
  "foreach",
  "for",
  "do",
  "onerror",
  "delay",
  "error",
  "len",
  "log",
  "typeof",
  "tostr",
  "tonum",
]);

/** Container state names by version (routeros.md §1: `status=` text up to 7.19, boolean flags from 7.20). */
export const CONTAINER_FLAGS = ["stopped", "starting", "running", "stopping", "extracting"] as const;

const RESOURCE_PROPS = ["version", "board-name", "architecture-name", "platform", "uptime", "cpu-count"];

/**
 * Menus routeros-menus.json lacks, which the prerequisite checks read; modelled on MikroTik's manual (Device-mode,
 * DNS, User) as the simulator's README cites. `/user` and `/user/group` are read only here: their rows come from
 * the options.
 */
const EXTRA_MENUS: Record<string, MenuJson> = {
  "/system/device-mode": {
    commands: ["get", "print", "update"],
    properties: {},
    readonly: { mode: "string", container: "bool", scheduler: "bool" },
  },
  "/ip/dns": {
    commands: ["get", "print", "set"],
    properties: {
      servers: { type: "list", items: "ip" },
      "allow-remote-requests": { type: "bool", values: ["yes", "no"] },
    },
    readonly: { "dynamic-servers": "list" },
  },
  "/user": {
    commands: ["find", "get", "print"],
    properties: {},
    readonly: { name: "string", group: "string" },
    key: "name",
  },
  "/user/group": {
    commands: ["find", "get", "print"],
    properties: {},
    readonly: { name: "string", policy: "list" },
    key: "name",
  },
};

function addNode(root: MenuDef, path: string, make: (path: string) => MenuDef): MenuDef {
  const segments = path.split("/").filter((s) => s.length > 0);
  let node = root;
  for (let i = 0; i < segments.length; i++) {
    const sub = "/" + segments.slice(0, i + 1).join("/");
    let child = node.children.get(segments[i]);
    if (!child) {
      child = make(sub);
      node.children.set(segments[i], child);
    }
    node = child;
  }
  return node;
}

function emptyMenu(path: string): MenuDef {
  return {
    path,
    children: new Map(),
    commands: new Set(),
    props: new Map(),
    readonly: new Set(),
    flags: new Set(),
    kind: "none",
  };
}

function buildMenu(path: string, spec: MenuJson, v: Version): MenuDef {
  const commands = new Set<string>();
  for (const c of spec.commands) {
    const m = /^([a-z-]+)(?: \(since ([0-9.]+)\))?$/.exec(c);
    if (m && inVersion(v, m[2])) commands.add(m[1]);
  }
  const props = new Map<string, PropSpec>();
  for (const [name, p] of Object.entries(spec.properties)) {
    if (inVersion(v, p.since, p.until)) props.set(name, p);
  }
  const readonly = new Set<string>();
  const flags = new Set<string>();
  for (const name of Object.keys(spec.readonly ?? {})) {
    if (path === "/container" && (name === "status" || name.includes("/"))) continue;
    if (!props.has(name)) readonly.add(name);
  }
  for (const text of Object.values(spec.flags ?? {})) {
    const m = /^[a-z-]+/.exec(text);
    if (m && path !== "/container") flags.add(m[0]);
  }
  if (path === "/container") {
    if (!inVersion(v, "7.19")) readonly.add("name"); // a read-only UUID before 7.19
    if (inVersion(v, undefined, "7.19")) readonly.add("status");
    else for (const f of CONTAINER_FLAGS) flags.add(f);
    if (inVersion(v, "7.23")) {
      flags.add("healthy");
      flags.add("unhealthy");
    }
  }
  let kind: MenuKind = "table";
  if (path === "/file") kind = "file";
  else if (path === "/user" || path === "/user/group") kind = "derived";
  else if (!commands.has("add") && !commands.has("find")) kind = "singleton";
  const key = spec.key === "name" || spec.key?.startsWith("name ") ? "name" : undefined;
  return {
    path,
    children: new Map(),
    commands,
    props,
    readonly,
    flags,
    ...(key !== undefined ? { key } : {}),
    kind,
  };
}

/** The grammar of one RouterOS version. */
export class Grammar {
  readonly version: Version;
  readonly versionText: string;
  readonly root: MenuDef;
  private readonly byPath = new Map<string, MenuDef>();
  private readonly names = new Map<MenuDef, Set<string>>();

  constructor(version: string) {
    this.version = parseVersion(version);
    this.versionText = version;
    const json = menusJson();
    this.root = emptyMenu("/");
    this.byPath.set("/", this.root);
    const all: Record<string, MenuJson> = {
      ...(json as unknown as Record<string, MenuJson>),
      ...EXTRA_MENUS,
    };
    const menus = Object.keys(all)
      .filter((k) => k.startsWith("/"))
      .sort();
    for (const path of menus) {
      const def = buildMenu(path, all[path], this.version);
      const node = addNode(this.root, path, emptyMenu);
      // Replace the placeholder (keeping children already attached by deeper paths).
      const merged: MenuDef = { ...def, children: node.children };
      const parent = this.parentOf(path);
      parent.children.set(path.split("/").pop() as string, merged);
    }
    const resource: MenuDef = {
      ...emptyMenu("/system/resource"),
      commands: new Set(["get", "print"]),
      readonly: new Set(RESOURCE_PROPS),
      kind: "resource",
    };
    addNode(this.root, "/system", emptyMenu).children.set("resource", resource);
    // `/log`: the memory log (read only), as `find`/`get`/`print` see it.
    const log: MenuDef = {
      ...emptyMenu("/log"),
      commands: new Set(["find", "get", "print"]),
      readonly: new Set(["time", "topics", "message"]),
      kind: "log",
    };
    this.root.children.set("log", log);
    const index = (m: MenuDef) => {
      this.byPath.set(m.path, m);
      for (const c of m.children.values()) index(c);
    };
    index(this.root);
  }

  private parentOf(path: string): MenuDef {
    const segments = path.split("/").filter((s) => s.length > 0);
    let node = this.root;
    for (const s of segments.slice(0, -1)) node = node.children.get(s) as MenuDef;
    return node;
  }

  /** The menu at `path` (`/interface/veth`), if the simulator knows it. */
  menu(path: string): MenuDef | undefined {
    return this.byPath.get(path);
  }

  /** Every menu with a JSON section. */
  menus(): MenuDef[] {
    return [...this.byPath.values()].filter((m) => m.kind !== "none");
  }

  /** Names a `where` expression of `menu` may use. */
  whereNames(menu: MenuDef): Set<string> {
    let names = this.names.get(menu);
    if (!names) {
      names = new Set<string>([".id", ...menu.props.keys(), ...menu.readonly, ...menu.flags]);
      if (menu.kind === "file") for (const n of ["name", "type", "size", "contents"]) names.add(n);
      this.names.set(menu, names);
    }
    return names;
  }
}

const cache = new Map<string, Grammar>();

/** The (cached) grammar of `version`, e.g. `7.20.1`. */
export function grammarFor(version: string): Grammar {
  let g = cache.get(version);
  if (!g) {
    g = new Grammar(version);
    cache.set(version, g);
  }
  return g;
}
