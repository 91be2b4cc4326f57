/**
 * The real command builders of routeros/commands.ts run on the simulator, for every supported RouterOS version:
 * create, create again (nothing changes), delete (nothing left), and the failure paths the bounded waits and
 * `:error`s are for.
 */
import { strict as assert } from "node:assert";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import {
  bridgePortCommands,
  checkRouterOutput,
  containerCommands,
  containerRestartCommands,
  containerStartScript,
  envCommands,
  mountCommands,
  prerequisitesCommands,
  schedulerCommands,
  scriptCommands,
  vethCommands,
  type RouterCommand,
} from "../../../routeros/commands";
import type { RouterOsSim } from "./interpreter";
import { fromBytes } from "./parser";
import { SimFactory, VERSIONS, lbSpec, stackCommands, versionOf, LB_VETH } from "./helpers";

const OK = "PULUMI-OK\r\n";

/** Runs `line` and asserts it printed only the sentinel. */
function ok(sim: RouterOsSim, line: string, what: string): void {
  const out = sim.run(line);
  assert.equal(out, OK, `${what} on ${sim.state.version}: ${out}\n${line}`);
  checkRouterOutput(out);
}

function items(sim: RouterOsSim, menu: string): Record<string, string>[] {
  return (sim.state.tables[menu]?.items ?? []).map((i) => i.props);
}

/** The state without ids and the clock: what "nothing changed" compares. */
function snapshot(sim: RouterOsSim): unknown {
  return Object.fromEntries(
    Object.entries(sim.state.tables).map(([menu, t]) => [
      menu,
      t.items.map((i) => ({ props: i.props, phase: i.container?.phase })),
    ]),
  );
}

describe("routeros-sim: the builders of routeros/commands.ts", () => {
  const sims = new SimFactory();
  afterEach(() => sims.cleanup());

  for (const version of VERSIONS) {
    describe(`RouterOS ${version}`, () => {
      const v = versionOf(version);
      const cmds = stackCommands(v);

      it("create runs every command to the sentinel and builds the expected state", () => {
        const sim = sims.make(version);
        for (const [what, c] of cmds) ok(sim, c.create, what);

        assert.deepEqual(items(sim, "/interface/bridge"), [
          { name: "br-edge", comment: "haproxy-edge:dev:bridge" },
        ]);
        assert.deepEqual(items(sim, "/ip/address"), [
          {
            address: "172.20.0.1/24",
            interface: "br-edge",
            comment: "haproxy-edge:dev:bridge-address",
            network: "172.20.0.0",
          },
        ]);
        assert.deepEqual(items(sim, "/interface/veth"), [
          {
            name: "edge-lb",
            address: "172.20.0.2/24",
            gateway: "172.20.0.1",
            comment: "haproxy-edge:dev:veth-edge-lb",
          },
        ]);
        assert.equal(items(sim, "/interface/bridge/port")[0].bridge, "br-edge");
        assert.deepEqual(
          items(sim, "/ip/firewall/nat").map((n) => [n.chain, n.action, n.comment]),
          [
            ["srcnat", "masquerade", "haproxy-edge:dev:masquerade"],
            ["dstnat", "dst-nat", "haproxy-edge:dev:dstnat-lb-https"],
          ],
        );
        assert.equal(sim.state.settings["/container/config"]["tmpdir"], "disk1/haproxy-edge-tmp");

        const listKey = v.mountListKey;
        const mounts = items(sim, "/container/mounts");
        assert.deepEqual(
          mounts.map((m) => m[listKey]),
          ["dev-lb-etc", "dev-lb-certs"],
        );
        if (v.mountAccess === "read-only")
          assert.deepEqual(
            mounts.map((m) => m["read-only"]),
            ["yes", "no"],
          );
        if (v.mountAccess === "mode")
          assert.deepEqual(
            mounts.map((m) => m.mode),
            ["ro", "rw"],
          );
        if (v.mountAccess === "none") assert.ok(mounts.every((m) => !("read-only" in m) && !("mode" in m)));

        const envs = items(sim, "/container/envs");
        assert.deepEqual(
          envs.map((e) => [e[v.envListKey], e.key]),
          [
            ["dev-lb", "TZ"],
            ["dev-lb", "MULTI"],
          ],
        );
        assert.equal(
          fromBytes(envs[1].value),
          'line1\nline2\r\n$HOME? "q" é',
          "env values are stored byte-exact",
        );

        const [ctr] = sim.state.tables["/container"].items;
        assert.equal(ctr.container?.phase, "running");
        assert.equal(ctr.props[v.containerMountsKey], "dev-lb-etc,dev-lb-certs");
        assert.equal(ctr.props[v.containerEnvListsKey], "dev-lb");
        assert.equal(ctr.props.comment, "haproxy-edge:dev:ctr-dev-lb");
        if (v.containerName) assert.equal(ctr.props.name, "dev-lb");
        else assert.notEqual(ctr.props.name, "dev-lb", "before 7.19 the name is a read-only UUID");

        assert.deepEqual(
          items(sim, "/system/script").map((s) => [s.name, s.policy, s.source]),
          [["renew", "read,write,test", '/container/start [find where name="dev-certbot"]\n:log info $x']],
        );
        assert.deepEqual(
          items(sim, "/system/scheduler").map((s) => [s.name, s["start-time"], s.interval, s["on-event"]]),
          [["renew", "03:17:00", "1d", "renew"]],
        );

        const root = sim.diskRoot as string;
        for (const d of [
          "disk1/haproxy-edge-tmp",
          "disk1/haproxy-edge/dev/certs",
          "disk1/haproxy-edge/dev/lb-root",
        ]) {
          assert.ok(existsSync(join(root, d)), d);
        }
        assert.equal(sim.run(':put [:len [/file/find where name="disk1/haproxy-edge/dev/lb-etc"]]'), "1\r\n");
      });

      it("create again changes nothing", () => {
        const sim = sims.make(version);
        for (const [what, c] of cmds) ok(sim, c.create, what);
        const before = snapshot(sim);
        for (const [what, c] of cmds) ok(sim, c.create, `${what} (again)`);
        assert.deepEqual(snapshot(sim), before);
      });

      it("delete, in reverse order, leaves nothing (twice: deleting what is gone is a no-op)", () => {
        const sim = sims.make(version);
        for (const [what, c] of cmds) ok(sim, c.create, what);
        for (const round of [1, 2]) {
          for (const [what, c] of [...cmds].reverse()) ok(sim, c.delete, `${what} delete #${round}`);
          for (const [menu, t] of Object.entries(sim.state.tables)) assert.deepEqual(t.items, [], menu);
        }
        assert.ok(
          !existsSync(join(sim.diskRoot as string, "disk1/haproxy-edge/dev/lb-root")),
          "root-dir removed",
        );
        assert.ok(existsSync(join(sim.diskRoot as string, "disk1/haproxy-edge/dev/certs")), "volumes stay");
      });

      it("a container whose image never finishes extracting fails the bounded wait with its :error", () => {
        const sim = sims.make(version, { extract: "never" });
        for (const [what, c] of cmds.slice(0, 13)) ok(sim, c.create, what);
        const create = containerCommands(lbSpec({ extractTimeoutSeconds: 120 }), v).create;
        const started = Date.now();
        const out = sim.run(create);
        assert.equal(out, "dev-lb: not pulled and extracted after 120s (see /log)\r\n");
        assert.throws(() => checkRouterOutput(out), /did not finish.*not pulled and extracted/);
        assert.ok(sim.state.clock >= 120_000, "the wait took 120 virtual seconds");
        assert.ok(Date.now() - started < 2000, "and no real time");

        // Its delete cannot stop it either: bounded, then :error.
        const del = sim.run(containerCommands(lbSpec(), v).delete);
        assert.equal(del, "dev-lb: not stopped after 60s\r\n");
      });

      it("a failed extraction (error state) fails at once with the router's log line; delete removes it; create retries", () => {
        const sim = sims.make(version, { extract: "fail" });
        for (const [what, c] of cmds.slice(0, 13)) ok(sim, c.create, what);
        const t0 = sim.state.clock;
        const out = sim.run(containerCommands(lbSpec(), v).create);
        assert.match(
          out,
          /^dev-lb: the image pull or extraction failed; the router's last container log line: \S+: extraction failed\r\n$/,
        );
        assert.ok(sim.state.clock - t0 < 10_000, "no 900 s wait");
        assert.equal(sim.state.tables["/container"].items[0].container?.phase, "error");
        // The next `up` runs create again: the failed container is removed and added again.
        sim.state.options.extract = "ok";
        ok(sim, containerCommands(lbSpec(), v).create, "create again");
        assert.equal(sim.state.tables["/container"].items.length, 1);
        assert.equal(sim.state.tables["/container"].items[0].container?.phase, "stopped");
        // `destroy` removes a failed container too.
        sim.state.options.extract = "fail";
        ok(sim, containerCommands(lbSpec(), v).delete, "delete");
        sim.run(containerCommands(lbSpec(), v).create);
        assert.equal(sim.state.tables["/container"].items[0].container?.phase, "error");
        ok(sim, containerCommands(lbSpec(), v).delete, "delete a failed container");
        assert.equal(sim.state.tables["/container"]?.items.length, 0);
      });

      it("a veth address or mount row changed while the container runs is accepted; the restart applies it", () => {
        // MikroTik's manual does not say RouterOS refuses these changes on a running container, so the simulator
        // accepts them, and the engine's order stays: update the veth or mount (re-run its create), then the
        // replaced start command stops and starts the container, which reads them at start.
        const sim = sims.make(version);
        for (const [what, c] of cmds) ok(sim, c.create, what);
        ok(sim, containerRestartCommands(lbSpec(), v).create, "start");
        ok(sim, vethCommands({ ...LB_VETH, address: "172.20.0.9" }).create, "veth with a new address");
        const mount = {
          stack: "dev",
          id: "mnt-dev-lb-etc",
          list: "dev-lb-etc",
          src: "disk1/haproxy-edge/dev/lb-etc",
          dst: "/etc/haproxy-moved",
          readOnly: true,
        };
        ok(sim, mountCommands(mount, v).create, "mount with a new dst");
        ok(sim, containerRestartCommands(lbSpec(), v).create, "restart");
        assert.equal(sim.state.tables["/container"].items[0].container?.phase, "running");
        assert.equal(items(sim, "/interface/veth")[0].address, "172.20.0.9/24");
        assert.ok(items(sim, "/container/mounts").some((m) => m.dst === "/etc/haproxy-moved"));
      });

      it("restart stops a running container, waits, and starts it again", () => {
        const sim = sims.make(version);
        for (const [what, c] of cmds) ok(sim, c.create, what);
        const t0 = sim.state.clock;
        ok(sim, containerRestartCommands(lbSpec(), v).create, "restart");
        assert.equal(sim.state.tables["/container"].items[0].container?.phase, "running");
        assert.ok(sim.state.clock > t0, "it waited for the stop and the start");
      });

      it("a one-shot container that exits at once: started without waiting for running", () => {
        const sim = sims.make(version, { exitAfterSeconds: 0 });
        for (const [what, c] of cmds.slice(0, 13)) ok(sim, c.create, what);
        const oneShot = lbSpec({ start: true, waitForRunning: false });
        ok(sim, containerCommands(oneShot, v).create, "one-shot create");
        assert.equal(sim.state.tables["/container"].items[0].container?.phase, "starting");
        assert.equal(sim.run(":delay 2s"), "");
        assert.equal(sim.state.tables["/container"].items[0].container?.phase, "stopped");
        // Waiting for running would fail, bounded:
        const out = sim.run(containerRestartCommands(lbSpec({ timeoutSeconds: 5 }), v).create);
        assert.equal(out, "dev-lb: not running 5s after start (see /log)\r\n");
      });

      it("the renewal scheduler, run by the clock, starts the one-shot certbot container by its tag", () => {
        const sim = sims.make(version, { exitAfterSeconds: 30 });
        for (const [what, c] of cmds.slice(0, 13)) ok(sim, c.create, what);
        const certbot = lbSpec({ start: true, waitForRunning: false });
        ok(sim, containerCommands(certbot, v).create, "one-shot create");
        const policy = ["read", "write", "test"];
        const schedule = (name: string, source: string) => {
          ok(sim, scriptCommands({ stack: "dev", id: `script-${name}`, name, source, policy }).create, name);
          const sched = { stack: "dev", id: `sched-${name}`, name, script: name, policy };
          ok(sim, schedulerCommands({ ...sched, interval: "12h", startTime: "03:17:00" }).create, name);
        };
        schedule("dev-certbot-renew", containerStartScript(certbot, v));
        const phase = () => sim.state.tables["/container"].items[0].container?.phase;
        const starts = () => sim.state.log.filter((l) => l.message.endsWith(": starting")).length;
        assert.equal(sim.advance(3_600_000), "");
        assert.equal(phase(), "stopped", "the first pass has exited");
        const before = starts();
        // 03:17 and 15:17 of two days.
        sim.advance(2 * 86_400_000 - sim.state.clock);
        assert.equal(starts() - before, 4, `${version}: ${JSON.stringify(sim.state.log.slice(-5))}`);
        // At 03:17 of the third day it is started again, and runs.
        sim.advance(2 * 86_400_000 + 3 * 3_600_000 + 17 * 60_000 + 1_000 - sim.state.clock);
        assert.equal(phase(), "running");
        assert.equal(starts() - before, 5);
        // A running pass is left alone (no error from the script).
        assert.equal(sim.run(containerStartScript(certbot, v)), "");
      });

      it("a renewal script that finds the container by name starts nothing before 7.19 (name is not settable)", () => {
        const sim = sims.make(version, { exitAfterSeconds: 30 });
        for (const [what, c] of cmds.slice(0, 13)) ok(sim, c.create, what);
        ok(sim, containerCommands(lbSpec({ start: true, waitForRunning: false }), v).create, "create");
        sim.advance(60_000);
        assert.equal(sim.run('/container/start [find where name="dev-lb"]'), "");
        const phase = sim.state.tables["/container"].items[0].container?.phase;
        assert.equal(phase, v.containerName ? "starting" : "stopped");
      });

      it("prerequisites: pass on a ready router, and list every missing one with its fix, changing nothing", () => {
        const check = (user: string, scheduler: boolean) =>
          prerequisitesCommands({ disk: "disk1", diskKey: "hosts.r.disk", user, scheduler }).create;
        ok(sims.make(version), check("admin", true), "a ready router");
        const home = sims.make(version, { deviceMode: "home" });
        ok(home, check("admin", false), "home mode, no certbot on the router");
        assert.match(
          home.run(check("admin", true)),
          /^The router is not ready for this stack\. Device-mode turns off the scheduler that renews the certificates \(home mode does\): run \/system\/device-mode\/update scheduler=yes/,
        );

        const sim = sims.make(
          version,
          { containerMode: false, deviceMode: "home", dynamicDnsServers: [], users: { ops: "read" } },
          ["usb1"],
        );
        const out = sim.run(check("ops", true));
        for (const fix of [
          "Device-mode does not allow containers: run /system/device-mode/update container=yes",
          "/system/device-mode/update scheduler=yes",
          "The router has no DNS server, and containers do not start without one: /ip/dns/set servers=<resolver>",
          "Disk disk1 not found (/disk print): attach and format an ext4 disk, or set hosts.r.disk",
          "The group of user ops (read) lacks the ftp policy (files are uploaded over SFTP): /user/group/set read policy=<its policies>,ftp",
          "The group of user ops (read) lacks the write policy",
        ])
          assert.ok(out.includes(fix), `${fix}\n${out}`);
        assert.ok(!out.includes("lacks the read policy") && !out.includes("lacks the test policy"), out);
        assert.throws(() => checkRouterOutput(out), /did not finish/);
        assert.match(sim.run(check("nobody", false)), /User nobody not found in \/user\./);
        // Only read: nothing was made or set.
        assert.deepEqual(sim.state.tables, {});
        assert.deepEqual(sim.state.settings, {});
        // Fixed, it passes.
        sim.run("/ip/dns/set servers=192.0.2.1");
        sim.state.options = {
          ...sim.state.options,
          containerMode: true,
          deviceMode: "advanced",
          users: { ops: "full" },
        };
        sim.state.disks.push("disk1");
        mkdirSync(join(sim.diskRoot ?? "", "disk1"));
        ok(sim, check("ops", true), "fixed");
      });

      it("container config keeps a registry-url someone else set, and says what the stack needs", () => {
        const sim = sims.make(version);
        const config = cmds[2][1];
        assert.equal(
          sim.run("/container/config/set registry-url=https://registry.lan tmpdir=disk1/theirs"),
          "",
        );
        const out = sim.run(config.create);
        assert.match(
          out,
          /this stack pulls its images from https:\/\/registry-1\.docker\.io \(hosts\.r\.registryUrl\).* It is now: https:\/\/registry\.lan\r\n$/,
        );
        assert.equal(sim.run(":put [/container/config/get registry-url]"), "https://registry.lan\r\n");
        // The owner agrees: set by hand, then the stack keeps the other owner's tmpdir.
        sim.run("/container/config/set registry-url=https://registry-1.docker.io");
        ok(sim, config.create, "container config");
        assert.equal(sim.run(":put [/container/config/get tmpdir]"), "disk1/theirs\r\n");
      });

      it("refuses to take over a same-named object that is not tagged as ours", () => {
        const sim = sims.make(version);
        assert.equal(sim.run('/interface/veth/add name="edge-lb" address=10.9.9.9/24'), "");
        const out = sim.run(cmds[6][1].create);
        assert.equal(out, "veth edge-lb exists but is not tagged haproxy-edge:dev:veth-edge-lb\r\n");
        assert.throws(() => checkRouterOutput(out), /did not finish/);
        ok(sim, cmds[6][1].delete, "delete leaves the foreign veth alone");
        assert.equal(items(sim, "/interface/veth").length, 1);
      });

      it("refuses to take over someone else's bridge port for our veth, and leaves it on delete", () => {
        const sim = sims.make(version);
        assert.equal(sim.run('/interface/bridge/add name="br-user"'), "");
        assert.equal(sim.run('/interface/veth/add name="edge-lb" address=10.9.9.9/24'), "");
        assert.equal(
          sim.run('/interface/bridge/port/add bridge="br-user" interface="edge-lb" comment="mine"'),
          "",
        );
        const port = bridgePortCommands({
          stack: "dev",
          id: "port-edge-lb",
          bridge: "br-edge",
          interface: "edge-lb",
        });
        const out = sim.run(port.create);
        assert.equal(
          out,
          "bridge port of edge-lb exists but is not tagged haproxy-edge:dev:port-edge-lb\r\n",
        );
        ok(sim, port.delete, "delete leaves the foreign port alone");
        assert.deepEqual(
          items(sim, "/interface/bridge/port").map((p) => [p.bridge, p.comment]),
          [["br-user", "mine"]],
        );
      });

      it("the directories command fails when the disk is missing", () => {
        const sim = sims.make(version, {}, ["usb1"]);
        const out = sim.run(cmds[1][1].create);
        assert.equal(out, "disk disk1 not found (see /disk print)\r\n");
      });
    });
  }

  describe("version strictness: a command built for another version is rejected", () => {
    const mount = (ver: string): RouterCommand =>
      mountCommands(
        { stack: "dev", id: "m", list: "l", src: "disk1/a", dst: "/a", readOnly: true },
        versionOf(ver),
      );

    const cases: [string, string, string, RegExp][] = [
      [
        "mount rows of 7.21 (list=, read-only=)",
        "7.21",
        "7.19",
        /^expected end of command \(line 1 column \d+\)/,
      ],
      ["mount rows of 7.23 (mode=)", "7.23", "7.21", /^expected end of command/],
      ["mount rows of 7.20 (name=)", "7.20", "7.21", /^expected end of command/],
      ["mount rows of 7.21 (read-only=)", "7.21", "7.23", /^expected end of command/],
    ];
    for (const [what, built, runOn, message] of cases) {
      it(`${what} on ${runOn}`, () => {
        const sim = sims.make(runOn);
        const out = sim.run(mount(built).create);
        assert.match(out, message);
        assert.throws(() => checkRouterOutput(out), /RouterOS reported an error/);
        assert.deepEqual(items(sim, "/container/mounts"), []);
      });
    }

    it("env rows with list= on 7.19 and name= on 7.20", () => {
      const env = (ver: string) =>
        envCommands({ stack: "dev", id: "e", list: "l", key: "K", value: "v" }, versionOf(ver)).create;
      assert.match(sims.make("7.19").run(env("7.20")), /^expected end of command/);
      assert.match(sims.make("7.20").run(env("7.19")), /^expected end of command/);
    });

    it("container state flags (7.20+) on 7.19, status= (≤7.19) on 7.20: rejected before anything runs", () => {
      const spec = lbSpec({ mountLists: [], envList: undefined });
      for (const [built, runOn] of [
        ["7.20", "7.19"],
        ["7.19", "7.20"],
      ]) {
        const sim = sims.make(runOn);
        ok(sim, vethCommands(LB_VETH).create, "veth");
        const out = sim.run(containerCommands(spec, versionOf(built)).create);
        assert.match(out, /^syntax error \(line 1 column \d+\)\r\n$/, `${built} on ${runOn}`);
        assert.deepEqual(items(sim, "/container"), [], "nothing ran");
      }
    });

    it("mounts= on 7.21 (not a prefix of mountlists)", () => {
      const sim = sims.make("7.21");
      ok(sim, vethCommands({ ...LB_VETH, id: "v" }).create, "veth");
      const out = sim.run(
        containerCommands(lbSpec({ mountLists: ["m"], envList: undefined }), versionOf("7.20")).create,
      );
      assert.match(out, /^expected end of command/);
    });
  });
});
