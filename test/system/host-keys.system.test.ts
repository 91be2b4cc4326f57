/**
 * System tier, SSH host keys through the real engine: the example stack with every service on a RouterOS router
 * (the RouterOS CLI simulator behind a real OpenSSH sshd on 127.0.0.1). A router without `hostKey` stops
 * `pulumi preview` before anything is registered; a pinned key that is another router's stops `pulumi up` at the
 * first SSH session, with nothing run on the router; the opt-out deploys and every run warns naming the router.
 */
import { strict as assert } from "node:assert";
import { TEST_SECRETS } from "../support/stack-config";
import { startRouterOsSim, type RouterOsSimServer } from "../support/routeros-sim/sshd";
import { Engine, type CliResult } from "./engine";
import { ROUTER_VERSION, exampleOverrides, log, simulatedRouter } from "./routeros-support";
import { STACK, removeLeftovers } from "./support";

const WARNING =
  /host edge-router: the router's SSH host key is not verified \(hosts\.edge-router\.insecureAcceptAnyHostKey: true\)/;

describe("system: SSH host keys of a router through `pulumi preview`/`up` (real engine, real sshd)", function () {
  this.timeout(600_000);
  let sim: RouterOsSimServer;
  let other: RouterOsSimServer;
  let engine: Engine | undefined;

  /** The all-on-the-router example with the router's SSH settings changed by `edit`. */
  function overrides(edit: (router: Record<string, unknown>) => void): Record<string, unknown> {
    const base = exampleOverrides(sim, "router");
    const router = simulatedRouter(sim, { subnet: "172.20.0.0/27" });
    edit(router);
    return { ...base, hosts: { "edge-router": router } };
  }
  const output = (r: CliResult) => `${r.stdout}\n${r.stderr}`;
  /** Commands the router has run (its log): none when SSH was refused. */
  const routerTables = () => Object.values(sim.state().tables).flatMap((t) => t.items);

  before(async function () {
    await removeLeftovers();
    [sim, other] = await Promise.all([
      startRouterOsSim({ version: ROUTER_VERSION, disks: ["usb1"] }),
      startRouterOsSim({ version: ROUTER_VERSION, disks: ["usb1"] }),
    ]);
    engine = await Engine.create({
      stack: STACK,
      stackFile: "Pulumi.prod.yaml",
      overrides: overrides((r) => delete r.hostKey),
      secrets: { acmeTsigSecret: TEST_SECRETS.acmeTsigSecret },
      log,
    });
  });

  after(async function () {
    if (engine) {
      const d = await engine.destroy();
      if (d.code !== 0) console.error(`destroy failed: ${output(d).slice(-2000)}`);
      await engine.dispose().catch((e: unknown) => console.error(e));
    }
    await Promise.all([sim?.stop(), other?.stop()]);
  });

  it("a router without hostKey: preview stops naming hosts.edge-router.hostKey, nothing registered", async () => {
    assert.ok(engine);
    const r = await engine.preview();
    assert.notEqual(r.code, 0, output(r));
    assert.match(output(r), /hosts\.edge-router\.hostKey: is required/);
    assert.match(output(r), /ssh-keyscan -t rsa,ed25519/);
    assert.deepEqual(await engine.resources(), []);
    assert.deepEqual(routerTables(), []);
  });

  it("another router's key: up stops at the first SSH session, the router untouched", async () => {
    assert.ok(engine);
    await engine.configure(
      overrides((r) => (r.hostKey = other.hostPublicKey.split(/\s+/).slice(0, 2).join(" "))),
    );
    const r = await engine.up();
    assert.notEqual(r.code, 0, output(r));
    assert.match(output(r), /the router's host key does not match hosts\.<router>\.hostKey/);
    assert.doesNotMatch(output(r), WARNING);
    assert.deepEqual(routerTables(), []);
  });

  it("the opt-out: up deploys and warns naming the router, and so does every preview", async () => {
    assert.ok(engine);
    await engine.configure(
      overrides((r) => {
        delete r.hostKey;
        r.insecureAcceptAnyHostKey = true;
      }),
    );
    const up = await engine.up();
    assert.equal(up.code, 0, output(up));
    assert.match(output(up), WARNING);
    assert.ok(routerTables().length > 0, "the router holds the stack's objects");
    const preview = await engine.preview();
    assert.equal(preview.code, 0, output(preview));
    assert.match(output(preview), WARNING);
  });
});
