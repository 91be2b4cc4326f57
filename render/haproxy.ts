/**
 * HAProxy files: the load balancer's, each worker's (and its Data Plane API sidecar's), the demo backends' and
 * the 404 page they share.
 */
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
import { READY_ACL } from "../config/routes";
import { cidrListText } from "./lists";
import { file, render, sha256, type RenderedFile } from "./template";

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
    serverStateFile: FILES.lbServerState,
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
    // The two worker pools, with the same server settings (one block of the template).
    backends: [
      { name: "be_production", servers: model.workers.filter((w) => w.role === "production").map(server) },
      {
        name: "be_staging",
        servers: model.workers.filter((w) => w.role === "staging").map(server),
        last: true,
      },
    ],
  });
  return {
    "haproxy.cfg": file(FILES.lbConfig, cfg),
    "blocklist.acl": file(FILES.blocklist, cidrListText(LB_LISTS.blocklist.title, lb.blocklistCidrs)),
    "internal.acl": file(
      FILES.internalNetworks,
      cidrListText(LB_LISTS.internalNetworks.title, lb.internalCidrs),
    ),
    "start.sh": file(
      `${PATHS.edgeDir}/start.sh`,
      render("lb-start.sh", {
        stack: model.stack,
        certsDir: PATHS.certsDir,
        runtimeDir: PATHS.lbRuntimeDir,
        certPath: lb.certPath,
        lastGoodPath: `${lb.certPath}${FILES.lastGoodSuffix}`,
        placeholderFile: FILES.placeholderCert,
        // selfsigned: the Pulumi-managed certificate is the served one, always; acme: only until certbot's first.
        alwaysInstall: model.tls.mode === "selfsigned",
        configFile: FILES.lbConfig,
        masterSocket: FILES.lbMasterSocket,
      }),
      0o755,
    ),
  };
}

/** The load balancer's lists that change at run time: their file's key in {@link renderLoadBalancer}, and title. */
export const LB_LISTS = {
  blocklist: { key: "blocklist.acl", title: "Blocked client networks (403)" },
  internalNetworks: { key: "internal.acl", title: "Internal client networks" },
} as const;

/** The files of {@link renderLoadBalancer} its provider applies to the running load balancer (the rest are for its start). */
export const LB_LIVE_FILES = ["haproxy.cfg", LB_LISTS.blocklist.key, LB_LISTS.internalNetworks.key] as const;

/**
 * The script the load balancer's provider runs in its container to apply new files (templates/lb-apply.sh):
 * lists swapped at run time, everything else by a checked reload.
 */
export function renderLoadBalancerApply(model: EdgeModel): string {
  const base = (p: string) => p.slice(PATHS.edgeDir.length + 1);
  return render("lb-apply.sh", {
    stack: model.stack,
    dir: PATHS.edgeDir,
    config: base(FILES.lbConfig),
    lists: [base(FILES.blocklist), base(FILES.internalNetworks)],
    statsSocket: FILES.lbSocket,
    masterSocket: FILES.lbMasterSocket,
    serverStateFile: FILES.lbServerState,
  });
}

/**
 * What the load balancer's configuration is rendered from, as a reviewer reads it in a preview: a change here is
 * applied by a reload (the lists are not in it: they change at run time).
 */
export function loadBalancerSettings(model: EdgeModel) {
  const lb = model.loadBalancer;
  const servers = (role: WorkerModel["role"]) =>
    model.workers
      .filter((w) => w.role === role)
      .map((w) => `${w.name} ${w.upstream.address}:${w.upstream.port}`);
  return {
    rateLimit: { ...lb.rateLimit },
    timeouts: { ...lb.timeouts },
    maxConnections: lb.maxConnections,
    stagingSuffix: lb.stagingSuffix,
    productionWorkers: servers("production"),
    stagingWorkers: servers("staging"),
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
      readyAcl: READY_ACL,
      readyCriterion: model.routeUpdates === "restart" ? "always_true" : "always_false",
      healthPort: WORKER_HEALTH_PORT,
      notFoundFile: FILES.notFoundPage,
      // `restart`: the routes are part of the configuration, as the same objects the Data Plane API writes.
      ...(model.routeUpdates === "restart" ? { routes: worker.routePlan } : {}),
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
        runConfigFile: FILES.dataplaneApiRunConfig,
      }),
      0o755,
    ),
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
