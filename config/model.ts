/**
 * The typed model of an edge: everything render and components need, derived once from a validated
 * {@link StackConfig}. Pure data: no Pulumi types, no I/O.
 */
import { ConfigError, addressInSubnet, parseStackConfig, type ParseContext } from "./parse";
import {
  DOCKER_LB_OFFSET,
  routerSlot,
  type DockerHostConfig,
  type RouteConfig,
  type RouterOsHostConfig,
  type StackConfig,
} from "./schema";
import { workerRoutesPlan, type RouteSpec, type WorkerRoutesPlan } from "./routes";
import { ipv4InCidr, isIPv4 } from "./validators";
import { hostKeyWarning, sshArgsWithHostKeyChecking } from "./host-keys";

/** Where things live inside the containers (the same on Docker and RouterOS). */
export const PATHS = {
  /** Worker: HAProxy config directory, owned by the Data Plane API after bootstrap (a volume). */
  workerConfigDir: "/usr/local/etc/haproxy",
  /** Files Pulumi owns and renders: bootstrap config, 404 page, userlist, dataplaneapi.yml. */
  edgeDir: "/usr/local/etc/haproxy-edge",
  /** Certificates directory (a volume shared by the load balancer and certbot). */
  certsDir: "/usr/local/etc/haproxy/certs",
  /** Runtime API socket directory of the load balancer (a volume shared with certbot). */
  lbRuntimeDir: "/var/run/haproxy",
  /** Master CLI socket directory of a worker (a volume shared by HAProxy and the Data Plane API). */
  workerMasterDir: "/var/run/haproxy-master",
  /** Data Plane API state: transactions, backups, storage (a volume). */
  dataplaneStateDir: "/var/lib/dataplaneapi",
  /** certbot state (a volume that survives `pulumi destroy`). */
  letsencryptDir: "/etc/letsencrypt",
  /** certbot's view of the certificates volume. */
  certbotCertsDir: "/etc/haproxy-edge/certs",
  /** certbot's view of the load balancer runtime socket volume. */
  certbotRuntimeDir: "/run/haproxy-edge",
  /** certbot scripts, credentials and CA bundle rendered by Pulumi. */
  certbotEdgeDir: "/etc/haproxy-edge",
} as const;

export const FILES = {
  lbSocket: `${PATHS.lbRuntimeDir}/admin.sock`,
  /**
   * The load balancer's master CLI (reloads): in its container's own /run, never on the volume certbot shares,
   * mode 0600 (root: its start script and the provider's commands).
   */
  lbMasterSocket: "/run/haproxy-edge-master.sock",
  /**
   * The load balancer's server states (`show servers state`), written before each reload and loaded by the new
   * process: it starts knowing which workers are down, instead of taking every one for up until checked.
   */
  lbServerState: "/run/haproxy-edge-servers.state",
  workerMasterSocket: `${PATHS.workerMasterDir}/master.sock`,
  notFoundPage: `${PATHS.edgeDir}/404.html`,
  blocklist: `${PATHS.edgeDir}/blocklist.acl`,
  internalNetworks: `${PATHS.edgeDir}/internal.acl`,
  workerBootstrap: `${PATHS.edgeDir}/haproxy.cfg`,
  workerConfig: `${PATHS.workerConfigDir}/haproxy.cfg`,
  lbConfig: `${PATHS.edgeDir}/haproxy.cfg`,
  userlist: `${PATHS.edgeDir}/userlist.cfg`,
  dataplaneApiConfig: `${PATHS.edgeDir}/dataplaneapi.yml`,
  /** The copy the Data Plane API runs on (it writes its configuration file back at every start). */
  dataplaneApiRunConfig: `${PATHS.dataplaneStateDir}/dataplaneapi.yml`,
  /** The Data Plane API's `status_cmd` (its /v3/health): HAProxy's master answers and runs a worker. */
  dataplaneApiStatusScript: `${PATHS.edgeDir}/dataplaneapi-status.sh`,
  /** A demo backend's HAProxy configuration (`demoBackends: true`). */
  demoBackendConfig: `${PATHS.edgeDir}/demo-backend.cfg`,
  placeholderCert: `${PATHS.edgeDir}/placeholder.pem`,
  /**
   * Exists (with the reason) while certbot's last push of a certificate into HAProxy failed: certbot is unhealthy
   * then. On certbot's own state volume, not the certificates volume: a full certificates volume still shows.
   */
  deployFailedMark: `${PATHS.letsencryptDir}/.haproxy-edge-deploy-failed`,
  /** Exists (with the reason) while certbot's last issuance or renewal failed: certbot is unhealthy then. */
  renewalFailedMark: `${PATHS.letsencryptDir}/.haproxy-edge-renewal-failed`,
  /** The deploy hook's lock (one deployment at a time), on certbot's state volume. */
  deployLock: `${PATHS.letsencryptDir}/.haproxy-edge-deploy.lock`,
  /** Appended to the served certificate's path: the copy of the last certificate that was checked good. */
  lastGoodSuffix: ".last-good",
} as const;

/**
 * Volumes shared by the load balancer and certbot: a Docker volume `<stack>-<name>` on a Docker host, the directory
 * `<disk>/haproxy-edge/<stack>/<name>` on a router. Each is named here once.
 */
export const VOLUMES = {
  /** Served certificates (kept on `pulumi destroy`). */
  certs: "certs",
  /** The load balancer's runtime API socket. */
  lbRuntime: "lb-runtime",
  /** certbot's ACME account and state (kept on `pulumi destroy`). */
  letsencrypt: "letsencrypt",
} as const;

/** The Docker volume of a stack's volume `volume`. */
export function dockerVolumeName(stack: string, volume: string): string {
  return `${stack}-${volume}`;
}

/** Worker frontend name (the Data Plane API route resources add ACLs and use_backend rules to it). */
export const WORKER_FRONTEND = "fe_edge";
/** Worker health endpoint (answered by HAProxy itself with `monitor-uri`). */
export const HEALTH_URI = "/haproxy-edge/health";
/** Port of the worker's plain (no PROXY protocol) health listener on 127.0.0.1, for the container healthcheck. */
export const WORKER_HEALTH_PORT = 8405;
/** The load balancer's local peer (stick tables handed over on a reload), on its container's loopback. */
export const LB_PEER = { name: "lb", port: 10000 } as const;
/** Data Plane API listen port inside its container. */
export const DATAPLANE_API_CONTAINER_PORT = 5555;
/** The Data Plane API userlist section name. */
export const DATAPLANE_USERLIST = "dataplaneapi";

/**
 * Linux capabilities a container of the edge keeps, spelled as Docker reports them back (`CAP_` prefix: another
 * spelling is read back after a refresh and replaces the container); Docker drops all the others (`cap_drop: ALL`). Every service
 * starts as root (its start script writes into volumes Docker creates owned by root) and keeps no other
 * capability, so it can only touch root-owned files: no DAC_OVERRIDE, CHOWN, FOWNER or NET_RAW (ARP spoofing on
 * the bridge), no raw sockets.
 */
export const CAPABILITIES = {
  /**
   * HAProxy's master stays root and runs its worker processes as user haproxy (setgroups, setgid, setuid), then
   * signals them, another user's processes, at every reload and stop (kill).
   */
  haproxy: ["CAP_KILL", "CAP_SETGID", "CAP_SETUID"],
  /** Added when the service listens on a port below 1024 in its container (the load balancer on 80 and 443). */
  privilegedPort: "CAP_NET_BIND_SERVICE",
  /** The Data Plane API and certbot run as root with no capability at all. */
  none: [],
} as const;

/** The capabilities an HAProxy container keeps when it listens on `ports` inside its container. */
export function haproxyCapabilities(ports: readonly number[]): string[] {
  const caps: string[] = [...CAPABILITIES.haproxy];
  if (ports.some((p) => p < 1024)) caps.push(CAPABILITIES.privilegedPort);
  return caps.sort();
}

/**
 * Where programs write outside their volumes: a tmpfs each on a read-only root filesystem (Docker). `/tmp` is
 * for the shells of the start and apply scripts; HAProxy's load balancer keeps its master CLI in `/run`
 * (`FILES.lbMasterSocket`); certbot writes its work and log directories.
 */
export const TMPFS = {
  haproxy: ["/run", "/tmp"],
  dataplaneApi: ["/tmp"],
  certbot: ["/tmp", "/var/lib/letsencrypt", "/var/log/letsencrypt"],
  none: [],
} as const satisfies Record<string, readonly string[]>;

export interface DockerHostModel extends DockerHostConfig {
  name: string;
  /** A remote host's SSH target (`user@host[:port]` of its `ssh://` URL); absent for a local engine. */
  ssh?: string;
  /**
   * The edge network's addresses: the lower half of `subnet` holds fixed ones (the gateway, the load balancer,
   * demo backends), Docker gives the other containers addresses from the upper half (`ipRange`) only, so none of
   * them can ever hold the load balancer's address.
   */
  network: { gateway: string; ipRange: string; loadBalancerAddress: string };
  /** `sshOpts` as `ssh` gets them: with `StrictHostKeyChecking=yes` unless they set it (config/host-keys.ts). */
  sshArgs: string[];
}

export interface RouterOsHostModel extends RouterOsHostConfig {
  name: string;
  /** The router's own address on the container bridge (first address of the subnet). */
  bridgeAddress: string;
  prefixLength: number;
  /** Parsed version, e.g. [7, 21, 0]. */
  versionParts: [number, number, number];
  /** certbot runs on this router: its scheduler renews the certificates (device-mode must keep it on). */
  renewsCertificates: boolean;
  /**
   * How haproxy-edge reaches the router over SSH: its host key pinned, or, only when the host opts out
   * (`insecureAcceptAnyHostKey`), `acceptAnyHostKey`.
   */
  ssh: { host: string; port: number; user: string; hostKey?: string; acceptAnyHostKey?: true };
}

export type HostModel = DockerHostModel | RouterOsHostModel;

/** Where a service runs, and the address it gets there. */
export interface Placement {
  host: HostModel;
  /** RouterOS only: the container's veth name and address on the bridge. */
  veth?: { name: string; address: string };
}

export interface RouteModel extends Omit<RouteConfig, "servers"> {
  servers: { host: string; port: number }[];
  /** The host name that reaches this route on the staging worker (internal clients only). */
  stagingHost: string;
  /** Public URL of every host of the route, through the load balancer. */
  urls: string[];
  /** URL of the route on the staging worker (internal clients only). */
  stagingUrl: string;
}

export interface WorkerModel {
  /** `staging`, `prod-1`, `prod-2`, ... */
  name: string;
  role: "staging" | "production";
  /** 0 for staging, i for prod-i. */
  index: number;
  placement: Placement;
  /** Container names (the API sidecar is `<stack>-<worker>-dataplaneapi` on Docker, `-api` on a router). */
  containerName: string;
  dataplaneApiContainerName: string;
  /** Network alias on the edge network (DNS name the load balancer uses on the same host). */
  alias: string;
  /** Port of the PROXY-protocol frontend inside the container. */
  port: number;
  /** Linux capabilities its HAProxy container keeps (see {@link CAPABILITIES}). */
  capabilities: string[];
  /** Where the load balancer connects to: alias:port on the same host, or the host's address and published port. */
  upstream: { address: string; port: number };
  /** Published on the Docker host's LAN address when the load balancer is on another host. */
  publish?: { address: string; port: number };
  /** Sources allowed to open connections to the PROXY-protocol frontend (the load balancer only). */
  trustedSources: string[];
  /** The stack's routes as this worker serves them, by name (the `WorkerRoutes` input in `live` mode). */
  routes: Record<string, RouteSpec>;
  /** The same routes as HAProxy objects: what the Data Plane API writes, or the template (`restart` mode). */
  routePlan: WorkerRoutesPlan;
  /** Its volumes (named as {@link VOLUMES}): HAProxy's configuration and master socket, the API's state. */
  volumes: { config: string; master: string; apiState: string };
  dataplaneApi: {
    user: string;
    /** Published on the Docker host's 127.0.0.1 (Docker placement). */
    publishedPort: number;
    /** Docker only: where the API is published (the host's loopback only). */
    publish?: { address: string; port: number };
    /**
     * The API's URL on its host: `http://127.0.0.1:<publishedPort>` on a Docker host (through an `ssh -L` tunnel
     * for a remote one), `http://<veth address>:5555` on a router (through an SSH forward on the router).
     */
    url: string;
    /** RouterOS only: the sidecar's own veth on the container bridge. */
    veth?: { name: string; address: string };
    /** How an operator (or the Pulumi program) reaches the API. */
    endpoint: string;
  };
}

export interface LoadBalancerModel {
  placement: Placement;
  containerName: string;
  /** Docker: its fixed address on its host's edge network, the one source the workers there trust. */
  edgeAddress?: string;
  publishAddress: string;
  httpPort: number;
  httpsPort: number;
  rateLimit: { requests: number; windowSeconds: number };
  blocklistCidrs: string[];
  internalCidrs: string[];
  /** `.staging.example.com` (the pattern without its `*`). */
  stagingSuffix: string;
  timeouts: { connect: string; client: string; server: string; httpRequest: string; httpKeepAlive: string };
  maxConnections: number;
  /** Linux capabilities its container keeps (see {@link CAPABILITIES}). */
  capabilities: string[];
  /** Path of the served certificate inside the container (exactly the name given to `set ssl cert`). */
  certPath: string;
  /** Where clients reach it: the host's name, and its HTTP and HTTPS base URLs. */
  endpoint: { host: string; http: string; https: string };
}

export interface CertbotModel {
  placement: Placement;
  containerName: string;
  server: string;
  email: string;
  dns: { server: string; port: number; keyName: string; algorithm: string; secret: string };
  propagationSeconds: number;
  caBundle?: string;
  renewIntervalHours: number;
  /** certbot is unhealthy while the served certificate expires within this many days (renewal is at 30). */
  minValidDays: number;
  /** On a router: the scheduler that starts the certbot container again (name on the router, first run). */
  routerSchedule: { name: string; startTime: string };
}

/** A demo backend (`demoBackends: true`): HAProxy answering at a route server's address on a Docker host. */
export interface DemoBackendModel {
  /** `address:port`, as the routes name it. */
  name: string;
  containerName: string;
  /** Its key in resource names: `<host>-<port>` (`10-0-0-1-8080`). */
  key: string;
  host: DockerHostModel;
  address: string;
  port: number;
}

export interface EdgeModel {
  project: string;
  stack: string;
  hosts: HostModel[];
  /**
   * The served certificate; `selfSignedValidityDays`: the lab certificate lasts 10 years, the placeholder served
   * until certbot's first issuance 90 days.
   */
  tls: { mode: "selfsigned" | "acme"; domains: string[]; certName: string; selfSignedValidityDays: number };
  images: { haproxy: string; dataplaneApi: string; certbot: string };
  loadBalancer: LoadBalancerModel;
  /** Staging first, then prod-1..N: the rollout order. */
  workers: WorkerModel[];
  certbot?: CertbotModel;
  routes: RouteModel[];
  /**
   * `live`: routes are written to each worker through its Data Plane API (no restart; the sidecar exists).
   * `restart`: routes are rendered into the worker configuration; a change replaces the workers one by one.
   */
  routeUpdates: "live" | "restart";
  /** Demo backends at the route servers' addresses (labs; empty unless `demoBackends` is true). */
  demoBackends: DemoBackendModel[];
  /** Docker volumes `pulumi destroy` keeps by design (certificates, ACME account and state). */
  retainedVolumes: string[];
  /** The hosts something is placed on, by name (sorted), and the images their services run. */
  placedHosts: { host: HostModel; images: string[] }[];
  /** One warning per placed host that accepts any SSH host key (`insecureAcceptAnyHostKey`), for every run. */
  hostKeyWarnings: string[];
  /** Limits of every container of the edge (Docker; on a router, the memory limit where RouterOS has one). */
  containerLimits: { memoryMb: number; pidsLimit: number };
}

/** A value validation guarantees; its absence is a bug, reported as such. */
function defined<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`haproxy-edge bug: ${what} is missing after validation`);
  return value;
}

function hostModel(name: string, h: StackConfig["hosts"][string], certbotHost?: string): HostModel {
  if (h.kind === "docker") {
    const network = dockerNetwork(h.subnet);
    const sshArgs = sshArgsWithHostKeyChecking(h.sshOpts);
    return h.url.startsWith("ssh://")
      ? { ...h, name, ssh: h.url.slice("ssh://".length), network, sshArgs }
      : { ...h, name, network, sshArgs };
  }
  const m = /^7\.(\d+)(?:\.(\d+))?$/.exec(h.version);
  return {
    ...h,
    name,
    bridgeAddress: addressInSubnet(h.subnet, 1),
    prefixLength: Number(h.subnet.split("/")[1]),
    versionParts: [7, Number(m?.[1] ?? 0), Number(m?.[2] ?? 0)],
    renewsCertificates: name === certbotHost,
    ssh: {
      host: h.address,
      port: h.port,
      user: h.user,
      ...(h.hostKey ? { hostKey: h.hostKey } : {}),
      ...(h.insecureAcceptAnyHostKey ? { acceptAnyHostKey: true as const } : {}),
    },
  };
}

/** A Docker edge network's gateway, dynamic range (the upper half) and the load balancer's fixed address. */
export function dockerNetwork(subnet: string): DockerHostModel["network"] {
  const prefix = Number(subnet.split("/")[1]);
  const half = 2 ** (32 - prefix - 1);
  return {
    gateway: addressInSubnet(subnet, 1),
    ipRange: `${addressInSubnet(subnet, half)}/${prefix + 1}`,
    loadBalancerAddress: addressInSubnet(subnet, DOCKER_LB_OFFSET),
  };
}

/** `:port`, or nothing for the scheme's default port. */
function portSuffix(port: number, schemeDefault: number): string {
  return port === schemeDefault ? "" : `:${port}`;
}

function placement(host: HostModel, service: string): Placement {
  if (host.kind !== "routeros") return { host };
  return { host, veth: routerVeth(host, service) };
}

/** The veth of `service` on a router: `<prefix><service>` (`<prefix>api<i>` for a sidecar) at its slot. */
function routerVeth(host: RouterOsHostModel, service: string): { name: string; address: string } {
  return {
    name: `${host.vethPrefix}${service.replace(/^api-/, "api")}`,
    address: addressInSubnet(host.subnet, routerSlot(service)),
  };
}

/** The file name of the certificate: the first domain, `*.` spelled `wildcard.`. */
export function certificateName(domains: readonly string[]): string {
  return domains[0].replace(/^\*\./, "wildcard.");
}

/** The veth of a service placed on a router. */
export function vethOf(p: Placement, service: string): { name: string; address: string } {
  return defined(p.veth, `the veth of ${service}`);
}

/** Builds the model from validated config. */
export function buildModel(c: StackConfig, ctx: ParseContext): EdgeModel {
  const certbotHost = c.tlsMode === "acme" ? (c.certbotHost ?? c.loadBalancerHost) : undefined;
  const hosts = Object.keys(c.hosts)
    .sort()
    .map((n) => hostModel(n, c.hosts[n], certbotHost));
  const byName = new Map(hosts.map((h) => [h.name, h]));
  const lbHost = defined(byName.get(c.loadBalancerHost), `host ${c.loadBalancerHost}`);
  const stack = ctx.stack;
  const certName = certificateName(c.domains);

  const https = portSuffix(c.httpsPort, 443);
  const routes: RouteModel[] = c.routes.map((r) => {
    const stagingHost = `${r.name}${c.stagingHostPattern.slice(1)}`;
    const path = r.pathPrefix ?? "/";
    return {
      ...r,
      servers: r.servers.map((s) => {
        const i = s.lastIndexOf(":");
        return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
      }),
      stagingHost,
      urls: r.hosts.map((h) => `https://${h}${https}${path}`),
      stagingUrl: `https://${stagingHost}${https}${path}`,
    };
  });
  const workerHosts = [c.stagingWorkerHost, ...c.productionWorkerHosts];
  const workers: WorkerModel[] = workerHosts.map((hostName, index) => {
    const name = index === 0 ? "staging" : `prod-${index}`;
    const host = defined(byName.get(hostName), `host ${hostName}`);
    const where = placement(host, name);
    const publishedPort = c.dataplaneApiPort + index;
    const common = {
      name,
      role: index === 0 ? ("staging" as const) : ("production" as const),
      index,
      placement: where,
      containerName: `${stack}-${name}`,
      dataplaneApiContainerName: `${stack}-${name}-dataplaneapi`,
      alias: name,
      port: c.workerPort,
      capabilities: haproxyCapabilities([c.workerPort, WORKER_HEALTH_PORT]),
      volumes: { config: `${name}-config`, master: `${name}-master`, apiState: `${name}-api-state` },
      ...workerRoutes(routes, index === 0, c.internalCidrs),
    };
    if (host.kind === "routeros") {
      // On a router (with the load balancer, validation ensures): reached on the container bridge, from the load
      // balancer's veth only; the API sidecar has its own veth, reached through an SSH forward on the router.
      const veth = vethOf(where, name);
      const lbVeth = vethOf(placement(lbHost, "lb"), "lb");
      const apiVeth = routerVeth(host, `api-${index}`);
      const url = `http://${apiVeth.address}:${DATAPLANE_API_CONTAINER_PORT}`;
      return {
        ...common,
        // Shorter than on Docker: RouterOS names (mount lists `<container>-<mount>`) stop at 63 characters.
        dataplaneApiContainerName: `${stack}-${name}-api`,
        upstream: { address: veth.address, port: c.workerPort },
        trustedSources: [`${lbVeth.address}/32`],
        dataplaneApi: {
          user: c.dataplaneApiUser,
          publishedPort,
          url,
          veth: apiVeth,
          endpoint: `${url} on ${host.name}'s container bridge (ssh -L ${publishedPort}:${apiVeth.address}:${DATAPLANE_API_CONTAINER_PORT} ${host.user}@${host.address} -p ${host.port}; needs /ip ssh forwarding-enabled=local)`,
        },
      };
    }
    const sameHost = hostName === c.loadBalancerHost;
    const publish = sameHost
      ? undefined
      : { address: defined(host.address, `hosts.${hostName}.address`), port: c.workerPort + index };
    const url = `http://127.0.0.1:${publishedPort}`;
    return {
      ...common,
      upstream: publish ?? { address: name, port: c.workerPort },
      publish,
      // The load balancer's own address: its fixed one on this host's edge network (never the subnet: the API
      // sidecars, certbot, demo backends and the gateway, which Docker's port proxy uses for local clients, are
      // there too), or its host's address, which its outbound connections to another host come from.
      trustedSources: [`${sameHost ? host.network.loadBalancerAddress : lbHost.address}/32`],
      dataplaneApi: {
        user: c.dataplaneApiUser,
        publishedPort,
        publish: { address: "127.0.0.1", port: publishedPort },
        url,
        endpoint: host.ssh
          ? `${url} on ${host.ssh} (ssh -L ${publishedPort}:127.0.0.1:${publishedPort})`
          : url,
      },
    };
  });

  // Where clients reach the load balancer: a router's address, or the published address (0.0.0.0: this machine).
  const publicHost =
    lbHost.kind === "routeros"
      ? lbHost.address
      : c.publishAddress === "0.0.0.0"
        ? "127.0.0.1"
        : c.publishAddress;

  const model: EdgeModel = {
    project: ctx.project,
    stack,
    hosts,
    tls: {
      mode: c.tlsMode,
      domains: c.domains,
      certName,
      selfSignedValidityDays: c.tlsMode === "selfsigned" ? 3650 : 90,
    },
    images: { haproxy: c.haproxyImage, dataplaneApi: c.dataplaneApiImage, certbot: c.certbotImage },
    loadBalancer: {
      placement: placement(lbHost, "lb"),
      containerName: `${stack}-lb`,
      ...(lbHost.kind === "docker" ? { edgeAddress: lbHost.network.loadBalancerAddress } : {}),
      publishAddress: c.publishAddress,
      httpPort: c.httpPort,
      httpsPort: c.httpsPort,
      rateLimit: { requests: c.rateLimitRequests, windowSeconds: c.rateLimitWindowSeconds },
      blocklistCidrs: c.blocklistCidrs,
      internalCidrs: c.internalCidrs,
      stagingSuffix: c.stagingHostPattern.slice(1),
      timeouts: {
        connect: c.timeoutConnect,
        client: c.timeoutClient,
        server: c.timeoutServer,
        httpRequest: c.timeoutHttpRequest,
        httpKeepAlive: c.timeoutHttpKeepAlive,
      },
      maxConnections: c.maxConnections,
      capabilities: haproxyCapabilities([c.httpPort, c.httpsPort]),
      certPath: `${PATHS.certsDir}/${certName}.pem`,
      endpoint: {
        host: lbHost.name,
        http: `http://${publicHost}${portSuffix(c.httpPort, 80)}/`,
        https: `https://${publicHost}${https}/`,
      },
    },
    workers,
    routes,
    routeUpdates: c.routeUpdates,
    demoBackends: c.demoBackends ? demoBackends(stack, hosts, routes) : [],
    retainedVolumes: [
      dockerVolumeName(stack, VOLUMES.certs),
      ...(certbotHost !== undefined ? [dockerVolumeName(stack, VOLUMES.letsencrypt)] : []),
    ],
    placedHosts: [],
    hostKeyWarnings: [],
    containerLimits: { memoryMb: c.containerMemoryMb, pidsLimit: c.containerPidsLimit },
  };
  if (certbotHost !== undefined) {
    model.certbot = {
      placement: placement(defined(byName.get(certbotHost), "certbot host"), "certbot"),
      containerName: `${stack}-certbot`,
      server: c.acmeServer,
      email: defined(c.acmeEmail, "acmeEmail"),
      dns: {
        server: defined(c.acmeDnsServer, "acmeDnsServer"),
        port: c.acmeDnsPort,
        keyName: defined(c.acmeTsigKeyName, "acmeTsigKeyName"),
        algorithm: c.acmeTsigAlgorithm,
        secret: defined(c.acmeTsigSecret, "acmeTsigSecret"),
      },
      propagationSeconds: c.acmePropagationSeconds,
      caBundle: c.acmeCaBundle,
      renewIntervalHours: c.renewIntervalHours,
      minValidDays: 20,
      routerSchedule: { name: `${stack}-certbot-renew`, startTime: "03:17:00" },
    };
  }
  model.placedHosts = placedHosts(model);
  model.hostKeyWarnings = model.placedHosts
    .filter((p) => p.host.insecureAcceptAnyHostKey)
    .map((p) => hostKeyWarning(p.host.name, p.host.kind));
  return model;
}

/** The hosts something is placed on (sorted by name), with the images each must pull. */
function placedHosts(model: EdgeModel): EdgeModel["placedHosts"] {
  const used = new Map<string, { host: HostModel; images: Set<string> }>();
  const place = (host: HostModel, image: string) => {
    const entry = used.get(host.name) ?? { host, images: new Set<string>() };
    entry.images.add(image);
    used.set(host.name, entry);
  };
  for (const w of model.workers) {
    place(w.placement.host, model.images.haproxy);
    if (model.routeUpdates === "live") place(w.placement.host, model.images.dataplaneApi);
  }
  place(model.loadBalancer.placement.host, model.images.haproxy);
  if (model.certbot) place(model.certbot.placement.host, model.images.certbot);
  for (const d of model.demoBackends) place(d.host, model.images.haproxy);
  return [...used.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([, { host, images }]) => ({ host, images: [...images] }));
}

/**
 * The routes as one worker serves them: internal-only routes admit the internal networks only, and the staging
 * worker also answers each route's staging host name.
 */
function workerRoutes(
  routes: readonly RouteModel[],
  staging: boolean,
  internalNetworks: readonly string[],
): Pick<WorkerModel, "routes" | "routePlan"> {
  const specs: Record<string, RouteSpec> = {};
  for (const r of [...routes].sort((a, b) => a.name.localeCompare(b.name))) {
    specs[r.name] = {
      hosts: [...r.hosts],
      servers: r.servers.map((s) => `${s.host}:${s.port}`),
      ...(r.pathPrefix ? { pathPrefix: r.pathPrefix } : {}),
      balance: r.balance,
      healthCheckPath: r.healthCheckPath,
      ...(r.internalOnly ? { allowFrom: [...internalNetworks] } : {}),
      ...(staging ? { stagingHost: r.stagingHost } : {}),
    };
  }
  return { routes: specs, routePlan: workerRoutesPlan(specs) };
}

/** One demo backend per route server address inside a Docker host's subnet, in the routes' order. */
function demoBackends(stack: string, hosts: HostModel[], routes: RouteModel[]): DemoBackendModel[] {
  const byName = new Map<string, DemoBackendModel>();
  for (const r of routes) {
    for (const s of r.servers) {
      const host = hosts.find(
        (h): h is DockerHostModel => h.kind === "docker" && isIPv4(s.host) && ipv4InCidr(s.host, h.subnet),
      );
      if (!host) continue;
      const name = `${s.host}:${s.port}`;
      // Nothing about the routes that use it: a route added or changed never touches a demo backend.
      if (byName.has(name)) continue;
      byName.set(name, {
        name,
        containerName: `${stack}-demo-${s.host.replace(/\./g, "-")}-${s.port}`,
        key: `${s.host.replace(/\./g, "-")}-${s.port}`,
        host,
        address: s.host,
        port: s.port,
      });
    }
  }
  return [...byName.values()];
}

/**
 * Raw Pulumi config (namespace stripped, values as Pulumi gives them) → model.
 * @throws ConfigError listing every problem, before any resource is registered.
 */
export function loadModel(values: Record<string, unknown>, ctx: ParseContext): EdgeModel {
  const res = parseStackConfig(values, ctx);
  if (!res.ok) throw new ConfigError(res.issues);
  return buildModel(res.config, ctx);
}
