/**
 * RouterOS command builders (routeros/commands.ts): the encoder, exact command lines for a 7.21 router, the
 * version switches, and the output check.
 */
import { strict as assert } from "node:assert";
import {
  ROUTEROS_ERROR,
  SENTINEL,
  addressCommands,
  bridgeCommands,
  bridgePortCommands,
  checkRouterOutput,
  containerCommands,
  containerConfigCommands,
  containerRestartCommands,
  containerTmpDir,
  directoriesCommands,
  dstNatCommands,
  envCommands,
  fileCleanupCommands,
  masqueradeCommands,
  mountCommands,
  routerOsVersion,
  routerTag,
  rq,
  schedulerCommands,
  scriptCommands,
  vethCommands,
  type ContainerSpec,
  type RouterCommand,
  type RouterOsVersion,
} from "../../routeros/commands";

const OK = ':put "PULUMI-OK"';
const v721 = routerOsVersion([7, 21, 0]);

/** Decodes a RouterOS double-quoted string back to its bytes (the inverse of rq, for the escapes rq emits). */
function decode(quoted: string): string {
  assert.ok(quoted.startsWith('"') && quoted.endsWith('"'), quoted);
  const body = quoted.slice(1, -1);
  const bytes: number[] = [];
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    assert.notEqual(c, '"', "unescaped quote");
    assert.notEqual(c, "$", "unescaped $");
    assert.notEqual(c, "?", "unescaped ?");
    assert.ok(
      c.charCodeAt(0) >= 0x20 && c.charCodeAt(0) < 0x7f,
      `raw byte 0x${c.charCodeAt(0).toString(16)}`,
    );
    if (c !== "\\") {
      bytes.push(c.charCodeAt(0));
      continue;
    }
    const e = body[++i];
    const simple: Record<string, number> = { '"': 0x22, "\\": 0x5c, $: 0x24, n: 0x0a, r: 0x0d, t: 0x09 };
    if (e in simple) bytes.push(simple[e]);
    else {
      const hex = body.slice(i, i + 2);
      assert.match(hex, /^[0-9A-F]{2}$/, `bad escape \\${hex}`);
      bytes.push(parseInt(hex, 16));
      i++;
    }
  }
  return Buffer.from(bytes).toString("utf8");
}

describe("routeros/commands", () => {
  describe("rq", () => {
    it("escapes the characters RouterOS interprets inside quotes", () => {
      assert.equal(rq("plain"), '"plain"');
      assert.equal(rq("a$b"), '"a\\$b"');
      assert.equal(rq('say "hi"'), '"say \\"hi\\""');
      assert.equal(rq("back\\slash"), '"back\\\\slash"');
      assert.equal(rq("why?"), '"why\\3F"');
      assert.equal(rq("line1\nline2"), '"line1\\nline2"');
      assert.equal(rq("a\r\tb"), '"a\\r\\tb"');
    });

    it("keeps script syntax literal inside quotes", () => {
      assert.equal(rq("[/system/reboot]; {x} #c = a,b"), '"[/system/reboot]; {x} #c = a,b"');
    });

    it("neutralises interpolation: $var, $(expr), $[command]", () => {
      assert.equal(rq("$[/system/reboot]"), '"\\$[/system/reboot]"');
      assert.equal(rq("$(1+1)$x"), '"\\$(1+1)\\$x"');
    });

    it("writes control characters, DEL and non-ASCII bytes as upper-case \\XX", () => {
      assert.equal(rq("é"), '"\\C3\\A9"');
      assert.equal(rq("\u0001\u007f\u001b"), '"\\01\\7F\\1B"');
      assert.equal(rq("€"), '"\\E2\\82\\AC"');
    });

    it("refuses NUL", () => {
      assert.throws(() => rq("a\u0000b"), /NUL/);
    });

    it("round-trips every byte value but NUL", () => {
      const all = Array.from({ length: 0x7f }, (_, i) => String.fromCharCode(i + 1)).join("") + "äöü ✓ 𝄞";
      assert.equal(decode(rq(all)), all);
      assert.ok(!rq(all).includes("\n"));
    });
  });

  describe("routerOsVersion", () => {
    it("switches envs, mounts and container state spellings by version", () => {
      const pick = (v: RouterOsVersion) => [
        v.envListKey,
        v.containerEnvListsKey,
        v.mountListKey,
        v.containerMountsKey,
        v.mountAccess,
        v.containerName,
        v.containerStateFlags,
      ];
      assert.deepEqual(pick(routerOsVersion([7, 16, 0])), [
        "name",
        "envlist",
        "name",
        "mounts",
        "none",
        false,
        false,
      ]);
      assert.deepEqual(pick(routerOsVersion([7, 19, 4])), [
        "name",
        "envlist",
        "name",
        "mounts",
        "none",
        true,
        false,
      ]);
      assert.deepEqual(pick(routerOsVersion([7, 20, 0])), [
        "list",
        "envlists",
        "name",
        "mounts",
        "read-only",
        true,
        true,
      ]);
      assert.deepEqual(pick(routerOsVersion([7, 21, 3])), [
        "list",
        "envlists",
        "list",
        "mountlists",
        "read-only",
        true,
        true,
      ]);
      assert.deepEqual(pick(routerOsVersion([7, 22, 0])), [
        "list",
        "envlists",
        "list",
        "mountlists",
        "read-only",
        true,
        true,
      ]);
      assert.deepEqual(pick(routerOsVersion([7, 23, 0])), [
        "list",
        "envlists",
        "list",
        "mountlists",
        "mode",
        true,
        true,
      ]);
    });

    it("refuses versions before 7.16 and other major versions", () => {
      assert.throws(() => routerOsVersion([7, 15, 3]), /not supported/);
      assert.throws(() => routerOsVersion([6, 49, 0]), /not supported/);
      assert.throws(() => routerOsVersion([8, 1, 0]), /not supported/);
    });
  });

  describe("builders, exact output on 7.21", () => {
    it("bridge", () => {
      assert.deepEqual(bridgeCommands({ stack: "dev", id: "bridge", name: "br-edge" }), {
        create:
          ':if ([:len [/interface/bridge/find where name="br-edge"]]=0) do={/interface/bridge/add name="br-edge" ' +
          'comment="haproxy-edge:dev:bridge"}; :put "PULUMI-OK"',
        delete:
          '/interface/bridge/remove [find where name="br-edge" and comment="haproxy-edge:dev:bridge"]; :put "PULUMI-OK"',
      });
    });

    it("router address on the bridge", () => {
      const c = '"haproxy-edge:dev:bridge-address"';
      assert.deepEqual(
        addressCommands({
          stack: "dev",
          id: "bridge-address",
          address: "172.20.0.1",
          prefixLength: 24,
          interface: "br-edge",
        }),
        {
          create:
            `:if ([:len [/ip/address/find where comment=${c}]]=0) do={/ip/address/add address="172.20.0.1/24" ` +
            `interface="br-edge" comment=${c}} else={/ip/address/set [find where comment=${c}] address="172.20.0.1/24" ` +
            `interface="br-edge"}; ${OK}`,
          delete: `/ip/address/remove [find where comment=${c}]; ${OK}`,
        },
      );
    });

    it("veth", () => {
      const c = '"haproxy-edge:dev:veth-edge-lb"';
      const props = 'address="172.20.0.2/24" gateway="172.20.0.1"';
      assert.deepEqual(
        vethCommands({
          stack: "dev",
          id: "veth-edge-lb",
          name: "edge-lb",
          address: "172.20.0.2",
          prefixLength: 24,
          gateway: "172.20.0.1",
        }),
        {
          create:
            `:if ([:len [/interface/veth/find where name="edge-lb"]]=0) do={/interface/veth/add name="edge-lb" ${props} ` +
            `comment=${c}} else={:if ([:len [/interface/veth/find where name="edge-lb" and comment=${c}]]=0) ` +
            `do={:error "veth edge-lb exists but is not tagged haproxy-edge:dev:veth-edge-lb"}; ` +
            `/interface/veth/set [find where name="edge-lb" and comment=${c}] ${props}}; ${OK}`,
          delete: `/interface/veth/remove [find where name="edge-lb" and comment=${c}]; ${OK}`,
        },
      );
    });

    it("bridge port", () => {
      const c = '"haproxy-edge:dev:port-edge-lb"';
      assert.deepEqual(
        bridgePortCommands({ stack: "dev", id: "port-edge-lb", bridge: "br-edge", interface: "edge-lb" }),
        {
          create:
            `:if ([:len [/interface/bridge/port/find where interface="edge-lb"]]=0) do={/interface/bridge/port/add ` +
            `bridge="br-edge" interface="edge-lb" comment=${c}} else={:if ([:len [/interface/bridge/port/find where ` +
            `interface="edge-lb" and comment=${c}]]=0) do={:error "bridge port of edge-lb exists but is not tagged ` +
            `haproxy-edge:dev:port-edge-lb"}; /interface/bridge/port/set [find where interface="edge-lb" and ` +
            `comment=${c}] bridge="br-edge"}; ${OK}`,
          delete: `/interface/bridge/port/remove [find where interface="edge-lb" and comment=${c}]; ${OK}`,
        },
      );
    });

    it("masquerade (upsert by tag: a re-run keeps the rule's id and position)", () => {
      const c = '"haproxy-edge:dev:masquerade"';
      const props = 'chain=srcnat action=masquerade src-address="172.20.0.0/24"';
      assert.deepEqual(masqueradeCommands({ stack: "dev", id: "masquerade", subnet: "172.20.0.0/24" }), {
        create:
          `:if ([:len [/ip/firewall/nat/find where comment=${c}]]=0) do={/ip/firewall/nat/add ${props} comment=${c}} ` +
          `else={/ip/firewall/nat/set [find where comment=${c}] ${props}}; ${OK}`,
        delete: `/ip/firewall/nat/remove [find where comment=${c}]; ${OK}`,
      });
    });

    it("dst-nat (upsert by tag)", () => {
      const c = '"haproxy-edge:dev:dstnat-lb-https"';
      const props =
        'chain=dstnat action=dst-nat in-interface-list="WAN" protocol=tcp dst-port="443" to-addresses="172.20.0.2" ' +
        'to-ports="8443"';
      assert.deepEqual(
        dstNatCommands({
          stack: "dev",
          id: "dstnat-lb-https",
          inInterfaceList: "WAN",
          port: 443,
          toAddress: "172.20.0.2",
          toPort: 8443,
        }),
        {
          create:
            `:if ([:len [/ip/firewall/nat/find where comment=${c}]]=0) do={/ip/firewall/nat/add ${props} comment=${c}} ` +
            `else={/ip/firewall/nat/set [find where comment=${c}] ${props}}; ${OK}`,
          delete: `/ip/firewall/nat/remove [find where comment=${c}]; ${OK}`,
        },
      );
    });

    it("container config (singleton: delete does nothing)", () => {
      assert.equal(containerTmpDir("disk1"), "disk1/haproxy-edge-tmp");
      const r = '"https://registry-1.docker.io"';
      assert.deepEqual(
        containerConfigCommands({
          registryUrl: "https://registry-1.docker.io",
          tmpdir: "disk1/haproxy-edge-tmp",
          registryKey: "hosts.mt.registryUrl",
        }),
        {
          // Router-wide: another registry someone set is kept (with what this stack needs), tmpdir only if empty.
          create:
            `{:local r [/container/config/get registry-url]; :if (($r!="") and ($r!="https://lscr.io") and ` +
            `($r!=${r})) do={:error ("/container/config registry-url is set to another registry, and it is shared ` +
            "by every container on the router; this stack pulls its images from https://registry-1.docker.io " +
            "(hosts.mt.registryUrl): set /container/config registry-url=https://registry-1.docker.io by hand if " +
            'nothing else on the router needs the other one, or set hosts.mt.registryUrl to it. It is now: " . $r)}; ' +
            `:if ($r!=${r}) do={/container/config/set registry-url=${r}}; ` +
            ':if ([:len [/container/config/get tmpdir]]=0) do={/container/config/set tmpdir="disk1/haproxy-edge-tmp"}; ' +
            `${OK}}`,
          delete: OK,
        },
      );
    });

    it("directories: every level, parents first, the disk checked but never created", () => {
      assert.deepEqual(
        directoriesCommands({
          paths: ["disk1/haproxy-edge/dev/certs", "disk1/haproxy-edge/dev/lb-edge", "disk1/haproxy-edge"],
        }),
        {
          create:
            ':if ([:len [/file/find where name="disk1"]]=0) do={:error "disk disk1 not found (see /disk print)"}; ' +
            ':foreach p in={"disk1/haproxy-edge";"disk1/haproxy-edge/dev";"disk1/haproxy-edge/dev/certs";' +
            '"disk1/haproxy-edge/dev/lb-edge"} do={:if ([:len [/file/find where name=$p]]=0) do={/file/add name=$p ' +
            `type=directory}}; ${OK}`,
          delete: OK,
        },
      );
    });

    it("mount", () => {
      const c = '"haproxy-edge:dev:mnt-dev-lb-certs"';
      const props =
        'list="dev-lb-certs" src="disk1/haproxy-edge/dev/certs" dst="/usr/local/etc/haproxy/certs" read-only=yes';
      assert.deepEqual(
        mountCommands(
          {
            stack: "dev",
            id: "mnt-dev-lb-certs",
            list: "dev-lb-certs",
            src: "disk1/haproxy-edge/dev/certs",
            dst: "/usr/local/etc/haproxy/certs",
            readOnly: true,
          },
          v721,
        ),
        {
          create:
            `:if ([:len [/container/mounts/find where comment=${c}]]=0) do={/container/mounts/add ${props} comment=${c}} ` +
            `else={/container/mounts/set [find where comment=${c}] ${props}}; ${OK}`,
          delete: `/container/mounts/remove [find where comment=${c}]; ${OK}`,
        },
      );
    });

    it("env", () => {
      const c = '"haproxy-edge:dev:env-dev-lb-TZ"';
      const props = 'list="dev-lb" key="TZ" value="Europe/Berlin"';
      assert.deepEqual(
        envCommands(
          { stack: "dev", id: "env-dev-lb-TZ", list: "dev-lb", key: "TZ", value: "Europe/Berlin" },
          v721,
        ),
        {
          create:
            `:if ([:len [/container/envs/find where comment=${c}]]=0) do={/container/envs/add ${props} comment=${c}} ` +
            `else={/container/envs/set [find where comment=${c}] ${props}}; ${OK}`,
          delete: `/container/envs/remove [find where comment=${c}]; ${OK}`,
        },
      );
    });

    const lb: ContainerSpec = {
      stack: "dev",
      id: "ctr-dev-lb",
      name: "dev-lb",
      remoteImage: "haproxy:3.0",
      interface: "edge-lb",
      rootDir: "disk1/haproxy-edge/dev/lb-root",
      mountLists: ["dev-lb-edge", "dev-lb-certs"],
      envList: "dev-lb",
      entrypoint: "/bin/sh",
      cmd: "/usr/local/etc/haproxy-edge/start.sh",
      user: "0:0",
      start: true,
    };
    const ours = 'name="dev-lb" and comment="haproxy-edge:dev:ctr-dev-lb"';
    const has = (where: string) => `[:len [/container/find where ${where}]]`;
    const wait = (cond: string, seconds: number, message: string) =>
      `:while ((${has(cond)}=0) and ($n<${seconds})) do={:delay 1s; :set n ($n+1)}; ` +
      `:if (${has(cond)}=0) do={:error "${message}"}`;

    it("container: a memory limit where the version has one per container (memory-high 7.20+, memory-max 7.23+)", () => {
      const addLine = (version: RouterOsVersion) =>
        /\/container\/add [^;]*/.exec(containerCommands({ ...lb, memoryMb: 512 }, version).create)?.[0] ?? "";
      for (const [parts, want] of [
        [[7, 16, 0], []],
        [[7, 19, 3], []],
        [[7, 20, 0], ["memory-high=512M"]],
        [[7, 22, 1], ["memory-high=512M"]],
        [
          [7, 23, 0],
          ["memory-high=512M", "memory-max=512M"],
        ],
      ] as const) {
        const add = addLine(routerOsVersion(parts));
        assert.deepEqual(add.match(/memory-[a-z]+=\S+/g) ?? [], want, parts.join("."));
      }
      // Without a limit, nothing (the router's global setting applies).
      assert.doesNotMatch(containerCommands(lb, routerOsVersion([7, 23, 0])).create, /memory/);
      assert.throws(() => containerCommands({ ...lb, memoryMb: 1.5 }, v721), /not a whole number of MiB/);
    });

    it("container: add, bounded wait for extraction, start, bounded wait for running", () => {
      const add =
        '/container/add name="dev-lb" remote-image="haproxy:3.0" interface="edge-lb" root-dir="disk1/haproxy-edge/dev/lb-root" ' +
        'mountlists="dev-lb-edge,dev-lb-certs" envlists="dev-lb" entrypoint="/bin/sh" ' +
        'cmd="/usr/local/etc/haproxy-edge/start.sh" user="0:0" logging=yes start-on-boot=yes comment="haproxy-edge:dev:ctr-dev-lb"';
      const busy = "!running and !starting and !stopping and !extracting";
      const failed = `${ours} and !stopped and ${busy}`;
      const ready = `${ours} and (stopped or running)`;
      const create =
        // A failed one of ours is removed first (bounded), then added again.
        `{:if (${has(failed)}>0) do={/container/remove [find where ${ours}]; :local n 0; ` +
        `:while ((${has(ours)}>0) and ($n<60)) do={:delay 1s; :set n ($n+1)}; ` +
        `:if (${has(ours)}>0) do={:error "dev-lb: not removed after 60s"}}; ` +
        `:if (${has('name="dev-lb"')}=0) do={${add}; :delay 2s} else={:if (${has(ours)}=0) do={:error ` +
        '"container dev-lb exists but is not tagged haproxy-edge:dev:ctr-dev-lb"}}; :local n 0; ' +
        // The extraction: bounded, and cut short when it failed (the error carries the last container log line).
        `:while ((${has(ready)}=0) and (${has(failed)}=0) and ($n<900)) do={:delay 1s; :set n ($n+1)}; ` +
        `:if (${has(failed)}>0) do={:local m ""; :foreach l in=[/log/find where topics~"container"] ` +
        `do={:set m [/log/get $l message]}; :error ("dev-lb: the image pull or extraction failed; the router's ` +
        `last container log line: " . $m)}; ` +
        `:if (${has(ready)}=0) do={:error "dev-lb: not pulled and extracted after 900s (see /log)"}` +
        `; :if (${has(`${ours} and running`)}=0) do={/container/start [find where ${ours}]; :set n 0; ` +
        wait(`${ours} and running`, 60, "dev-lb: not running 60s after start (see /log)") +
        `}; ${OK}}`;
      const del =
        `{:local id [/container/find where ${ours}]; :if ([:len $id]>0) do={:local n 0; ` +
        // Stopped or failed: both can be removed.
        `:while ((${has(`${ours} and ${busy}`)}=0) and ($n<60)) do={:if (${has(`${ours} and running`)}>0) ` +
        `do={/container/stop $id}; :delay 1s; :set n ($n+1)}; :if (${has(`${ours} and ${busy}`)}=0) ` +
        `do={:error "dev-lb: not stopped after 60s"}; /container/remove $id; :set n 0; ` +
        `:while ((${has(ours)}>0) and ($n<60)) do={:delay 1s; :set n ($n+1)}; ` +
        `:if (${has(ours)}>0) do={:error "dev-lb: not removed after 60s"}}; ${OK}}`;
      assert.deepEqual(containerCommands(lb, v721), { create, delete: del, seconds: 1082 });
    });

    it("container without start: only the bounded wait for extraction, start-on-boot=no", () => {
      const c = containerCommands({ ...lb, start: false, extractTimeoutSeconds: 300 }, v721);
      assert.ok(c.create.includes("start-on-boot=no"));
      assert.ok(c.create.includes("($n<300)"));
      assert.ok(!c.create.includes("/container/start"));
    });

    it("container start without waiting for running (one-shot containers)", () => {
      const c = containerCommands({ ...lb, waitForRunning: false }, v721);
      assert.ok(c.create.includes(`do={/container/start [find where ${ours}]}; ${OK}}`));
    });

    it("container restart: stop, bounded wait, start, bounded wait", () => {
      const create =
        `{:if (${has(ours)}=0) do={:error "container dev-lb not found"}; ` +
        `:if (${has(`${ours} and running`)}>0) do={/container/stop [find where ${ours}]}; :local n 0; ` +
        wait(`${ours} and stopped`, 60, "dev-lb: not stopped after 60s") +
        `; :if (${has(`${ours} and running`)}=0) do={/container/start [find where ${ours}]; :set n 0; ` +
        wait(`${ours} and running`, 60, "dev-lb: not running 60s after start (see /log)") +
        `}; ${OK}}`;
      assert.deepEqual(containerRestartCommands(lb, v721), { create, delete: OK, seconds: 180 });
    });

    it("script: multi-line source as one quoted string", () => {
      const c = '"haproxy-edge:dev:script-renew"';
      const src = '"/container/start [find where name=\\"dev-certbot\\"]\\n:log info \\$x"';
      const props = `policy="read,write,test" source=${src}`;
      assert.deepEqual(
        scriptCommands({
          stack: "dev",
          id: "script-renew",
          name: "renew",
          source: '/container/start [find where name="dev-certbot"]\n:log info $x',
          policy: ["read", "write", "test"],
        }),
        {
          create:
            `:if ([:len [/system/script/find where name="renew"]]=0) do={/system/script/add name="renew" ${props} ` +
            `comment=${c}} else={:if ([:len [/system/script/find where name="renew" and comment=${c}]]=0) ` +
            `do={:error "script renew exists but is not tagged haproxy-edge:dev:script-renew"}; ` +
            `/system/script/set [find where name="renew" and comment=${c}] ${props}}; ${OK}`,
          delete: `/system/script/remove [find where name="renew" and comment=${c}]; ${OK}`,
        },
      );
    });

    it("scheduler", () => {
      const c = '"haproxy-edge:dev:sched-renew"';
      const props = 'start-time="03:17:00" interval="1d" on-event="renew" policy="read,write,test"';
      assert.deepEqual(
        schedulerCommands({
          stack: "dev",
          id: "sched-renew",
          name: "renew",
          interval: "1d",
          startTime: "03:17:00",
          script: "renew",
          policy: ["read", "write", "test"],
        }),
        {
          create:
            `:if ([:len [/system/scheduler/find where name="renew"]]=0) do={/system/scheduler/add name="renew" ${props} ` +
            `comment=${c}} else={:if ([:len [/system/scheduler/find where name="renew" and comment=${c}]]=0) ` +
            `do={:error "scheduler renew exists but is not tagged haproxy-edge:dev:sched-renew"}; ` +
            `/system/scheduler/set [find where name="renew" and comment=${c}] ${props}}; ${OK}`,
          delete: `/system/scheduler/remove [find where name="renew" and comment=${c}]; ${OK}`,
        },
      );
    });
  });

  describe("version switches", () => {
    const mount = (parts: [number, number, number], readOnly = true) =>
      mountCommands(
        { stack: "dev", id: "mnt-a", list: "dev-lb-a", src: "disk1/a", dst: "/a", readOnly },
        routerOsVersion(parts),
      ).create;
    const spec: ContainerSpec = {
      stack: "dev",
      id: "ctr-dev-lb",
      name: "dev-lb",
      remoteImage: "haproxy:3.0",
      interface: "edge-lb",
      rootDir: "disk1/r",
      mountLists: ["dev-lb-a"],
      envList: "dev-lb",
      start: true,
    };

    it("mount rows: name= (≤7.20) vs list= (7.21+); read-only= (7.20–7.22) vs mode= (7.23+) vs nothing (≤7.19)", () => {
      assert.ok(mount([7, 19, 0]).includes('add name="dev-lb-a" src="disk1/a" dst="/a" comment='));
      assert.ok(
        mount([7, 20, 0]).includes('add name="dev-lb-a" src="disk1/a" dst="/a" read-only=yes comment='),
      );
      assert.ok(
        mount([7, 21, 0]).includes('add list="dev-lb-a" src="disk1/a" dst="/a" read-only=yes comment='),
      );
      assert.ok(
        mount([7, 22, 0], false).includes('add list="dev-lb-a" src="disk1/a" dst="/a" read-only=no comment='),
      );
      assert.ok(mount([7, 23, 0]).includes('add list="dev-lb-a" src="disk1/a" dst="/a" mode=ro comment='));
      assert.ok(
        mount([7, 23, 0], false).includes('add list="dev-lb-a" src="disk1/a" dst="/a" mode=rw comment='),
      );
      for (const p of [
        [7, 19, 0],
        [7, 20, 0],
        [7, 21, 0],
      ] as const)
        assert.ok(!mount([...p]).includes("mode="));
      assert.ok(!mount([7, 23, 0]).includes("read-only"));
    });

    it("env rows: name= (≤7.19) vs list= (7.20+)", () => {
      const env = (parts: [number, number, number]) =>
        envCommands(
          { stack: "dev", id: "env-x", list: "dev-lb", key: "K", value: "v" },
          routerOsVersion(parts),
        ).create;
      assert.ok(env([7, 19, 0]).includes('/container/envs/add name="dev-lb" key="K" value="v"'));
      assert.ok(env([7, 20, 0]).includes('/container/envs/add list="dev-lb" key="K" value="v"'));
      assert.ok(env([7, 23, 0]).includes('/container/envs/add list="dev-lb" key="K" value="v"'));
    });

    it("container: mounts=/envlist=/status (7.19), mounts=/envlists=/flags (7.20), mountlists= (7.21, 7.23)", () => {
      const c719 = containerCommands(spec, routerOsVersion([7, 19, 0]));
      assert.ok(c719.create.includes('mounts="dev-lb-a" envlist="dev-lb"'));
      assert.ok(c719.create.includes('(status="stopped" or status="running")'));
      assert.ok(c719.delete.includes('and (status="stopped" or status="error")'));
      assert.ok(c719.create.includes('and status="error"'));
      assert.ok(!/ and !?(stopped|running)/.test(c719.create + c719.delete));

      const c720 = containerCommands(spec, routerOsVersion([7, 20, 0]));
      assert.ok(c720.create.includes('mounts="dev-lb-a" envlists="dev-lb"'));
      assert.ok(c720.create.includes("and (stopped or running)"));
      assert.ok(!c720.create.includes("status="));

      for (const parts of [
        [7, 21, 0],
        [7, 23, 0],
      ] as [number, number, number][]) {
        const c = containerCommands(spec, routerOsVersion(parts));
        assert.ok(c.create.includes('mountlists="dev-lb-a" envlists="dev-lb"'), parts.join("."));
        assert.ok(!c.create.includes(" mounts="));
      }
    });

    it("container before 7.19 has no name: found by its comment, added without name=", () => {
      const c = containerCommands(spec, routerOsVersion([7, 18, 0]));
      assert.ok(!c.create.includes("name="));
      assert.ok(
        c.create.includes(
          ':if ([:len [/container/find where comment="haproxy-edge:dev:ctr-dev-lb"]]=0) do={/container/add ',
        ),
      );
      assert.ok(c.create.includes("dev-lb: not pulled and extracted")); // messages still name it
      assert.ok(!c.delete.includes("name="));
    });
  });

  describe("every builder", () => {
    const versions = [
      [7, 16, 0],
      [7, 19, 0],
      [7, 20, 0],
      [7, 21, 0],
      [7, 23, 0],
    ] as [number, number, number][];
    const all = (v: RouterOsVersion): RouterCommand[] => {
      const spec: ContainerSpec = {
        stack: "dev",
        id: "ctr-x",
        name: "x",
        remoteImage: "haproxy:3.0",
        interface: "edge-x",
        rootDir: "disk1/r",
        mountLists: ["x-a"],
        envList: "x",
        cmd: "/bin/run once",
        start: true,
      };
      return [
        bridgeCommands({ stack: "dev", id: "b", name: "br" }),
        addressCommands({ stack: "dev", id: "a", address: "10.0.0.1", prefixLength: 24, interface: "br" }),
        vethCommands({
          stack: "dev",
          id: "v",
          name: "edge-x",
          address: "10.0.0.2",
          prefixLength: 24,
          gateway: "10.0.0.1",
        }),
        bridgePortCommands({ stack: "dev", id: "p", bridge: "br", interface: "edge-x" }),
        masqueradeCommands({ stack: "dev", id: "m", subnet: "10.0.0.0/24" }),
        dstNatCommands({
          stack: "dev",
          id: "d",
          inInterfaceList: "WAN",
          port: 80,
          toAddress: "10.0.0.2",
          toPort: 80,
        }),
        containerConfigCommands({
          registryUrl: "https://registry-1.docker.io",
          tmpdir: "disk1/t",
          registryKey: "k",
        }),
        directoriesCommands({ paths: ["disk1/a/b"] }),
        mountCommands({ stack: "dev", id: "mt", list: "x-a", src: "disk1/a", dst: "/a", readOnly: true }, v),
        envCommands({ stack: "dev", id: "e", list: "x", key: "MULTI", value: "line1\nline2\r\n$HOME?" }, v),
        containerCommands(spec, v),
        containerCommands({ ...spec, start: false }, v),
        containerRestartCommands(spec, v),
        scriptCommands({
          stack: "dev",
          id: "s",
          name: "s",
          source: ":log info a\n:log info $b\n",
          policy: ["read"],
        }),
        schedulerCommands({
          stack: "dev",
          id: "sc",
          name: "s",
          interval: "12h",
          startTime: "startup",
          script: "s",
          policy: ["read"],
        }),
      ];
    };

    it("is one line and ends with the sentinel, on every version", () => {
      for (const parts of versions) {
        for (const c of all(routerOsVersion(parts))) {
          for (const line of [c.create, c.delete]) {
            assert.ok(!/[\r\n]/.test(line), `raw newline in ${line}`);
            assert.ok(/:put "PULUMI-OK"\}?$/.test(line), `no sentinel at the end of ${line}`);
            assert.ok(!/[^\x20-\x7e]/.test(line), `non-printable byte in ${line}`);
          }
        }
      }
    });
  });

  describe("names", () => {
    it("refuses names, list names and comments with spaces, quotes or other syntax", () => {
      for (const bad of ["br edge", 'br"edge', "br;edge", "br$x", "", "x".repeat(64), "br/edge", "é"]) {
        assert.throws(
          () => bridgeCommands({ stack: "dev", id: "bridge", name: bad }),
          /not a safe RouterOS name/,
          bad,
        );
      }
      assert.throws(() => bridgeCommands({ stack: "d ev", id: "bridge", name: "br" }), /stack/);
      assert.throws(() => bridgeCommands({ stack: "dev", id: 'a"b', name: "br" }), /object id/);
      assert.throws(() => routerTag("dev", "y".repeat(50)), /comment/);
      assert.throws(
        () => envCommands({ stack: "dev", id: "e", list: "my list", key: "K", value: "v" }, v721),
        /env list/,
      );
      assert.throws(
        () =>
          containerCommands(
            {
              stack: "dev",
              id: "c",
              name: "dev lb",
              remoteImage: "i",
              interface: "v",
              rootDir: "disk1/r",
              mountLists: [],
              start: false,
            },
            v721,
          ),
        /container name/,
      );
      assert.throws(
        () =>
          schedulerCommands({
            stack: "dev",
            id: "s",
            name: "s",
            interval: "1d",
            startTime: "03:00:00",
            script: 'x"; /system/reboot; "',
            policy: ["read"],
          }),
        /script name/,
      );
    });

    it("refuses bad values that are not names", () => {
      assert.throws(() => directoriesCommands({ paths: ["disk1/../etc"] }), /RouterOS path/);
      assert.throws(() => directoriesCommands({ paths: ["/disk1/a"] }), /RouterOS path/);
      assert.throws(
        () =>
          mountCommands(
            { stack: "d", id: "m", list: "l", src: "disk1/a", dst: "relative", readOnly: false },
            v721,
          ),
        /container path/,
      );
      assert.throws(
        () => envCommands({ stack: "d", id: "e", list: "l", key: "A-B", value: "v" }, v721),
        /variable name/,
      );
      assert.throws(
        () =>
          dstNatCommands({
            stack: "d",
            id: "x",
            inInterfaceList: "WAN",
            port: 0,
            toAddress: "10.0.0.2",
            toPort: 80,
          }),
        /TCP port/,
      );
      assert.throws(
        () =>
          dstNatCommands({
            stack: "d",
            id: "x",
            inInterfaceList: "WAN",
            port: 80,
            toAddress: "10.0.0",
            toPort: 80,
          }),
        /IPv4/,
      );
      assert.throws(
        () => scriptCommands({ stack: "d", id: "s", name: "s", source: "", policy: ["root"] }),
        /unknown RouterOS policy/,
      );
      assert.throws(
        () =>
          schedulerCommands({
            stack: "d",
            id: "s",
            name: "s",
            interval: "1 day",
            startTime: "03:00:00",
            script: "s",
            policy: ["read"],
          }),
        /duration/,
      );
      assert.throws(
        () =>
          containerConfigCommands({
            registryUrl: 'https://x"; /system/reboot',
            tmpdir: "disk1/t",
            registryKey: "k",
          }),
        /registry URL/,
      );
    });
  });

  describe("checkRouterOutput", () => {
    it("accepts output ending with the sentinel", () => {
      checkRouterOutput(`${SENTINEL}\n`);
      checkRouterOutput(`${SENTINEL}\r\n`);
      checkRouterOutput(`some output\r\n${SENTINEL}\r\n\r\n`);
    });

    it("throws with the router's message on errors", () => {
      assert.throws(
        () => checkRouterOutput("bad command name foo (line 1 column 2)\n"),
        /bad command name foo/,
      );
      assert.throws(
        () => checkRouterOutput("expected end of command (line 1 column 40)\n"),
        /expected end of command/,
      );
      assert.throws(
        () => checkRouterOutput("failure: already have interface with such name\r\n"),
        /failure: already have interface/,
      );
      assert.throws(() => checkRouterOutput(`no such item\n${SENTINEL}\n`), /no such item/);
      assert.throws(() => checkRouterOutput("syntax error (line 1 column 12)"), /syntax error/);
    });

    it("throws when the sentinel is missing (an :error, or nothing at all)", () => {
      assert.throws(
        () => checkRouterOutput("dev-lb: not running 60s after start (see /log)\n"),
        /did not finish.*dev-lb/,
      );
      assert.throws(() => checkRouterOutput(""), /no output/);
      assert.throws(() => checkRouterOutput(`${SENTINEL}\nmore\n`), /did not finish/);
    });

    it("uses the detect_regex of routeros-menus.json", () => {
      assert.ok(ROUTEROS_ERROR.test("input does not match any value of interface"));
      assert.ok(ROUTEROS_ERROR.test("value of port is out of range (1 .. 65535)"));
      assert.ok(ROUTEROS_ERROR.test("missing value(s) of argument(s) interface"));
      assert.ok(!ROUTEROS_ERROR.test(SENTINEL));
    });
  });

  describe("fileCleanupCommands", () => {
    it("removes exactly the uploaded files on delete and does nothing on create", () => {
      const c = fileCleanupCommands({
        paths: ["disk1/haproxy-edge/dev/lb-edge/haproxy.cfg", "disk1/x/a.pem"],
      });
      assert.equal(c.create, `:put "${SENTINEL}"`);
      assert.equal(
        c.delete,
        ':foreach f in={"disk1/haproxy-edge/dev/lb-edge/haproxy.cfg";"disk1/x/a.pem"} do={/file/remove [find where name=$f]}; ' +
          `:put "${SENTINEL}"`,
      );
    });

    it("refuses paths that are not plain RouterOS paths, and an empty list", () => {
      assert.throws(() => fileCleanupCommands({ paths: ["disk1/../etc"] }), /not a RouterOS path/);
      assert.throws(() => fileCleanupCommands({ paths: ['disk1/a";/system/reboot'] }), /not a RouterOS path/);
      assert.throws(() => fileCleanupCommands({ paths: [] }), /no paths/);
    });
  });
});
