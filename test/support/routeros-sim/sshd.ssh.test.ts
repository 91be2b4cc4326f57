/**
 * SSH tier of the RouterOS simulator: the launcher (sshd.ts) runs Debian's /usr/sbin/sshd on 127.0.0.1 in
 * front of the simulator, and the tests talk to it like @pulumi/command does (ssh2: one login per exec, SFTP
 * uploads). Needs /usr/sbin/sshd and /usr/lib/openssh/sftp-server; not part of the unit tier.
 *
 *   npx mocha --timeout 60000 test/support/routeros-sim/sshd.ssh.test.ts
 */
import { strict as assert } from "node:assert";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { utils } from "ssh2";
import {
  bridgeCommands,
  checkRouterOutput,
  containerCommands,
  directoriesCommands,
  vethCommands,
} from "../../../routeros/commands";
import { lbSpec, versionOf, LB_VETH } from "./helpers";
import { sftpWrite, sshExec, startRouterOsSim, type RouterOsSimServer } from "./sshd";

describe("routeros-sim over a real OpenSSH server (sshd.ssh)", function () {
  this.timeout(60_000);
  let server: RouterOsSimServer;

  before(async () => {
    server = await startRouterOsSim({ version: "7.20.1" });
  });
  after(async () => {
    await server?.stop();
  });

  it("listens on 127.0.0.1 with public-key login only", () => {
    assert.equal(server.host, "127.0.0.1");
    assert.ok(server.port > 0);
    assert.match(server.privateKey, /^-----BEGIN OPENSSH PRIVATE KEY-----/);
    assert.match(server.hostPublicKey, /^ssh-ed25519 /);
    const config = readFileSync(join(server.dir, "sshd_config"), "utf8");
    for (const line of [
      "ListenAddress 127.0.0.1",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "UsePAM no",
    ]) {
      assert.ok(config.split("\n").includes(line), line);
    }
  });

  it("runs the builders' commands, one SSH exec each, and exits 0 even on RouterOS errors", async () => {
    const v = versionOf("7.20.1");
    const steps = [
      bridgeCommands({ stack: "dev", id: "bridge", name: "br-edge" }).create,
      vethCommands(LB_VETH).create,
      containerCommands(lbSpec({ mountLists: [], envList: undefined, start: true }), v).create,
    ];
    for (const cmd of steps) {
      const r = await sshExec(server, cmd);
      assert.deepEqual([r.code, r.stdout], [0, "PULUMI-OK\r\n"], cmd);
      checkRouterOutput(r.stdout);
    }
    const state = server.state();
    assert.equal(state.tables["/interface/bridge"].items[0].props.name, "br-edge");
    assert.equal(state.tables["/container"].items[0].container?.phase, "running");

    const bad = await sshExec(server, '/interface/bridge/add name="br-edge"; :put "PULUMI-OK"');
    assert.deepEqual([bad.code, bad.stdout], [0, "failure: already have interface with such name\r\n"]);
    assert.throws(() => checkRouterOutput(bad.stdout), /already have interface/);
  });

  it("uploads over SFTP into disk1/..., where the folder and /file see it", async () => {
    const dirs = directoriesCommands({ paths: ["disk1/haproxy-edge/dev/lb"] }).create;
    assert.equal(await server.exec(dirs), "PULUMI-OK\r\n");
    const content = "global\n  maxconn 100\n";
    await server.upload("disk1/haproxy-edge/dev/lb/haproxy.cfg", content);
    assert.equal(
      readFileSync(join(server.diskRoot, "disk1/haproxy-edge/dev/lb/haproxy.cfg"), "utf8"),
      content,
    );
    const out = await server.exec(
      ':put [/file/get [find where name="disk1/haproxy-edge/dev/lb/haproxy.cfg"] size]; ' +
        ':put [/file/get [find where name="disk1/haproxy-edge/dev/lb/haproxy.cfg"] contents]',
    );
    assert.equal(out, `${content.length}\r\n${content}\r\n`);
    // Like RouterOS (and CopyToRemote), SFTP does not create missing parents.
    await assert.rejects(() => server.upload("disk1/missing/dir/x.cfg", "x"), /No such file/);
  });

  it("serialises concurrent execs on the state file", async () => {
    const names = Array.from({ length: 8 }, (_, i) => `par${i}`);
    const outs = await Promise.all(
      names.map((n) => server.exec(`/interface/bridge/add name=${n}; :put "PULUMI-OK"`)),
    );
    assert.deepEqual(
      outs,
      names.map(() => "PULUMI-OK\r\n"),
    );
    const count = await server.exec(':put [:len [/interface/bridge/find where name~"^par"]]');
    assert.equal(count, "8\r\n");
  });

  it("refuses a client key it does not know, and the client refuses a wrong host key", async () => {
    const other = utils.generateKeyPairSync("ed25519");
    await assert.rejects(
      () => sshExec({ ...server, privateKey: other.private }, ':put "x"', 15_000),
      /authentication/i,
    );
    await assert.rejects(
      () => sftpWrite({ ...server, privateKey: other.private }, "disk1/x", "x", 15_000),
      /authentication/i,
    );
    const wrongHost = `ssh-ed25519 ${other.public.split(/\s+/)[1]}`;
    await assert.rejects(() => sshExec({ ...server, hostPublicKey: wrongHost }, ':put "x"', 15_000));
  });

  it("stop() ends sshd and removes its folder", async () => {
    const second = await startRouterOsSim({ version: "7.23", disks: ["usb1"] });
    assert.equal(await second.exec(':put [:len [/file/find where name="usb1"]]'), "1\r\n");
    await second.stop();
    assert.ok(!existsSync(second.dir));
    await assert.rejects(() => second.exec(':put "x"', 5000));
  });
});
