/**
 * Model → file contents, through the logic-less mustache templates in `templates/`.
 *
 * HTML escaping is off: these are config files and scripts, and every value in them was validated by the
 * config schema (safety comes from validation, never from escaping). Views are built in a fixed order from
 * the model only (no clock, no randomness), so the same model always renders byte-identical files.
 */
import { backendAccessLines, desiredBackend, planAcls, planRules, routeSpecsOf } from "../dataplane/routes";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import Mustache from "mustache";
import { isIPv4 } from "node:net";
import {
  DATAPLANE_API_CONTAINER_PORT,
  DATAPLANE_USERLIST,
  FILES,
  HEALTH_URI,
  LB_PEER,
  PATHS,
  WORKER_FRONTEND,
  WORKER_HEALTH_PORT,
  type DemoBackendModel,
  type EdgeModel,
  type WorkerModel,
} from "../config/model";

/** A rendered file: where it goes inside the container, its bytes and its mode. */
export interface RenderedFile {
  /** Absolute path inside the container. */
  path: string;
  content: string;
  /** Unix permission bits. */
  mode: number;
  /** Holds secret material: keep it in `pulumi.secret`, write it 0600. */
  secret?: boolean;
}

export const TEMPLATES_DIR = join(__dirname, "..", "templates");
const cache = new Map<string, string>();

/** Renders `templates/<name>.mustache` with HTML escaping disabled. */
export function render(name: string, view: object): string {
  let template = cache.get(name);
  if (template === undefined) {
    template = readFileSync(join(TEMPLATES_DIR, `${name}.mustache`), "utf8");
    cache.set(name, template);
  }
  return Mustache.render(template, view, {}, { escape: (s: string) => s });
}

/** Hex SHA-256 of a file's content (stack outputs, labels). */
export function sha256(content: string): string {
  return createHash("sha256").update(content, "utf8").digest("hex");
}

const file = (path: string, content: string, mode = 0o644, secret = false): RenderedFile =>
  secret ? { path, content, mode, secret } : { path, content, mode };

/** The custom 404 page (shared by the load balancer and the workers). */
export function renderNotFoundPage(model: EdgeModel): RenderedFile {
  return file(FILES.notFoundPage, render("404.html", { site: model.tls.domains[0].replace(/^\*\./, "") }));
}

/** Load balancer files, keyed by a stable logical name. */
export function renderLoadBalancer(model: EdgeModel): Record<string, RenderedFile> {
  const lb = model.loadBalancer;
  const server = (w: WorkerModel) => ({ name: w.name, address: w.upstream.address, port: w.upstream.port });
  const cfg = render("lb-haproxy.cfg", {
    stack: model.stack,
    maxConnections: lb.maxConnections,
    socket: FILES.lbSocket,
    timeouts: lb.timeouts,
    httpPort: lb.httpPort,
    httpsPort: lb.httpsPort,
    httpsPortSuffix: lb.httpsPort === 443 ? "" : `:${lb.httpsPort}`,
    certPath: lb.certPath,
    internalFile: FILES.internalNetworks,
    blocklistFile: FILES.blocklist,
    stagingSuffix: lb.stagingSuffix,
    rateLimit: lb.rateLimit,
    peerName: LB_PEER.name,
    peerPort: LB_PEER.port,
    hsts: model.tls.mode === "acme",
    healthUri: HEALTH_URI,
    // Workers addressed by name (same-host network aliases) are resolved at run time; IPs need no DNS.
    resolveNames: model.workers.some((w) => !isIPv4(w.upstream.address)),
    production: model.workers.filter((w) => w.role === "production").map(server),
    staging: model.workers.filter((w) => w.role === "staging").map(server),
  });
  return {
    "haproxy.cfg": file(FILES.lbConfig, cfg),
    "blocklist.acl": file(
      FILES.blocklist,
      render("cidr-list.acl", { title: "Blocked client networks (403)", cidrs: lb.blocklistCidrs }),
    ),
    "internal.acl": file(
      FILES.internalNetworks,
      render("cidr-list.acl", { title: "Internal client networks", cidrs: lb.internalCidrs }),
    ),
    "start.sh": file(
      `${PATHS.edgeDir}/start.sh`,
      render("lb-start.sh", {
        stack: model.stack,
        certsDir: PATHS.certsDir,
        runtimeDir: PATHS.lbRuntimeDir,
        certPath: lb.certPath,
        placeholderFile: FILES.placeholderCert,
        // selfsigned: the Pulumi-managed certificate is the served one, always; acme: only until certbot's first.
        alwaysInstall: model.tls.mode === "selfsigned",
        configFile: FILES.lbConfig,
      }),
      0o755,
    ),
  };
}

/** A demo backend's HAProxy configuration (see `demoBackends`). */
export function renderDemoBackend(model: EdgeModel, demo: DemoBackendModel): RenderedFile {
  return file(
    FILES.demoBackendConfig,
    render("demo-backend.cfg", {
      stack: model.stack,
      name: demo.name,
      port: demo.port,
      routes: demo.routes.join(","),
    }),
  );
}

/** Worker files that do not depend on its password, keyed by a stable logical name (see {@link renderUserlist}). */
export function renderWorker(model: EdgeModel, worker: WorkerModel): Record<string, RenderedFile> {
  const lb = model.loadBalancer;
  const common = { stack: model.stack, name: worker.name, role: worker.role };
  const bootstrap = file(
    FILES.workerBootstrap,
    render("worker-haproxy.cfg", {
      ...common,
      maxConnections: lb.maxConnections,
      timeouts: lb.timeouts,
      frontend: WORKER_FRONTEND,
      port: worker.port,
      trustedSources: worker.trustedSources.join(" "),
      healthUri: HEALTH_URI,
      healthPort: WORKER_HEALTH_PORT,
      notFoundFile: FILES.notFoundPage,
      ...(model.routeUpdates === "restart" ? staticRoutesView(model, worker) : {}),
    }),
  );
  return {
    "haproxy.cfg": bootstrap,
    "dataplaneapi.yml": file(
      FILES.dataplaneApiConfig,
      render("dataplaneapi.yml", {
        ...common,
        port: DATAPLANE_API_CONTAINER_PORT,
        userlist: DATAPLANE_USERLIST,
        userlistFile: FILES.userlist,
        stateDir: PATHS.dataplaneStateDir,
        configDir: PATHS.workerConfigDir,
        configFile: FILES.workerConfig,
        masterSocket: FILES.workerMasterSocket,
        statusCommand: `/bin/sh ${FILES.dataplaneApiStatusScript}`,
      }),
    ),
    "404.html": renderNotFoundPage(model),
    "start.sh": file(
      `${PATHS.edgeDir}/start.sh`,
      render("worker-start.sh", {
        stack: model.stack,
        configDir: PATHS.workerConfigDir,
        configFile: FILES.workerConfig,
        bootstrapFile: FILES.workerBootstrap,
        bootstrapSha256: sha256(bootstrap.content),
        bootstrapMark: `${PATHS.workerConfigDir}/.bootstrap-sha256`,
        masterDir: PATHS.workerMasterDir,
        masterSocket: FILES.workerMasterSocket,
      }),
      0o755,
    ),
    "dataplaneapi-status.sh": file(
      FILES.dataplaneApiStatusScript,
      render("dataplaneapi-status.sh", { stack: model.stack, masterSocket: FILES.workerMasterSocket }),
      0o755,
    ),
    "dataplaneapi-start.sh": file(
      `${PATHS.edgeDir}/dataplaneapi-start.sh`,
      render("dataplaneapi-start.sh", {
        stack: model.stack,
        stateDir: PATHS.dataplaneStateDir,
        configDir: PATHS.workerConfigDir,
        apiConfigFile: FILES.dataplaneApiConfig,
      }),
      0o755,
    ),
  };
}

/**
 * `routeUpdates: restart`: the routes written into the worker configuration itself, as exactly the backends,
 * ACLs and `use_backend` rules the Data Plane API route resource writes in `live` mode (same names and order).
 */
function staticRoutesView(model: EdgeModel, worker: WorkerModel) {
  const specs = routeSpecsOf(model.routes, {
    staging: worker.role === "staging",
    internalNetworks: model.loadBalancer.internalCidrs,
  });
  const names = Object.keys(specs).sort();
  return {
    staticAcls: planAcls([], specs).map((a) => ({
      line: `acl ${a.acl_name} ${a.criterion} ${a.value ?? ""}`.trim(),
    })),
    staticRules: planRules([], specs).map((r) => ({
      line: `use_backend ${r.name} ${r.cond ?? "if"} ${r.cond_test ?? ""}`.trim(),
    })),
    staticBackends: names.map((n) => {
      const b = desiredBackend(n, specs[n]);
      return {
        name: b.name,
        balance: b.balance?.algorithm,
        check: `${b.httpchk_params?.method ?? "GET"} ${b.httpchk_params?.uri ?? "/"}`,
        access: backendAccessLines(b).map((line) => ({ line })),
        servers: Object.values(b.servers ?? {}).map((sv) => ({
          line: `server ${sv.name} ${sv.address}:${sv.port} check inter ${sv.inter} fastinter ${sv.fastinter}`,
        })),
      };
    }),
  };
}

/**
 * The Data Plane API userlist of a worker (secret, 0600).
 * @param passwordHash SHA-512 crypt hash (`$6$salt$hash`) of the Data Plane API password.
 */
export function renderUserlist(model: EdgeModel, worker: WorkerModel, passwordHash: string): RenderedFile {
  const view = {
    stack: model.stack,
    name: worker.name,
    userlist: DATAPLANE_USERLIST,
    user: worker.dataplaneApi.user,
    passwordHash,
  };
  return file(FILES.userlist, render("worker-userlist.cfg", view), 0o600, true);
}

/** certbot files (ACME mode only), keyed by a stable logical name. */
export function renderCertbot(model: EdgeModel): Record<string, RenderedFile> {
  const cb = model.certbot;
  if (!cb) throw new Error("renderCertbot: the model has no certbot (tlsMode is not acme)");
  const dir = PATHS.certbotEdgeDir;
  const certFile = `${PATHS.certbotCertsDir}/${model.tls.certName}.pem`;
  const failedMark = `${PATHS.certbotCertsDir}/.deploy-failed`;
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
        haproxyCertPath: model.loadBalancer.certPath,
        sockets: [`${PATHS.certbotRuntimeDir}/${FILES.lbSocket.split("/").pop()}`],
        failedMark,
        lockFile: `${PATHS.certbotCertsDir}/.deploy.lock`,
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
        caBundleFile: cb.caBundle ? `${dir}/acme-ca.pem` : undefined,
        intervalHours: cb.renewIntervalHours,
        intervalSeconds: cb.renewIntervalHours * 3600,
      }),
      0o755,
    ),
  };
  if (cb.caBundle) out["acme-ca.pem"] = file(`${dir}/acme-ca.pem`, cb.caBundle);
  return out;
}
