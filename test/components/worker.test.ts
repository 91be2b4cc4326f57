/**
 * Tests of components/worker.ts: sha512Crypt, the Data Plane API userlist hash, against OpenSSL.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { sha512Crypt } from "../../components/worker";

/** `openssl passwd -6 -salt <salt> <password>`. */
function opensslPasswd6(password: string, salt: string): string {
  const r = spawnSync("openssl", ["passwd", "-6", "-salt", salt, password], {
    encoding: "utf8",
    timeout: 5000,
  });
  if (r.error) throw new Error(`cannot run openssl: ${r.error.message}`);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

describe("components/worker", () => {
  describe("sha512Crypt", () => {
    it("equals `openssl passwd -6` for the same password and salt", () => {
      const hash = sha512Crypt("s3cret-pass", "MockSaltMockSalt");
      assert.equal(hash, opensslPasswd6("s3cret-pass", "MockSaltMockSalt"));
    });

    it("is $6$<salt>$<hash>: exactly 4 `$` fields, no rounds=", () => {
      const hash = sha512Crypt("s3cret-pass", "MockSaltMockSalt");
      const fields = hash.split("$");
      assert.equal(fields.length, 4, hash);
      assert.deepEqual(fields.slice(0, 3), ["", "6", "MockSaltMockSalt"]);
      assert.match(fields[3], /^[A-Za-z0-9./]{86}$/);
      assert.ok(!hash.includes("rounds="));
    });

    it("agrees with openssl for the shortest salt, every salt character and awkward passwords", () => {
      for (const [password, salt] of [
        ["pw", "abcdefgh"],
        ["a password with spaces", "./09AZaz./09AZaz"],
        ["ünïcødé-€", "Salt.Salt/Salt12"],
        ["$6$x$y:'\"\\", "ZZZZZZZZ"],
      ]) {
        assert.equal(sha512Crypt(password, salt), opensslPasswd6(password, salt), `${password} / ${salt}`);
      }
    });

    it("is deterministic and depends on the password and the salt", () => {
      const a = sha512Crypt("pw", "saltsaltsalt1234");
      assert.equal(sha512Crypt("pw", "saltsaltsalt1234"), a);
      assert.notEqual(sha512Crypt("pw2", "saltsaltsalt1234"), a);
      assert.notEqual(sha512Crypt("pw", "saltsaltsalt1235"), a);
    });

    it("refuses a bad salt", () => {
      for (const salt of [
        "short",
        "has space in",
        "$6$x",
        "",
        "1234567",
        "abcdefghijklmnopq",
        "salt-salt",
        "salt$salt",
      ]) {
        assert.throws(() => sha512Crypt("pw", salt), /salt must be 8-16 characters/, JSON.stringify(salt));
      }
    });
  });
});
