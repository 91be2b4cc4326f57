/**
 * Pipelines in .ci/run and scripts/*.sh (all under `set -o pipefail`) must not fail because the reader
 * exited first: `cmd | head -n 1` kills cmd with SIGPIPE when cmd writes again after head is gone (HAProxy
 * 3.0 writes `haproxy -v` in four write() calls), and pipefail turns that into exit 141.
 *
 * The version and probe steps are taken verbatim from the scripts and run many times, as the scripts run
 * them; the old `| head` lines run the same way to show the race is real; a static scan keeps early-exiting
 * readers (head, grep -q/-m, sed q, awk exit, read) out of pipelines. Needs the HAProxy 3.0 rootfs
 * (`bash scripts/rootfs.sh` once), like test/scripts/rootfs.test.ts.
 */
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { haproxyRootfs } from "../support/haproxy-check";

const REPO = path.resolve(__dirname, "..", "..");
const LIB = path.join(REPO, "scripts", "lib.sh");
const RUNS = 200;
const VERSION = /^HAProxy version 3\.0\.\d+\S* \d{4}\/\d{2}\/\d{2} - https:\/\/haproxy\.org\/$/;

/** The one line of `file` (relative to the repository) that matches `pattern`, trimmed. */
function scriptLine(file: string, pattern: RegExp): string {
  const lines = fs
    .readFileSync(path.join(REPO, file), "utf8")
    .split("\n")
    .filter((l) => pattern.test(l));
  assert.equal(
    lines.length,
    1,
    `expected one line of ${file} to match ${pattern}, got: ${lines.join(" | ")}`,
  );
  return lines[0].trim();
}

/**
 * $1 runs, $2 a script's line, $3 shell code printing what the line set. Each run is a subshell under
 * `set -euo pipefail`, as in the scripts; prints "<exit status>\0<stdout>\0" per run.
 */
const LOOP = `
set +e
. "$LIB"
eval "$PRELUDE"
for ((i = 0; i < $1; i++)); do
  out="$(
    set -euo pipefail
    eval "$2"
    eval "$3"
  )"
  printf '%s\\0%s\\0' "$?" "$out"
done
`;

interface Runs {
  failures: { status: number; out: string }[];
  outputs: string[];
}

/** Runs `line` `runs` times (see LOOP); as mapped root through a user namespace when not root. */
function runLine(
  line: string,
  runs: number,
  opts: { prelude?: string; after?: string; env?: Record<string, string> } = {},
): Runs {
  const asRoot = process.getuid?.() === 0 ? [] : ["unshare", "--map-root-user", "--"];
  const argv = [...asRoot, "bash", "-c", LOOP, "loop", String(runs), line, opts.after ?? ""];
  const out = execFileSync(argv[0], argv.slice(1), {
    encoding: "utf8",
    env: { ...process.env, ...opts.env, LIB, PRELUDE: opts.prelude ?? "" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const fields = out.split("\0").slice(0, -1);
  assert.equal(fields.length, 2 * runs, `the loop printed ${fields.length / 2} results for ${runs} runs`);
  const res: Runs = { failures: [], outputs: [] };
  for (let k = 0; k < fields.length; k += 2) {
    const status = Number(fields[k]);
    if (status === 0) res.outputs.push(fields[k + 1]);
    else res.failures.push({ status, out: fields[k + 1] });
  }
  return res;
}

function assertNoFailure(what: string, r: Runs, expected: RegExp): void {
  assert.deepEqual(r.failures.slice(0, 3), [], `${what}: ${r.failures.length}/${RUNS} runs failed`);
  const wrong = r.outputs.filter((o) => !expected.test(o));
  assert.deepEqual(wrong.slice(0, 3), [], `${what}: ${wrong.length}/${RUNS} runs printed something else`);
}

describe("pipelines under pipefail: the version and probe steps", function () {
  this.timeout(20_000);
  let root: string;
  const env = () => ({ ROOTFS: root });

  before(function () {
    root = haproxyRootfs();
  });

  it(`.ci/run prints HAProxy's version line: ${RUNS} runs, no failure`, function () {
    const line = scriptLine(".ci/run", /\/usr\/sbin\/haproxy -v/);
    const r = runLine(line, RUNS, { prelude: 'SUDO=() HAPROXY_EDGE_ROOTFS="$ROOTFS"', env: env() });
    assertNoFailure(line, r, VERSION);
  });

  it(`scripts/rootfs.sh checks the built HAProxy's version: ${RUNS} runs, no failure`, function () {
    const line = scriptLine("scripts/rootfs.sh", /^version=.*\/usr\/sbin\/haproxy -v/);
    const r = runLine(line, RUNS, {
      prelude: 'TMP="$ROOTFS"',
      after: "printf '%s\\n' \"$version\"",
      env: env(),
    });
    assertNoFailure(line, r, VERSION);
  });

  it(`.ci/run's installed-package probe: ${RUNS} runs, no false "missing"`, function () {
    const line = scriptLine(".ci/run", /dpkg-query -W/);
    // The rootfs's dpkg database, so the probe means the same on any build machine.
    const prelude = 'dpkg-query() { chroot "$ROOTFS" dpkg-query "$@"; }; missing=()';
    const after = "printf 'missing=%s\\n' \"${missing[*]}\"";
    const r = runLine(line, RUNS, { prelude: `${prelude}; pkg=haproxy`, after, env: env() });
    assertNoFailure(line, r, /^missing=$/);
    const absent = runLine(line, 1, {
      prelude: `${prelude}; pkg=haproxy-edge-no-such-package`,
      after,
      env: env(),
    });
    assert.deepEqual(absent.outputs, ["missing=haproxy-edge-no-such-package"]);
  });

  it(`scripts/dataplaneapi.sh logs the built binary's version line: ${RUNS} runs, no failure`, function () {
    // The real binary needs the Go module proxy; this stand-in writes its three lines in three write() calls.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pipelines-test-"));
    try {
      fs.writeFileSync(
        path.join(dir, "dataplaneapi"),
        "#!/bin/sh\necho 'HAProxy Data Plane API v3.2.7 3f1e3ef3'\necho 'Build from: x'\necho 'Build date: y'\n",
        { mode: 0o755 },
      );
      const line = scriptLine("scripts/dataplaneapi.sh", /^version=.*dataplaneapi" --version/);
      const after = "printf '%s\\n' \"$version\"";
      const r = runLine(line, RUNS, { prelude: 'TMP="$FAKE"', after, env: { FAKE: dir } });
      assertNoFailure(line, r, /^HAProxy Data Plane API v3\.2\.7 3f1e3ef3$/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it(`the old \`haproxy -v | head -n 1\` lines do fail with SIGPIPE (exit 141) within ${RUNS} runs`, function () {
    const old = [
      ['"${SUDO[@]}" chroot "$HAPROXY_EDGE_ROOTFS" /usr/sbin/haproxy -v | head -n 1', ""],
      ['version="$(chroot "$TMP" /usr/sbin/haproxy -v | head -n1)"', "printf '%s\\n' \"$version\""],
    ];
    const rates: string[] = [];
    for (const [line, after] of old) {
      const prelude = 'SUDO=() HAPROXY_EDGE_ROOTFS="$ROOTFS" TMP="$ROOTFS"';
      const r = runLine(line, RUNS, { prelude, after, env: env() });
      assert.ok(r.failures.length > 0, `${line}: no failure in ${RUNS} runs`);
      assert.deepEqual([...new Set(r.failures.map((f) => f.status))], [141], line);
      rates.push(`${r.failures.length}/${RUNS}`);
    }
    if (this.test) this.test.title += ` (failed ${rates.join(" and ")})`;
  });
});

// --- static scan -------------------------------------------------------------------------------------------

interface Tok {
  op?: string;
  word?: string;
  line: number;
}

/** A rough bash tokenizer: words (quotes removed) and operators, with $(...) and (...) contents inlined. */
function tokenize(src: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  let line = 1;
  const lines = (s: string) => (line += s.split("\n").length - 1);
  const sub = () => {
    toks.push({ op: "(", line });
    code(true);
    toks.push({ op: ")", line });
  };
  function code(nested: boolean): void {
    let word: string | undefined;
    let wordLine = line;
    const flush = () => {
      if (word !== undefined) toks.push({ word, line: wordLine });
      word = undefined;
    };
    const add = (s: string) => {
      if (word === undefined) wordLine = line;
      word = (word ?? "") + s;
    };
    while (i < src.length) {
      const c = src[i];
      const two = src.slice(i, i + 2);
      if (c === "\\") {
        if (src[i + 1] === "\n") line++;
        else add(src[i + 1] ?? "");
        i += 2;
      } else if (c === "\n") {
        flush();
        toks.push({ op: "\n", line: line++ });
        i++;
      } else if (c === " " || c === "\t") {
        flush();
        i++;
      } else if (c === "#" && word === undefined) {
        while (i < src.length && src[i] !== "\n") i++;
      } else if (c === "'" || two === "$'") {
        const start = src.indexOf("'", i) + 1;
        let end = start;
        while (end < src.length && src[end] !== "'") end += c === "$" && src[end] === "\\" ? 2 : 1;
        add(src.slice(start, end));
        lines(src.slice(start, end));
        i = end + 1;
      } else if (c === '"') {
        add("");
        i++;
        while (i < src.length && src[i] !== '"') {
          if (src[i] === "\\") {
            if (src[i + 1] === "\n") line++;
            add(src[i + 1] ?? "");
            i += 2;
          } else if (src.startsWith("$(", i)) {
            i += 2;
            sub();
          } else {
            if (src[i] === "\n") line++;
            add(src[i++]);
          }
        }
        i++;
      } else if (two === "${") {
        let depth = 0;
        const start = i;
        do {
          if (src[i] === "{") depth++;
          else if (src[i] === "}") depth--;
          i++;
        } while (i < src.length && depth > 0);
        add(src.slice(start, i));
        lines(src.slice(start, i));
      } else if (two === "$(" || two === "<(" || two === ">(") {
        i += 2;
        sub();
      } else if (c === "<" || c === ">" || two === "&>") {
        add(two === "&>" || two === ">&" || two === "<&" ? two : c); // 2>&1 is no operator
        i += two === "&>" || two === ">&" || two === "<&" ? 2 : 1;
      } else if ("|&;()".includes(c)) {
        flush();
        i++;
        if (c === ")" && nested) return;
        if (c === "(") sub();
        else if (["||", "&&", "|&", ";;"].includes(two)) {
          toks.push({ op: two, line });
          i++;
        } else toks.push({ op: c, line });
      } else {
        add(c);
        i++;
      }
    }
    flush();
  }
  code(false);
  return toks;
}

/** Why the command `words` may stop reading its input before the end, or undefined. */
function earlyExit(words: string[]): string | undefined {
  let n = 0;
  while (n < words.length && (/^[A-Za-z_]\w*=/.test(words[n]) || ["command", "env", "{"].includes(words[n])))
    n++;
  const [cmd = "", ...args] = words.slice(n);
  const name = path.posix.basename(cmd);
  if (name === "head") return "head exits after its first lines";
  if (name === "read") return "read takes one line and exits";
  if (/^[ef]?grep$/.test(name)) {
    for (let a = 0; a < args.length; a++) {
      const w = args[a];
      if (w === "--") break;
      if (/^--(quiet|silent|max-count(=.*)?)$/.test(w)) return `grep ${w} exits at the first match(es)`;
      if (/^--(regexp|file|after-context|before-context|context|directories|devices)$/.test(w)) a++;
      else if (/^-[^-]/.test(w)) {
        for (let p = 1; p < w.length; p++) {
          if (w[p] === "q" || w[p] === "m") return `grep -${w[p]} exits at the first match(es)`;
          if ("efABCdD".includes(w[p])) {
            if (p === w.length - 1) a++; // the option's value is the next word
            break;
          }
        }
      }
    }
  }
  const scripts = args.filter((w, a) => !w.startsWith("-") || ["-e", "--expression"].includes(args[a - 1]));
  if (name === "sed" && scripts.some((s) => /(^|[;{}\s/0-9$])[qQ]\s*\d*\s*($|[;}])/.test(s))) {
    return "sed q exits early";
  }
  if (/^[gm]?awk$/.test(name) && scripts.some((s) => /\bexit\b/.test(s.replace(/\bEND\s*\{[^}]*\}/g, "")))) {
    return "awk exit exits early";
  }
  return undefined;
}

/** Heredoc bodies blanked (they are other programs: here Dockerfiles), unless they mention pipefail. */
function withoutHeredocs(src: string): string {
  const lines = src.split("\n");
  for (let k = 0; k < lines.length; k++) {
    if (/^\s*#/.test(lines[k])) continue;
    for (const m of lines[k].matchAll(/(?<!<)<<(?!<)(-?)\s*(["']?)([A-Za-z_]\w*)\2/g)) {
      const start = k + 1;
      let end = start;
      const strip = (l: string) => (m[1] ? l.replace(/^\t+/, "") : l);
      while (end < lines.length && strip(lines[end]) !== m[3]) end++;
      if (!lines.slice(start, end).join("\n").includes("pipefail")) {
        for (let b = start; b < end; b++) lines[b] = "";
      }
      k = end;
    }
  }
  return lines.join("\n");
}

interface Finding {
  line: number;
  why: string;
}

/** Early-exiting readers after a pipe in bash source `src`, also inside `bash -o pipefail -c '...'`. */
function scanPipelines(src: string): Finding[] {
  const found: Finding[] = [];
  const toks = tokenize(withoutHeredocs(src));
  for (let k = 0; k < toks.length; k++) {
    const t = toks[k];
    if (t.word === "-c" && k > 0) {
      let s = k - 1;
      while (s > 0 && toks[s - 1].word !== undefined) s--;
      const cmd = toks.slice(s, k).map((w) => w.word as string);
      const shell = cmd.findIndex((w) => /^(ba)?sh$/.test(path.posix.basename(w)));
      const code = toks[k + 1]?.word;
      if (shell >= 0 && cmd.slice(shell).join(" ").includes("-o pipefail") && code) {
        for (const f of scanPipelines(code)) found.push({ line: toks[k + 1].line + f.line - 1, why: f.why });
      }
    }
    if (t.op !== "|" && t.op !== "|&") continue;
    let j = k + 1;
    while (toks[j]?.op === "\n" || toks[j]?.op === "(") j++;
    const words: string[] = [];
    const line = toks[j]?.line ?? t.line;
    for (; toks[j]?.word !== undefined; j++) words.push(toks[j].word as string);
    const why = earlyExit(words);
    if (why) found.push({ line, why });
  }
  return found;
}

const PIPEFAIL = /(^|[\s;(])(set|bash|shopt)\s+(-\S+\s+)*-[A-Za-z]*o\s+pipefail\b/m;

describe("pipelines under pipefail: static scan of .ci/run and scripts/*.sh", function () {
  const files = [
    ".ci/run",
    ...fs
      .readdirSync(path.join(REPO, "scripts"))
      .filter((f) => f.endsWith(".sh"))
      .map((f) => `scripts/${f}`),
  ];
  const text = new Map(files.map((f) => [f, fs.readFileSync(path.join(REPO, f), "utf8")]));
  // A file sourced by a pipefail script runs under pipefail too.
  const sourced = (name: string) =>
    [...text.values()].some(
      (t) =>
        PIPEFAIL.test(t) &&
        new RegExp(`^\\s*(\\.|source)\\s+\\S*\\b${name.replace(/\./g, "\\.")}\\b`, "m").test(t),
    );

  it("no pipeline ends in a reader that can exit before the writer is done", function () {
    const report: string[] = [];
    for (const [file, src] of text) {
      if (!PIPEFAIL.test(src) && !sourced(path.basename(file))) continue;
      const lines = src.split("\n");
      for (const f of scanPipelines(src))
        report.push(`${file}:${f.line}: ${lines[f.line - 1].trim()}\n    ${f.why}`);
    }
    assert.deepEqual(
      report,
      [],
      "the writer can then die of SIGPIPE (exit 141) and pipefail fails the pipeline; read to the end instead " +
        "(first_line from scripts/lib.sh, grep on a here-string, tail):\n" +
        report.join("\n"),
    );
  });

  it("the scripts that use first_line source scripts/lib.sh", function () {
    for (const [file, src] of text) {
      if (file === "scripts/lib.sh" || !/\bfirst_line\b/.test(src)) continue;
      assert.match(
        src,
        /^(\.|source) .*lib\.sh"?$/m,
        `${file} uses first_line without sourcing scripts/lib.sh`,
      );
    }
  });

  it("the scan flags early-exiting readers and nothing else", function () {
    const flagged = [
      '"${SUDO[@]}" chroot "$HAPROXY_EDGE_ROOTFS" /usr/sbin/haproxy -v | head -n 1',
      'version="$(chroot "$TMP" /usr/sbin/haproxy -v | head -n1)"',
      "dpkg-query -W -f='${Status}' \"$pkg\" 2>/dev/null | grep -q '^install ok installed$' || missing+=(\"$pkg\")",
      "x |& head",
      "x|grep -Fq y",
      "x | LC_ALL=C grep -m1 y",
      "x | grep -e y --quiet",
      "x | grep --max-count=1 y",
      "x |\n  head -c 10",
      "x \\\n  | grep -qE y",
      "x | sed -n '1p;q'",
      "x | sed 1q",
      "x | awk '{ print; exit }'",
      'x | { read -r first; echo "$first"; }',
      "bash -o pipefail -c 'x | head -n 1'",
      'bounded "$log" import bash -o pipefail -c \\\n  \'x | grep -q y\' _ "$a"',
    ];
    const clean = [
      "x | tail -n 1",
      'grep -q y <<<"$x"',
      "grep -m1 -oE '(403|404)[^\"]*' <<<\"$out\" || printf 'not served'",
      "x || head -n 1 f",
      "x && grep -q y f",
      "echo 'a | head'",
      "grep -E 'x|head -n1' f",
      "# x | head -n 1",
      "x | tail -n 1 | grep -oE '[0-9]+' || echo 0",
      "x | grep -e -q",
      "x | grep -v '^$' | sed 's/q/x/'",
      "x | while read -r l; do :; done",
      "x 2>&1 | tee log",
      "echo $((a | b))",
      "cat >f <<'EOF'\nRUN x | grep -q y\nEOF",
      "bash -c 'x | head -n 1'",
    ];
    for (const s of flagged) assert.equal(scanPipelines(s).length, 1, `not flagged: ${s}`);
    for (const s of clean) assert.deepEqual(scanPipelines(s), [], `flagged: ${s}`);
    assert.deepEqual(scanPipelines("a\nb |\n\n  head"), [
      { line: 4, why: "head exits after its first lines" },
    ]);
  });
});
