import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { journalDirProblem, journalPath } from "../../dataplane/sync";

describe("dataplane/sync: the transaction journal's directory", () => {
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "journal-test-"));
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  const fileIn = (base: string) => path.join(base, "dataplane", "transactions-0123456789abcdef.json");

  it("lives in this user's own directory under the temp directory", () => {
    const file = journalPath("url|http://127.0.0.1:5555");
    assert.equal(
      path.dirname(path.dirname(file)),
      path.join(os.tmpdir(), `haproxy-edge-${process.getuid?.()}`),
    );
    assert.match(path.basename(file), /^transactions-[0-9a-f]{16}\.json$/);
  });

  it("creates both levels with mode 0700 and accepts them", () => {
    const base = path.join(root, "haproxy-edge-x");
    assert.equal(journalDirProblem(fileIn(base)), undefined);
    for (const dir of [base, path.join(base, "dataplane")]) {
      assert.equal(fs.statSync(dir).mode & 0o777, 0o700, dir);
    }
  });

  it("refuses a directory another user could write or read (made first, mode 0777)", () => {
    const base = path.join(root, "haproxy-edge-x");
    fs.mkdirSync(base);
    fs.chmodSync(base, 0o777);
    assert.match(journalDirProblem(fileIn(base)) ?? "", /is open to others \(mode 777\)/);
  });

  it("refuses a symlink planted where the directory should be", () => {
    const elsewhere = path.join(root, "elsewhere");
    fs.mkdirSync(elsewhere, { mode: 0o700 });
    const base = path.join(root, "haproxy-edge-x");
    fs.symlinkSync(elsewhere, base);
    assert.match(journalDirProblem(fileIn(base)) ?? "", /is not a directory/);
  });

  it("refuses a directory owned by another user", () => {
    if (process.getuid?.() === 0) {
      const base = path.join(root, "haproxy-edge-x");
      fs.mkdirSync(base, { mode: 0o700 });
      fs.chownSync(base, 65534, 65534);
      assert.match(journalDirProblem(fileIn(base)) ?? "", /is owned by uid 65534, not 0/);
    } else {
      // Not root: root's own home is a directory of another user's.
      assert.match(journalDirProblem(fileIn("/root")) ?? "", /is owned by uid 0/);
    }
  });
});
