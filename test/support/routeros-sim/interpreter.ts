/**
 * The RouterOS v7 CLI simulator: executes parsed command lines (parser.ts) against a state model of the menus in
 * routeros-menus.json (grammar.ts) for one RouterOS version.
 *
 * - The whole line is parsed first; a parse error prints RouterOS's message and nothing runs.
 * - Statements run in order; the first error (a RouterOS `failure: ...`, `no such item`, an unknown argument,
 *   a bad value, an `:error`) stops the rest of the line and is printed. Output is text with CRLF line ends.
 * - Time is virtual: `:delay` advances the clock without sleeping, and container life-cycle phases (extracting,
 *   starting, stopping, removing) end at virtual times.
 * - `/file` is a real folder (the disk root); `/file/add type=directory` and `/file/remove` change it.
 */
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { fileName, hostPath, listEntries, type FileEntry } from "./files";
import { grammarFor, inVersion, type Grammar, type MenuDef, type PropSpec } from "./grammar";
import { fromBytes, parse, toBytes, type Arg, type Expr, type ParseResult, type Stmt } from "./parser";
import {
  initialState,
  type ContainerPhase,
  type Item,
  type SimOptions,
  type SimState,
  type Table,
} from "./state";
import { RosError, checkProp, noMatch } from "./validate";
import {
  NIL,
  bool,
  display,
  id as idValue,
  num,
  parseDuration,
  str,
  truthy,
  typeName,
  typedWord,
  type Value,
} from "./values";

export { RosError } from "./validate";

/** Options of a {@link RouterOsSim}. */
export interface RouterOsSimOptions {
  /** RouterOS version, e.g. `7.20.1` (ignored when `state` is given). */
  version?: string;
  /** Folder reflected by `/file`; without it `/file` commands fail. */
  diskRoot?: string;
  /** Disks (first-level folders of `diskRoot`) created up front; default `["disk1"]`. */
  disks?: string[];
  /** Existing state (e.g. loaded from a file); a fresh one otherwise. */
  state?: SimState;
  /** Overrides of the simulation options (container timings and outcomes, interfaces, limits). */
  options?: Partial<SimOptions>;
}

/** Names RouterOS uses in `failure: already have ...` messages, by menu. */
const DUPLICATE_NAME: Record<string, string> = {
  "/container": "failure: already have container with such name",
  "/system/script": "failure: already have script with such name",
  "/system/scheduler": "failure: already have scheduler with such name",
};

const CONTAINER_FLAG_OF: Partial<Record<ContainerPhase, string>> = {
  extracting: "extracting",
  stopped: "stopped",
  starting: "starting",
  running: "running",
  stopping: "stopping",
};

const CONTAINER_LETTER: Partial<Record<ContainerPhase, string>> = {
  extracting: "E",
  stopped: "S",
  starting: "N",
  running: "R",
  stopping: "T",
  error: "F",
  removing: "D",
};

const LOG_TOPICS = new Set(["info", "warning", "error", "debug"]);
const PRINT_WORDS = new Set([
  "as-value",
  "count-only",
  "detail",
  "terse",
  "brief",
  "without-paging",
  "value-list",
]);
const MAX_SCRIPT_DEPTH = 8;

type Scope = Map<string, { value: Value } | "global">;

/** One command line's execution: output, scopes and bounds. */
class Ctx {
  readonly out: string[] = [];
  steps = 0;
  readonly started = Date.now();
  depth = 0;
  scopes: Scope[] = [new Map()];

  print(text: string): void {
    this.out.push(text + "\r\n");
  }
}

function err(pos: { line: number; col: number }, message: string): RosError {
  return new RosError(`${message} (line ${pos.line} column ${pos.col})`);
}

function hex(n: number): string {
  return n.toString(16).toUpperCase();
}

/** Text of a property value as `print` shows it: bare when safe, else quoted. */
function shown(v: string): string {
  if (/^[A-Za-z0-9._:/@+,*!-]+$/.test(v)) return v;
  return '"' + v.replace(/[\\"]/g, (c) => "\\" + c) + '"';
}

/** A simulated RouterOS router. */
export class RouterOsSim {
  state: SimState;
  readonly grammar: Grammar;
  readonly diskRoot: string | undefined;

  constructor(o: RouterOsSimOptions) {
    const version = o.state?.version ?? o.version;
    if (version === undefined) throw new Error("RouterOsSim: version or state required");
    this.state = o.state ?? initialState(version, o.disks ?? ["disk1"], o.options);
    if (o.state && o.options) this.state.options = { ...this.state.options, ...o.options };
    this.grammar = grammarFor(this.state.version);
    this.diskRoot = o.diskRoot;
    if (this.diskRoot !== undefined) {
      for (const d of this.state.disks) mkdirSync(hostPath(this.diskRoot, toBytes(d)), { recursive: true });
    }
  }

  /** Parses `command` (UTF-8 text) as this router would. */
  parse(command: string): ParseResult {
    return parse(toBytes(command), this.grammar, Object.keys(this.state.globals));
  }

  /**
   * Runs `command` as one SSH exec does and returns its output (decoded as UTF-8). Every line of `command` is
   * its own command line (RouterOS runs the lines of a non-interactive session one by one).
   */
  run(command: string): string {
    return fromBytes(this.runBytes(toBytes(command)));
  }

  /**
   * Moves the virtual clock forward by `ms`, running every `/system/scheduler` entry whose time comes on the
   * way, as RouterOS does: at `start-time` (time of day; `startup` never fires here) and every `interval` after,
   * never for a time already past. `on-event` names a `/system/script` (its source runs) or is script code.
   * Returns what the runs printed (decoded as UTF-8).
   */
  advance(ms: number): string {
    const end = this.state.clock + ms;
    let out = "";
    for (let guard = 0; guard < 100_000; guard++) {
      let next: { at: number; event: string } | undefined;
      for (const row of this.state.tables["/system/scheduler"]?.items ?? []) {
        const at = this.nextRun(row.props);
        if (at !== undefined && at <= end && (next === undefined || at < next.at))
          next = { at, event: row.props["on-event"] ?? "" };
      }
      if (next === undefined) break;
      this.state.clock = next.at;
      this.tick();
      const script = this.state.tables["/system/script"]?.items.find((r) => r.props.name === next.event);
      out += this.runBytes(script ? (script.props.source ?? "") : next.event);
    }
    this.state.clock = Math.max(this.state.clock, end);
    this.tick();
    return fromBytes(out);
  }

  /** A scheduler's first run time after the clock (a run due now has already happened). */
  private nextRun(props: Record<string, string>): number | undefined {
    if (props.disabled === "yes" || !props["start-time"] || props["start-time"] === "startup")
      return undefined;
    const start = parseDuration(props["start-time"]);
    const interval = parseDuration(props.interval ?? "0s") ?? 0;
    if (start === undefined) return undefined;
    if (start > this.state.clock) return start;
    if (interval <= 0) return undefined;
    return start + (Math.floor((this.state.clock - start) / interval) + 1) * interval;
  }

  /** {@link run} on byte strings. */
  runBytes(src: string): string {
    let out = "";
    for (const line of src.split(/\r\n|\n|\r/)) {
      if (line.trim() === "") continue;
      out += this.runLine(line);
    }
    return out;
  }

  private runLine(line: string): string {
    const parsed = parse(line, this.grammar, Object.keys(this.state.globals));
    if (!parsed.ok) return parsed.error + "\r\n";
    const ctx = new Ctx();
    try {
      this.tick();
      this.body(parsed.body, ctx);
    } catch (e) {
      if (e instanceof RosError) ctx.print(e.message);
      else ctx.print(`failure: simulator internal error: ${e instanceof Error ? e.message : String(e)}`);
    }
    return ctx.out.join("");
  }

  // --- statements ------------------------------------------------------------------------------------------

  private step(ctx: Ctx): void {
    ctx.steps++;
    const o = this.state.options;
    if (ctx.steps > o.maxSteps) throw new RosError(`failure: simulator limit of ${o.maxSteps} steps reached`);
    if ((ctx.steps & 255) === 0 && Date.now() - ctx.started > o.maxMillis) {
      throw new RosError(`failure: simulator limit of ${o.maxMillis} ms reached`);
    }
  }

  /** Runs statements in a new scope; returns the value of the last one. */
  private body(stmts: Stmt[], ctx: Ctx, vars: [string, Value][] = []): Value {
    ctx.scopes.push(new Map(vars.map(([k, v]) => [k, { value: v }])));
    try {
      let last: Value = NIL;
      for (const s of stmts) last = this.stmt(s, ctx);
      return last;
    } finally {
      ctx.scopes.pop();
    }
  }

  private stmt(s: Stmt, ctx: Ctx): Value {
    this.step(ctx);
    switch (s.type) {
      case "block":
        return this.body(s.body, ctx);
      case "nav":
        return NIL;
      case "script":
        return this.script(s, ctx);
      case "menu":
        return this.menuCommand(s, ctx);
    }
  }

  private lookup(name: string, ctx: Ctx): { value: Value } {
    for (let i = ctx.scopes.length - 1; i >= 0; i--) {
      const slot = ctx.scopes[i].get(name);
      if (slot === "global") return { value: (this.state.globals[name] as Value | undefined) ?? NIL };
      if (slot) return slot;
    }
    if (name in this.state.globals) return { value: this.state.globals[name] as Value };
    throw new RosError("syntax error (line 1 column 1)");
  }

  private assign(name: string, value: Value, ctx: Ctx): void {
    for (let i = ctx.scopes.length - 1; i >= 0; i--) {
      const slot = ctx.scopes[i].get(name);
      if (slot === "global") {
        this.state.globals[name] = storable(value);
        return;
      }
      if (slot) {
        slot.value = value;
        return;
      }
    }
    this.state.globals[name] = storable(value);
  }

  private script(s: Extract<Stmt, { type: "script" }>, ctx: Ctx): Value {
    const pos = s.args.filter((a) => a.name === undefined).map((a) => a.value);
    const named = new Map(s.args.filter((a) => a.name !== undefined).map((a) => [a.name as string, a.value]));
    const code = (e: Expr | undefined): Stmt[] => (e && e.type === "code" ? e.body : []);
    const nameOf = (e: Expr) => (e.type === "word" ? e.text : "");
    const scope = ctx.scopes[ctx.scopes.length - 1];
    switch (s.command) {
      case "put":
        ctx.print(pos[0] ? display(this.eval(pos[0], ctx)) : "");
        return NIL;
      case "local":
        scope.set(nameOf(pos[0]), { value: pos[1] ? this.eval(pos[1], ctx) : NIL });
        return NIL;
      case "global": {
        const name = nameOf(pos[0]);
        scope.set(name, "global");
        if (pos[1]) this.state.globals[name] = storable(this.eval(pos[1], ctx));
        else if (!(name in this.state.globals)) this.state.globals[name] = NIL;
        return NIL;
      }
      case "set":
        this.assign(nameOf(pos[0]), pos[1] ? this.eval(pos[1], ctx) : NIL, ctx);
        return NIL;
      case "if":
        if (truthy(this.eval(pos[0], ctx))) return this.body(code(named.get("do")), ctx);
        if (named.has("else")) return this.body(code(named.get("else")), ctx);
        return NIL;
      case "while":
        while (truthy(this.eval(pos[0], ctx))) {
          this.step(ctx);
          this.body(code(named.get("do")), ctx);
        }
        return NIL;
      case "foreach": {
        const list = this.eval(named.get("in") as Expr, ctx);
        const items = list.t === "array" ? list.v : list.t === "nil" ? [] : [list];
        for (const item of items) {
          this.step(ctx);
          this.body(code(named.get("do")), ctx, [[nameOf(pos[0]), item]]);
        }
        return NIL;
      }
      case "for": {
        const n = (k: string, d: number) => {
          const e = named.get(k);
          const v = e ? this.eval(e, ctx) : num(d);
          if (v.t !== "num") throw new RosError(`invalid value for argument ${k}`);
          return v.v;
        };
        const from = n("from", 0);
        const to = n("to", 0);
        const stepBy = n("step", from <= to ? 1 : -1);
        if (stepBy === 0) throw new RosError("invalid value for argument step");
        for (let i = from; stepBy > 0 ? i <= to : i >= to; i += stepBy) {
          this.step(ctx);
          this.body(code(named.get("do")), ctx, [[nameOf(pos[0]), num(i)]]);
        }
        return NIL;
      }
      case "do":
        try {
          this.body(code(pos[0]), ctx);
        } catch (e) {
          if (!(e instanceof RosError) || e.message.startsWith("failure: simulator limit")) throw e;
          if (named.has("on-error")) this.body(code(named.get("on-error")), ctx);
        }
        return NIL;
      case "onerror":
        try {
          this.body(code(named.get("in")), ctx);
          return bool(false);
        } catch (e) {
          if (!(e instanceof RosError) || e.message.startsWith("failure: simulator limit")) throw e;
          this.body(code(named.get("do")), ctx, [[nameOf(pos[0]), str(e.message)]]);
          return bool(true);
        }
      case "delay": {
        const ms = pos[0] ? this.duration(this.eval(pos[0], ctx)) : 1000;
        this.state.clock += ms;
        this.tick();
        return NIL;
      }
      case "error":
        throw new RosError(display(this.eval(pos[0], ctx)));
      case "len":
        return num(length(this.eval(pos[0], ctx)));
      case "log": {
        const topic = nameOf(pos[0]);
        if (!LOG_TOPICS.has(topic)) throw err(pos[0].pos, "bad command name " + topic);
        this.log(topic, display(this.eval(pos[1], ctx)));
        return NIL;
      }
      case "typeof":
        return str(typeName(this.eval(pos[0], ctx)));
      case "tostr":
        return str(display(this.eval(pos[0], ctx)));
      case "tonum": {
        const v = this.eval(pos[0], ctx);
        const t = typedWord(display(v));
        return t.t === "num" ? t : NIL;
      }
      default:
        throw err(s.pos, `bad command name ${s.command}`);
    }
  }

  private duration(v: Value): number {
    if (v.t === "time") return v.v;
    if (v.t === "num") return v.v * 1000;
    const ms = v.t === "str" ? parseDuration(v.v) : undefined;
    if (ms === undefined) throw new RosError("invalid value for argument time");
    return ms;
  }

  private log(topic: string, message: string): void {
    this.state.log.push({ time: this.state.clock, topic, message });
    if (this.state.log.length > 1000) this.state.log.splice(0, this.state.log.length - 1000);
  }

  // --- expressions -----------------------------------------------------------------------------------------

  private eval(e: Expr, ctx: Ctx, item?: { menu: MenuDef; item: Row }): Value {
    switch (e.type) {
      case "str": {
        let text = "";
        for (const p of e.parts) {
          if (p.kind === "lit") text += p.text;
          else if (p.kind === "var") text += display(this.lookup(p.name, ctx).value);
          else if (p.kind === "expr") text += display(this.eval(p.expr, ctx, item));
          else text += display(this.body(p.body, ctx));
        }
        return str(text);
      }
      case "word":
        return typedWord(e.text);
      case "prop":
        return item ? (this.readProp(item.menu, item.item, e.name) ?? NIL) : NIL;
      case "var":
        return this.lookup(e.name, ctx).value;
      case "sub":
        return this.body(e.body, ctx);
      case "array":
        return { t: "array", v: e.items.map((x) => this.eval(x, ctx, item)) };
      case "code":
        return { t: "code", body: e.body, text: e.text };
      case "unary": {
        const v = this.eval(e.operand, ctx, item);
        if (e.op === "!") return bool(!truthy(v));
        return v.t === "num" ? num(-v.v) : NIL;
      }
      case "binary":
        return this.binary(e, ctx, item);
    }
  }

  private binary(e: Extract<Expr, { type: "binary" }>, ctx: Ctx, item?: { menu: MenuDef; item: Row }): Value {
    if (e.op === "and")
      return bool(truthy(this.eval(e.left, ctx, item)) && truthy(this.eval(e.right, ctx, item)));
    if (e.op === "or")
      return bool(truthy(this.eval(e.left, ctx, item)) || truthy(this.eval(e.right, ctx, item)));
    const a = this.eval(e.left, ctx, item);
    const b = this.eval(e.right, ctx, item);
    switch (e.op) {
      case "=":
        return bool(equal(a, b));
      case "!=":
        return bool(!equal(a, b));
      case "<":
      case ">":
      case "<=":
      case ">=": {
        const c = order(a, b);
        return bool(e.op === "<" ? c < 0 : e.op === ">" ? c > 0 : e.op === "<=" ? c <= 0 : c >= 0);
      }
      case "~": {
        let re: RegExp;
        try {
          re = new RegExp(display(b));
        } catch {
          throw new RosError("invalid value for argument regexp");
        }
        return bool(re.test(display(a)));
      }
      case ".":
        return str(display(a) + display(b));
      default:
        return arithmetic(e.op, a, b);
    }
  }

  // --- menus -----------------------------------------------------------------------------------------------

  private table(path: string): Table {
    let t = this.state.tables[path];
    if (!t) {
      t = { nextId: 1, items: [] };
      this.state.tables[path] = t;
    }
    return t;
  }

  private rows(menu: MenuDef): Row[] {
    if (menu.kind === "file") return this.fileRows();
    if (menu.kind === "log") return this.logRows();
    if (menu.kind === "derived") return this.derivedRows(menu);
    return this.table(menu.path).items;
  }

  private menuCommand(s: Extract<Stmt, { type: "menu" }>, ctx: Ctx): Value {
    const menu = this.grammar.menu(s.menu) as MenuDef;
    const refusal = this.state.options.refuse[`${s.menu}/${s.command}`];
    if (refusal !== undefined) throw new RosError(refusal);
    const args = this.args(s.args, ctx);
    if (menu.kind === "resource") return this.resource(s, menu, args, ctx);
    if (menu.kind === "singleton") return this.settings(s, menu, args, ctx);
    switch (s.command) {
      case "find":
        return { t: "array", v: this.select(menu, s.where, ctx).map((r) => idValue(r.id)) };
      case "print":
        return this.print(menu, s, args, ctx);
      case "get":
        return this.get(menu, args);
      case "add":
        return menu.kind === "file" ? this.fileAdd(menu, args) : this.add(menu, args);
      case "set":
        this.set(menu, args);
        return NIL;
      case "remove":
        this.remove(menu, args);
        return NIL;
      case "enable":
      case "disable":
        if (!menu.props.has("disabled")) break;
        this.set(menu, this.withProp(args, "disabled", s.command === "disable" ? "yes" : "no", s.pos));
        return NIL;
      case "comment":
        this.set(menu, args);
        return NIL;
      case "unset":
        this.unset(menu, args);
        return NIL;
      case "start":
      case "stop":
      case "restart":
        if (menu.path !== "/container") break;
        this.containerCommand(menu, s.command, args);
        return NIL;
      case "run":
        if (menu.path !== "/system/script") break;
        return this.runScript(menu, args, ctx);
    }
    throw new RosError(`failure: ${s.menu}/${s.command} is not supported by the RouterOS simulator`);
  }

  private withProp(args: Args, name: string, value: string, pos: Arg["pos"]): Args {
    return { positional: args.positional, named: [...args.named, { name, value: str(value), pos }] };
  }

  /** Evaluates arguments: words are text here (RouterOS converts them by the property's type). */
  private args(raw: Arg[], ctx: Ctx): Args {
    const out: Args = { positional: [], named: [] };
    for (const a of raw) {
      const value = a.value.type === "word" ? str(a.value.text) : this.eval(a.value, ctx);
      if (a.name === undefined) out.positional.push({ value, pos: a.pos });
      else out.named.push({ name: a.name, value, pos: a.pos });
    }
    return out;
  }

  /** Rejects arguments not in `allowed` and more than `positional` unnamed ones. */
  private expectArgs(args: Args, allowed: (name: string) => boolean, positional: number): void {
    const bad = [
      ...args.named.filter((a) => !allowed(a.name)).map((a) => a.pos),
      ...args.positional.slice(positional).map((a) => a.pos),
    ].sort((a, b) => a.line - b.line || a.col - b.col);
    if (bad.length > 0) throw err(bad[0], "expected end of command");
  }

  /** The items a selector names: ids, id lists, names, arrays of them; `[]` for an empty array. */
  private resolve(menu: MenuDef, v: Value): Row[] {
    const rows = this.rows(menu);
    const out: Row[] = [];
    const add = (r: Row) => {
      if (!out.includes(r)) out.push(r);
    };
    const one = (x: Value): void => {
      if (x.t === "array") {
        x.v.forEach(one);
        return;
      }
      if (x.t === "id" || (x.t === "str" && /^\*[0-9A-Fa-f]+$/.test(x.v))) {
        const r = rows.find((row) => row.id === x.v.toUpperCase());
        if (!r) throw new RosError("no such item");
        add(r);
        return;
      }
      if (x.t === "str" && x.v.includes(",")) {
        x.v.split(",").forEach((p) => one(str(p)));
        return;
      }
      const key = menu.kind === "file" ? "name" : menu.key;
      if (x.t === "str" && key !== undefined) {
        const wanted = menu.kind === "file" ? (fileName(x.v) ?? x.v) : x.v;
        const r = rows.find((row) => row.props[key] === wanted);
        if (!r) throw new RosError("no such item");
        add(r);
        return;
      }
      throw new RosError("no such item");
    };
    one(v);
    return out;
  }

  private selector(args: Args): Value | undefined {
    const named = args.named.find((a) => a.name === "numbers");
    if (named) return named.value;
    return args.positional[0]?.value;
  }

  private select(menu: MenuDef, where: Expr | undefined, ctx: Ctx): Row[] {
    return this.rows(menu).filter((row) => !where || truthy(this.eval(where, ctx, { menu, item: row })));
  }

  /** A property, flag or read-only value of a row (`undefined` if it has none). */
  private readProp(menu: MenuDef, row: Row, name: string): Value | undefined {
    if (name === ".id") return idValue(row.id);
    if (name in row.props) return str(row.props[name]);
    const c = row.container;
    if (menu.path === "/container" && c) {
      if (name === "status" && menu.readonly.has("status")) {
        return str(c.phase === "removing" ? "stopped" : c.phase);
      }
      if (menu.flags.has(name)) return bool(CONTAINER_FLAG_OF[c.phase] === name);
    }
    if (menu.path === "/interface/veth" && name === "running") {
      return bool(
        this.containers().some(
          (r) => r.container?.phase === "running" && listOf(r.props.interface).includes(row.props.name),
        ),
      );
    }
    if (menu.path === "/interface/bridge" && name === "running") return bool(true);
    if (menu.flags.has(name)) return bool(false);
    return undefined;
  }

  private containers(): Item[] {
    return this.state.tables["/container"]?.items ?? [];
  }

  // --- add / set / remove / get / print --------------------------------------------------------------------

  /** Checks named property arguments of add/set; returns the texts to store. */
  private propValues(menu: MenuDef, args: Args, extra: Set<string>): Record<string, string> {
    this.expectArgs(args, (n) => menu.props.has(n) || extra.has(n), extra.has("numbers") ? 1 : 0);
    const values: Record<string, string> = {};
    for (const a of args.named) {
      if (extra.has(a.name)) continue;
      values[a.name] = checkProp(
        menu.path,
        a.name,
        menu.props.get(a.name) as PropSpec,
        argText(a.value, a.name),
      );
    }
    return values;
  }

  private add(menu: MenuDef, args: Args): Value {
    const values = this.propValues(menu, args, new Set());
    const table = this.table(menu.path);
    let placeBefore: number | undefined;
    if ("copy-from" in values) {
      const [src] = this.resolve(menu, str(values["copy-from"]));
      for (const [k, v] of Object.entries(src.props)) if (!(k in values) && k !== menu.key) values[k] = v;
      delete values["copy-from"];
    }
    if ("place-before" in values) {
      const [before] = this.resolve(menu, str(values["place-before"]));
      placeBefore = table.items.indexOf(before as Item);
      delete values["place-before"];
    }
    const missing = [...menu.props.entries()]
      .filter(([n, p]) => p.required && !(n in values))
      .map(([n]) => n);
    if (missing.length > 0) throw new RosError(`missing value(s) of argument(s) ${missing.join(" ")}`);
    const item: Item = { id: `*${hex(table.nextId)}`, props: values };
    if (menu.path === "/container") this.containerAdd(item, table);
    this.checkRefs(menu, values);
    this.checkUnique(menu, values, undefined);
    if (menu.path === "/ip/address" && !("network" in values)) values.network = network(values.address);
    table.nextId++;
    if (placeBefore !== undefined && placeBefore >= 0) table.items.splice(placeBefore, 0, item);
    else table.items.push(item);
    this.tick();
    return idValue(item.id);
  }

  private set(menu: MenuDef, args: Args): void {
    if (menu.kind === "file") return this.fileSet(menu, args);
    const values = this.propValues(menu, args, new Set(["numbers"]));
    const sel = this.selector(args);
    if (sel === undefined) throw new RosError("missing value(s) of argument(s) numbers");
    const rows = this.resolve(menu, sel) as Item[];
    for (const row of rows) {
      const merged = { ...row.props, ...values };
      this.checkRefs(menu, values);
      this.checkUnique(menu, merged, row.id);
      if (menu.path === "/ip/address" && "address" in values && !("network" in values)) {
        merged.network = network(merged.address);
      }
      row.props = merged;
    }
  }

  private unset(menu: MenuDef, args: Args): void {
    this.expectArgs(args, (n) => n === "value-name" || n === "numbers", 1);
    const sel = this.selector(args);
    const name = args.named.find((a) => a.name === "value-name");
    if (sel === undefined || !name) throw new RosError("missing value(s) of argument(s) numbers value-name");
    const prop = argText(name.value, "value-name");
    const spec = menu.props.get(prop);
    if (!spec || spec.required) throw noMatch("value-name");
    for (const row of this.resolve(menu, sel) as Item[]) {
      row.props = Object.fromEntries(Object.entries(row.props).filter(([k]) => k !== prop));
    }
  }

  private remove(menu: MenuDef, args: Args): void {
    this.expectArgs(args, (n) => n === "numbers", 1);
    const sel = this.selector(args);
    if (sel === undefined) throw new RosError("missing value(s) of argument(s) numbers");
    const rows = this.resolve(menu, sel);
    if (menu.kind === "file") return this.fileRemove(rows as FileRow[]);
    const table = this.table(menu.path);
    for (const row of rows as Item[]) this.refuseRemovalInUse(menu, row);
    for (const row of rows as Item[]) {
      if (menu.path === "/container" && row.container) {
        const phase = row.container.phase;
        if (phase === "running" || phase === "starting" || phase === "stopping") {
          throw new RosError("failure: container should be stopped before removing");
        }
        if (phase !== "removing") {
          row.container = {
            phase: "removing",
            until: this.state.clock + this.state.options.removeSeconds * 1000,
          };
        }
        continue;
      }
      table.items.splice(table.items.indexOf(row), 1);
    }
    this.tick();
  }

  /**
   * RouterOS refuses to remove what a container still uses: its veth (and the veth's bridge port) and the mounts
   * of its mount lists (mount names before 7.21). The texts are the simulator's.
   */
  private refuseRemovalInUse(menu: MenuDef, row: Item): void {
    const users = (pred: (c: Item) => boolean) => this.containers().some(pred);
    const veth = menu.path === "/interface/veth" ? row.props.name : undefined;
    const port = menu.path === "/interface/bridge/port" ? row.props.interface : undefined;
    const iface = veth ?? port;
    if (iface !== undefined && users((c) => listOf(c.props.interface).includes(iface)))
      throw new RosError(`failure: interface ${iface} is used by a container`);
    if (menu.path === "/container/mounts") {
      const list = row.props.list ?? row.props.name;
      if (users((c) => listOf(c.props.mountlists ?? c.props.mounts).includes(list)))
        throw new RosError(`failure: mount list ${list} is used by a container`);
    }
  }

  private get(menu: MenuDef, args: Args): Value {
    this.expectArgs(args, (n) => n === "value-name" || n === "numbers", 2);
    const sel = this.selector(args);
    if (sel === undefined) throw new RosError("missing value(s) of argument(s) numbers");
    const rows = this.resolve(menu, sel);
    if (rows.length === 0) throw new RosError("no such item");
    const named = args.named.find((a) => a.name === "value-name");
    const which =
      named?.value ?? args.positional[args.named.some((a) => a.name === "numbers") ? 0 : 1]?.value;
    const row = rows[0];
    if (which === undefined) {
      const names = [...this.grammar.whereNames(menu)].filter((n) => n !== "contents");
      const entries: [string, Value][] = [];
      for (const n of names) {
        const v = this.readProp(menu, row, n);
        if (v !== undefined) entries.push([n, v]);
      }
      return { t: "map", v: entries };
    }
    const name = argText(which, "value-name");
    if (!this.grammar.whereNames(menu).has(name)) throw noMatch("value-name");
    if (menu.kind === "file" && name === "contents") return str(this.fileContents(row as FileRow));
    return this.readProp(menu, row, name) ?? NIL;
  }

  private print(menu: MenuDef, s: Extract<Stmt, { type: "menu" }>, args: Args, ctx: Ctx): Value {
    this.expectArgs(args, (n) => n === "proplist", 99);
    const words = new Set<string>();
    for (const p of args.positional) {
      const w = argText(p.value, "print");
      if (!PRINT_WORDS.has(w)) throw err(p.pos, "expected end of command");
      words.add(w);
    }
    const proplist = args.named.find((a) => a.name === "proplist");
    const only = proplist ? argText(proplist.value, "proplist").split(",") : undefined;
    const rows = this.select(menu, s.where, ctx);
    if (words.has("count-only")) {
      ctx.print(String(rows.length));
      return num(rows.length);
    }
    const names = (row: Row) =>
      (only ?? [...new Set([...Object.keys(row.props), ...this.grammar.whereNames(menu)])]).filter(
        (n) =>
          n !== ".id" &&
          n !== "contents" &&
          (n in row.props || !menu.flags.has(n)) &&
          this.readProp(menu, row, n) !== undefined,
      );
    if (words.has("as-value")) {
      return {
        t: "array",
        v: rows.map((row) => ({
          t: "map" as const,
          v: [
            [".id", idValue(row.id)] as [string, Value],
            ...names(row).map((n) => [n, this.readProp(menu, row, n) ?? NIL] as [string, Value]),
          ],
        })),
      };
    }
    rows.forEach((row, i) => {
      const flags = this.flagLetters(menu, row);
      const props = names(row).map((n) => `${n}=${shown(display(this.readProp(menu, row, n) ?? NIL))}`);
      ctx.print(`${String(i).padStart(2)} ${flags.padEnd(2)} ${props.join(" ")}`.trimEnd());
    });
    return NIL;
  }

  private flagLetters(menu: MenuDef, row: Row): string {
    let f = "";
    if (row.props.disabled === "yes") f += "X";
    if (menu.path === "/container" && row.container) f += CONTAINER_LETTER[row.container.phase] ?? "";
    else if (menu.flags.has("running") && truthy(this.readProp(menu, row, "running") ?? NIL)) f += "R";
    return f;
  }

  // --- references and uniqueness ---------------------------------------------------------------------------

  private names(path: string, prop = "name"): Set<string> {
    return new Set(
      (this.state.tables[path]?.items ?? []).map((i) => i.props[prop]).filter((n) => n !== undefined),
    );
  }

  private refNames(menu: MenuDef, ref: string): Set<string> | undefined {
    const o = this.state.options;
    switch (ref) {
      case "interface(bridge)":
        return this.names("/interface/bridge");
      case "interface(veth)":
        return this.names("/interface/veth");
      case "interface": {
        const all = new Set([
          ...this.names("/interface/bridge"),
          ...this.names("/interface/veth"),
          ...o.interfaces,
        ]);
        if (menu.path === "/interface/bridge/port") for (const l of o.interfaceLists) all.add(l);
        return all;
      }
      case "interface-list":
        return new Set(o.interfaceLists);
      case "/container/envs name":
      case "/container/envs list":
      case "/container/mounts name":
      case "/container/mounts list": {
        const [path, prop] = ref.split(" ");
        return this.names(path, prop);
      }
      default:
        return undefined;
    }
  }

  private checkRefs(menu: MenuDef, values: Record<string, string>): void {
    for (const [name, raw] of Object.entries(values)) {
      const spec = menu.props.get(name);
      if (!spec?.ref || raw === "") continue;
      const known = this.refNames(menu, spec.ref);
      if (!known) continue;
      const items = spec.type === "list" ? raw.split(",") : [spec.negatable ? raw.replace(/^!/, "") : raw];
      for (const it of items) if (!known.has(it)) throw noMatch(name);
    }
  }

  private checkUnique(menu: MenuDef, props: Record<string, string>, self: string | undefined): void {
    const others = (path: string) =>
      (this.state.tables[path]?.items ?? []).filter((i) => i.id !== self || path !== menu.path);
    const clash = (path: string, keys: string[]) =>
      keys.every((k) => props[k] !== undefined) &&
      others(path).some((i) => keys.every((k) => i.props[k] === props[k]));
    switch (menu.path) {
      case "/interface/bridge":
      case "/interface/veth": {
        const n = props.name;
        if (n === undefined) return;
        const taken =
          this.state.options.interfaces.includes(n) ||
          others("/interface/bridge").some((i) => i.props.name === n) ||
          others("/interface/veth").some((i) => i.props.name === n);
        if (taken) throw new RosError("failure: already have interface with such name");
        return;
      }
      case "/interface/bridge/port":
        if (clash(menu.path, ["interface"]))
          throw new RosError("failure: device already added as bridge port");
        return;
      case "/ip/address":
        if (clash(menu.path, ["address", "interface"]))
          throw new RosError("failure: already have such address");
        return;
      case "/container":
        if (menu.props.has("name") && clash(menu.path, ["name"]))
          throw new RosError(DUPLICATE_NAME[menu.path]);
        if (props["root-dir"] && clash(menu.path, ["root-dir"])) {
          throw new RosError("failure: root-dir is used by another container");
        }
        return;
      case "/system/script":
      case "/system/scheduler":
        if (clash(menu.path, ["name"])) throw new RosError(DUPLICATE_NAME[menu.path]);
        return;
      case "/container/envs":
        if (clash(menu.path, [menu.props.has("list") ? "list" : "name", "key"])) {
          throw new RosError("failure: already have such entry");
        }
        return;
      case "/container/mounts":
        if (clash(menu.path, menu.props.has("list") ? ["list", "dst"] : ["name"])) {
          throw new RosError("failure: already have such entry");
        }
        return;
      case "/interface/list/member":
        if (clash(menu.path, ["list", "interface"])) throw new RosError("failure: already have such entry");
        return;
    }
  }

  // --- containers ------------------------------------------------------------------------------------------

  private containerAdd(item: Item, table: Table): void {
    const o = this.state.options;
    if (!o.containerMode) throw new RosError("failure: could not add");
    const p = item.props;
    if (p["remote-image"] === undefined && p.file === undefined) {
      throw new RosError("missing value(s) of argument(s) remote-image");
    }
    if (p["remote-image"] !== undefined && p.file !== undefined) {
      throw new RosError("failure: remote-image and file can not be used together");
    }
    if (!this.grammar.menu("/container")?.props.has("name")) {
      p.name = `${hex(0x1000 + table.nextId)
        .toLowerCase()
        .padStart(8, "0")}-0000-4000-8000-000000000000`;
    } else if (p.name === undefined) {
      p.name = p["remote-image"] ?? p.file;
    }
    item.container = {
      phase: "extracting",
      until: o.extract === "never" ? null : this.state.clock + o.extractSeconds * 1000,
    };
  }

  private containerCommand(menu: MenuDef, command: string, args: Args): void {
    // The named selector of start/stop is `number` up to 7.19 and `numbers` from 7.20 (routeros.md §1); a
    // positional one works on every version.
    const key = inVersion(this.grammar.version, "7.20") ? "numbers" : "number";
    this.expectArgs(args, (n) => n === key, 1);
    const sel = args.named.find((a) => a.name === key)?.value ?? args.positional[0]?.value;
    if (sel === undefined) throw new RosError(`missing value(s) of argument(s) ${key}`);
    const o = this.state.options;
    for (const row of this.resolve(menu, sel) as Item[]) {
      const c = row.container;
      if (!c) continue;
      const phase = c.phase;
      if (command === "start" || (command === "restart" && phase === "stopped")) {
        if (phase === "running" || phase === "starting") continue;
        if (phase !== "stopped") throw new RosError(`failure: container is ${phase}, it can not be started`);
        this.createMountDirs(row);
        row.container = { phase: "starting", until: this.state.clock + o.startSeconds * 1000 };
        this.log("container", `${row.props.name}: starting`);
      } else if (command === "stop") {
        if (phase !== "running" && phase !== "starting") continue;
        row.container = { phase: "stopping", until: this.state.clock + o.stopSeconds * 1000 };
      } else {
        // restart of a running container: stop, then start
        if (phase !== "running")
          throw new RosError(`failure: container is ${phase}, it can not be restarted`);
        row.container = {
          phase: "starting",
          until: this.state.clock + (o.stopSeconds + o.startSeconds) * 1000,
        };
      }
    }
    this.tick();
  }

  /** RouterOS creates a mount's `src` at the first start (and fills it from the image). */
  private createMountDirs(row: Item): void {
    if (this.diskRoot === undefined) return;
    const lists = listOf(row.props.mountlists ?? row.props.mounts);
    const mounts = this.state.tables["/container/mounts"]?.items ?? [];
    for (const m of mounts) {
      if (!lists.includes(m.props.list ?? m.props.name) || !m.props.src) continue;
      const name = fileName(m.props.src);
      if (name !== undefined) mkdirSync(hostPath(this.diskRoot, name), { recursive: true });
    }
  }

  /** Ends container phases whose virtual end time has come (several in a row if need be). */
  private tick(): void {
    const table = this.state.tables["/container"];
    if (!table) return;
    const o = this.state.options;
    for (const row of [...table.items]) {
      for (let guard = 0; guard < 8; guard++) {
        const c = row.container;
        if (!c || c.until === null || c.until > this.state.clock) break;
        const at = c.until;
        switch (c.phase) {
          case "extracting":
            if (o.extract === "fail") {
              row.container = { phase: "error", until: null };
              this.log("container", `${row.props.name}: extraction failed`);
            } else {
              row.container = { phase: "stopped", until: null };
              this.rootDir(row, "create");
            }
            break;
          case "starting":
            row.container = {
              phase: "running",
              until: o.exitAfterSeconds === null ? null : at + o.exitAfterSeconds * 1000,
            };
            break;
          case "running":
          case "stopping":
            row.container = { phase: "stopped", until: null };
            break;
          case "removing":
            table.items.splice(table.items.indexOf(row), 1);
            this.rootDir(row, "remove");
            row.container = undefined;
            break;
          default:
            row.container = { ...c, until: null };
        }
      }
    }
  }

  private rootDir(row: Item, what: "create" | "remove"): void {
    const name = row.props["root-dir"] ? fileName(row.props["root-dir"]) : undefined;
    if (this.diskRoot === undefined || name === undefined || !name.includes("/")) return;
    const p = hostPath(this.diskRoot, name);
    if (what === "create") mkdirSync(p, { recursive: true });
    else rmSync(p, { recursive: true, force: true });
  }

  private runScript(menu: MenuDef, args: Args, ctx: Ctx): Value {
    this.expectArgs(args, (n) => n === "numbers" || n === "use-script-permissions", 1);
    const sel = this.selector(args);
    if (sel === undefined) throw new RosError("missing value(s) of argument(s) number");
    const rows = this.resolve(menu, sel) as Item[];
    if (rows.length === 0) throw new RosError("no such item");
    if (ctx.depth >= MAX_SCRIPT_DEPTH)
      throw new RosError("failure: simulator limit of nested script runs reached");
    const parsed = parse(rows[0].props.source ?? "", this.grammar, Object.keys(this.state.globals));
    if (!parsed.ok) throw new RosError(parsed.error);
    const scopes = ctx.scopes;
    ctx.scopes = [new Map()];
    ctx.depth++;
    try {
      this.body(parsed.body, ctx);
    } finally {
      ctx.depth--;
      ctx.scopes = scopes;
    }
    return NIL;
  }

  // --- settings, resource ----------------------------------------------------------------------------------

  private settings(s: Extract<Stmt, { type: "menu" }>, menu: MenuDef, args: Args, ctx: Ctx): Value {
    const stored = this.state.settings[menu.path] ?? {};
    const o = this.state.options;
    const defaults: Record<string, Record<string, string>> = {
      "/container/config": { "registry-url": "https://lscr.io", tmpdir: "" },
      "/system/device-mode": {
        mode: o.deviceMode,
        container: o.containerMode ? "yes" : "no",
        scheduler: o.deviceMode === "home" || o.deviceMode === "basic" ? "no" : "yes",
      },
      "/ip/dns": { servers: "", "dynamic-servers": o.dynamicDnsServers.join(",") },
    };
    const current = (): Record<string, string> => ({ ...defaults[menu.path], ...stored });
    switch (s.command) {
      case "set": {
        const values = this.propValues(menu, args, new Set());
        this.state.settings[menu.path] = { ...stored, ...values };
        return NIL;
      }
      case "get": {
        this.expectArgs(args, (n) => n === "value-name", 1);
        const which = args.named.find((a) => a.name === "value-name")?.value ?? args.positional[0]?.value;
        const all = current();
        if (which === undefined) return { t: "map", v: Object.entries(all).map(([k, v]) => [k, str(v)]) };
        const name = argText(which, "value-name");
        if (!menu.props.has(name) && !menu.readonly.has(name)) throw noMatch("value-name");
        return str(all[name] ?? "");
      }
      case "print":
        this.expectArgs(args, () => false, 0);
        for (const [k, v] of Object.entries(current())) ctx.print(`${k.padStart(20)}: ${v}`);
        return NIL;
      default:
        throw new RosError(`failure: ${s.menu}/${s.command} is not supported by the RouterOS simulator`);
    }
  }

  private resource(s: Extract<Stmt, { type: "menu" }>, menu: MenuDef, args: Args, ctx: Ctx): Value {
    const values: Record<string, string> = {
      version: `${this.state.version} (stable)`,
      "board-name": "CHR",
      "architecture-name": "x86_64",
      platform: "MikroTik",
      uptime: display({ t: "time", v: this.state.clock }),
      "cpu-count": "1",
    };
    if (s.command === "print") {
      this.expectArgs(args, () => false, 0);
      for (const [k, v] of Object.entries(values)) ctx.print(`${k.padStart(20)}: ${v}`);
      return NIL;
    }
    this.expectArgs(args, (n) => n === "value-name", 1);
    const which = args.named.find((a) => a.name === "value-name")?.value ?? args.positional[0]?.value;
    if (which === undefined) return { t: "map", v: Object.entries(values).map(([k, v]) => [k, str(v)]) };
    const name = argText(which, "value-name");
    if (!menu.readonly.has(name)) throw noMatch("value-name");
    return str(values[name]);
  }

  /** `/user` and `/user/group` rows, from the options (read only here). */
  private derivedRows(menu: MenuDef): Item[] {
    const o = this.state.options;
    const rows =
      menu.path === "/user"
        ? Object.entries(o.users).map(([name, group]) => ({ name, group }))
        : Object.entries(o.groups).map(([name, policy]) => ({ name, policy: policy.join(",") }));
    return rows.map((props, i) => ({ id: `*${hex(i + 1)}`, props }));
  }

  /** `/log` rows: the memory log, oldest first (`:log` lines with their topic, container events `container`). */
  private logRows(): Item[] {
    return this.state.log.map((l, i) => ({
      id: `*${hex(i + 1)}`,
      props: { time: display({ t: "time", v: l.time }), topics: l.topic, message: l.message },
    }));
  }

  // --- /file -----------------------------------------------------------------------------------------------

  private disk(): string {
    if (this.diskRoot === undefined) throw new RosError("failure: the simulator has no disk root");
    return this.diskRoot;
  }

  /** The disk's entries with stable ids (new entries get the next id, vanished ones lose theirs). */
  private fileRows(): FileRow[] {
    const entries = listEntries(this.disk(), this.state.disks);
    const files = this.state.files;
    const seen = new Set<string>();
    const rows = entries.map((e) => {
      seen.add(e.name);
      let fid = files.ids[e.name];
      if (fid === undefined) {
        fid = `*${hex(files.nextId++)}`;
        files.ids[e.name] = fid;
      }
      const props: Record<string, string> = { name: e.name, type: e.type };
      if (e.type === "file") props.size = String(e.size);
      return { id: fid, props, entry: e };
    });
    files.ids = Object.fromEntries(Object.entries(files.ids).filter(([name]) => seen.has(name)));
    return rows;
  }

  private fileContents(row: FileRow): string {
    if (row.entry.type !== "file") return "";
    if (row.entry.size > 61439) throw new RosError("failure: file is too big to read contents");
    return readFileSync(hostPath(this.disk(), row.entry.name)).toString("latin1");
  }

  private fileAdd(menu: MenuDef, args: Args): Value {
    const values = this.propValues(menu, args, new Set());
    if (values.name === undefined) throw new RosError("missing value(s) of argument(s) name");
    const name = fileName(values.name);
    if (name === undefined) throw new RosError("invalid value for argument name");
    const root = this.disk();
    const path = hostPath(root, name);
    if (exists(path)) throw new RosError("failure: already have such entry");
    const parent = dirname(path);
    if (name.includes("/") && !isDir(parent)) throw new RosError("failure: no such directory");
    if (values.type === "directory") {
      if (values.contents !== undefined) throw new RosError("failure: a directory has no contents");
      mkdirSync(path);
    } else {
      writeFileSync(path, Buffer.from(values.contents ?? "", "latin1"));
    }
    const row = this.fileRows().find((r) => r.props.name === name);
    return row ? idValue(row.id) : NIL;
  }

  private fileSet(menu: MenuDef, args: Args): void {
    const values = this.propValues(menu, args, new Set(["numbers"]));
    const sel = this.selector(args);
    if (sel === undefined) throw new RosError("missing value(s) of argument(s) numbers");
    for (const row of this.resolve(menu, sel) as FileRow[]) {
      if ("name" in values || "type" in values) throw new RosError("failure: can not change name or type");
      if (values.contents === undefined) continue;
      if (row.entry.type !== "file") throw new RosError("failure: a directory has no contents");
      writeFileSync(hostPath(this.disk(), row.entry.name), Buffer.from(values.contents, "latin1"));
    }
  }

  private fileRemove(rows: FileRow[]): void {
    for (const row of rows) {
      if (row.entry.type === "disk") throw new RosError("failure: can not remove a disk");
      rmSync(hostPath(this.disk(), row.entry.name), { recursive: true, force: true });
    }
  }
}

/** A row of a menu: a stored item, or a `/file` entry. */
type Row = Item | FileRow;

interface FileRow {
  id: string;
  props: Record<string, string>;
  container?: undefined;
  entry: FileEntry;
}

interface Args {
  positional: { value: Value; pos: Arg["pos"] }[];
  named: { name: string; value: Value; pos: Arg["pos"] }[];
}

function exists(p: string): boolean {
  try {
    statSync(p);
    return true;
  } catch {
    return false;
  }
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function listOf(v: string | undefined): string[] {
  return v === undefined || v === "" ? [] : v.split(",");
}

/** The text a value gives a menu argument: arrays join with `,` (lists), ids are `*N`. */
function argText(v: Value, name: string): string {
  switch (v.t) {
    case "array":
      return v.v.map((x) => argText(x, name)).join(",");
    case "map":
    case "code":
      if (v.t === "code") return v.text;
      throw new RosError(`invalid value for argument ${name}`);
    default:
      return display(v);
  }
}

/** `172.20.0.1/24` → `172.20.0.0`. */
function network(prefix: string | undefined): string {
  const m = /^([0-9.]+)\/([0-9]+)$/.exec(prefix ?? "");
  if (!m) return "";
  const bits = Number(m[2]);
  const ip = m[1].split(".").reduce((a, o) => a * 256 + Number(o), 0);
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  const n = (ip & mask) >>> 0;
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join(".");
}

function length(v: Value): number {
  if (v.t === "array" || v.t === "map") return v.v.length;
  if (v.t === "nil") return 0;
  return display(v).length;
}

function boolish(v: Value): boolean | undefined {
  if (v.t === "bool") return v.v;
  if (v.t === "str" && (v.v === "yes" || v.v === "true")) return true;
  if (v.t === "str" && (v.v === "no" || v.v === "false")) return false;
  return undefined;
}

function equal(a: Value, b: Value): boolean {
  if (a.t === "bool" || b.t === "bool") {
    const x = boolish(a);
    const y = boolish(b);
    if (x !== undefined && y !== undefined) return x === y;
  }
  if ((a.t === "num" && b.t === "num") || (a.t === "time" && b.t === "time")) return a.v === b.v;
  if (a.t === "array" && b.t === "array")
    return a.v.length === b.v.length && a.v.every((x, i) => equal(x, b.v[i]));
  return display(a) === display(b);
}

function order(a: Value, b: Value): number {
  if ((a.t === "num" || a.t === "time") && (b.t === "num" || b.t === "time")) return a.v - b.v;
  const x = display(a);
  const y = display(b);
  if (/^-?[0-9]+$/.test(x) && /^-?[0-9]+$/.test(y)) return Number(x) - Number(y);
  return x < y ? -1 : x > y ? 1 : 0;
}

function arithmetic(op: string, a: Value, b: Value): Value {
  if (a.t === "num" && b.t === "num") {
    if (op === "+") return num(a.v + b.v);
    if (op === "-") return num(a.v - b.v);
    if (op === "*") return num(a.v * b.v);
    if (op === "/") {
      if (b.v === 0) throw new RosError("division by zero");
      return num(Math.trunc(a.v / b.v));
    }
  }
  if (a.t === "time" && b.t === "time" && (op === "+" || op === "-")) {
    return { t: "time", v: op === "+" ? a.v + b.v : a.v - b.v };
  }
  return NIL;
}

/** Values kept in the state file (`:global`): code is kept as its text. */
function storable(v: Value): Value {
  if (v.t === "code") return str(v.text);
  if (v.t === "array") return { t: "array", v: v.v.map(storable) };
  if (v.t === "map") return { t: "map", v: v.v.map(([k, x]) => [k, storable(x)]) };
  return v;
}
