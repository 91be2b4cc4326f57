/** Tests of config/secrets.ts: which config keys count as secret, with and without the SDK's function. */
import { strict as assert } from "node:assert";
import * as pulumi from "@pulumi/pulumi";
import { secretConfigKeys } from "../../config/secrets";

const KEYS = ["haproxy-edge:acmeTsigSecret", "haproxy-edge:domains", "aws:region"];

describe("config/secrets", () => {
  it("asks the SDK when it has isConfigSecret", () => {
    const asked: string[] = [];
    const keys = secretConfigKeys(
      KEYS,
      (k) => {
        asked.push(k);
        return k.endsWith("Secret");
      },
      '["haproxy-edge:domains"]',
    );
    assert.deepEqual([...keys], ["haproxy-edge:acmeTsigSecret"]);
    assert.deepEqual(asked, KEYS);
  });

  it("without it, reads the language host's PULUMI_CONFIG_SECRET_KEYS", () => {
    assert.deepEqual(
      [...secretConfigKeys(KEYS, undefined, '["haproxy-edge:acmeTsigSecret"]')],
      ["haproxy-edge:acmeTsigSecret"],
    );
  });

  it("without either (or with a broken list), no key counts as secret: the secret checks fail, never pass", () => {
    for (const env of [undefined, "", "not json", '{"a":1}', "[1, 2]"]) {
      assert.deepEqual([...secretConfigKeys(KEYS, undefined, env)], [], String(env));
    }
  });

  it("the pinned SDK still has isConfigSecret, and it reads PULUMI_CONFIG_SECRET_KEYS", () => {
    const fn = (pulumi.runtime as { isConfigSecret?: (key: string) => boolean }).isConfigSecret;
    assert.equal(typeof fn, "function");
    pulumi.runtime.setAllConfig({ "haproxy-edge:a": "1", "haproxy-edge:b": "2" }, ["haproxy-edge:b"]);
    try {
      assert.deepEqual(
        [...secretConfigKeys(["haproxy-edge:a", "haproxy-edge:b"], fn, undefined)],
        ["haproxy-edge:b"],
      );
    } finally {
      pulumi.runtime.setAllConfig({}, []);
    }
  });
});
