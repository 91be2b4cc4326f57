/**
 * certbot files: the RFC 2136 credentials, the renewal loop, the deploy hook that hot-swaps certificates, the
 * certificate check they share and the healthcheck.
 */
import { FILES, PATHS, type EdgeModel } from "../config/model";
import { file, render, type RenderedFile } from "./template";

/** certbot files (ACME mode only), keyed by a stable logical name. */
export function renderCertbot(model: EdgeModel): Record<string, RenderedFile> {
  const cb = model.certbot;
  if (!cb) throw new Error("renderCertbot: the model has no certbot (tlsMode is not acme)");
  const dir = PATHS.certbotEdgeDir;
  const certFile = `${PATHS.certbotCertsDir}/${model.tls.certName}.pem`;
  const failedMark = FILES.deployFailedMark;
  const pemCheckFile = `${dir}/pem-check.py`;
  const healthFile = `${dir}/health.sh`;
  const out: Record<string, RenderedFile> = {
    "rfc2136.ini": file(
      `${dir}/rfc2136.ini`,
      render("certbot-rfc2136.ini", { stack: model.stack, ...cb.dns }),
      0o600,
      true,
    ),
    "deploy-hook.sh": file(
      `${dir}/deploy-hook.sh`,
      render("certbot-deploy-hook.sh", {
        stack: model.stack,
        certName: model.tls.certName,
        certFile,
        lastGoodFile: `${certFile}${FILES.lastGoodSuffix}`,
        haproxyCertPath: model.loadBalancer.certPath,
        sockets: [`${PATHS.certbotRuntimeDir}/${FILES.lbSocket.split("/").pop()}`],
        failedMark,
        lockFile: FILES.deployLock,
        pemCheckFile,
      }),
      0o755,
    ),
    "renew.sh": file(
      `${dir}/renew.sh`,
      render("certbot-renew.sh", {
        stack: model.stack,
        self: `${dir}/renew.sh`,
        certName: model.tls.certName,
        domains: model.tls.domains,
        email: cb.email,
        server: cb.server,
        credentialsFile: `${dir}/rfc2136.ini`,
        propagationSeconds: cb.propagationSeconds,
        hookFile: `${dir}/deploy-hook.sh`,
        letsencryptDir: PATHS.letsencryptDir,
        failedMark,
        renewalFailedMark: FILES.renewalFailedMark,
        healthFile,
        certFile,
        pemCheckFile,
        minValidDays: cb.minValidDays,
        caBundleFile: cb.caBundle ? `${dir}/acme-ca.pem` : undefined,
        intervalHours: cb.renewIntervalHours,
        intervalSeconds: cb.renewIntervalHours * 3600,
      }),
      0o755,
    ),
    "pem-check.py": file(pemCheckFile, render("certbot-pem-check.py", { stack: model.stack })),
    "health.sh": file(
      healthFile,
      render("certbot-health.sh", {
        stack: model.stack,
        renewalFailedMark: FILES.renewalFailedMark,
        deployFailedMark: failedMark,
        pemCheckFile,
        certFile,
        minValidDays: cb.minValidDays,
      }),
      0o755,
    ),
  };
  if (cb.caBundle) out["acme-ca.pem"] = file(`${dir}/acme-ca.pem`, cb.caBundle);
  return out;
}
