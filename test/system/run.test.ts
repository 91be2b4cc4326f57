/**
 * The system tier's process helpers (support.ts `run`), in the unit tier: a program that exits without reading
 * its input closes the pipe, and writing the input then fails with EPIPE. That must not crash the test process
 * (it did once, in the bench's certificate swaps); the program's exit status says what happened.
 */
import { strict as assert } from "node:assert";
import { run } from "./support";

describe("system support: run()", () => {
  it("survives a program that exits without reading its input", async () => {
    for (let i = 0; i < 20; i++) {
      const r = await run("true", [], 10_000, "x".repeat(1 << 20));
      assert.equal(r.code, 0);
    }
  });

  it("passes input to a program that reads it, and reports its exit status", async () => {
    assert.deepEqual(await run("cat", [], 10_000, "hello"), { code: 0, stdout: "hello", stderr: "" });
    assert.equal((await run("sh", ["-c", "exit 3"], 10_000)).code, 3);
  });
});
