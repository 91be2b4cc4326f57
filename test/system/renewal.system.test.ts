/**
 * System tier, renewal failures that show: the system stack in `tlsMode: acme` (real ACME lab, real Pulumi engine,
 * real Docker engine) with its certificates volume on a tiny tmpfs. A renewal while that volume is full leaves
 * the served certificate in place and makes certbot unhealthy with the reason; once there is space the next pass
 * serves the renewed one. A corrupt served PEM makes certbot unhealthy, and the load balancer's next start refuses
 * it and serves the last good certificate instead of crash-looping. A good certificate that expires within
 * `minValidDays` (20) is served, and certbot is unhealthy saying so, until one renewal pass pushes certbot's lineage
 * again by itself. Traffic goes only to 127.0.0.1 and to containers on the stack's own network.
 */
import { strict as assert } from "node:assert";
import { PATHS, certificateName } from "../../config/model";
import type { AcmeLab } from "./acme-lab";
import {
  CERTBOT,
  CERT_NAME,
  LB,
  RENEW_SCRIPT,
  dockerExec,
  downAcmeStack,
  firstIssuance,
  lbProcess,
  lineageSerial,
  servedCertificate,
  type ServedCertificate,
  upAcmeStack,
} from "./certificates";
import type { Engine } from "./engine";
import { HTTPS_PORT, IMAGES, STACK, containerLogs, dockerCli, until } from "./support";
import { startHandshakeLoad } from "./tls-load";

const log = process.env.HAPROXY_EDGE_SYSTEM_VERBOSE ? (l: string) => console.log(`    ${l}`) : undefined;

const CERTS_VOLUME = `${STACK}-certs`;
/** A test container that keeps the tmpfs volume mounted (its content lives as long as one container mounts it). */
const HOLDER = `${STACK}-certs-holder`;
const CERT_FILE = `${certificateName(["systest.example.com"])}.pem`;
/** The served file, as the load balancer sees it. */
const LB_CERT = `${PATHS.certsDir}/${CERT_FILE}`;
const DEPLOY_HOOK = `${PATHS.certbotEdgeDir}/deploy-hook.sh`;

interface Health {
  Status: string;
  Log: { ExitCode: number; Output: string }[];
}

async function dockerHealth(): Promise<Health> {
  return JSON.parse(await dockerCli(["inspect", "--format", "{{json .State.Health}}", CERTBOT])) as Health;
}

/** Restarts the load balancer and returns the certificate it serves once it answers again. */
async function restartLoadBalancer(root: string): Promise<ServedCertificate> {
  await dockerCli(["restart", LB]);
  return until(
    "the load balancer serving again after its restart",
    () => servedCertificate(root).catch(() => undefined),
    60_000,
    500,
  );
}

/** Docker's own verdict, once it is `status` and its last probe says `why` (the healthcheck runs every 30 s). */
function healthBecomes(status: "healthy" | "unhealthy", why = /./): Promise<Health> {
  return until(
    `certbot ${status} (Docker healthcheck)${why.source === "." ? "" : ` with ${why}`}`,
    async () => {
      const h = await dockerHealth();
      return h.Status === status && why.test(h.Log[h.Log.length - 1]?.Output ?? "") ? h : undefined;
    },
    100_000,
    1000,
  );
}

describe("system: renewal failures show (full certificates volume, corrupt PEM), with no outage", function () {
  this.timeout(600_000);
  let lab: AcmeLab;
  let engine: Engine | undefined;
  let root: string;
  let first: string;
  let renewed: string;
  /** certbot's healthcheck, run now in its container. */
  let health: () => Promise<{ code: number; out: string }>;

  before(async function () {
    ({ lab, engine } = await upAcmeStack(log, async () => {
      // The certificates volume the program declares, made beforehand as a 256 KiB tmpfs (Docker hands an
      // existing volume of the same name and driver to `pulumi up`), with the labels the program gives it.
      await dockerCli([
        "volume",
        "create",
        "--driver",
        "local",
        "--opt",
        "type=tmpfs",
        "--opt",
        "device=tmpfs",
        "--opt",
        "o=size=256k",
        "--label",
        `haproxy-edge.stack=${STACK}`,
        "--label",
        "haproxy-edge.role=certs",
        CERTS_VOLUME,
      ]);
      await dockerCli([
        "run",
        "-d",
        "--name",
        HOLDER,
        "--label",
        `haproxy-edge.test=${STACK}`,
        "--network",
        "none",
        "-v",
        `${CERTS_VOLUME}:/certs`,
        "--entrypoint",
        "sleep",
        IMAGES.haproxy,
        "infinity",
      ]);
    }));
    root = await lab.issuingRoot();
    const test = JSON.parse(
      await dockerCli(["inspect", "--format", "{{json .Config.Healthcheck.Test}}", CERTBOT]),
    ) as string[];
    assert.equal(test[0], "CMD");
    health = async () => {
      const r = await dockerExec(CERTBOT, test.slice(1));
      return { code: r.code, out: r.stdout + r.stderr };
    };
  });

  after(async function () {
    await downAcmeStack({ lab, engine });
  });

  it("serves the first certificate from the tmpfs certificates volume; certbot is healthy", async () => {
    const mounts = await dockerCli(["inspect", "--format", "{{json .Mounts}}", LB]);
    assert.ok(mounts.includes(`"Name":"${CERTS_VOLUME}"`), mounts);
    const df = await dockerExec(LB, ["df", "-k", PATHS.certsDir]);
    assert.match(df.stdout, /^tmpfs +256 /m, df.stdout);
    first = (await firstIssuance(root)).serial;
    const h = await health();
    assert.equal(h.code, 0, h.out);
    assert.match(h.out, /^ok: the served certificate has serial [0-9A-F]+, valid until /);
    await healthBecomes("healthy");
  });

  it("with the certificates volume full, a renewal keeps the served certificate (no failed handshake) and certbot turns unhealthy with the reason", async () => {
    const worker = await lbProcess();
    // Fill the volume: `cat` stops at ENOSPC, leaving the file that takes all the space.
    await dockerExec(HOLDER, ["sh", "-c", "cat /dev/zero > /certs/filler"]);
    const probe = await dockerExec(HOLDER, ["sh", "-c", "echo x > /certs/probe"]);
    assert.notEqual(probe.code, 0, "the volume still takes writes");
    await dockerExec(HOLDER, ["rm", "-f", "/certs/probe"]);

    const load = startHandshakeLoad({
      port: HTTPS_PORT,
      servername: "www.systest.example.com",
      concurrency: 2,
      maxMs: 150_000,
      maxHandshakes: 100_000,
    });
    let r;
    try {
      r = await dockerExec(CERTBOT, ["/bin/sh", RENEW_SCRIPT, "force"], 120_000);
    } finally {
      await new Promise((resolve) => setTimeout(resolve, 300)); // late failures count too
    }
    const result = await load.stop();
    const out = r.stdout + r.stderr;
    assert.equal(r.code, 1, out);
    assert.match(
      out,
      /deploy hook: FAILED: (cannot write .* \(is the volume full\?\)|the certificate written to .* is not good: .*); the served certificate is unchanged/,
    );
    assert.match(out, /FAILED: the certificate is issued but not served/);

    renewed = await lineageSerial();
    assert.notEqual(renewed, first, "certbot renewed");
    assert.equal((await servedCertificate(root)).serial, first, "the load balancer still serves the old one");
    assert.equal(result.failed, 0, `failed handshakes: ${result.errors.join("; ")}`);
    assert.ok(result.ok >= 20, `only ${result.ok} handshakes during the renewal`);
    assert.deepEqual(
      result.firstSeen.map((s) => s.serial),
      [first],
    );
    assert.equal((await lbProcess()).pid, worker.pid, "same HAProxy worker process");
    // Nothing half-written is left next to the served file.
    const ls = await dockerExec(HOLDER, ["ls", "-a", "/certs"]);
    assert.deepEqual(
      ls.stdout.split("\n").filter(Boolean).sort(),
      [".", "..", CERT_FILE, `${CERT_FILE}.last-good`, "filler"].sort(),
    );

    // The healthcheck says why (its mark is on certbot's own state volume, not on the full one).
    const h = await health();
    assert.equal(h.code, 1, h.out);
    assert.match(h.out, /UNHEALTHY: .*deploy hook: .*the served certificate is unchanged/);
    const docker = await healthBecomes("unhealthy");
    assert.match(docker.Log[docker.Log.length - 1].Output, /UNHEALTHY: .*deploy hook: /);
    // And the container's log has it, though the pass ran through `docker exec`.
    assert.match(
      await containerLogs(CERTBOT),
      /haproxy-edge deploy hook: FAILED: .*the served certificate is unchanged/,
    );
  });

  it("once there is space again, the next pass serves the renewed certificate and certbot is healthy", async () => {
    await dockerExec(HOLDER, ["rm", "-f", "/certs/filler"]);
    const r = await dockerExec(CERTBOT, ["/bin/sh", RENEW_SCRIPT, "once"], 120_000);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stderr, /the last certificate push failed/);
    assert.equal((await servedCertificate(root)).serial, renewed);
    const h = await health();
    assert.equal(h.code, 0, h.out);
    await healthBecomes("healthy");
  });

  it("a corrupt served PEM makes certbot unhealthy; the load balancer's restart refuses it and serves the last good certificate", async () => {
    // A short write that replaced the served file: its first 700 bytes.
    const cut = await dockerExec(LB, [
      "sh",
      "-c",
      `head -c 700 '${LB_CERT}' > '${LB_CERT}.cut' && mv -f '${LB_CERT}.cut' '${LB_CERT}'`,
    ]);
    assert.equal(cut.code, 0, cut.stderr);
    const h = await health();
    assert.equal(h.code, 1, h.out);
    assert.match(
      h.out,
      /UNHEALTHY: the served certificate .*: (incomplete PEM|no certificate parses|0 private keys)/,
    );

    const served = await restartLoadBalancer(root);
    assert.equal(served.serial, renewed, "the last good certificate is served");
    assert.equal(served.verifyCode, "0 (ok)");
    const state = JSON.parse(await dockerCli(["inspect", "--format", "{{json .State}}", LB])) as {
      Running: boolean;
      Restarting: boolean;
    };
    assert.ok(state.Running && !state.Restarting, JSON.stringify(state));
    assert.equal(await dockerCli(["inspect", "--format", "{{.RestartCount}}", LB]), "0\n");
    const logs = await containerLogs(LB);
    assert.match(
      logs,
      new RegExp(`ERROR: refusing the served certificate ${LB_CERT}: HAProxy cannot load it: .*ALERT`),
    );
    assert.match(logs, /serving the last good certificate instead/);
    // The served file is good again, so certbot is healthy again.
    const after = await health();
    assert.equal(after.code, 0, after.out);
  });

  it("a good certificate that expires within 20 days is served, also after a restart; certbot is unhealthy naming the expiry", async () => {
    // A lineage of our name that certbot did not make: self-signed, valid 10 days, its key matching.
    const lineage = `/tmp/expiring/${CERT_NAME}`;
    await dockerExec(CERTBOT, ["mkdir", "-p", lineage]);
    const made = await dockerExec(CERTBOT, [
      "openssl",
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "10",
      "-subj",
      "/CN=systest.example.com",
      "-addext",
      "subjectAltName=DNS:systest.example.com,DNS:*.systest.example.com",
      "-keyout",
      `${lineage}/privkey.pem`,
      "-out",
      `${lineage}/fullchain.pem`,
    ]);
    assert.equal(made.code, 0, made.stderr);
    const x = await dockerExec(CERTBOT, [
      "openssl",
      "x509",
      "-noout",
      "-serial",
      "-in",
      `${lineage}/fullchain.pem`,
    ]);
    const expiring = /^serial=([0-9A-F]+)$/m.exec(x.stdout)?.[1];
    assert.ok(expiring, x.stdout + x.stderr);
    const worker = await lbProcess();
    const pushed = await dockerExec(CERTBOT, ["env", `RENEWED_LINEAGE=${lineage}`, "/bin/sh", DEPLOY_HOOK]);
    assert.equal(pushed.code, 0, pushed.stdout + pushed.stderr);
    assert.equal((await servedCertificate(root)).serial, expiring, "hot-swapped in");
    assert.equal((await lbProcess()).pid, worker.pid, "same HAProxy worker process");

    const h = await health();
    assert.equal(h.code, 1, h.out);
    // The healthcheck prints the serial without leading zeros.
    const serial = expiring.replace(/^0+/, "");
    assert.match(
      h.out,
      new RegExp(
        `^UNHEALTHY: the served certificate .*: it expires within 20 days \\(serial ${serial}, valid until `,
      ),
    );
    const docker = await healthBecomes("unhealthy", /expires within 20 days/);
    assert.match(
      docker.Log[docker.Log.length - 1].Output,
      new RegExp(`UNHEALTHY: the served certificate .*: it expires within 20 days \\(serial ${serial},`),
    );

    // The load balancer's next start loads it: no refusal, no fallback.
    const refusals = async () => (await containerLogs(LB)).split("refusing the served certificate").length;
    const before = await refusals();
    const served = await restartLoadBalancer(root);
    assert.equal(served.serial, expiring, "the expiring certificate is still served");
    assert.equal(await refusals(), before, "the load balancer refused it");

    // One renewal pass (nothing due at certbot, no failed mark) sees that the served file is not the lineage and
    // pushes the lineage again by itself: served, through the same worker, and certbot healthy again.
    const certbots = (await lineageSerial()).replace(/^0+/, "");
    const current = await lbProcess();
    const pass = await dockerExec(CERTBOT, ["/bin/sh", RENEW_SCRIPT, "once"], 120_000);
    const out = pass.stdout + pass.stderr;
    assert.equal(pass.code, 0, out);
    const why = new RegExp(
      `the served certificate \\S+ differs from the lineage's and is not good \\(it expires within 20 days \\(serial ${serial}, .*\\)\\); re-pushing the lineage \\(serial ${certbots}, valid until [^)]+\\)$`,
      "m",
    );
    assert.match(out, why);
    assert.equal(out.split("\n").filter((l) => / re-pushing the lineage /.test(l)).length, 1, out);
    assert.doesNotMatch(out, /the last certificate push failed/);
    assert.match(out, /haproxy-edge deploy hook: deployed /);
    const restored = await servedCertificate(root);
    assert.equal(restored.serial.replace(/^0+/, ""), certbots);
    assert.equal(restored.verifyCode, "0 (ok)");
    assert.equal((await lbProcess()).pid, current.pid, "same HAProxy worker process");
    const after = await health();
    assert.equal(after.code, 0, after.out);
    assert.match(await containerLogs(CERTBOT), why);
    await healthBecomes("healthy");
  });
});
