/**
 * Property tests of the RouterOS encoder `rq` (routeros/commands.ts) against the strict RouterOS simulator's
 * parser (test/support/routeros-sim): whatever the value, `rq(value)` is one string literal that evaluates to
 * exactly that value, and no value can end the string, interpolate, or start a second command.
 */
import { strict as assert } from "node:assert";
import fc from "fast-check";
import { ROUTEROS_NAME, routerName, rq } from "../../routeros/commands";
import { RouterOsSim } from "../support/routeros-sim/interpreter";
import { toBytes, type Expr, type Stmt } from "../support/routeros-sim/parser";

/** RouterOS syntax characters and fragments that would break out of a badly quoted string. */
const META = [
  "$",
  '"',
  "\\",
  "[",
  "]",
  "{",
  "}",
  ";",
  "(",
  ")",
  "?",
  "\n",
  "\r",
  "\t",
  " ",
  "=",
  "#",
  ":",
  "/",
];
const ATTACKS = [
  '"; /system/reboot; :put "',
  "$[/system/reboot]",
  "$(/system/reboot)",
  "$x",
  "\\$x",
  '\\"; /system/reboot; :put \\"',
  "]; /system/reboot; [",
  "}; /system/reboot; {",
  "\n/system/reboot\n",
  "\r\n:put pwned",
  "\\3F\\n\\",
  "\\",
  '"',
];

/** Any string without NUL (the one value rq refuses): full Unicode, control characters, RouterOS syntax. */
const value: fc.Arbitrary<string> = fc
  .oneof(
    { weight: 3, arbitrary: fc.string({ unit: "binary", maxLength: 40 }) },
    { weight: 3, arbitrary: fc.string({ unit: "binary-ascii", maxLength: 40 }) },
    {
      weight: 3,
      arbitrary: fc.string({
        unit: fc.constantFrom(...META, "a", "é", "\u0001", "\u007f", "𝄞"),
        maxLength: 30,
      }),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(
          fc.string({ maxLength: 5 }),
          fc.constantFrom(...ATTACKS),
          fc.string({ unit: "binary", maxLength: 5 }),
        )
        .map((parts) => parts.join("")),
    },
  )
  .map((s) => s.replace(/\0/g, ""));

/** The literal bytes of a string expression; fails on any interpolation. */
function literal(e: Expr): string {
  assert.equal(e.type, "str", `a ${e.type}, not a string literal`);
  if (e.type !== "str") return "";
  let out = "";
  for (const p of e.parts) {
    assert.equal(p.kind, "lit", "an interpolation inside the string");
    if (p.kind === "lit") out += p.text;
  }
  return out;
}

function onlyStatement(sim: RouterOsSim, line: string): Stmt {
  const parsed = sim.parse(line);
  if (!parsed.ok) return assert.fail(`${JSON.stringify(line)}: ${parsed.error}`);
  assert.equal(parsed.body.length, 1, "exactly one statement");
  return parsed.body[0];
}

describe("routeros/commands rq: properties against the RouterOS simulator's parser", () => {
  const sim = new RouterOsSim({ version: "7.21" });

  it("encodes any value as one printable-ASCII string literal with no raw line break", () => {
    fc.assert(
      fc.property(value, (v) => {
        assert.match(rq(v), /^"[\x20-\x7e]*"$/);
      }),
      { numRuns: 3000 },
    );
  });

  it(":put rq(v) is exactly one statement whose one argument is the literal v, and prints v", () => {
    fc.assert(
      fc.property(value, (v) => {
        const line = `:put ${rq(v)}`;
        const s = onlyStatement(sim, line);
        assert.ok(s.type === "script" && s.command === "put", "a :put");
        if (s.type !== "script") return;
        assert.equal(s.args.length, 1);
        assert.equal(s.args[0].name, undefined);
        assert.equal(literal(s.args[0].value), toBytes(v));
        assert.equal(sim.run(line), `${v}\r\n`);
      }),
      { numRuns: 3000 },
    );
  });

  it("/system/script/add name=x source=rq(v) stores exactly v and nothing else happens", () => {
    fc.assert(
      fc.property(value, (v) => {
        const line = `/system/script/add name=x source=${rq(v)}; :put "PULUMI-OK"`;
        const parsed = sim.parse(line);
        if (!parsed.ok) return assert.fail(parsed.error);
        assert.deepEqual(
          parsed.body.map((s) =>
            s.type === "menu" ? `${s.menu}/${s.command}` : s.type === "script" ? `:${s.command}` : s.type,
          ),
          ["/system/script/add", ":put"],
          "exactly the add and the sentinel",
        );
        const add = parsed.body[0];
        if (add.type !== "menu") return;
        assert.deepEqual(
          add.args.map((a) => a.name),
          ["name", "source"],
        );
        assert.equal(literal(add.args[1].value), toBytes(v));

        assert.equal(sim.run(line), "PULUMI-OK\r\n");
        assert.deepEqual(Object.keys(sim.state.tables), ["/system/script"]);
        const rows = sim.state.tables["/system/script"].items;
        assert.equal(rows.length, 1);
        assert.deepEqual(rows[0].props, { name: "x", source: toBytes(v) });
        assert.equal(
          sim.run(':put [/system/script/get x source]; /system/script/remove x; :put "PULUMI-OK"'),
          `${v}\r\nPULUMI-OK\r\n`,
        );
        assert.equal(sim.state.tables["/system/script"].items.length, 0);
      }),
      { numRuns: 2000 },
    );
  });

  it("names that routerName accepts need no escaping, quoted or not, and find themselves back", () => {
    fc.assert(
      fc.property(fc.stringMatching(ROUTEROS_NAME), (name) => {
        assert.equal(routerName("name", name), name);
        assert.equal(rq(name), `"${name}"`);
        for (const form of [rq(name), name]) {
          const out = sim.run(
            `/system/script/add name=${form}; :put [:len [/system/script/find where name=${rq(name)}]]; ` +
              `:put [/system/script/get [find where name=${rq(name)}] name]; /system/script/remove [find]`,
          );
          assert.equal(out, `1\r\n${name}\r\n`, form);
        }
      }),
      { numRuns: 1000 },
    );
  });
});
