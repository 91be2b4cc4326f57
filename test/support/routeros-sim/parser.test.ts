/**
 * The simulator's parser: the statement forms the builders use, strings and escapes, menu resolution, and
 * RouterOS's parse-time errors (nothing runs when the line does not parse).
 */
import { strict as assert } from "node:assert";
import fc from "fast-check";
import { grammarFor } from "./grammar";
import { fromBytes, parse, toBytes, type Expr, type Stmt } from "./parser";

const g721 = grammarFor("7.21");

function ok(line: string, version = "7.21"): Stmt[] {
  const r = parse(toBytes(line), grammarFor(version));
  if (!r.ok) assert.fail(`${line}: ${r.error}`);
  return r.body;
}

function error(line: string, version = "7.21"): string {
  const r = parse(toBytes(line), grammarFor(version));
  assert.ok(!r.ok, `${line} parsed`);
  return r.error;
}

/** The literal bytes of a string expression without interpolations. */
function literal(e: Expr): string {
  assert.equal(e.type, "str");
  if (e.type !== "str") return "";
  return e.parts.map((p) => (p.kind === "lit" ? p.text : assert.fail(`interpolation ${p.kind}`))).join("");
}

describe("routeros-sim: parser", () => {
  describe("statements", () => {
    it("parses a menu command with named arguments", () => {
      const [s] = ok('/interface/bridge/add name="br-edge" comment="haproxy-edge:dev:bridge"');
      assert.equal(s.type, "menu");
      if (s.type !== "menu") return;
      assert.equal(s.menu, "/interface/bridge");
      assert.equal(s.command, "add");
      assert.deepEqual(
        s.args.map((a) => [a.name, literal(a.value)]),
        [
          ["name", "br-edge"],
          ["comment", "haproxy-edge:dev:bridge"],
        ],
      );
    });

    it("accepts the space-separated path form and unquoted values", () => {
      const [a] = ok("/interface bridge port add bridge=br interface=ether1 pvid=5");
      const [b] = ok("/interface/bridge/port/add bridge=br interface=ether1 pvid=5");
      assert.ok(a.type === "menu" && b.type === "menu");
      if (a.type !== "menu" || b.type !== "menu") return;
      assert.equal(a.menu, b.menu);
      assert.deepEqual(
        a.args.map((x) => [x.name, x.value.type === "word" ? x.value.text : "?"]),
        [
          ["bridge", "br"],
          ["interface", "ether1"],
          ["pvid", "5"],
        ],
      );
    });

    it("resolves a relative [find] against the menu of the command it is an argument of", () => {
      const [s] = ok('/interface/veth/set [find where name="v"] address="10.0.0.2/24"');
      assert.ok(s.type === "menu" && s.args[0].value.type === "sub");
      if (s.type !== "menu" || s.args[0].value.type !== "sub") return;
      const [inner] = s.args[0].value.body;
      assert.ok(inner.type === "menu" && inner.menu === "/interface/veth" && inner.command === "find");
    });

    it("a bare menu path navigates: relative commands after it use that menu", () => {
      const body = ok("/ip/address; add address=10.0.0.1/24 interface=ether1");
      assert.deepEqual(
        body.map((s) => [s.type, s.type === "menu" ? s.menu : ""]),
        [
          ["nav", ""],
          ["menu", "/ip/address"],
        ],
      );
    });

    it("parses :if/:while/:foreach/:local/:set/:delay/:error/:put and blocks", () => {
      const body = ok(
        '{:local n 0; :while (($n<3) and (true)) do={:delay 1s; :set n ($n+1)}; :foreach p in={"a";"b"} do={:put $p}; ' +
          ':if ([:len [/interface/bridge/find]]=0) do={:error "none"} else={:put "some"}; :put "PULUMI-OK"}',
      );
      assert.equal(body.length, 1);
      const block = body[0];
      assert.ok(block.type === "block");
      if (block.type !== "block") return;
      assert.deepEqual(
        block.body.map((s) => (s.type === "script" ? s.command : s.type)),
        ["local", "while", "foreach", "if", "put"],
      );
    });

    it("parses a where expression with flags, negation, and/or and parentheses", () => {
      const [s] = ok(':put [/container/find where name="x" and !running and (stopped or comment~"^a")]');
      assert.equal(s.type, "script");
    });

    it("gates commands by version", () => {
      assert.equal(error("/container/restart [find]"), "bad command name restart (line 1 column 12)");
      ok("/container/restart [find]", "7.23");
      ok("/container/stop [find]", "7.16");
    });
  });

  describe("strings", () => {
    it("decodes every escape routeros.md lists", () => {
      const [s] = ok(':put "q\\" b\\\\ d\\$ h\\? n\\n r\\r t\\t s\\_ a\\a b\\b f\\f v\\v x\\3F\\C3\\A9"');
      assert.ok(s.type === "script");
      if (s.type !== "script") return;
      assert.equal(fromBytes(literal(s.args[0].value)), 'q" b\\ d$ h? n\n r\r t\t s  a\x07 b\b f\f v\v x?é');
    });

    it("keeps script syntax literal inside quotes", () => {
      const [s] = ok(':put "[/system/reboot]; {x} #c = a,b (y)"');
      assert.ok(s.type === "script");
      if (s.type === "script") assert.equal(literal(s.args[0].value), "[/system/reboot]; {x} #c = a,b (y)");
    });

    it("interpolates $var, $(expr) and $[command] inside quotes (the hazard rq escapes)", () => {
      const [, s] = ok(':local x 1; :put "a$x b$($x+1) c$[:len "abc"]"');
      assert.ok(s.type === "script" && s.args[0].value.type === "str");
      if (s.type !== "script" || s.args[0].value.type !== "str") return;
      assert.deepEqual(
        s.args[0].value.parts.map((p) => p.kind),
        ["lit", "var", "lit", "expr", "lit", "cmd"],
      );
    });
  });

  describe("errors, as RouterOS prints them", () => {
    const cases: [string, string][] = [
      ["/interface/foo/add name=x", "bad command name foo (line 1 column 12)"],
      ["/interface/bridge/frobnicate", "bad command name frobnicate (line 1 column 19)"],
      ["find where name=x", "bad command name find (line 1 column 1)"],
      [":frob 1", "bad command name frob (line 1 column 2)"],
      [':put "open', "syntax error (line 1 column 11)"],
      [":put $undeclared", "syntax error (line 1 column 6)"],
      [":set n 1", "syntax error (line 1 column 6)"],
      [':put "bad \\q escape"', "syntax error (line 1 column 11)"],
      [':put "lower hex \\c3"', "syntax error (line 1 column 17)"],
      [':put "a$"', "syntax error (line 1 column 8)"],
      ["{:put 1", "syntax error (line 1 column 8)"],
      [":put 1}", "syntax error (line 1 column 7)"],
      [":put [:len 1", "syntax error (line 1 column 13)"],
      [":if (1=1 do={}", "syntax error (line 1 column 10)"],
      [":put what?", "syntax error (line 1 column 10)"],
      ['/interface/bridge/add name="a"b', "syntax error (line 1 column 31)"],
      [":put a=b", "expected end of command (line 1 column 6)"],
      [':put "a" "b"', "expected end of command (line 1 column 10)"],
      [":if (true)", "missing value(s) of argument(s) do (line 1 column 11)"],
      [':put [/interface/veth/find where bogus="x"]', "syntax error (line 1 column 34)"],
      [":put (é)", "syntax error (line 1 column 7)"],
    ];
    for (const [line, message] of cases) {
      it(`${line} → ${message}`, () => assert.equal(error(line), message));
    }

    it("the container state names differ by version", () => {
      assert.match(error(":put [/container/find where stopped]", "7.19"), /^syntax error/);
      assert.match(error(':put [/container/find where status="stopped"]', "7.20"), /^syntax error/);
      ok(":put [/container/find where stopped]", "7.20");
      ok(':put [/container/find where status="stopped"]', "7.16");
    });

    it("reports unbounded nesting as a syntax error, not a crash", () => {
      assert.match(error(":put " + "(".repeat(5000) + "1" + ")".repeat(5000)), /^syntax error/);
      assert.match(error(":put " + "[:len ".repeat(3000) + "1" + "]".repeat(3000)), /^syntax error/);
    });

    it("never throws, whatever the input", () => {
      const meta = fc.constantFrom(
        ...'$"\\[]{}();?\n\r\t=/: '.split(""),
        ":put ",
        "/file/find ",
        "do={",
        "where ",
      );
      fc.assert(
        fc.property(
          fc.array(fc.oneof(meta, fc.string({ unit: "binary", maxLength: 4 })), { maxLength: 30 }),
          (parts) => {
            const r = parse(toBytes(parts.join("")), g721);
            if (!r.ok) assert.match(r.error, /^(syntax error|bad command name|expected|missing value)/);
          },
        ),
        { numRuns: 500 },
      );
    });
  });
});
