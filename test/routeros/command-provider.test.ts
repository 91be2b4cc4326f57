/**
 * The diff of RouterOsCommand's provider (routeros/command-provider.ts): what replaces the object, what
 * re-runs it, and that a step that failed always runs again. Its runs over SSH are in command-provider.ssh.test.ts.
 */
import { strict as assert } from "node:assert";
import { routerOsCommandProvider } from "../../routeros/command-provider";

const provider = routerOsCommandProvider();
const base = {
  router: { host: "192.0.2.1", port: 22, user: "admin" },
  privateKey: "key",
  create: '/interface/bridge/add name=b; :put "PULUMI-OK"',
  delete: '/interface/bridge/remove b; :put "PULUMI-OK"',
  triggers: ["a"],
  timeoutSeconds: 60,
};
const olds = { ...base, stdout: "PULUMI-OK" };

async function diff(
  news: Partial<typeof base> & Record<string, unknown>,
  old: Record<string, unknown> = olds,
) {
  const d = await provider.diff?.("id", old as typeof olds, { ...base, ...news });
  assert.ok(d);
  return d;
}

describe("routeros/command-provider: diff", () => {
  it("changes nothing when nothing changed", async () => {
    assert.deepEqual(await diff({}), { changes: false, replaces: [], deleteBeforeReplace: true });
  });

  it("replaces the object (delete first) when its identity or a trigger changes", async () => {
    assert.deepEqual((await diff({ delete: ':put "PULUMI-OK"' })).replaces, ["delete"]);
    assert.deepEqual((await diff({ triggers: ["b"] })).replaces, ["triggers"]);
    assert.deepEqual((await diff({ triggers: [] })).replaces, ["triggers"]);
    assert.equal((await diff({ triggers: ["b"] })).deleteBeforeReplace, true);
  });

  it("updates in place when the create or update command, the bound or the connection changes", async () => {
    for (const news of [
      { create: ':put "PULUMI-OK"' },
      { update: ':put "PULUMI-OK"' },
      { timeoutSeconds: 90 },
      { router: { ...base.router, host: "192.0.2.2" } },
      { router: { ...base.router, hostKey: "ssh-ed25519 AAAA" } },
      // The state must hold how a later delete may connect.
      { router: { ...base.router, acceptAnyHostKey: true } },
      { privateKey: "rotated" },
    ]) {
      const d = await diff(news);
      assert.equal(d.changes, true, JSON.stringify(news));
      assert.deepEqual(d.replaces, [], JSON.stringify(news));
    }
  });

  it("runs a failed create or update again, even when nothing changed", async () => {
    for (const failed of ["create", "update"]) {
      const d = await diff({}, { ...olds, stdout: "", failed });
      assert.equal(d.changes, true, failed);
      assert.deepEqual(d.replaces, []);
    }
  });
});
