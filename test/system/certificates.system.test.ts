/**
 * System tier, certificates: the system stack in `tlsMode: acme`, applied to the real Docker engine, obtains its
 * certificate from a real ACME server (pebble) through DNS-01 with RFC 2136 updates to a real bind9 that only
 * accepts them with the TSIG key, and the load balancer serves it without restarting. Then forced renewals under
 * continuous TLS handshakes, a wrong TSIG secret, a failed push, and teardown/recreation with the retained
 * volumes. Traffic goes only to 127.0.0.1 and to containers on the stack's own network.
 */
import { strict as assert } from "node:assert";
import { FILES, PATHS } from "../../config/model";
import type { AcmeLab } from "./acme-lab";
import {
  CERTBOT,
  CERT_NAME,
  LB,
  ACME_RETAINED,
  RENEW_SCRIPT,
  dockerExec,
  downAcmeStack,
  firstIssuance,
  forcedRenewalUnderLoad,
  lbProcess,
  lineageSerial,
  servedCertificate,
  upAcmeStack,
  type Swap,
} from "./certificates";
import {
  STACK,
  containerLogs,
  dockerCli,
  removeTestContainers,
  stackObjects,
  assertNoChanges,
  until,
  upSystem,
} from "./support";
import type { Engine } from "./engine";

const log = process.env.HAPROXY_EDGE_SYSTEM_VERBOSE ? (l: string) => console.log(`    ${l}`) : undefined;

describe("system: certificates from a real ACME server (pebble + bind9), hot-swapped into HAProxy", function () {
  this.timeout(600_000);
  let lab: AcmeLab;
  let engine: Engine | undefined;
  let root: string;
  let lbStartedAt: number;
  let worker: { pid: number; uptimeSec: number };

  before(async function () {
    ({ lab, engine } = await upAcmeStack(log));
    root = await lab.issuingRoot();
  });

  after(async function () {
    await downAcmeStack({ lab, engine });
  });

  it("`pulumi preview --expect-no-changes` right after `pulumi up` finds nothing to do", async () => {
    assert.ok(engine);
    await assertNoChanges(engine);
  });

  it("obtains the certificate through DNS-01 and the load balancer serves it without a restart", async () => {
    const served = await firstIssuance(root);
    // openssl verified pebble's chain and the host name against pebble's root.
    assert.equal(served.verifyCode, "0 (ok)");
    assert.match(served.issuer, /Pebble Intermediate CA/);
    // The worker process serving now has been up since the container started: no restart, no reload.
    const started = JSON.parse(await dockerCli(["inspect", "--format", "{{json .State}}", LB])) as {
      StartedAt: string;
    };
    lbStartedAt = Date.parse(started.StartedAt);
    worker = await lbProcess();
    assert.ok(
      worker.uptimeSec >= Math.floor((Date.now() - lbStartedAt) / 1000) - 2,
      `worker up ${worker.uptimeSec} s, container up ${(Date.now() - lbStartedAt) / 1000} s`,
    );
    assert.equal(await dockerCli(["inspect", "--format", "{{.RestartCount}}", LB]), "0\n");
    // bind9 took the challenge records signed with the key, and removed them afterwards.
    const dns = await lab.dnsLog();
    assert.match(
      dns,
      /\/key certbot-key: updating zone '[^']+': adding an RR at '_acme-challenge\.systest\.example\.com' TXT/,
    );
    assert.match(
      dns,
      /\/key certbot-key: updating zone '[^']+': deleting an RR at _acme-challenge\.systest\.example\.com TXT/,
    );
  });

  it("certbot reaches the load balancer's runtime API only, never its master CLI (reloads, process control)", async () => {
    const shared = await dockerExec(CERTBOT, ["ls", "-A", PATHS.certbotRuntimeDir]);
    assert.deepEqual(shared.stdout.trim().split("\n"), ["admin.sock"], shared.stderr);
    const master = await dockerExec(CERTBOT, ["test", "-e", FILES.lbMasterSocket]);
    assert.notEqual(master.code, 0, `${FILES.lbMasterSocket} is visible in certbot's container`);
    // The load balancer has it, in its own /run.
    assert.equal((await dockerExec(LB, ["test", "-S", FILES.lbMasterSocket])).code, 0);
  });

  it("keeps the credentials file 0600 and the ACME state on the retained volume", async () => {
    const st = await dockerExec(CERTBOT, ["stat", "-c", "%a %U", `${PATHS.certbotEdgeDir}/rfc2136.ini`]);
    assert.equal(st.stdout.trim(), "600 root");
    const mounts = await dockerCli([
      "inspect",
      "--format",
      "{{range .Mounts}}{{.Name}}={{.Destination}} {{end}}",
      CERTBOT,
    ]);
    assert.ok(mounts.includes(`${STACK}-letsencrypt=${PATHS.letsencryptDir}`), mounts);
    const installed = await dockerExec(CERTBOT, [
      "stat",
      "-c",
      "%a",
      `${PATHS.certbotCertsDir}/${CERT_NAME}.pem`,
    ]);
    assert.equal(installed.stdout.trim(), "600");
  });

  const swaps: Swap[] = [];
  for (const round of [1, 2]) {
    it(`renewal ${round} (renew.sh force) swaps the certificate with zero failed handshakes under load`, async () => {
      const swap = await forcedRenewalUnderLoad();
      swaps.push(swap);
      assert.notEqual(swap.after, swap.before, "certbot renewed the certificate");
      assert.equal((await servedCertificate(root)).serial, swap.after);
      assert.equal(swap.load.failed, 0, `failed handshakes: ${swap.load.errors.join("; ")}`);
      assert.ok(swap.load.ok >= 50, `only ${swap.load.ok} handshakes during the swap`);
      assert.deepEqual(
        swap.load.firstSeen.map((s) => s.serial),
        [swap.before, swap.after],
        "the old certificate, then the new one, nothing else",
      );
      assert.ok(
        swap.swapMs > 0 && swap.swapMs <= 1000,
        `hook start → new certificate served: ${swap.swapMs} ms`,
      );
      assert.deepEqual(await lbProcess().then((p) => p.pid), worker.pid, "same HAProxy worker process");
      log?.(`swap ${round}: ${swap.swapMs} ms, ${swap.load.ok} handshakes, ${swap.load.failed} failed`);
    });
  }

  it("with a wrong TSIG secret, renewal fails clearly and the previous certificate stays served", async () => {
    const ini = `${PATHS.certbotEdgeDir}/rfc2136.ini`;
    const served = (await servedCertificate(root)).serial;
    // The operator's mistake, as a wrong secret in the rendered credentials file; restored afterwards.
    const wrong = Buffer.from("not the key bind9 knows, at all").toString("base64");
    const swapped = await dockerExec(CERTBOT, [
      "sh",
      "-c",
      `cp -p ${ini} ${ini}.good && sed -i "s|^dns_rfc2136_secret = .*|dns_rfc2136_secret = ${wrong}|" ${ini}`,
    ]);
    assert.equal(swapped.code, 0, swapped.stderr);
    try {
      const r = await dockerExec(CERTBOT, ["/bin/sh", RENEW_SCRIPT, "force"], 120_000);
      const out = r.stdout + r.stderr;
      assert.equal(r.code, 1, out);
      assert.match(
        out,
        /FAILED: certbot exited with status 1; the load balancer keeps serving its current certificate/,
      );
      // certbot's own message names the DNS update that was refused.
      assert.match(out, /Encountered error adding TXT record|NOTAUTH|BADSIG|BADKEY|tsig/i);
    } finally {
      await dockerExec(CERTBOT, ["mv", "-f", `${ini}.good`, ini]);
    }
    assert.match(await lab.dnsLog(), /tsig verify failure|request has invalid signature|BADSIG|BADKEY/i);
    assert.equal((await servedCertificate(root)).serial, served);
    assert.equal(await lineageSerial(), served);
    assert.equal((await lbProcess()).pid, worker.pid);
    // certbot's healthcheck fails with the reason until a pass succeeds.
    const test = JSON.parse(
      await dockerCli(["inspect", "--format", "{{json .Config.Healthcheck.Test}}", CERTBOT]),
    ) as string[];
    const failing = await dockerExec(CERTBOT, test.slice(1));
    assert.equal(failing.code, 1, failing.stdout);
    assert.match(failing.stdout, /UNHEALTHY: .*renewal failed: certbot exited with status 1/);
    const again = await dockerExec(CERTBOT, ["/bin/sh", RENEW_SCRIPT, "once"], 120_000);
    assert.equal(again.code, 0, again.stdout + again.stderr);
    const healthy = await dockerExec(CERTBOT, test.slice(1));
    assert.equal(healthy.code, 0, healthy.stdout);
  });

  it("a failed push (socket missing) is a failure, marked unhealthy, and retried by the next pass", async () => {
    const sock = `${PATHS.certbotRuntimeDir}/admin.sock`;
    const served = (await servedCertificate(root)).serial;
    const health = JSON.parse(
      await dockerCli(["inspect", "--format", "{{json .Config.Healthcheck.Test}}", CERTBOT]),
    ) as string[];
    assert.equal(health[0], "CMD");
    const healthy = async () => (await dockerExec(CERTBOT, health.slice(1))).code === 0;
    assert.ok(await healthy());

    await dockerExec(CERTBOT, ["mv", sock, `${sock}.away`]);
    let r;
    try {
      r = await dockerExec(CERTBOT, ["/bin/sh", RENEW_SCRIPT, "force"], 120_000);
    } finally {
      await dockerExec(CERTBOT, ["mv", `${sock}.away`, sock]);
    }
    const out = r.stdout + r.stderr;
    assert.equal(r.code, 1, out);
    assert.match(out, new RegExp(`FAILED: no runtime API socket at ${sock}`));
    assert.match(out, /FAILED: the certificate is issued but not served/);
    assert.equal(
      (await servedCertificate(root)).serial,
      served,
      "the load balancer still serves the old one",
    );
    const renewed = await lineageSerial();
    assert.notEqual(renewed, served);
    assert.equal(await healthy(), false, "the container's healthcheck reports the failed push");

    // The next pass (nothing due at certbot) pushes the issued certificate.
    const again = await dockerExec(CERTBOT, ["/bin/sh", RENEW_SCRIPT, "once"], 120_000);
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.match(again.stderr, /the last certificate push failed/);
    assert.equal((await servedCertificate(root)).serial, renewed);
    assert.ok(await healthy());
    assert.equal((await lbProcess()).pid, worker.pid);
  });

  it("teardown keeps the certificates and the ACME account; a recreated stack serves the same certificate at once", async () => {
    const served = (await servedCertificate(root)).serial;
    await removeTestContainers(); // demo backends and the lab hold the network
    assert.ok(engine, "the stack was applied");
    const destroyed = await engine.destroy();
    assert.equal(destroyed.code, 0, destroyed.stdout);
    const left = await stackObjects();
    assert.deepEqual(left.containers, []);
    assert.deepEqual(left.networks, []);
    assert.deepEqual(left.volumes, ACME_RETAINED);

    // The lab comes back (a new pebble: a new root, unknown account), but nothing needs it: nothing is due.
    await upSystem(engine, () => lab.start());
    await assertNoChanges(engine);
    const first = await servedCertificate(root);
    assert.equal(first.serial, served, "served from the retained volume, before certbot did anything");
    const logs = await until(
      "certbot's first pass after the recreation",
      async () => {
        const l = await containerLogs(CERTBOT);
        return /No renewals were attempted|not yet due/.test(l) ? l : undefined;
      },
      120_000,
      500,
    );
    assert.doesNotMatch(logs, /obtaining the certificate/);
    assert.equal(await lineageSerial(), served);
    assert.equal((await servedCertificate(root)).serial, served);
  });
});
