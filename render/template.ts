/**
 * Model → file contents, through the logic-less mustache templates in `templates/`.
 *
 * HTML escaping is off: these are config files and scripts, and every value in them was validated by the
 * config schema (safety comes from validation, never from escaping). Views are built in a fixed order from
 * the model only (no clock, no randomness), so the same model always renders byte-identical files.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import Mustache from "mustache";

/** A rendered file: where it goes inside the container, its bytes and its mode. */
export interface RenderedFile {
  /** Absolute path inside the container. */
  path: string;
  content: string;
  /** Unix permission bits. */
  mode: number;
  /** Holds secret material: keep it in `pulumi.secret`, write it 0600. */
  secret?: boolean;
}

export const TEMPLATES_DIR = join(__dirname, "..", "templates");
const cache = new Map<string, string>();

/** Renders `templates/<name>.mustache` with HTML escaping disabled. */
export function render(name: string, view: object): string {
  let template = cache.get(name);
  if (template === undefined) {
    template = readFileSync(join(TEMPLATES_DIR, `${name}.mustache`), "utf8");
    cache.set(name, template);
  }
  return Mustache.render(template, view, {}, { escape: (s: string) => s });
}

/** Hex SHA-256 of a file's content (stack outputs, labels). */
export function sha256(content: string): string {
  return createHash("sha256").update(content, "utf8").digest("hex");
}

/** A {@link RenderedFile}; `secret` is set only when true. */
export const file = (path: string, content: string, mode = 0o644, secret = false): RenderedFile =>
  secret ? { path, content, mode, secret } : { path, content, mode };
