/**
 * Script values of the simulator (RouterOS types str, num, bool, id, time, array, nil, code) and their text
 * forms. Strings are byte strings (one JS character per byte), see parser.ts `toBytes`.
 */
import type { Stmt } from "./parser";

export type Value =
  | { t: "nil" }
  | { t: "str"; v: string }
  | { t: "num"; v: number }
  | { t: "bool"; v: boolean }
  | { t: "id"; v: string }
  /** Milliseconds. */
  | { t: "time"; v: number }
  | { t: "array"; v: Value[] }
  /** Key/value array (`print as-value` rows). */
  | { t: "map"; v: [string, Value][] }
  | { t: "code"; body: Stmt[]; text: string };

export const NIL: Value = { t: "nil" };
export const str = (v: string): Value => ({ t: "str", v });
export const num = (v: number): Value => ({ t: "num", v });
export const bool = (v: boolean): Value => ({ t: "bool", v });
export const id = (v: string): Value => ({ t: "id", v });

const UNIT_MS: Record<string, number> = { w: 604800000, d: 86400000, h: 3600000, m: 60000, s: 1000, ms: 1 };

/**
 * A RouterOS duration in milliseconds: `1d`, `12h`, `1w2d`, `1s1m` (units add up, in any order), `500ms`,
 * `01:30:00`, `1d00:00:00`, `00:00:00.5`, or a plain number of seconds. `undefined` if it is not one.
 */
export function parseDuration(text: string): number | undefined {
  if (/^[0-9]+$/.test(text)) return Number(text) * 1000;
  const clock = /^(?:([0-9]+)w)?(?:([0-9]+)d)?([0-9]{1,2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,3}))?$/.exec(
    text,
  );
  if (clock) {
    const [, w, d, h, m, s, frac] = clock;
    if (Number(m) > 59 || Number(s) > 59) return undefined;
    return (
      Number(w ?? 0) * UNIT_MS.w +
      Number(d ?? 0) * UNIT_MS.d +
      Number(h) * UNIT_MS.h +
      Number(m) * UNIT_MS.m +
      Number(s) * UNIT_MS.s +
      (frac ? Number(frac.padEnd(3, "0")) : 0)
    );
  }
  if (!/^([0-9]+(ms|w|d|h|m|s))+$/.test(text)) return undefined;
  let total = 0;
  for (const m of text.matchAll(/([0-9]+)(ms|w|d|h|m|s)/g)) total += Number(m[1]) * UNIT_MS[m[2]];
  return total;
}

/** `00:00:01`, `1d02:00:00`, `1w00:00:00`, `00:00:00.500`. */
export function formatDuration(ms: number): string {
  const sign = ms < 0 ? "-" : "";
  let rest = Math.abs(ms);
  const w = Math.floor(rest / UNIT_MS.w);
  rest -= w * UNIT_MS.w;
  const d = Math.floor(rest / UNIT_MS.d);
  rest -= d * UNIT_MS.d;
  const h = Math.floor(rest / UNIT_MS.h);
  rest -= h * UNIT_MS.h;
  const m = Math.floor(rest / UNIT_MS.m);
  rest -= m * UNIT_MS.m;
  const s = Math.floor(rest / 1000);
  const frac = rest - s * 1000;
  const two = (n: number) => String(n).padStart(2, "0");
  return (
    sign +
    (w > 0 ? `${w}w` : "") +
    (d > 0 ? `${d}d` : "") +
    `${two(h)}:${two(m)}:${two(s)}` +
    (frac > 0 ? `.${String(frac).padStart(3, "0")}` : "")
  );
}

/** What `:put` prints for a value (arrays: elements joined with `;`). */
export function display(v: Value): string {
  switch (v.t) {
    case "nil":
      return "";
    case "str":
    case "id":
      return v.v;
    case "num":
      return String(v.v);
    case "bool":
      return v.v ? "true" : "false";
    case "time":
      return formatDuration(v.v);
    case "array":
      return v.v.map(display).join(";");
    case "map":
      return v.v.map(([k, x]) => `${k}=${display(x)}`).join(";");
    case "code":
      return v.text;
  }
}

/** The value of an unquoted word in an expression or a script argument: number, bool, id, time, or text. */
export function typedWord(text: string): Value {
  if (/^-?[0-9]+$/.test(text)) return num(Number(text));
  if (/^0x[0-9a-fA-F]+$/.test(text)) return num(parseInt(text.slice(2), 16));
  if (text === "true" || text === "false") return bool(text === "true");
  if (/^\*[0-9A-Fa-f]+$/.test(text)) return id(text.toUpperCase());
  const ms = /[0-9]/.test(text[0] ?? "") && !/^[0-9.]+$/.test(text) ? parseDuration(text) : undefined;
  if (ms !== undefined) return { t: "time", v: ms };
  return str(text);
}

/** `:typeof` names. */
export function typeName(v: Value): string {
  return {
    nil: "nil",
    str: "str",
    num: "num",
    bool: "bool",
    id: "id",
    time: "time",
    array: "array",
    map: "array",
    code: "code",
  }[v.t];
}

/** Truthiness for `:if`, `and`, `or`, `!` and bare `where` flags. */
export function truthy(v: Value): boolean {
  switch (v.t) {
    case "bool":
      return v.v;
    case "nil":
      return false;
    case "num":
      return v.v !== 0;
    case "str":
      return v.v !== "" && v.v !== "no" && v.v !== "false";
    case "array":
      return v.v.length > 0;
    default:
      return true;
  }
}
