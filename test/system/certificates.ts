/**
 * What the certificate tests and the bench observe of the applied ACME stack: the certificate the load balancer
 * serves on 127.0.0.1 (openssl s_client), certbot's lineage, the HAProxy worker process, and a forced renewal
 * under continuous TLS handshakes.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { FILES, PATHS, certificateName } from "../../config/model";
import { AcmeLab } from "./acme-lab";
import type { Engine } from "./engine";
import {
  HTTPS_PORT,
  STACK,
  removeLeftovers,
  removeTestContainers,
  removeVolumes,
  run,
  systemEngine,
  until,
  upSystem,
  type ExecResult,
} from "./support";
import { startHandshakeLoad, type HandshakeLoadResult } from "./tls-load";

export const CERTBOT = `${STACK}-certbot`;
export const LB = `${STACK}-lb`;
/** The lineage of the systest domains (the first domain names it). */
export const CERT_NAME = certificateName(["systest.example.com"]);
/** Any name the certificate covers (through `*.systest.example.com`). */
export const TLS_NAME = "www.systest.example.com";
export const RENEW_SCRIPT = `${PATHS.certbotEdgeDir}/renew.sh`;
/** Volumes an acme stack keeps on destroy: the served certificates and certbot's state. */
export const ACME_RETAINED = [`${STACK}-certs`, `${STACK}-letsencrypt`];

export interface AcmeStack {
  lab: AcmeLab;
  engine: Engine;
}

/**
 * The system stack in acme mode against a fresh ACME lab, from a clean Docker engine (leftovers and the
 * retained volumes of an earlier run removed; then `prepare`), through `pulumi up`. The lab joins the stack's network as soon
 * as it exists. On failure everything made so far is removed again.
 */
export async function upAcmeStack(
  log?: (line: string) => void,
  prepare?: () => Promise<void>,
): Promise<AcmeStack> {
  await removeLeftovers();
  await removeVolumes(ACME_RETAINED);
  // What a suite sets up on the clean engine before `pulumi up` (e.g. a volume of its own kind).
  await prepare?.();
  const lab = await AcmeLab.prepare();
  let engine: Engine | undefined;
  try {
    engine = await systemEngine(lab.stackOverrides(), log);
    await upSystem(engine, () => lab.start());
  } catch (e) {
    await downAcmeStack({ lab, engine });
    throw e;
  }
  return { lab, engine };
}

/** Removes everything {@link upAcmeStack} made, the retained volumes included. Never rejects. */
export async function downAcmeStack(stack: Partial<AcmeStack>): Promise<void> {
  await removeTestContainers();
  await stack.engine?.dispose().catch((e: unknown) => console.error(e));
  await removeVolumes(ACME_RETAINED);
  await stack.lab?.dispose();
}

/** Waits until certbot's first certificate is issued and the load balancer serves it; returns what it serves. */
export async function firstIssuance(rootPem: string): Promise<ServedCertificate> {
  const issued = await until(
    "certbot's first certificate",
    () => lineageSerial().catch(() => undefined),
    120_000,
    500,
  );
  return until(
    "the issued certificate served on 127.0.0.1",
    async () => {
      const s = await servedCertificate(rootPem);
      return s.serial === issued ? s : undefined;
    },
    30_000,
  );
}

export function dockerExec(container: string, argv: string[], timeoutMs = 60_000): Promise<ExecResult> {
  return run("docker", ["exec", container, ...argv], timeoutMs);
}

export interface ServedCertificate {
  serial: string;
  issuer: string;
  subject: string;
  /** openssl's verdict against the given root, with hostname verification. */
  verifyCode: string;
}

/** The certificate the load balancer serves for `name` on 127.0.0.1, verified by openssl against `rootPem`. */
export async function servedCertificate(rootPem: string, name = TLS_NAME): Promise<ServedCertificate> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "haproxy-edge-served-"));
  try {
    const root = path.join(dir, "root.pem");
    fs.writeFileSync(root, rootPem);
    const s = await run(
      "openssl",
      [
        "s_client",
        "-connect",
        `127.0.0.1:${HTTPS_PORT}`,
        "-servername",
        name,
        "-CAfile",
        root,
        "-verify_hostname",
        name,
        "-showcerts",
      ],
      15_000,
      "",
    );
    const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/.exec(s.stdout)?.[0];
    if (!pem)
      throw new Error(`openssl s_client got no certificate (exit ${s.code}): ${s.stderr.slice(-400)}`);
    const x = await run(
      "openssl",
      ["x509", "-noout", "-serial", "-issuer", "-subject", "-nameopt", "RFC2253"],
      10_000,
      pem,
    );
    const field = (k: string) => new RegExp(`^${k}=\\s*(.*)$`, "m").exec(x.stdout)?.[1]?.trim() ?? "";
    return {
      serial: field("serial").toUpperCase(),
      issuer: field("issuer"),
      subject: field("subject"),
      verifyCode: /Verify return code: (.*)/.exec(s.stdout)?.[1]?.trim() ?? "(none)",
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Serial of certbot's current certificate for the lineage (inside the certbot container). */
export async function lineageSerial(): Promise<string> {
  const r = await dockerExec(CERTBOT, [
    "openssl",
    "x509",
    "-noout",
    "-serial",
    "-in",
    `${PATHS.letsencryptDir}/live/${CERT_NAME}/cert.pem`,
  ]);
  const m = /^serial=([0-9A-Fa-f]+)$/m.exec(r.stdout);
  if (!m) throw new Error(`no lineage certificate yet (exit ${r.code}): ${r.stderr.trim()}`);
  return m[1].toUpperCase();
}

/** The HAProxy worker process of the load balancer, through its runtime API unix socket. */
export async function lbProcess(): Promise<{ pid: number; uptimeSec: number }> {
  const r = await dockerExec(LB, [
    "sh",
    "-c",
    `echo "show info" | socat -t 2 stdio UNIX-CONNECT:${FILES.lbSocket}`,
  ]);
  const pid = /^Pid: (\d+)$/m.exec(r.stdout)?.[1];
  const up = /^Uptime_sec: (\d+)$/m.exec(r.stdout)?.[1];
  if (!pid || !up)
    throw new Error(`show info on ${LB}: exit ${r.code} ${r.stdout.slice(0, 200)} ${r.stderr}`);
  return { pid: Number(pid), uptimeSec: Number(up) };
}

/**
 * When the deploy hook of certbot's last run started (epoch ms): certbot logs `Running deploy-hook command`
 * with a millisecond timestamp in the container's time zone (UTC, checked).
 */
export async function hookStartedAt(): Promise<number> {
  const tz = await dockerExec(CERTBOT, ["date", "+%z"]);
  if (tz.stdout.trim() !== "+0000") throw new Error(`the certbot container is not on UTC: ${tz.stdout}`);
  const log = await dockerExec(CERTBOT, ["cat", "/var/log/letsencrypt/letsencrypt.log"]);
  const lines = log.stdout.split("\n").filter((l) => l.includes("Running deploy-hook command"));
  const m = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d),(\d{3}):/.exec(lines[lines.length - 1] ?? "");
  if (!m) throw new Error("certbot's log has no deploy hook run");
  return Date.parse(`${m[1]}T${m[2]}.${m[3]}Z`);
}

export interface Swap {
  /** Exit status and output of `renew.sh force`. */
  renew: ExecResult;
  before: string;
  after: string;
  /** Hook start → first handshake that served the new certificate. */
  swapMs: number;
  load: HandshakeLoadResult;
}

/** `renew.sh force` in the certbot container while 4 loops of TLS handshakes run against the load balancer. */
export async function forcedRenewalUnderLoad(): Promise<Swap> {
  const before = await lineageSerial();
  const load = startHandshakeLoad({
    port: HTTPS_PORT,
    servername: TLS_NAME,
    concurrency: 4,
    maxMs: 120_000,
    maxHandshakes: 200_000,
  });
  let renew: ExecResult = { code: -1, stdout: "", stderr: "" };
  let changedAt = NaN;
  let failure: unknown;
  try {
    renew = await dockerExec(CERTBOT, ["/bin/sh", RENEW_SCRIPT, "force"], 110_000);
    if (renew.code !== 0)
      throw new Error(`renew.sh force: exit ${renew.code}\n${renew.stdout}\n${renew.stderr}`);
    changedAt = await load.changedFrom(before, 10_000);
    // Keep the load on a little after the swap: late failures count too.
    await new Promise((r) => setTimeout(r, 300));
  } catch (e) {
    failure = e;
  }
  const result = await load.stop();
  if (failure) throw failure;
  const after = await lineageSerial();
  return { renew, before, after, swapMs: changedAt - (await hookStartedAt()), load: result };
}
