/**
 * Parser of the RouterOS v7 scripting subset the command builders of routeros/commands.ts emit (routeros.md §3,
 * §4 and routeros-menus.json `_meta.command_line`, `_meta.value_syntax`, `_meta.script`).
 *
 * The input is a *byte string*: one JS character per byte (0..255), as RouterOS sees the UTF-8 bytes of the SSH
 * command ({@link toBytes}). Like RouterOS, the whole line is parsed before anything runs: syntax errors,
 * unknown menus and commands (`bad command name`), unknown script words and undeclared variables reject the line.
 * Unknown *arguments* of menu commands are not checked here: RouterOS reports them when the statement runs.
 *
 * Parse errors are returned as RouterOS prints them (`syntax error (line 1 column 12)`); the parser never
 * throws anything else.
 */
import { SCRIPT_COMMANDS, type Grammar, type MenuDef } from "./grammar";

/** 1-based line and column (in bytes) of a token. */
export interface Pos {
  readonly line: number;
  readonly col: number;
}

/** A piece of a double-quoted string: literal bytes, or an interpolation (`$x`, `$(expr)`, `$[command]`). */
export type StrPart =
  | { kind: "lit"; text: string }
  | { kind: "var"; name: string; pos: Pos }
  | { kind: "expr"; expr: Expr }
  | { kind: "cmd"; body: Stmt[] };

export type BinaryOp =
  "or" | "and" | "=" | "!=" | "<" | ">" | "<=" | ">=" | "~" | "+" | "-" | "*" | "/" | ".";

export type Expr =
  /** `"..."`: the decoded bytes, split at interpolations. */
  | { type: "str"; pos: Pos; parts: StrPart[] }
  /** An unquoted word: `yes`, `1s`, `172.20.0.2`, `read,write`. */
  | { type: "word"; pos: Pos; text: string }
  /** A property of the item a `where` expression is evaluated on (`name`, `running`). */
  | { type: "prop"; pos: Pos; name: string }
  | { type: "var"; pos: Pos; name: string }
  /** `[ ... ]`: the value of the last command. */
  | { type: "sub"; pos: Pos; body: Stmt[] }
  /** `{a;b}` where a value is expected. */
  | { type: "array"; pos: Pos; items: Expr[] }
  /** `{ ... }` where code is expected (`do=`, `else=`, `source=`); `text` is the source between the braces. */
  | { type: "code"; pos: Pos; body: Stmt[]; text: string }
  | { type: "binary"; pos: Pos; op: BinaryOp; left: Expr; right: Expr }
  | { type: "unary"; pos: Pos; op: "!" | "-"; operand: Expr };

/** An argument of a command: `name=value`, or a value alone. */
export interface Arg {
  readonly name?: string;
  readonly pos: Pos;
  readonly value: Expr;
}

export type Stmt =
  | { type: "block"; pos: Pos; body: Stmt[] }
  /** A bare menu path (`/interface/veth`): changes the menu relative commands use, does nothing else. */
  | { type: "nav"; pos: Pos; menu: string }
  /** `/menu/command args...` (or a relative `command args...`). `where` for `find` and `print`. */
  | { type: "menu"; pos: Pos; menu: string; command: string; args: Arg[]; where?: Expr }
  /** `:command args...`. */
  | { type: "script"; pos: Pos; command: string; args: Arg[] };

/** The result of {@link parse}. */
export type ParseResult = { ok: true; body: Stmt[] } | { ok: false; error: string };

/** UTF-8 bytes of `text` as a byte string (one char per byte): what the parser and interpreter work on. */
export function toBytes(text: string): string {
  return Buffer.from(text, "utf8").toString("latin1");
}

/** The inverse of {@link toBytes}: decodes a byte string as UTF-8. */
export function fromBytes(bytes: string): string {
  return Buffer.from(bytes, "latin1").toString("utf8");
}

class ParseError {
  constructor(readonly message: string) {}
}

/** How each script command's arguments are parsed: positional kinds, named arguments, required names. */
interface ScriptSpec {
  positional: ("value" | "name" | "code" | "word")[];
  min: number;
  named?: Record<string, "value" | "code">;
  required?: string[];
  /** Declares the first positional as a variable: in the enclosing scope, or only inside the named block. */
  declares?: "scope" | string;
}

const SCRIPT_SPECS: Record<string, ScriptSpec> = {
  put: { positional: ["value"], min: 0 },
  local: { positional: ["name", "value"], min: 1, declares: "scope" },
  global: { positional: ["name", "value"], min: 1, declares: "scope" },
  set: { positional: ["name", "value"], min: 1 },
  if: { positional: ["value"], min: 1, named: { do: "code", else: "code" }, required: ["do"] },
  while: { positional: ["value"], min: 1, named: { do: "code" }, required: ["do"] },
  foreach: {
    positional: ["name"],
    min: 1,
    named: { in: "value", do: "code" },
    required: ["in", "do"],
    declares: "do",
  },
  for: {
    positional: ["name"],
    min: 1,
    named: { from: "value", to: "value", step: "value", do: "code" },
    required: ["from", "to", "do"],
    declares: "do",
  },
  do: { positional: ["code"], min: 1, named: { "on-error": "code" } },
  onerror: {
    positional: ["name"],
    min: 1,
    named: { in: "code", do: "code" },
    required: ["in", "do"],
    declares: "do",
  },
  delay: { positional: ["value"], min: 0 },
  error: { positional: ["value"], min: 1 },
  len: { positional: ["value"], min: 1 },
  log: { positional: ["word", "value"], min: 2 },
  typeof: { positional: ["value"], min: 1 },
  tostr: { positional: ["value"], min: 1 },
  tonum: { positional: ["value"], min: 1 },
};

const MAX_DEPTH = 128;
const WS = new Set([" ", "\t"]);
const NAME_CHAR = /[A-Za-z0-9_]/;
const PATH_CHAR = /[a-z0-9-]/;
const ARG_NAME_CHAR = /[A-Za-z0-9._-]/;
const EXPR_WORD_CHAR = /[A-Za-z0-9_.:/-]/;
const HEX = /[0-9A-F]/;
/** Characters that are syntax outside quotes (routeros.md §4). */
const SYNTAX = new Set([";", "[", "]", "{", "}", "(", ")", "$", '"', "\\", "?"]);

class Parser {
  private i = 0;
  private line = 1;
  private lineStart = 0;
  private depth = 0;
  private menu: MenuDef;
  private readonly scopes: Set<string>[] = [];

  constructor(
    private readonly src: string,
    private readonly grammar: Grammar,
    globals: Iterable<string>,
  ) {
    this.menu = grammar.root;
    this.scopes.push(new Set(globals));
  }

  // --- low level -------------------------------------------------------------------------------------------

  private pos(at = this.i): Pos {
    return { line: this.line, col: at - this.lineStart + 1 };
  }

  private peek(offset = 0): string {
    return this.src[this.i + offset] ?? "";
  }

  private eof(): boolean {
    return this.i >= this.src.length;
  }

  private syntax(at = this.i): never {
    const p = this.pos(at);
    throw new ParseError(`syntax error (line ${p.line} column ${p.col})`);
  }

  private fail(message: string, at: number): never {
    const p = this.pos(at);
    throw new ParseError(`${message} (line ${p.line} column ${p.col})`);
  }

  private skipWs(): void {
    while (WS.has(this.peek())) this.i++;
  }

  private newline(): void {
    // At a "\n" (or "\r\n" / "\r"): consume it and start a new line.
    if (this.peek() === "\r" && this.peek(1) === "\n") this.i++;
    this.i++;
    this.line++;
    this.lineStart = this.i;
  }

  /** End of a statement's arguments: `;`, a newline, a closing bracket or the end. */
  private atTerminator(): boolean {
    const c = this.peek();
    return c === "" || c === ";" || c === "\n" || c === "\r" || c === "]" || c === "}";
  }

  private enter(): void {
    if (++this.depth > MAX_DEPTH) this.syntax();
  }

  private leave(): void {
    this.depth--;
  }

  private declared(name: string): boolean {
    return this.scopes.some((s) => s.has(name));
  }

  private withScope<T>(names: string[], fn: () => T): T {
    this.scopes.push(new Set(names));
    const menu = this.menu;
    try {
      return fn();
    } finally {
      this.scopes.pop();
      this.menu = menu;
    }
  }

  // --- statements ------------------------------------------------------------------------------------------

  /** Statements up to `close` (`]`, `}`) or the end (`""`). */
  statements(close: "" | "]" | "}"): Stmt[] {
    this.enter();
    const body: Stmt[] = [];
    for (;;) {
      this.skipWs();
      const c = this.peek();
      if (c === ";") {
        this.i++;
        continue;
      }
      if (c === "\n" || c === "\r") {
        this.newline();
        continue;
      }
      if (c === "") {
        if (close !== "") this.syntax();
        break;
      }
      if (c === "]" || c === "}") {
        if (c !== close) this.syntax();
        break;
      }
      if (c === "#") {
        while (!this.eof() && this.peek() !== "\n" && this.peek() !== "\r") this.i++;
        continue;
      }
      body.push(this.statement());
      this.skipWs();
      if (!this.atTerminator()) this.syntax();
    }
    this.leave();
    return body;
  }

  private statement(): Stmt {
    const start = this.i;
    const c = this.peek();
    if (c === "{") {
      this.i++;
      const body = this.withScope([], () => this.statements("}"));
      this.i++;
      return { type: "block", pos: this.pos(start), body };
    }
    if (c === ":") return this.scriptCommand();
    if (c === "/" || PATH_CHAR.test(c)) return this.menuCommand();
    return this.syntax();
  }

  private readWhile(re: RegExp): string {
    const start = this.i;
    while (!this.eof() && re.test(this.peek())) this.i++;
    return this.src.slice(start, this.i);
  }

  private menuCommand(): Stmt {
    const start = this.i;
    let menu = this.menu;
    if (this.peek() === "/") {
      menu = this.grammar.root;
      this.i++;
      this.skipWs();
      if (this.atTerminator()) {
        this.menu = menu;
        return { type: "nav", pos: this.pos(start), menu: menu.path };
      }
    }
    for (;;) {
      const at = this.i;
      const word = this.readWhile(PATH_CHAR);
      if (word === "") this.syntax();
      const child = menu.children.get(word);
      if (child) {
        menu = child;
        if (this.peek() === "/") {
          this.i++;
          continue;
        }
        if (!WS.has(this.peek()) && !this.atTerminator()) this.syntax();
        this.skipWs();
        if (this.atTerminator()) {
          this.menu = menu;
          return { type: "nav", pos: this.pos(start), menu: menu.path };
        }
        continue;
      }
      if (!menu.commands.has(word)) this.fail(`bad command name ${word}`, at);
      if (!WS.has(this.peek()) && !this.atTerminator()) this.syntax();
      return this.menuArgs(menu, word, start);
    }
  }

  private menuArgs(menu: MenuDef, command: string, start: number): Stmt {
    const outer = this.menu;
    this.menu = menu; // `[find ...]` inside the arguments is relative to this menu
    try {
      const args: Arg[] = [];
      let where: Expr | undefined;
      if (command === "find") {
        this.skipWs();
        this.keyword("where");
        this.skipWs();
        if (!this.atTerminator()) where = this.whereExpr(menu);
      } else {
        for (;;) {
          this.skipWs();
          if (this.atTerminator()) break;
          if (command === "print" && this.keyword("where")) {
            this.skipWs();
            where = this.whereExpr(menu);
            break;
          }
          args.push(this.arg("code"));
        }
      }
      return {
        type: "menu",
        pos: this.pos(start),
        menu: menu.path,
        command,
        args,
        ...(where ? { where } : {}),
      };
    } finally {
      this.menu = outer;
    }
  }

  /** Consumes `word` if it is the next whole word. */
  private keyword(word: string): boolean {
    if (this.src.startsWith(word, this.i)) {
      const after = this.src[this.i + word.length] ?? "";
      if (!ARG_NAME_CHAR.test(after) && after !== "=") {
        this.i += word.length;
        return true;
      }
    }
    return false;
  }

  /** `name=value` or a value alone. `kind` says how a `{...}` value parses (code for menu arguments). */
  private arg(kind: "value" | "code"): Arg {
    const at = this.i;
    const name = this.readWhile(ARG_NAME_CHAR);
    if (name !== "" && this.peek() === "=") {
      this.i++;
      const value = this.value(kind);
      this.afterValue();
      return { name, pos: this.pos(at), value };
    }
    this.i = at;
    const value = this.value(kind);
    this.afterValue();
    return { pos: this.pos(at), value };
  }

  private afterValue(): void {
    if (!WS.has(this.peek()) && !this.atTerminator()) this.syntax();
  }

  private scriptCommand(): Stmt {
    const start = this.i;
    this.i++; // ':'
    const at = this.i;
    const command = this.readWhile(/[a-z]/);
    if (command === "") this.syntax();
    if (!SCRIPT_COMMANDS.has(command)) this.fail(`bad command name ${command}`, at);
    if (!WS.has(this.peek()) && !this.atTerminator()) this.syntax();
    const spec = SCRIPT_SPECS[command];
    const args: Arg[] = [];
    const named = new Map<string, Arg>();
    let positional = 0;
    let declared: string | undefined;
    for (;;) {
      this.skipWs();
      if (this.atTerminator()) break;
      const argAt = this.i;
      const name = this.readWhile(ARG_NAME_CHAR);
      if (name !== "" && this.peek() === "=" && spec.named && name in spec.named) {
        if (named.has(name)) this.fail("expected end of command", argAt);
        this.i++;
        const kind = spec.named[name];
        const inner = spec.declares === name && declared !== undefined ? [declared] : [];
        const value = kind === "code" ? this.withScope(inner, () => this.code()) : this.value("value");
        this.afterValue();
        const arg = { name, pos: this.pos(argAt), value };
        named.set(name, arg);
        args.push(arg);
        continue;
      }
      this.i = argAt;
      if (name !== "" && this.peek(name.length) === "=") this.fail("expected end of command", argAt);
      if (positional >= spec.positional.length) this.fail("expected end of command", argAt);
      const kind = spec.positional[positional++];
      let value: Expr;
      if (kind === "name" || kind === "word") {
        const word = this.readWhile(kind === "name" ? NAME_CHAR : /[a-z]/);
        if (word === "") this.syntax();
        value = { type: "word", pos: this.pos(argAt), text: word };
        if (kind === "name") {
          if (command === "set" && !this.declared(word)) this.syntax(argAt);
          declared = word;
        }
      } else if (kind === "code") {
        if (this.peek() !== "{") this.syntax();
        value = this.withScope([], () => this.code());
      } else {
        value = this.value("value");
      }
      this.afterValue();
      args.push({ pos: this.pos(argAt), value });
    }
    if (positional < spec.min) this.fail("expected end of command", this.i);
    const missing = (spec.required ?? []).filter((r) => !named.has(r));
    if (missing.length > 0) this.fail(`missing value(s) of argument(s) ${missing.join(" ")}`, this.i);
    if (spec.declares === "scope" && declared !== undefined)
      this.scopes[this.scopes.length - 1].add(declared);
    return { type: "script", pos: this.pos(start), command, args };
  }

  // --- values ----------------------------------------------------------------------------------------------

  /** An argument value. Bare words are kept as text; the interpreter types them by context. */
  private value(kind: "value" | "code"): Expr {
    const at = this.i;
    const c = this.peek();
    if (c === '"') return this.string();
    if (c === "$") return this.variable();
    if (c === "[") return this.substitution();
    if (c === "(") {
      this.i++;
      const e = this.withDepth(() => this.expr(undefined));
      this.skipWs();
      if (this.peek() !== ")") this.syntax();
      this.i++;
      return e;
    }
    if (c === "{") return kind === "code" ? this.withScope([], () => this.code()) : this.array();
    // A bare word: up to whitespace or a terminator; syntax characters and non-ASCII bytes are errors.
    while (!this.eof() && !WS.has(this.peek()) && !this.atTerminator()) {
      const ch = this.peek();
      const b = ch.charCodeAt(0);
      if (SYNTAX.has(ch) || b < 0x20 || b >= 0x7f) this.syntax();
      this.i++;
    }
    return { type: "word", pos: this.pos(at), text: this.src.slice(at, this.i) };
  }

  private withDepth<T>(fn: () => T): T {
    this.enter();
    try {
      return fn();
    } finally {
      this.leave();
    }
  }

  private variable(): Expr {
    const at = this.i;
    this.i++; // '$'
    const name = this.readWhile(NAME_CHAR);
    if (name === "" || !this.declared(name)) this.syntax(at);
    return { type: "var", pos: this.pos(at), name };
  }

  private substitution(): Expr {
    const at = this.i;
    this.i++;
    const body = this.withScope([], () => this.statements("]"));
    this.i++;
    return { type: "sub", pos: this.pos(at), body };
  }

  private code(): Expr {
    const at = this.i;
    if (this.peek() !== "{") this.syntax();
    this.i++;
    const body = this.statements("}");
    const text = this.src.slice(at + 1, this.i);
    this.i++;
    return { type: "code", pos: this.pos(at), body, text };
  }

  private array(): Expr {
    const at = this.i;
    this.i++;
    const items: Expr[] = [];
    this.withDepth(() => {
      for (;;) {
        this.skipWs();
        if (this.peek() === "}") break;
        items.push(this.value("value"));
        this.skipWs();
        if (this.peek() === ";") {
          this.i++;
          continue;
        }
        if (this.peek() !== "}") this.syntax();
      }
    });
    this.i++;
    return { type: "array", pos: this.pos(at), items };
  }

  /** A double-quoted string with RouterOS escapes and `$` interpolation (routeros.md §4). */
  private string(): Expr {
    const at = this.i;
    this.i++;
    const parts: StrPart[] = [];
    let lit = "";
    const flush = () => {
      if (lit !== "") parts.push({ kind: "lit", text: lit });
      lit = "";
    };
    for (;;) {
      const c = this.peek();
      if (c === "" || c === "\n" || c === "\r") this.syntax();
      if (c === '"') {
        this.i++;
        break;
      }
      if (c === "\\") {
        const e = this.peek(1);
        const e2 = this.peek(2);
        if (HEX.test(e) && HEX.test(e2) && e !== "" && e2 !== "") {
          lit += String.fromCharCode(parseInt(e + e2, 16));
          this.i += 3;
          continue;
        }
        const simple: Record<string, string> = {
          '"': '"',
          "\\": "\\",
          $: "$",
          "?": "?",
          n: "\n",
          r: "\r",
          t: "\t",
          _: " ",
          a: "\x07",
          b: "\b",
          f: "\f",
          v: "\v",
        };
        if (e === "" || !(e in simple)) this.syntax(this.i);
        lit += simple[e];
        this.i += 2;
        continue;
      }
      if (c === "$") {
        const n = this.peek(1);
        if (n === "(") {
          flush();
          this.i += 2;
          const expr = this.withDepth(() => this.expr(undefined));
          this.skipWs();
          if (this.peek() !== ")") this.syntax();
          this.i++;
          parts.push({ kind: "expr", expr });
          continue;
        }
        if (n === "[") {
          flush();
          this.i++;
          const sub = this.substitution();
          if (sub.type === "sub") parts.push({ kind: "cmd", body: sub.body });
          continue;
        }
        if (NAME_CHAR.test(n) && n !== "") {
          flush();
          const v = this.variable();
          if (v.type === "var") parts.push({ kind: "var", name: v.name, pos: v.pos });
          continue;
        }
        this.syntax();
      }
      lit += c;
      this.i++;
    }
    flush();
    return { type: "str", pos: this.pos(at), parts };
  }

  // --- expressions -----------------------------------------------------------------------------------------

  /** A `where` expression of `menu`; runs to the end of the statement. */
  private whereExpr(menu: MenuDef): Expr {
    const e = this.withDepth(() => this.expr(menu));
    this.skipWs();
    if (!this.atTerminator()) this.syntax();
    return e;
  }

  /**
   * `or` > `and` > `!` > comparison > `+ - * / .` > primary. With `where` set (a `find`/`print where`
   * expression), a bare word on the left of a comparison, or alone, is a property of that menu.
   */
  private expr(where: MenuDef | undefined): Expr {
    let left = this.and(where);
    for (;;) {
      this.skipWs();
      const at = this.i;
      if (this.keyword("or") || this.op("||")) {
        left = { type: "binary", pos: this.pos(at), op: "or", left, right: this.and(where) };
      } else return left;
    }
  }

  private and(where: MenuDef | undefined): Expr {
    let left = this.not(where);
    for (;;) {
      this.skipWs();
      const at = this.i;
      if (this.keyword("and") || this.op("&&")) {
        left = { type: "binary", pos: this.pos(at), op: "and", left, right: this.not(where) };
      } else return left;
    }
  }

  private op(text: string): boolean {
    if (this.src.startsWith(text, this.i)) {
      this.i += text.length;
      return true;
    }
    return false;
  }

  private not(where: MenuDef | undefined): Expr {
    this.skipWs();
    const at = this.i;
    if (this.peek() === "!" && this.peek(1) !== "=") {
      this.i++;
      return this.withDepth(() => ({
        type: "unary" as const,
        pos: this.pos(at),
        op: "!" as const,
        operand: this.not(where),
      }));
    }
    return this.comparison(where);
  }

  private comparison(where: MenuDef | undefined): Expr {
    const left = this.additive(where, true);
    this.skipWs();
    const at = this.i;
    for (const op of ["!=", "<=", ">=", "=", "<", ">", "~"] as const) {
      if (this.op(op)) {
        const right = this.additive(where, false);
        return { type: "binary", pos: this.pos(at), op, left, right };
      }
    }
    return left;
  }

  private additive(where: MenuDef | undefined, lhs: boolean): Expr {
    let left = this.primary(where, lhs);
    for (;;) {
      this.skipWs();
      const at = this.i;
      const c = this.peek();
      if (c === "+" || c === "-" || c === "*" || c === "/" || c === ".") {
        this.i++;
        const right = this.primary(where, false);
        left = { type: "binary", pos: this.pos(at), op: c, left, right };
      } else return left;
    }
  }

  /**
   * A bare word in an expression: a number, time or address (`3`, `1s`, `1d02:00:00`, `10.0.0.0/8`), an id
   * (`*1A`), or a name or text (`running`, `in-interface-list`, `disk1/a`). Numbers stop at operators, so
   * `$n*4-1` is arithmetic.
   */
  private exprWord(): string {
    const c = this.peek();
    if (c === "*") {
      this.i++;
      return "*" + this.readWhile(/[0-9A-Fa-f]/);
    }
    if (/[0-9]/.test(c)) {
      const word = this.readWhile(/[0-9A-Za-z.:]/);
      if (this.peek() === "/" && /^[0-9.]+$/.test(word) && /[0-9]/.test(this.peek(1))) {
        this.i++;
        return `${word}/${this.readWhile(/[0-9]/)}`;
      }
      return word;
    }
    return this.readWhile(EXPR_WORD_CHAR);
  }

  private primary(where: MenuDef | undefined, lhs: boolean): Expr {
    this.skipWs();
    const at = this.i;
    const c = this.peek();
    if (c === "(") {
      this.i++;
      const e = this.withDepth(() => this.expr(where));
      this.skipWs();
      if (this.peek() !== ")") this.syntax();
      this.i++;
      return e;
    }
    if (c === "[") return this.substitution();
    if (c === "$") return this.variable();
    if (c === '"') return this.string();
    if (c === "{") return this.array();
    if (c === "-" && /[0-9]/.test(this.peek(1))) {
      this.i++;
      const digits = this.readWhile(/[0-9]/);
      return { type: "word", pos: this.pos(at), text: "-" + digits };
    }
    const word = this.exprWord();
    if (word === "" || word === "and" || word === "or") this.syntax(at);
    if (where && lhs) {
      if (!this.grammar.whereNames(where).has(word)) this.syntax(at);
      return { type: "prop", pos: this.pos(at), name: word };
    }
    return { type: "word", pos: this.pos(at), text: word };
  }
}

/**
 * Parses one command line (or a script source) of `grammar`'s version. `src` is a byte string
 * ({@link toBytes}); `globals` are variable names already declared (`:global`).
 */
export function parse(src: string, grammar: Grammar, globals: Iterable<string> = []): ParseResult {
  const p = new Parser(src, grammar, globals);
  try {
    return { ok: true, body: p.statements("") };
  } catch (e) {
    if (e instanceof ParseError) return { ok: false, error: e.message };
    if (e instanceof RangeError) return { ok: false, error: "syntax error (line 1 column 1)" };
    // A simulator bug: still an answer RouterOS-style error detection catches, never an exception.
    return {
      ok: false,
      error: `failure: simulator internal error: ${e instanceof Error ? e.message : String(e)}`,
    };
  }
}
