/**
 * Value checks of menu properties by their type in routeros-menus.json (`_meta.types`), with RouterOS's messages
 * (`_meta.errors.formats`): `input does not match any value of <p>` (enums, bools, references),
 * `invalid value for argument <p>` (IP addresses, numbers, durations, formats), `value of <p> is out of range
 * (a .. b)`. References to other items (interfaces, lists) are checked by the interpreter.
 */
import { isIPv4, isIPv6 } from "node:net";
import type { PropSpec } from "./grammar";
import { formatDuration, parseDuration } from "./values";

/** A RouterOS error: printed as it is, aborts the rest of the command line. */
export class RosError extends Error {}

export const noMatch = (p: string) => new RosError(`input does not match any value of ${p}`);
export const invalid = (p: string) => new RosError(`invalid value for argument ${p}`);

function ipv4Prefix(text: string): boolean {
  const m = /^([0-9.]+)(?:\/([0-9]{1,2}))?$/.exec(text);
  return !!m && isIPv4(m[1]) && (m[2] === undefined || Number(m[2]) <= 32);
}

function ipv6Prefix(text: string): boolean {
  const m = /^([0-9A-Fa-f:.]+)(?:\/([0-9]{1,3}))?$/.exec(text);
  return !!m && isIPv6(m[1]) && (m[2] === undefined || Number(m[2]) <= 128);
}

function ipv4Range(text: string): boolean {
  const [a, b, ...rest] = text.split("-");
  return rest.length === 0 && b !== undefined && isIPv4(a) && isIPv4(b);
}

function portList(text: string): boolean {
  return text.split(",").every((part) => {
    const m = /^([0-9]{1,5})(?:-([0-9]{1,5}))?$/.exec(part);
    return !!m && Number(m[1]) <= 65535 && (m[2] === undefined || Number(m[2]) <= 65535);
  });
}

function checkFormat(p: string, spec: PropSpec, raw: string): void {
  const f = spec.format ?? "";
  if (raw === "" && !spec.required) return;
  let ok = true;
  if (f === "mac") ok = /^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$/.test(raw);
  else if (f === "port-list") ok = portList(raw);
  else if (f === "port-range") ok = /^[0-9]{1,5}(-[0-9]{1,5})?$/.test(raw) && portList(raw);
  else if (f.startsWith("HH:MM:SS"))
    ok = raw === "startup" || /^([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]$/.test(raw);
  else if (f.startsWith("date"))
    ok = /^[0-9]{4}-[0-9]{2}-[0-9]{2}$/.test(raw) || /^[a-z]{3}\/[0-9]{2}\/[0-9]{4}$/.test(raw);
  else if (f === "url") ok = /^[a-z][a-z0-9+.-]*:\/\/\S+$/.test(raw);
  if (!ok) throw invalid(p);
}

function durationRange(p: string, spec: PropSpec, ms: number): void {
  if (!spec.range) return;
  const [lo, hi] = spec.range.map((r) => (typeof r === "number" ? r * 1000 : (parseDuration(r) ?? 0)));
  if (ms < lo || ms > hi) {
    throw new RosError(`value of ${p} is out of range (${formatDuration(lo)} .. ${formatDuration(hi)})`);
  }
}

function checkNumber(p: string, spec: PropSpec, raw: string): string {
  let n: number;
  if (/^-?[0-9]+$/.test(raw)) n = Number(raw);
  else if (/^0x[0-9a-fA-F]+$/.test(raw)) n = parseInt(raw.slice(2), 16);
  else throw invalid(p);
  if (spec.range) {
    const [lo, hi] = spec.range.map(Number);
    if (n < lo || n > hi) throw new RosError(`value of ${p} is out of range (${lo} .. ${hi})`);
  }
  return String(n);
}

/** Checks one element of a `list` property. */
function checkItem(p: string, spec: PropSpec, item: string): void {
  switch (spec.items) {
    case "ip-prefix":
      if (!ipv4Prefix(item) && !ipv6Prefix(item)) throw invalid(p);
      return;
    case "ip":
      if (!isIPv4(item) && !isIPv6(item)) throw invalid(p);
      return;
    case "enum":
      if (!(spec.values ?? []).includes(item)) throw noMatch(p);
      return;
    case "number":
      if (!/^[0-9]+$/.test(item)) throw invalid(p);
      return;
    default:
      return;
  }
}

/**
 * Checks `raw` (the text of the argument) against the property's type and returns the text RouterOS stores
 * (`/ip/address` adds `/32` to a bare address). Throws {@link RosError}.
 */
export function checkProp(menu: string, p: string, spec: PropSpec, raw: string): string {
  if (spec.maxLength !== undefined && raw.length > spec.maxLength) {
    throw new RosError(`value of ${p} is too long (max ${spec.maxLength})`);
  }
  const negated = spec.negatable && raw.startsWith("!") ? "!" : "";
  const value = raw.slice(negated.length);
  switch (spec.type) {
    case "bool":
      if (raw !== "yes" && raw !== "no") throw noMatch(p);
      return raw;
    case "enum":
      if ((spec.values ?? []).includes(value) || (spec.also ?? []).includes(value)) return raw;
      if (spec.custom && /^[A-Za-z0-9_.-]+$/.test(value)) return raw;
      throw noMatch(p);
    case "number":
      return checkNumber(p, spec, raw);
    case "ip": {
      if (value === "" && !spec.required) return raw;
      const six = p.endsWith("6");
      const ok = six ? isIPv6(value) : isIPv4(value) || (p === "to-addresses" && ipv4Range(value));
      if (!ok) throw invalid(p);
      return raw;
    }
    case "ip-prefix": {
      const nat = menu.startsWith("/ip/firewall");
      if (!ipv4Prefix(value) && !(nat && ipv4Range(value))) throw invalid(p);
      if (menu === "/ip/address" && !value.includes("/")) return `${raw}/32`;
      return raw;
    }
    case "duration": {
      if ((spec.also ?? []).includes(value)) return raw;
      const ms = parseDuration(value);
      if (ms === undefined) throw invalid(p);
      durationRange(p, spec, ms);
      return raw;
    }
    case "list":
      if (raw === "") return raw;
      for (const item of raw.split(",")) {
        if (item === "") throw invalid(p);
        checkItem(p, spec, item);
      }
      return raw;
    default:
      checkFormat(p, spec, raw);
      return raw;
  }
}
