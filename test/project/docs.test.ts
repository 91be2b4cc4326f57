/**
 * README.md and docs/: every relative link reaches a file of the repository, and every `#anchor` a heading of its
 * target (GitHub's heading ids). The README stays short: the reference lives in docs/.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";

const ROOT = path.resolve(__dirname, "../..");
const DOCS = ["README.md", ...fs.readdirSync(path.join(ROOT, "docs")).map((f) => `docs/${f}`)].filter((f) =>
  f.endsWith(".md"),
);

/** GitHub's id of a heading: lower case, punctuation dropped (but `-`), spaces → `-`. */
export function headingId(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, "")
    .replace(/ /g, "-");
}

function headingIds(file: string): Set<string> {
  const text = fs.readFileSync(path.join(ROOT, file), "utf8").replace(/```[\s\S]*?```/g, "");
  return new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) => headingId(m[1])));
}

describe("project: README.md and docs/", () => {
  it("every relative link reaches a file, and every anchor a heading", () => {
    const broken: string[] = [];
    for (const file of DOCS) {
      const text = fs.readFileSync(path.join(ROOT, file), "utf8").replace(/```[\s\S]*?```/g, "");
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const link = m[1];
        if (/^[a-z]+:/.test(link)) continue;
        const [target, anchor] = link.split("#");
        const rel = target === "" ? file : path.normalize(path.join(path.dirname(file), target));
        if (!fs.existsSync(path.join(ROOT, rel))) broken.push(`${file}: ${link} (no file ${rel})`);
        else if (anchor !== undefined && rel.endsWith(".md") && !headingIds(rel).has(anchor))
          broken.push(`${file}: ${link} (no heading #${anchor} in ${rel})`);
      }
    }
    assert.deepEqual(broken, []);
  });

  it("README.md stays a short introduction (under 250 lines): the reference is in docs/", () => {
    const lines = fs.readFileSync(path.join(ROOT, "README.md"), "utf8").split("\n").length;
    assert.ok(lines < 250, `README.md has ${lines} lines`);
    for (const doc of ["architecture", "configuration", "operations", "testing"])
      assert.ok(fs.existsSync(path.join(ROOT, `docs/${doc}.md`)), doc);
  });

  it("computes GitHub's heading ids", () => {
    assert.equal(
      headingId("How routes reach the workers (`routeUpdates`)"),
      "how-routes-reach-the-workers-routeupdates",
    );
    assert.equal(headingId("Quick start (dev stack)"), "quick-start-dev-stack");
    assert.equal(headingId("`hosts.<name>`"), "hostsname");
  });
});
