/**
 * `/file` of the simulator: a real folder (the "router disk root") whose first-level folders are the disks
 * (`disk1`). RouterOS file names are paths relative to it without a leading slash (`disk1/a/b.cfg`); SFTP
 * uploads land in the same folder (sftp-server runs with it as its start directory).
 */
import { lstatSync, readdirSync } from "node:fs";
import { join, relative, resolve, sep } from "node:path";
import { fromBytes, toBytes } from "./parser";

export interface FileEntry {
  /** RouterOS name (byte string), e.g. `disk1/haproxy-edge/dev`. */
  name: string;
  /** `disk` for the disks, else `directory` or `file`. */
  type: "disk" | "directory" | "file";
  size: number;
}

/** Bounds of a listing. */
const MAX_ENTRIES = 100_000;
const MAX_DEPTH = 64;

/**
 * The normalised RouterOS name (no leading or trailing slash), or `undefined` if `raw` is not a safe relative
 * path (empty segments, `.`, `..`, control characters, or bytes that are not UTF-8).
 */
export function fileName(raw: string): string | undefined {
  const name = raw.replace(/^\/+/, "").replace(/\/+$/, "");
  if (name === "" || fromBytes(name).includes("\uFFFD") || toBytes(fromBytes(name)) !== name)
    return undefined;
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(name)) return undefined;
  const segments = name.split("/");
  if (segments.some((s) => s === "" || s === "." || s === "..")) return undefined;
  return name;
}

/** The host path of a RouterOS name, checked to stay inside `root`. */
export function hostPath(root: string, name: string): string {
  const base = resolve(root);
  const p = resolve(base, fromBytes(name));
  const rel = relative(base, p);
  if (rel === "" || rel.startsWith("..") || rel.split(sep).includes("..")) {
    throw new Error(`file name ${JSON.stringify(fromBytes(name))} leaves the disk root`);
  }
  return p;
}

/** Every file and directory under `root` (not following symbolic links), sorted by name. */
export function listEntries(root: string, disks: readonly string[]): FileEntry[] {
  const out: FileEntry[] = [];
  const stack: { dir: string; prefix: string; depth: number }[] = [
    { dir: resolve(root), prefix: "", depth: 0 },
  ];
  while (stack.length > 0) {
    const { dir, prefix, depth } = stack.pop() as { dir: string; prefix: string; depth: number };
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const n of names) {
      if (out.length >= MAX_ENTRIES) break;
      const full = join(dir, n);
      let st;
      try {
        st = lstatSync(full);
      } catch {
        continue;
      }
      const name = prefix === "" ? toBytes(n) : `${prefix}/${toBytes(n)}`;
      if (st.isDirectory()) {
        out.push({ name, type: prefix === "" && disks.includes(name) ? "disk" : "directory", size: 0 });
        if (depth + 1 < MAX_DEPTH) stack.push({ dir: full, prefix: name, depth: depth + 1 });
      } else {
        out.push({ name, type: "file", size: st.size });
      }
    }
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
