/**
 * The simulator's interpreter: state and ids, RouterOS's rejections (unknown menus, arguments and values,
 * duplicates, missing arguments), runtime-error semantics, the virtual clock and bounds, the container state
 * machine, `/file` on a real folder, and the script words.
 */
import { strict as assert } from "node:assert";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { checkRouterOutput } from "../../../routeros/commands";
import { menusJson } from "./grammar";
import { RouterOsSim } from "./interpreter";
import { SimFactory } from "./helpers";

const OK = "PULUMI-OK\r\n";

describe("routeros-sim: interpreter", () => {
  const sims = new SimFactory();
  afterEach(() => sims.cleanup());

  describe("state", () => {
    it("gives items ids *1, *2, ... *A per menu and keeps state across command lines", () => {
      const sim = sims.make("7.21");
      const ids = Array.from({ length: 11 }, (_, i) => sim.run(`:put [/interface/bridge/add name=b${i}]`));
      assert.deepEqual(
        ids,
        ["*1", "*2", "*3", "*4", "*5", "*6", "*7", "*8", "*9", "*A", "*B"].map((x) => x + "\r\n"),
      );
      assert.equal(sim.run(":put [/ip/address/add address=10.0.0.1/24 interface=b0]"), "*1\r\n");
      assert.equal(sim.run(':put [/interface/bridge/get [find where name="b9"] name]'), "b9\r\n");
      assert.equal(sim.run(":put [/interface/bridge/get *A name]"), "b9\r\n");
      assert.equal(sim.run(":put [/interface/bridge/get b3 comment]"), "\r\n");
    });

    it("round-trips through JSON (what the CLI saves between execs)", () => {
      const sim = sims.make("7.20");
      sim.run('/system/script/add name=s source="x"; :global g 5');
      const again = new RouterOsSim({ state: JSON.parse(JSON.stringify(sim.state)), diskRoot: sim.diskRoot });
      assert.equal(again.run(":global g; :put ($g+1); :put [/system/script/get s source]"), "6\r\nx\r\n");
    });
  });

  describe("rejections, with RouterOS's messages", () => {
    it("unknown menus and commands: the whole line is rejected, nothing runs", () => {
      const sim = sims.make("7.21");
      assert.equal(
        sim.run("/interface/bridge/add name=a; /interface/brige/add name=b"),
        "bad command name brige (line 1 column 42)\r\n",
      );
      assert.deepEqual(sim.state.tables, {});
    });

    it("unknown arguments fail when their statement runs: earlier statements stay applied", () => {
      const sim = sims.make("7.21");
      const out = sim.run(
        '/interface/bridge/add name=a; /interface/bridge/add name=b colour=red; :put "PULUMI-OK"',
      );
      assert.equal(out, "expected end of command (line 1 column 60)\r\n");
      assert.deepEqual(
        sim.state.tables["/interface/bridge"].items.map((i) => i.props.name),
        ["a"],
      );
      assert.throws(() => checkRouterOutput(out), /RouterOS reported an error: expected end of command/);
    });

    it("properties outside the router's version are unknown arguments", () => {
      const cases: [string, string][] = [
        ["7.19", "/container/envs/add list=l key=K value=v"],
        ["7.20", "/container/envs/add name=l key=K value=v"],
        ["7.20", "/container/envs/add list=l key=K value=v disabled=no"],
        ["7.19", "/container/mounts/add name=m src=disk1/a dst=/a read-only=yes"],
        ["7.23", "/container/mounts/add list=m src=disk1/a dst=/a read-only=yes"],
        ["7.22", "/container/mounts/add list=m src=disk1/a dst=/a mode=ro"],
        ["7.18", "/container/add name=c remote-image=x interface=v"],
        ["7.19", "/container/config/set memory-high=1G"],
        ["7.20", "/container/config/set ram-high=1G"],
        ["7.20", "/container/add envlist=x remote-image=x interface=v"],
      ];
      for (const [version, line] of cases) {
        assert.match(
          sims.make(version).run(line),
          /^expected end of command \(line 1 column \d+\)\r\n$/,
          `${version}: ${line}`,
        );
      }
    });

    it("bad values: enums, booleans, addresses, numbers, durations, formats", () => {
      const sim = sims.make("7.21");
      sim.run("/interface/bridge/add name=br");
      const cases: [string, string][] = [
        [
          "/interface/bridge/add name=x protocol-mode=stpp",
          "input does not match any value of protocol-mode",
        ],
        ["/interface/bridge/add name=x disabled=true", "input does not match any value of disabled"],
        ["/interface/bridge/add name=x disabled=1", "input does not match any value of disabled"],
        ["/ip/address/add address=10.0.0.300/24 interface=br", "invalid value for argument address"],
        ["/ip/address/add address=10.0.0.1/33 interface=br", "invalid value for argument address"],
        [
          "/interface/veth/add name=v address=10.0.0.2/24 gateway=10.0.0",
          "invalid value for argument gateway",
        ],
        ["/interface/bridge/add name=x pvid=5000", "value of pvid is out of range (1 .. 4094)"],
        ["/interface/bridge/add name=x pvid=abc", "invalid value for argument pvid"],
        [
          "/interface/bridge/add name=x ageing-time=1s",
          "value of ageing-time is out of range (00:00:10 .. 1w4d13:46:40)",
        ],
        ["/system/scheduler/add name=s interval=soon", "invalid value for argument interval"],
        ["/system/scheduler/add name=s start-time=25:00:00", "invalid value for argument start-time"],
        ["/system/script/add name=s policy=read,root", "input does not match any value of policy"],
        [
          "/ip/firewall/nat/add chain=dstnat action=dst-nat dst-port=70000",
          "invalid value for argument dst-port",
        ],
        ["/ip/firewall/nat/add chain=srcnat action=masq", "input does not match any value of action"],
      ];
      for (const [line, message] of cases) assert.equal(sim.run(line), message + "\r\n", line);
      assert.equal(
        sims.make("7.23").run("/container/mounts/add list=m dst=/a mode=readonly"),
        "input does not match any value of mode\r\n",
      );
    });

    it("accepts RouterOS's value forms", () => {
      const sim = sims.make("7.23");
      const lines = [
        "/interface/bridge/add name=br ageing-time=5m protocol-mode=none arp-timeout=auto",
        '/ip/address/add address=10.0.0.1 interface="br" disabled=no',
        "/interface/veth/add name=v address=10.0.0.2/24,fd00::2/64 gateway=10.0.0.1 gateway6=fd00::1",
        "/ip/firewall/nat/add chain=my-chain dst-address=!10.0.0.0/8 protocol=tcp dst-port=80,8000-8080 action=jump jump-target=srcnat",
        "/ip/firewall/nat/add chain=dstnat action=dst-nat to-addresses=10.0.0.2-10.0.0.9 to-ports=8000-8080",
        "/system/scheduler/add name=s interval=1w2d3h4m5s start-time=startup start-date=2025-01-31",
        "/system/scheduler/add name=t interval=01:30:00",
        '/container/mounts/add list=m src=disk1/a dst=/a mode="ro,noexec"',
      ];
      for (const line of lines) assert.equal(sim.run(line), "", line);
      assert.equal(sim.run(":put [/ip/address/get [find] address]"), "10.0.0.1/32\r\n");
    });

    it("references must exist: bridges, interfaces, interface lists, env and mount lists", () => {
      const sim = sims.make("7.21");
      const cases: [string, string][] = [
        [
          "/interface/bridge/port/add bridge=nope interface=ether1",
          "input does not match any value of bridge",
        ],
        ["/ip/address/add address=10.0.0.1/24 interface=nope", "input does not match any value of interface"],
        [
          "/ip/firewall/nat/add chain=dstnat in-interface-list=INTERNET",
          "input does not match any value of in-interface-list",
        ],
        ["/container/add remote-image=x interface=ether1", "input does not match any value of interface"],
      ];
      for (const [line, message] of cases) assert.equal(sim.run(line), message + "\r\n", line);
      sim.run("/interface/veth/add name=v address=10.0.0.2/24");
      assert.equal(
        sim.run("/container/add remote-image=x interface=v mountlists=m"),
        "input does not match any value of mountlists\r\n",
      );
      assert.equal(
        sim.run("/container/add remote-image=x interface=v envlists=e"),
        "input does not match any value of envlists\r\n",
      );
    });

    it("duplicates and missing arguments", () => {
      const sim = sims.make("7.21");
      const cases: [string, string][] = [
        ["/interface/bridge/add name=ether1", "failure: already have interface with such name"],
        ["/interface/bridge/add name=br", ""],
        ["/interface/veth/add name=br", "failure: already have interface with such name"],
        ["/interface/veth/add name=v", ""],
        ["/interface/bridge/port/add bridge=br interface=v", ""],
        ["/interface/bridge/port/add bridge=br interface=v", "failure: device already added as bridge port"],
        ["/ip/address/add address=10.0.0.1/24 interface=br", ""],
        ["/ip/address/add address=10.0.0.1/24 interface=br", "failure: already have such address"],
        ["/system/script/add name=s", ""],
        ["/system/script/add name=s", "failure: already have script with such name"],
        ["/interface/bridge/port/add interface=ether1", "missing value(s) of argument(s) bridge"],
        ["/container/envs/add list=l", "missing value(s) of argument(s) key value"],
        ["/interface/bridge/add comment=x", "missing value(s) of argument(s) name"],
        ["/interface/bridge/set [find] name=v", "failure: already have interface with such name"],
      ];
      for (const [line, message] of cases)
        assert.equal(sim.run(line), message === "" ? "" : message + "\r\n", line);
    });

    it("selectors: empty [find] is a no-op, unknown names and ids are 'no such item', get needs an item", () => {
      const sim = sims.make("7.21");
      assert.equal(
        sim.run(
          '/interface/bridge/remove [find where name="x"]; /interface/bridge/set [find] comment=c; :put "PULUMI-OK"',
        ),
        OK,
      );
      assert.equal(sim.run("/interface/bridge/remove x"), "no such item\r\n");
      assert.equal(sim.run("/interface/bridge/remove *7"), "no such item\r\n");
      assert.equal(sim.run(":put [/interface/bridge/get [find] name]"), "no such item\r\n");
      sim.run("/interface/bridge/add name=a; /interface/bridge/add name=b");
      assert.equal(
        sim.run(
          '/interface/bridge/set "*1,*2" comment=both; :put [/interface/bridge/find where comment=both]',
        ),
        "*1;*2\r\n",
      );
      assert.equal(
        sim.run(":put [/interface/bridge/get a value-name=bogus]"),
        "input does not match any value of value-name\r\n",
      );
    });

    it("every rejection matches the detect regex of routeros-menus.json", () => {
      const detect = new RegExp(menusJson()._meta.errors.detect_regex.replace("(?m)", ""), "m");
      const sim = sims.make("7.21");
      for (const line of [
        "/foo",
        ":put (",
        "/interface/bridge/add x=1",
        "/interface/bridge/add name=a pvid=0",
        "/interface/bridge/remove nope",
      ]) {
        assert.match(sim.run(line), detect, line);
      }
    });
  });

  describe("script words", () => {
    it(":put, :len, arithmetic, comparisons, and/or/!, string concatenation", () => {
      const sim = sims.make("7.21");
      const out = sim.run(
        ':local a 2; :put ($a+3); :put ($a*4-1); :put [:len "héllo"]; :put [:len {1;2;3}]; :put (($a<3) and !($a=1)); ' +
          ':put ("x" . $a); :put {1;"b";yes}; :put 1s; :put 1d02:03:04; :put [:typeof 1]; :put [:tostr 5]',
      );
      assert.equal(
        out,
        ["5", "7", "6", "3", "true", "x2", "1;b;yes", "00:00:01", "1d02:03:04", "num", "5"]
          .map((l) => l + "\r\n")
          .join(""),
      );
    });

    it(":error stops the line and prints its message; the sentinel is never reached", () => {
      const sim = sims.make("7.21");
      const out = sim.run(':put "one"; :error "it broke"; :put "PULUMI-OK"');
      assert.equal(out, "one\r\nit broke\r\n");
      assert.throws(() => checkRouterOutput(out), /did not finish.*it broke/);
    });

    it(":do on-error and :onerror catch errors", () => {
      const sim = sims.make("7.21");
      assert.equal(
        sim.run(
          ':do {:error "x"} on-error={:put "caught"}; :onerror e in={/interface/bridge/remove nope} do={:put $e}; :put "end"',
        ),
        "caught\r\nno such item\r\nend\r\n",
      );
    });

    it(":foreach, :for, :while with a counter, blocks and scopes", () => {
      const sim = sims.make("7.21");
      assert.equal(
        sim.run(
          ':foreach p in={"a";"b"} do={:put $p}; :for i from=1 to=3 do={:put $i}; {:local n 0; :while ($n<2) do={:set n ($n+1)}; :put $n}',
        ),
        "a\r\nb\r\n1\r\n2\r\n3\r\n2\r\n",
      );
      assert.equal(sim.run("{:local x 1}; :put $x"), "syntax error (line 1 column 20)\r\n");
    });

    it("string interpolation executes: $[...] inside an unescaped string runs the command", () => {
      const sim = sims.make("7.21");
      assert.equal(sim.run(':put "made $[/interface/bridge/add name=injected]"'), "made *1\r\n");
      assert.equal(sim.state.tables["/interface/bridge"].items[0].props.name, "injected");
    });

    it(":delay advances a virtual clock: a day passes instantly", () => {
      const sim = sims.make("7.21");
      const started = Date.now();
      assert.equal(
        sim.run(":delay 1d; :delay 500ms; :put [/system/resource/get uptime]"),
        "1d00:00:00.500\r\n",
      );
      assert.equal(sim.state.clock, 86_400_500);
      assert.ok(Date.now() - started < 1000);
    });

    it("loops are bounded in steps", () => {
      const sim = sims.make("7.21", { maxSteps: 10_000 });
      assert.equal(sim.run(":while (true) do={}"), "failure: simulator limit of 10000 steps reached\r\n");
      assert.equal(
        sim.run(':do {:while (true) do={}} on-error={:put "swallowed"}'),
        "failure: simulator limit of 10000 steps reached\r\n",
      );
    });

    it("each line of a multi-line exec is its own command line (own scope, own errors)", () => {
      const sim = sims.make("7.21");
      assert.equal(
        sim.run(':local x 1; :put $x\n:put $x\n:put "third"'),
        "1\r\nsyntax error (line 1 column 6)\r\nthird\r\n",
      );
    });

    it("/system/script/run runs a stored source; /system/resource tells the version", () => {
      const sim = sims.make("7.20.1");
      assert.equal(
        sim.run('/system/script/add name=s source=":local a 40\\n:put (\\$a+2)"; /system/script/run s'),
        "42\r\n",
      );
      assert.equal(sim.run(":put [/system/resource/get version]"), "7.20.1 (stable)\r\n");
    });

    it("print: rows, count-only, as-value", () => {
      const sim = sims.make("7.21");
      sim.run('/interface/bridge/add name=a comment="x y"; /interface/bridge/add name=b disabled=yes');
      assert.equal(
        sim.run("/interface/bridge/print"),
        ' 0 R  name=a comment="x y"\r\n 1 XR name=b disabled=yes\r\n',
      );
      assert.equal(sim.run("/interface/bridge/print count-only where disabled"), "1\r\n");
      assert.equal(
        sim.run(":put [/interface/bridge/print as-value where name=a]"),
        ".id=*1;name=a;comment=x y\r\n",
      );
    });
  });

  describe("containers: virtual-time state machine", () => {
    function withVeth(version: string, options = {}) {
      const sim = sims.make(version, options);
      assert.equal(sim.run("/interface/veth/add name=v address=10.0.0.2/24"), "");
      return sim;
    }

    it("7.20+: add → extracting → stopped → start → running → stop → stopped → remove → gone (flags)", () => {
      const sim = withVeth("7.20", { extractSeconds: 5, startSeconds: 2, stopSeconds: 3, removeSeconds: 4 });
      const state = () => {
        const [c] = sim.state.tables["/container"].items;
        return c?.container?.phase ?? "gone";
      };
      assert.equal(sim.run("/container/add name=c remote-image=img interface=v root-dir=disk1/ctr/c"), "");
      assert.equal(state(), "extracting");
      assert.equal(sim.run(":put [:len [/container/find where extracting]]"), "1\r\n");
      assert.match(sim.run("/container/start c"), /^failure: container is extracting/);
      sim.run(":delay 4s");
      assert.equal(state(), "extracting");
      sim.run(":delay 1s");
      assert.equal(state(), "stopped");
      assert.ok(existsSync(join(sim.diskRoot as string, "disk1/ctr/c")), "root-dir extracted");
      assert.equal(sim.run("/container/start c; :put [/container/get c starting]"), "true\r\n");
      sim.run(":delay 2s");
      assert.equal(
        sim.run(":put [/container/find where running]; :put [/interface/veth/get v running]"),
        "*1\r\ntrue\r\n",
      );
      assert.equal(
        sim.run("/container/remove c"),
        "failure: container should be stopped before removing\r\n",
      );
      sim.run("/container/stop c");
      assert.equal(state(), "stopping");
      sim.run(":delay 3s; /container/remove c");
      assert.equal(state(), "removing");
      assert.equal(
        sim.run(':put [/container/add name=c2 remote-image=img interface=v root-dir="disk1/ctr/c"]'),
        "failure: root-dir is used by another container\r\n",
      );
      sim.run(":delay 4s");
      assert.equal(state(), "gone");
      assert.ok(!existsSync(join(sim.diskRoot as string, "disk1/ctr/c")), "root-dir removed");
    });

    it("≤7.19: the state is status= text; ≤7.18 the name is a read-only UUID", () => {
      const sim = withVeth("7.19");
      sim.run("/container/add name=c remote-image=img interface=v");
      assert.equal(sim.run(":put [/container/get c status]"), "extracting\r\n");
      sim.run(":delay 3s");
      assert.equal(sim.run(':put [/container/find where status="stopped"]'), "*1\r\n");
      const old = withVeth("7.18");
      old.run('/container/add remote-image=img interface=v comment="mine"');
      assert.match(
        old.run(":put [/container/get [find] name]"),
        /^[0-9a-f]{8}-0000-4000-8000-000000000000\r\n$/,
      );
    });

    it("start creates missing mount sources; device mode can forbid containers", () => {
      const sim = withVeth("7.23", { extractSeconds: 0 });
      sim.run(
        "/container/mounts/add list=m src=disk1/vol/etc dst=/etc/x; /container/add name=c remote-image=i interface=v mountlists=m",
      );
      assert.equal(sim.run("/container/start c"), "");
      assert.ok(existsSync(join(sim.diskRoot as string, "disk1/vol/etc")));
      const locked = withVeth("7.23", { containerMode: false });
      assert.equal(locked.run("/container/add remote-image=i interface=v"), "failure: could not add\r\n");
    });
  });

  describe("/file: a real folder", () => {
    it("finds the disk, makes directories level by level, reflects uploads, removes for real", () => {
      const sim = sims.make("7.21");
      const root = sim.diskRoot as string;
      assert.equal(
        sim.run(':put [:len [/file/find where name="disk1"]]; :put [/file/get disk1 type]'),
        "1\r\ndisk\r\n",
      );
      assert.equal(sim.run("/file/add name=disk1/a/b type=directory"), "failure: no such directory\r\n");
      assert.equal(
        sim.run('/file/add name=disk1/a type=directory; /file/add name="/disk1/a/b" type=directory'),
        "",
      );
      assert.equal(sim.run("/file/add name=disk1/a type=directory"), "failure: already have such entry\r\n");
      assert.ok(existsSync(join(root, "disk1/a/b")));
      writeFileSync(join(root, "disk1/a/b/haproxy.cfg"), "global\n");
      assert.equal(
        sim.run(':put [/file/get [find where name="disk1/a/b/haproxy.cfg"] contents]'),
        "global\n\r\n",
      );
      assert.equal(sim.run(":put [/file/get disk1/a/b/haproxy.cfg size]"), "7\r\n");
      assert.equal(sim.run('/file/set disk1/a/b/haproxy.cfg contents="new"'), "");
      assert.equal(readFileSync(join(root, "disk1/a/b/haproxy.cfg"), "utf8"), "new");
      assert.equal(sim.run(':put [/file/find where type=directory and name~"^disk1/a"]'), "*2;*3\r\n");
      assert.equal(sim.run("/file/remove disk1/a"), "");
      assert.ok(!existsSync(join(root, "disk1/a")));
      assert.equal(sim.run("/file/remove disk1"), "failure: can not remove a disk\r\n");
      assert.equal(
        sim.run("/file/add name=disk1/../x type=directory"),
        "invalid value for argument name\r\n",
      );
      mkdirSync(join(root, "disk1/later"));
      assert.equal(sim.run(":put [/file/find where name=disk1/later]"), "*5\r\n", "new entries get new ids");
    });
  });
  describe("schedulers and staged refusals", () => {
    it("runs a scheduler's code at its start time and every interval after, never for a past time", () => {
      const sim = sims.make("7.21");
      sim.run(":delay 5h");
      sim.run('/system/scheduler/add name=s start-time=03:00:00 interval=1h on-event=":log info tick"');
      sim.run('/system/scheduler/add name=off start-time=startup on-event=":log info never"');
      const ticks = () => sim.state.log.filter((l) => l.message === "tick").map((l) => l.time / 3_600_000);
      assert.equal(sim.advance(3 * 3_600_000), "");
      assert.deepEqual(ticks(), [6, 7, 8]);
      assert.equal(sim.state.clock, 8 * 3_600_000);
      sim.run("/system/scheduler/set s disabled=yes");
      sim.advance(3 * 3_600_000);
      assert.deepEqual(ticks(), [6, 7, 8]);
    });

    it("runs the named script, and returns what it printed", () => {
      const sim = sims.make("7.16");
      sim.run('/system/script/add name=job source=":put \\"ran\\""');
      sim.run("/system/scheduler/add name=s start-time=00:10:00 interval=1d on-event=job");
      assert.equal(sim.advance(86_400_000), "ran\r\n");
    });

    it("prints a staged refusal instead of running the command, and stops the line there", () => {
      const sim = sims.make("7.21", { refuse: { "/interface/bridge/add": "not enough permissions (9)" } });
      assert.equal(
        sim.run('/interface/bridge/add name=b; :put "PULUMI-OK"'),
        "not enough permissions (9)\r\n",
      );
      assert.equal(sim.state.tables["/interface/bridge"]?.items.length ?? 0, 0);
      assert.equal(sim.run(':put [:len [/interface/bridge/find]]; :put "PULUMI-OK"'), "0\r\n" + OK);
    });
  });
  describe("removals RouterOS refuses, selectors by version, and the menus prerequisites read", () => {
    const addContainer = (sim: RouterOsSim) => {
      sim.run("/interface/veth/add name=v1 address=10.0.0.2/24 gateway=10.0.0.1");
      sim.run("/interface/bridge/add name=br; /interface/bridge/port/add bridge=br interface=v1");
      const mountsKey = sim.grammar.menu("/container")?.props.has("mountlists") ? "mountlists" : "mounts";
      const listKey = sim.grammar.menu("/container/mounts")?.props.has("list") ? "list" : "name";
      sim.run(`/container/mounts/add ${listKey}=m1 src=disk1/a dst=/a`);
      assert.equal(
        sim.run(`/container/add remote-image=x:1 interface=v1 root-dir=disk1/r ${mountsKey}=m1; :delay 5s`),
        "",
      );
    };

    for (const version of ["7.19", "7.21"]) {
      it(`refuses to remove a veth, its bridge port or a mount list a container uses (${version})`, () => {
        const sim = sims.make(version);
        addContainer(sim);
        assert.equal(
          sim.run("/interface/veth/remove [find]"),
          "failure: interface v1 is used by a container\r\n",
        );
        assert.equal(
          sim.run("/interface/bridge/port/remove [find]"),
          "failure: interface v1 is used by a container\r\n",
        );
        assert.equal(
          sim.run("/container/mounts/remove [find]"),
          "failure: mount list m1 is used by a container\r\n",
        );
        assert.equal(sim.run("/container/remove [find]; :delay 2s"), "");
        assert.equal(sim.run("/container/mounts/remove [find]; /interface/bridge/port/remove [find]"), "");
        assert.equal(sim.run("/interface/veth/remove [find]; :put [:len [/interface/veth/find]]"), "0\r\n");
      });
    }

    it("takes number= for container start/stop up to 7.19 and numbers= from 7.20; a positional one everywhere", () => {
      for (const [version, good, bad] of [
        ["7.19", "number", "numbers"],
        ["7.20", "numbers", "number"],
      ]) {
        const sim = sims.make(version);
        addContainer(sim);
        assert.match(sim.run(`/container/start ${bad}=[find]`), /^expected end of command/, version);
        assert.equal(sim.run(`/container/start ${good}=[find]; :delay 2s`), "", version);
        assert.equal(sim.run("/container/stop [find]; :delay 2s"), "", version);
      }
    });

    it("shows device-mode, DNS, users and groups from the options", () => {
      const sim = sims.make("7.16", {
        deviceMode: "home",
        containerMode: false,
        dynamicDnsServers: [],
        users: { ops: "read" },
      });
      assert.equal(
        sim.run(
          ":put [/system/device-mode/get mode]; :put [/system/device-mode/get container]; :put [/system/device-mode/get scheduler]",
        ),
        "home\r\nno\r\nno\r\n",
      );
      assert.equal(
        sim.run(":put [:len [/ip/dns/get servers]]; :put [:len [/ip/dns/get dynamic-servers]]"),
        "0\r\n0\r\n",
      );
      assert.equal(sim.run("/ip/dns/set servers=192.0.2.1; :put [/ip/dns/get servers]"), "192.0.2.1\r\n");
      assert.equal(sim.run(':put [/user/get [find where name="ops"] group]'), "read\r\n");
      assert.match(
        sim.run(':put [/user/group/get [find where name="read"] policy]'),
        /^local,telnet,ssh,reboot,read,/,
      );
      assert.match(sim.run("/user/add name=x group=full"), /^bad command name add/);
    });
  });
});
