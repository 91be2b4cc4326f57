/**
 * RouterOsCommand's provider (routeros/command-provider.ts) against the RouterOS simulator behind a real
 * OpenSSH server: every run's output is checked, a failed create or update is reported as an initialization
 * failure (the engine keeps the resource and runs it again), a failed delete throws, and no key reaches an error.
 * The same through `pulumi up`/`destroy`: test/system/routeros-faults.system.test.ts.
 */
import { strict as assert } from "node:assert";
import { routerExec, routerOsCommandProvider } from "../../routeros/command-provider";
import { startRouterOsSim, type RouterOsSimServer } from "../support/routeros-sim/sshd";

type Failure = Error & { id?: string; properties?: Record<string, unknown>; reasons?: string[] };

describe("routeros/command-provider over SSH to the RouterOS simulator (ssh)", function () {
  this.timeout(60_000);
  const provider = routerOsCommandProvider();
  let sim: RouterOsSimServer;
  let inputs: {
    router: { host: string; port: number; user: string; hostKey: string };
    privateKey: string;
    create: string;
    delete: string;
    timeoutSeconds: number;
    __provider: string;
  };
  const bridges = () => (sim.state().tables["/interface/bridge"]?.items ?? []).map((i) => i.props.name);

  before(async () => {
    sim = await startRouterOsSim({ version: "7.21" });
    inputs = {
      router: {
        host: sim.host,
        port: sim.port,
        user: sim.user,
        hostKey: sim.hostPublicKey.split(/\s+/).slice(0, 2).join(" "),
      },
      privateKey: sim.privateKey,
      create: '/interface/bridge/add name=b1 comment="t"; :put "PULUMI-OK"',
      delete: '/interface/bridge/remove [find where comment="t"]; :put "PULUMI-OK"',
      timeoutSeconds: 30,
      // The dynamic provider host passes the serialized provider along; a failure's state must keep it.
      __provider: "serialized-provider",
    };
  });
  after(async () => {
    await sim?.stop();
  });

  it("creates: runs the command, checks it, returns its output", async () => {
    const r = await provider.create(inputs);
    assert.match(r.id, /^[0-9a-f]{16}$/);
    assert.equal(r.outs?.stdout, "PULUMI-OK");
    assert.deepEqual(bridges(), ["b1"]);
  });

  it("a refused create is an initialization failure holding the inputs, the step and the router's message", async () => {
    sim.setOptions({ refuse: { "/interface/bridge/add": "not enough permissions (9)" } });
    try {
      const e: Failure = await provider.create({ ...inputs, create: inputs.create.replace("b1", "b2") }).then(
        () => assert.fail("create succeeded"),
        (x: Failure) => x,
      );
      assert.match(
        e.message,
        /^create on 127\.0\.0\.1: RouterOS reported an error: not enough permissions \(9\)$/,
      );
      assert.match(e.id ?? "", /^[0-9a-f]{16}$/);
      assert.equal(e.properties?.failed, "create");
      assert.equal(e.properties?.__provider, "serialized-provider");
      assert.deepEqual(e.reasons, [e.message]);
      assert.ok(!e.message.includes(sim.privateKey.split("\n")[1]));

      // The next `up` updates it: a failed create runs its create again (update may assume the object exists).
      const retried = await provider
        .update?.(e.id ?? "", e.properties as never, {
          ...inputs,
          create: inputs.create.replace("b1", "b2"),
          update: ':error "update must not run"',
        })
        .then(
          () => assert.fail("still refused"),
          (x: Failure) => x,
        );
      assert.equal((retried as Failure).properties?.failed, "create");
    } finally {
      sim.setOptions({ refuse: {} });
    }
    const done = await provider.update?.("id", { ...inputs, stdout: "", failed: "create" } as never, {
      ...inputs,
      create: inputs.create.replace("b1", "b2"),
      update: ':error "update must not run"',
    });
    assert.equal(done?.outs?.stdout, "PULUMI-OK");
    assert.equal(done?.outs?.failed, undefined);
    assert.deepEqual(bridges(), ["b1", "b2"]);
  });

  it("a failed update keeps the new inputs and runs its update again", async () => {
    const news = { ...inputs, update: ':error "no such item"; :put "PULUMI-OK"' };
    const e = (await provider.update?.("id", { ...inputs, stdout: "PULUMI-OK" } as never, news).then(
      () => assert.fail("update succeeded"),
      (x: Failure) => x,
    )) as Failure;
    assert.equal(e.message, "update on 127.0.0.1: RouterOS reported an error: no such item");
    assert.equal(e.properties?.failed, "update");
    assert.equal(e.properties?.update, news.update);
    const fixed = { ...inputs, create: ':error "create must not run"', update: ':put "PULUMI-OK"' };
    const done = await provider.update?.("id", e.properties as never, fixed);
    assert.equal(done?.outs?.stdout, "PULUMI-OK");
  });

  it("a refused delete throws (the engine keeps the resource); once allowed, it removes the object", async () => {
    sim.setOptions({ refuse: { "/interface/bridge/remove": "failure: bridge is in use" } });
    try {
      await assert.rejects(
        provider.delete?.("id", { ...inputs, stdout: "PULUMI-OK" }) ?? Promise.resolve(),
        /^Error: delete on 127\.0\.0\.1: RouterOS reported an error: failure: bridge is in use$/,
      );
      assert.deepEqual(bridges(), ["b1", "b2"]);
    } finally {
      sim.setOptions({ refuse: {} });
    }
    await provider.delete?.("id", { ...inputs, stdout: "PULUMI-OK" });
    assert.deepEqual(bridges(), []);
  });

  it("fails on a missing sentinel, a wrong host key, and a run past its bound", async () => {
    await assert.rejects(
      provider.create({ ...inputs, create: ":put 1" }),
      /RouterOS command did not finish \(no PULUMI-OK at the end\): 1/,
    );
    const other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
    await assert.rejects(
      routerExec({ ...inputs.router, hostKey: other }, inputs.privateKey, ':put "PULUMI-OK"', 5),
      /host key does not match/,
    );
    // sshd in front of the simulator answers at once: a bound of 0 s is always exceeded.
    await assert.rejects(
      routerExec(inputs.router, inputs.privateKey, ':put "PULUMI-OK"', 0),
      /no end within 0 s/,
    );
  });
});
