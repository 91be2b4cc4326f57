/**
 * Tests of config/parse.ts: raw Pulumi config → validated StackConfig, or every problem with its key path.
 */
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { inspect } from "node:util";
import {
  ConfigError,
  addressInSubnet,
  decodeRawConfig,
  formatIssues,
  parseStackConfig,
  type ConfigIssue,
  type ParseContext,
} from "../../config/parse";
import { loadModel } from "../../config/model";
import { hostSchema, routeSchema, topLevel, type StackConfig } from "../../config/schema";
import { projectDefaults, stripNamespace } from "../support/stack-config";

/** A mutable, loosely typed config, as decodeRawConfig returns it. */
interface Cfg {
  [key: string]: unknown;
  domains: string[];
  hosts: Record<string, Record<string, unknown>>;
  routes: Record<string, unknown>[];
}

const CTX: ParseContext = { project: "haproxy-edge", stack: "dev", secretKeys: new Set() };

/** Self-signed, one local Docker host, two routes: valid. */
function baseline(): Cfg {
  return {
    domains: ["example.com", "*.example.com", "*.staging.example.com"],
    tlsMode: "selfsigned",
    hosts: { local: { kind: "docker", url: "unix:///var/run/docker.sock", subnet: "172.29.80.0/24" } },
    routes: [
      {
        name: "app",
        hosts: ["app.example.com", "example.com"],
        servers: ["10.0.0.10:8080", "backend.lan:8080"],
      },
      {
        name: "api",
        hosts: ["api.example.com"],
        pathPrefix: "/v1",
        servers: ["10.0.0.20:9000"],
        internalOnly: true,
      },
    ],
  };
}

const ROUTER_KEY =
  "-----BEGIN OPENSSH PRIVATE KEY-----\nc2VjcmV0LXJvdXRlci1rZXk=\n-----END OPENSSH PRIVATE KEY-----";
const TSIG_SECRET = "c2VjcmV0LXRzaWctYWJjZGVmZ2hpams=";

/** A router's SSH host key as `ssh-keyscan` prints it (without the host field). */
const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

/** Adds a valid RouterOS host `r1` (not used by any placement); its key makes `hosts` a secret. */
function withRouter(c: Cfg): void {
  c.hosts.r1 = { kind: "routeros", address: "192.168.88.1", privateKey: ROUTER_KEY, hostKey: HOST_KEY };
}

/** Switches the baseline to a complete, valid acme configuration. */
function withAcme(c: Cfg): void {
  Object.assign(c, {
    tlsMode: "acme",
    acmeEmail: "hostmaster@example.com",
    acmeDnsServer: "192.0.2.53",
    acmeTsigKeyName: "acme-update.example.com.",
    acmeTsigSecret: TSIG_SECRET,
  });
}

const ALL_SECRETS: ReadonlySet<string> = new Set(["hosts", "acmeTsigSecret"]);

function parse(c: Cfg, ctx: Partial<ParseContext> = {}) {
  return parseStackConfig(c, { ...CTX, ...ctx });
}

function parseOk(c: Cfg, ctx: Partial<ParseContext> = {}): StackConfig {
  const res = parse(c, ctx);
  if (!res.ok) assert.fail(`expected a valid config, got:\n${formatIssues(res.issues)}`);
  return res.config;
}

function issuesOf(c: Cfg, ctx: Partial<ParseContext> = {}): ConfigIssue[] {
  const res = parse(c, ctx);
  if (res.ok) assert.fail("expected the config to be rejected");
  return res.issues;
}

describe("config/parse", () => {
  describe("the baseline", () => {
    it("parses, with defaults applied", () => {
      const c = parseOk(baseline());
      assert.equal(c.tlsMode, "selfsigned");
      assert.equal(c.httpPort, 80);
      assert.equal(c.httpsPort, 443);
      assert.equal(c.loadBalancerHost, "local");
      assert.equal(c.stagingWorkerHost, "local");
      assert.deepEqual(c.productionWorkerHosts, ["local", "local"]);
      assert.equal(c.timeoutConnect, "1s");
      assert.equal(c.timeoutClient, "30s");
      assert.equal(c.haproxyImage, "haproxy:3.0");
      assert.equal(c.acmeTsigAlgorithm, "HMAC-SHA512");
      assert.equal(c.stagingHostPattern, "*.staging.example.com");
      assert.deepEqual(c.internalCidrs, ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8"]);
      assert.deepEqual(c.blocklistCidrs, []);
      assert.equal(c.dataplaneApiPort, 5555);
      assert.equal(c.workerPort, 8080);
      assert.equal(c.certbotHost, undefined);
      assert.deepEqual(c.hosts.local, {
        kind: "docker",
        url: "unix:///var/run/docker.sock",
        sshOpts: [],
        insecureAcceptAnyHostKey: false,
        subnet: "172.29.80.0/24",
      });
      assert.equal(c.routes.length, 2);
      assert.equal(c.routes[0].balance, "roundrobin");
      assert.equal(c.routes[0].healthCheckPath, "/");
      assert.equal(c.routes[0].internalOnly, false);
      assert.equal(c.routes[0].pathPrefix, undefined);
      assert.equal(c.routes[1].internalOnly, true);
      assert.equal(c.routes[1].pathPrefix, "/v1");
    });

    it("only domains is required: everything else has a default", () => {
      const c = parseOk({ domains: ["example.com"] } as unknown as Cfg);
      assert.deepEqual(Object.keys(c.hosts), ["local"]);
      assert.deepEqual(c.routes, []);
      assert.equal(c.acmeServer, "https://acme-v02.api.letsencrypt.org/directory");
    });

    it("the baseline with a valid router and a valid acme setup parses too", () => {
      const c = baseline();
      withRouter(c);
      withAcme(c);
      const cfg = parseOk(c, { secretKeys: ALL_SECRETS });
      const r1 = cfg.hosts.r1;
      assert.equal(r1.kind, "routeros");
      if (r1.kind === "routeros") {
        assert.equal(r1.port, 22);
        assert.equal(r1.user, "admin");
        assert.equal(r1.bridge, "br-edge");
        assert.equal(r1.vethPrefix, "edge-");
        assert.equal(r1.version, "7.21");
      }
      assert.equal(cfg.acmeDnsPort, 53);
    });

    it("lower-cases host names, domains and the TSIG algorithm", () => {
      const c = baseline();
      c.domains = ["Example.COM", "*.Example.com", "*.staging.example.com"];
      c.routes[0].hosts = ["App.Example.COM"];
      c.acmeTsigAlgorithm = "hmac-sha256";
      const cfg = parseOk(c);
      assert.deepEqual(cfg.domains, ["example.com", "*.example.com", "*.staging.example.com"]);
      assert.deepEqual(cfg.routes[0].hosts, ["app.example.com"]);
      assert.equal(cfg.acmeTsigAlgorithm, "HMAC-SHA256");
    });

    it("accepts the same host in two routes with different path prefixes", () => {
      const c = baseline();
      c.routes[1].hosts = ["app.example.com"]; // routes[0] serves it without a prefix, routes[1] under /v1
      const cfg = parseOk(c);
      assert.deepEqual(cfg.routes[1].hosts, ["app.example.com"]);
      c.routes[0].pathPrefix = "/v2";
      parseOk(c);
    });

    it("accepts every service on one router: workers next to the load balancer, a /27 in restart mode", () => {
      const c = baseline();
      withRouter(c);
      withAcme(c);
      Object.assign(c, {
        loadBalancerHost: "r1",
        stagingWorkerHost: "r1",
        productionWorkerHosts: ["r1", "r1"],
        routeUpdates: "restart",
      });
      c.hosts.r1.subnet = "172.20.0.0/27";
      const cfg = parseOk(c, { secretKeys: ALL_SECRETS });
      assert.equal(cfg.stagingWorkerHost, "r1");
      c.routeUpdates = "live";
      c.hosts.r1.subnet = "172.20.0.0/26";
      parseOk(c, { secretKeys: ALL_SECRETS });
    });

    it("accepts a worker on another Docker host when both hosts have an address", () => {
      const c = baseline();
      c.hosts.local.address = "192.168.1.10";
      c.hosts.remote = { kind: "docker", url: "ssh://deploy@remote.lan", address: "192.168.1.20" };
      c.productionWorkerHosts = ["local", "remote"];
      parseOk(c);
    });

    it("reports keys of a namespace that differs from the project's only in case or punctuation", () => {
      const other = ["haproxy_edge:httpPort", "HAProxy.Edge:routes", "aws:region", "haproxy:foo"];
      const issues = issuesOf(baseline(), { otherKeys: other });
      assert.deepEqual(
        issues.map((i) => i.path),
        ["haproxy_edge:httpPort", "HAProxy.Edge:routes"],
      );
      assert.match(
        issues[0].message,
        /is in namespace haproxy_edge, not haproxy-edge: .*rename it to haproxy-edge:httpPort/,
      );
    });

    it("reports a namespace within two edits of the project's, renaming a misspelled key to the one it means", () => {
      const other = ["haproxy-egde:rateLimitRequest", "haproxyedg:httpPort", "haproxy-edge-x:routes"];
      const issues = issuesOf(baseline(), { otherKeys: other });
      assert.deepEqual(
        issues.map((i) => [i.path, i.message.split("; ")[1]]),
        [
          ["haproxy-egde:rateLimitRequest", "rename it to haproxy-edge:rateLimitRequests"],
          ["haproxyedg:httpPort", "rename it to haproxy-edge:httpPort"],
          ["haproxy-edge-x:routes", "rename it to haproxy-edge:routes"],
        ],
      );
    });

    it("leaves the keys of providers and of Pulumi itself alone", () => {
      const other = [
        "docker:host",
        "docker:sshOpts",
        "command:dummy",
        "random:dummy",
        "pulumi:disable-default-providers",
        "pulumi:tags",
        "aws:region",
        "haproxy:foo",
        "edge:foo",
      ];
      parseOk(baseline(), { otherKeys: other });
    });

    it("says what a key of the wrong type must be, in the operator's words, never zod's", () => {
      const c = baseline() as Cfg & Record<string, unknown>;
      Object.assign(c, {
        demoBackends: "yes",
        httpPort: "80",
        blocklistCidrs: "10.0.0.0/8",
        routeUpdates: 3,
      });
      const issues = issuesOf(c);
      const by = (p: string) => issues.find((i) => i.path === p)?.message;
      assert.equal(by("demoBackends"), "must be true or false");
      assert.equal(by("blocklistCidrs"), "must be a list");
      assert.equal(by("routeUpdates"), 'must be one of: "live", "restart"');
      assert.ok(
        issues.every((i) => !/Invalid input|expected \w+, received/i.test(i.message)),
        formatIssues(issues),
      );
    });

    it("reports an empty value (`hosts: ~`) as empty, without a value Pulumi made up", () => {
      const c = baseline() as Cfg & Record<string, unknown>;
      (c as Record<string, unknown>).hosts = "";
      (c as Record<string, unknown>).blocklistCidrs = "";
      const issues = issuesOf(c);
      for (const path of ["hosts", "blocklistCidrs"]) {
        const i = issues.find((x) => x.path === path);
        assert.equal(i?.message, "is empty: give it a value or remove the key", path);
        assert.ok(i && !("value" in i), `${path} shows no value`);
      }
    });

    it("tells to quote a RouterOS version YAML read as a number", () => {
      const c = baseline();
      withRouter(c);
      c.hosts.r1.version = 7.2; // `version: 7.20` unquoted
      const i = issuesOf(c, { secretKeys: ALL_SECRETS }).find((x) => x.path === "hosts.r1.version");
      assert.match(
        i?.message ?? "",
        /must be quoted text such as "7\.20": YAML reads an unquoted 7\.20 as the number/,
      );
    });

    it("accepts a CA bundle of real certificates", () => {
      const c = baseline();
      withAcme(c);
      const pem = (days: string) =>
        execFileSync(
          "openssl",
          [
            "req",
            "-x509",
            "-newkey",
            "ed25519",
            "-nodes",
            "-keyout",
            "/dev/null",
            "-subj",
            "/CN=ca",
            "-days",
            days,
          ],
          { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] },
        );
      c.acmeCaBundle = pem("1") + pem("2");
      assert.equal(parseOk(c, { secretKeys: ALL_SECRETS }).acmeCaBundle, c.acmeCaBundle);
    });

    it("accepts the longest durations HAProxy's timers hold", () => {
      const c = baseline();
      Object.assign(c, { timeoutClient: "24d", timeoutServer: "596h", timeoutConnect: "2147483s" });
      assert.equal(parseOk(c).timeoutServer, "596h");
    });

    it("accepts an internalCidrs entry as wide as the Internet only with internalCidrsIncludeInternet: true", () => {
      const c = baseline();
      c.internalCidrs = ["10.0.0.0/8", "2001::/16", "fd00::/8", "fc00::/7", "fe80::/10"];
      parseOk(c);
      c.internalCidrs = ["0.0.0.0/0", "::/0"];
      c.internalCidrsIncludeInternet = true;
      assert.deepEqual(parseOk(c).internalCidrs, ["0.0.0.0/0", "::/0"]);
    });

    it("accepts the ssh options that only set up the connection, in either form", () => {
      const c = baseline();
      const sshOpts = [
        ...["-o", "StrictHostKeyChecking=yes", "-oUserKnownHostsFile=/etc/haproxy-edge/known_hosts"],
        ...["-i", "/root/.ssh/id_ed25519", "-p2222", "-l", "deploy", "-4", "-o", "serveraliveinterval=15"],
      ];
      c.hosts.remote = {
        kind: "docker",
        url: "ssh://deploy@docker-1.lan:2222",
        address: "192.168.1.20",
        sshOpts,
      };
      assert.deepEqual((parseOk(c).hosts.remote as { sshOpts: string[] }).sshOpts, sshOpts);
    });
  });

  interface RejectCase {
    title: string;
    mutate: (c: Cfg) => void;
    ctx?: Partial<ParseContext>;
    path: string;
    message: RegExp;
    /** The offending value the issue shows; `undefined` asserts the issue has none. Omitted: not checked. */
    value?: unknown;
    /**
     * Paths of the other issues the mutation causes (default none: the issue is the only one). `"any"` for
     * mutations that break a whole host, which also reports every placement on it.
     */
    others?: string[] | "any";
  }

  const longLabel = "a".repeat(64);
  const routeName = (name: string): Omit<RejectCase, "title"> => ({
    mutate: (c) => (c.routes[0].name = name),
    path: "routes[0].name",
    message: /must be a route name: a-z, 0-9 and inner '-'/,
    value: name,
  });
  const routeHost = (host: string): Omit<RejectCase, "title"> => ({
    mutate: (c) => (c.routes[0].hosts = [host]),
    path: "routes[0].hosts[0]",
    message: /must be a host name such as app\.example\.com .*no wildcard/,
    value: host,
  });
  const blocklist = (cidr: string, message: RegExp): Omit<RejectCase, "title"> => ({
    mutate: (c) => (c.blocklistCidrs = ["192.0.2.0/24", cidr]),
    path: "blocklistCidrs[1]",
    message,
    value: cidr,
  });
  const acmeWithout = (key: string): Omit<RejectCase, "title"> => ({
    mutate: (c) => {
      withAcme(c);
      Reflect.deleteProperty(c, key);
    },
    ctx: { secretKeys: ALL_SECRETS },
    path: key,
    message: /is required when tlsMode is "acme"/,
    value: undefined,
  });
  const PORT_MESSAGE = /must be a whole number from 1 to 65535/;
  /** Router `r1` with `key` set to `value`, its key stored as a secret (so `hosts` is one). */
  const routerWith = (key: string, value: unknown): Pick<RejectCase, "mutate" | "ctx"> => ({
    mutate: (c) => {
      withRouter(c);
      c.hosts.r1[key] = value;
    },
    ctx: { secretKeys: ALL_SECRETS },
  });
  /** A valid acme configuration with `key` set to `value`, its secrets stored as secrets. */
  const acmeWith = (key: string, value: unknown): Pick<RejectCase, "mutate" | "ctx"> => ({
    mutate: (c) => {
      withAcme(c);
      (c as unknown as Record<string, unknown>)[key] = value;
    },
    ctx: { secretKeys: ALL_SECRETS },
  });

  const cases: RejectCase[] = [
    // Route names end up in HAProxy backend names and staging host names.
    { title: "a route name with a space", ...routeName("my app") },
    { title: "a route name with a double quote", ...routeName('app"x') },
    { title: "a route name with a newline", ...routeName("app\nx") },
    { title: "a route name with $", ...routeName("app$x") },
    { title: "a route name with ;", ...routeName("app;x") },
    { title: "a route name with [", ...routeName("app[x") },
    { title: "an upper-case route name", ...routeName("App") },
    { title: "a route name of 33 characters", ...routeName("a".repeat(33)) },
    // Route host names.
    { title: "a host name starting with '-'", ...routeHost("-bad.example.com") },
    { title: "a host name with an empty label", ...routeHost("a..b") },
    { title: "a host name with a space", ...routeHost("exa mple.com") },
    { title: "a host name with a 64-character label", ...routeHost(`${longLabel}.example.com`) },
    { title: "an IPv4 address as a host name", ...routeHost("192.168.1.10") },
    { title: "a wildcard route host", ...routeHost("*.example.com") },
    { title: "a wildcard in the middle of a route host", ...routeHost("a.*.example.com") },
    { title: "a partial wildcard route host", ...routeHost("*foo.example.com") },
    {
      title: "a route without hosts",
      mutate: (c) => (c.routes[0].hosts = []),
      path: "routes[0].hosts",
      message: /must list at least one host name/,
      value: [],
    },
    // Domains.
    {
      title: "a double wildcard domain",
      mutate: (c) => (c.domains[1] = "**.example.com"),
      path: "domains[1]",
      message: /must be a domain name such as example\.com or \*\.example\.com/,
      value: "**.example.com",
    },
    {
      title: "a wildcard over a top-level domain",
      mutate: (c) => (c.domains[1] = "*.com"),
      path: "domains[1]",
      message: /must be a domain name/,
      value: "*.com",
    },
    {
      title: "no domains",
      mutate: (c) => (c.domains = []),
      path: "domains",
      message: /must list at least one domain/,
      value: [],
    },
    {
      title: "a domain listed twice",
      mutate: (c) => c.domains.push("example.com"),
      path: "domains[3]",
      message: /is listed twice/,
      value: "example.com",
    },
    // Ports.
    { title: "port 0", mutate: (c) => (c.httpPort = 0), path: "httpPort", message: PORT_MESSAGE, value: 0 },
    {
      title: "port 65536",
      mutate: (c) => (c.httpsPort = 65536),
      path: "httpsPort",
      message: PORT_MESSAGE,
      value: 65536,
    },
    {
      title: "a fractional port",
      mutate: (c) => (c.httpsPort = 1.5),
      path: "httpsPort",
      message: PORT_MESSAGE,
      value: 1.5,
    },
    {
      title: "a port as a string",
      mutate: (c) => (c.httpPort = "80"),
      path: "httpPort",
      message: PORT_MESSAGE,
      value: "80",
    },
    {
      title: "httpPort equal to httpsPort",
      mutate: (c) => (c.httpsPort = 80),
      path: "httpsPort",
      message: /must differ from httpPort/,
      value: 80,
    },
    {
      title: "httpPort inside the Data Plane API port range",
      mutate: (c) => (c.httpPort = 5557),
      path: "httpPort",
      message: /collides with the Data Plane API ports 5555-5557/,
      value: 5557,
    },
    // CIDRs.
    { title: "a CIDR with a prefix over 32", ...blocklist("10.0.0.0/33", /prefix length over 32/) },
    {
      title: "a CIDR with an octet over 255",
      ...blocklist("300.1.1.1/8", /not a valid IPv4 or IPv6 prefix/),
    },
    { title: "a CIDR with three octets", ...blocklist("10.0.0/8", /not a valid IPv4 or IPv6 prefix/) },
    { title: "a CIDR that is a word", ...blocklist("abc", /CIDR form such as 10\.0\.0\.0\/8/) },
    { title: "a bare address as a CIDR", ...blocklist("192.0.2.7", /CIDR form/) },
    ...["fe80::%eth0/64", "fe80::1%25eth0/128", "2001:db8::%1/32"].map((net): RejectCase => ({
      title: `an IPv6 prefix with a zone index (${net}), among other errors`,
      mutate: (c) => {
        c.blocklistCidrs = ["192.0.2.0/24", net];
        c.internalCidrs = ["fe80::%lo/64"];
      },
      path: "blocklistCidrs[1]",
      message: /must not carry a zone index such as %eth0/,
      value: net,
      others: ["internalCidrs[0]"],
    })),
    {
      title: "a CIDR with host bits set",
      mutate: (c) => (c.internalCidrs = ["10.0.0.1/8"]),
      path: "internalCidrs[0]",
      message: /host bits set \(did you mean 10\.0\.0\.0\/8\?\)/,
      value: "10.0.0.1/8",
    },
    {
      title: "a blocklist entry that is also internal",
      mutate: (c) => (c.blocklistCidrs = ["10.0.0.0/8"]),
      path: "blocklistCidrs[0]",
      message: /is also in internalCidrs/,
      value: "10.0.0.0/8",
    },
    // Routes.
    {
      title: "duplicate route names",
      mutate: (c) => (c.routes[1].name = "app"),
      path: "routes[1].name",
      message: /duplicates routes\[0\]\.name/,
      value: "app",
    },
    {
      title: "the same host in two routes",
      mutate: (c) => {
        c.routes[1].hosts = ["api.example.com", "example.com"];
        delete c.routes[1].pathPrefix;
      },
      path: "routes[1].hosts[1]",
      message: /is already served by route "app"/,
      value: "example.com",
    },
    {
      title: "the same host and path prefix in two routes",
      mutate: (c) => {
        c.routes[0].pathPrefix = "/v1";
        c.routes[1].hosts = ["app.example.com"];
      },
      path: "routes[1].hosts[0]",
      message: /is already served by route "app" with path prefix \/v1/,
      value: "app.example.com",
    },
    {
      title: "a host listed twice in one route",
      mutate: (c) => (c.routes[1].hosts = ["api.example.com", "API.example.com"]),
      path: "routes[1].hosts[1]",
      message: /is listed twice in this route/,
      value: "api.example.com",
    },
    {
      title: "a route with an empty server list",
      mutate: (c) => (c.routes[0].servers = []),
      path: "routes[0].servers",
      message: /must list at least one server/,
      value: [],
    },
    {
      title: "a route without servers",
      mutate: (c) => delete c.routes[1].servers,
      path: "routes[1].servers",
      message: /^is required$/,
      value: undefined,
    },
    {
      title: "a server without a port",
      mutate: (c) => (c.routes[0].servers = ["10.0.0.10"]),
      path: "routes[0].servers[0]",
      message: /must be host:port/,
      value: "10.0.0.10",
    },
    {
      title: "a server with port 0",
      mutate: (c) => (c.routes[0].servers = ["10.0.0.10:8080", "10.0.0.11:0"]),
      path: "routes[0].servers[1]",
      message: /port from 1 to 65535/,
      value: "10.0.0.11:0",
    },
    {
      title: "a path prefix with a quote",
      mutate: (c) => (c.routes[1].pathPrefix = "/v1'x"),
      path: "routes[1].pathPrefix",
      message: /must be a URL path such as \/api/,
      value: "/v1'x",
    },
    {
      title: "an unknown balance algorithm",
      mutate: (c) => (c.routes[0].balance = "random"),
      path: "routes[0].balance",
      message: /roundrobin/,
      value: "random",
    },
    {
      title: "a route host not covered by domains",
      mutate: (c) => (c.routes[0].hosts = ["app.example.org"]),
      path: "routes[0].hosts[0]",
      message:
        /is not covered by any name in domains \(example\.com, \*\.example\.com, \*\.staging\.example\.com\)/,
      value: "app.example.org",
    },
    {
      title: "a route host two labels under a wildcard domain",
      mutate: (c) => (c.routes[0].hosts = ["a.b.example.com"]),
      path: "routes[0].hosts[0]",
      message: /is not covered by any name in domains/,
      value: "a.b.example.com",
    },
    {
      title: "a route host matching stagingHostPattern",
      mutate: (c) => (c.routes[0].hosts = ["app.staging.example.com"]),
      path: "routes[0].hosts[0]",
      message: /matches stagingHostPattern \*\.staging\.example\.com/,
      value: "app.staging.example.com",
    },
    // Placement.
    {
      title: "zero production workers",
      mutate: (c) => (c.productionWorkerHosts = []),
      path: "productionWorkerHosts",
      message: /must place at least one production worker/,
      value: [],
    },
    {
      title: "17 production workers",
      mutate: (c) => (c.productionWorkerHosts = Array.from({ length: 17 }, () => "local")),
      path: "productionWorkerHosts",
      message: /at most 16/,
    },
    {
      title: "the load balancer on an unknown host",
      mutate: (c) => (c.loadBalancerHost = "edge"),
      path: "loadBalancerHost",
      message: /must name a host defined under hosts \("local"\)/,
      value: "edge",
    },
    {
      title: "the staging worker on an unknown host",
      mutate: (c) => (c.stagingWorkerHost = "nope"),
      path: "stagingWorkerHost",
      message: /must name a host defined under hosts \("local"\)/,
      value: "nope",
    },
    {
      title: "a production worker on an unknown host",
      mutate: (c) => (c.productionWorkerHosts = ["local", "Local"]),
      path: "productionWorkerHosts[1]",
      message: /must name a host defined under hosts/,
      value: "Local",
    },
    {
      title: "a worker on another Docker host without an address",
      mutate: (c) => {
        c.hosts.local.address = "192.168.1.10";
        c.hosts.remote = { kind: "docker", url: "ssh://deploy@remote.lan" };
        c.productionWorkerHosts = ["local", "remote"];
      },
      path: "hosts.remote.address",
      message: /is required: the load balancer on "local" reaches the worker of productionWorkerHosts\[1\]/,
      value: undefined,
    },
    {
      title: "workers on other hosts while the load balancer's host has no address",
      mutate: (c) => {
        c.hosts.remote = { kind: "docker", url: "ssh://deploy@remote.lan", address: "192.168.1.20" };
        c.stagingWorkerHost = "remote";
      },
      path: "hosts.local.address",
      message: /must be an IPv4 address: workers on other hosts accept PROXY protocol only from it/,
    },
    {
      title: "a worker on a router the load balancer is not on",
      mutate: (c) => {
        withRouter(c);
        c.stagingWorkerHost = "r1";
      },
      ctx: { secretKeys: ALL_SECRETS },
      path: "stagingWorkerHost",
      message:
        /must be the load balancer's host "local" to place a worker on router "r1": the load balancer reaches it on the router's container bridge/,
      value: "r1",
    },
    {
      title: "a production worker on a router the load balancer is not on",
      mutate: (c) => {
        withRouter(c);
        c.productionWorkerHosts = ["local", "r1"];
      },
      ctx: { secretKeys: ALL_SECRETS },
      path: "productionWorkerHosts[1]",
      message: /must be the load balancer's host "local" to place a worker on router "r1"/,
      value: "r1",
    },
    {
      title: "a RouterOS /27 with live workers on it (their API sidecars need slots too)",
      mutate: (c) => {
        withRouter(c);
        c.hosts.r1.subnet = "172.20.0.0/27";
        c.loadBalancerHost = "r1";
        c.stagingWorkerHost = "r1";
        c.productionWorkerHosts = ["r1"];
      },
      ctx: { secretKeys: ALL_SECRETS },
      path: "hosts.r1.subnet",
      message:
        /is too small: use a \/26 or larger \(39 addresses are reserved, Data Plane API sidecars included\)/,
      value: "[secret]", // `hosts` is a secret (its router key): every value under it is redacted,
    },
    // Hosts.
    {
      title: "a Docker host reached over plain tcp://",
      mutate: (c) => (c.hosts.local.url = "tcp://1.2.3.4:2375"),
      path: "hosts.local.url",
      message: /must be unix:\/\/\/path\/to\/docker\.sock or ssh:\/\/user@host/,
      value: "tcp://1.2.3.4:2375",
      others: "any",
    },
    {
      title: "two Docker hosts with the same endpoint",
      mutate: (c) => (c.hosts.other = { kind: "docker" }),
      path: "hosts.other.url",
      message: /is the same Docker endpoint as hosts\.local\.url/,
      value: "unix:///var/run/docker.sock",
    },
    {
      title: "an unknown host kind",
      mutate: (c) => (c.hosts.local.kind = "podman"),
      path: "hosts.local.kind",
      message: /must be one of: "docker", "routeros"/,
      value: "podman",
      others: "any",
    },
    ...["0.0.0.0/0", "::/0", "0.0.0.0/1", "8.0.0.0/7", "2000::/3"].map((net): RejectCase => ({
      title: `internalCidrs with ${net} (wider than an IPv4 /8 or an IPv6 /16)`,
      mutate: (c) => (c.internalCidrs = ["192.168.0.0/16", net]),
      path: "internalCidrs[1]",
      message:
        /is wider than an IPv4 \/8 or an IPv6 \/16: clients from a large part of the Internet .*internalCidrsIncludeInternet: true/,
      value: net,
    })),
    ...[
      ["ssh://-Jevil.host", "a host that reads as an ssh option"],
      ["ssh://-oProxyCommand=x@edge.lan", "a user that reads as an ssh option"],
      ["ssh://deploy@edge.lan:99999", "an SSH port out of range"],
      ["ssh://deploy@edge.lan:0", "SSH port 0"],
    ].map(([url, what]): RejectCase => ({
      title: `a Docker URL with ${what}`,
      mutate: (c) => (c.hosts.remote = { kind: "docker", url, address: "192.168.1.20" }),
      path: "hosts.remote.url",
      message:
        /must be unix:\/\/\/path\/to\/docker\.sock or ssh:\/\/user@host\[:port\]|SSH port out of range/,
      value: url,
    })),
    ...[
      [["-oProxyCommand=nc evil 22"], 0, /one ssh argument without spaces/],
      [["-oProxyCommand=/tmp/x"], 0, /ssh option ProxyCommand is not allowed/],
      [["-o", "LocalCommand=/tmp/x"], 1, /ssh option LocalCommand is not allowed \(only connection settings/],
      [["-o", "PermitLocalCommand=yes"], 1, /ssh option PermitLocalCommand is not allowed/],
      [["-oKnownHostsCommand=/tmp/x"], 0, /ssh option KnownHostsCommand is not allowed/],
      [["-o", "ProxyJump=jump.lan"], 1, /ssh option ProxyJump is not allowed/],
      [["-o", "proxycommand=/tmp/x"], 1, /ssh option proxycommand is not allowed/],
      [["-F", "/tmp/evil_config"], 0, /ssh option -F is not allowed/],
      [["-J", "jump.lan"], 0, /ssh option -J is not allowed/],
      [["-L", "8080:127.0.0.1:80"], 0, /ssh option -L is not allowed/],
      [["StrictHostKeyChecking=yes"], 0, /must be an ssh option such as -o/],
      [["-o"], 0, /-o needs a value after it/],
      [["-o", "-v"], 1, /-o takes Key=Value/],
      [["-p", "70000"], 1, /Port must be a port number/],
      [["-i", "-oProxyCommand=x"], 1, /IdentityFile needs a value that does not start with '-'/],
    ].map(([opts, index, message]): RejectCase => ({
      title: `sshOpts ${JSON.stringify(opts)}`,
      mutate: (c) =>
        (c.hosts.remote = {
          kind: "docker",
          url: "ssh://deploy@edge.lan",
          address: "192.168.1.20",
          sshOpts: opts,
        }),
      path: `hosts.remote.sshOpts[${String(index)}]`,
      message: message as RegExp,
    })),
    {
      title: "an invalid host key",
      mutate: (c) => (c.hosts.Edge_1 = { kind: "docker", url: "ssh://deploy@edge.lan" }),
      path: "hosts.Edge_1",
      message: /host names must be 1 to 30 characters/,
      value: "Edge_1",
    },
    {
      title: "a RouterOS bridge name of 15 characters",
      mutate: (c) => {
        withRouter(c);
        c.hosts.r1.bridge = "bridge-edge-lan"; // 15
      },
      ctx: { secretKeys: ALL_SECRETS },
      path: "hosts.r1.bridge",
      message: /must be 14 characters or fewer \(RouterOS 7\.20\+ limit\)/,
      value: "[secret]", // `hosts` is a secret (its router key): every value under it is redacted,
    },
    {
      title: "a RouterOS veth prefix that makes <prefix>certbot longer than 14",
      mutate: (c) => {
        withRouter(c);
        c.hosts.r1.vethPrefix = "edgelab-"; // "edgelab-certbot" has 15 characters
      },
      ctx: { secretKeys: ALL_SECRETS },
      path: "hosts.r1.vethPrefix",
      // The prefix is a value under the secret `hosts`: cut out of the message too.
      message: /makes veth names such as "\[secret\]certbot" longer than 14 characters/,
      value: "[secret]", // `hosts` is a secret (its router key): every value under it is redacted,
    },
    {
      title: "a RouterOS host without privateKey",
      mutate: (c) => {
        withRouter(c);
        delete c.hosts.r1.privateKey;
      },
      path: "hosts.r1.privateKey",
      message: /is required for a RouterOS host \(set it with --secret\)/,
      value: undefined,
    },
    {
      title: "a RouterOS privateKey that is not a secret",
      mutate: withRouter,
      ctx: { secretKeys: new Set(["acmeTsigSecret"]) },
      path: "hosts.r1.privateKey",
      message: /must be stored as a secret: pulumi config set --secret --path 'hosts\.r1\.privateKey'/,
      value: undefined,
    },
    {
      title: "a RouterOS version before 7.16",
      mutate: (c) => {
        withRouter(c);
        c.hosts.r1.version = "7.15";
      },
      ctx: { secretKeys: ALL_SECRETS },
      path: "hosts.r1.version",
      message: /must be 7\.16 or later/,
      value: "[secret]", // `hosts` is a secret (its router key): every value under it is redacted,
    },
    {
      title: "a RouterOS subnet too small for the services placed on it",
      mutate: (c) => {
        withRouter(c);
        c.hosts.r1.subnet = "172.20.0.0/28";
        c.loadBalancerHost = "r1";
        c.hosts.local.address = "192.168.88.20";
        c.hosts.r1.address = "192.168.88.1";
      },
      ctx: { secretKeys: ALL_SECRETS },
      path: "hosts.r1.subnet",
      message: /is too small: use a \/27 or larger/,
      value: "[secret]", // `hosts` is a secret (its router key): every value under it is redacted,
    },
    // ACME.
    { title: "acme without acmeEmail", ...acmeWithout("acmeEmail") },
    { title: "acme without acmeDnsServer", ...acmeWithout("acmeDnsServer") },
    { title: "acme without acmeTsigKeyName", ...acmeWithout("acmeTsigKeyName") },
    { title: "acme without acmeTsigSecret", ...acmeWithout("acmeTsigSecret") },
    {
      title: "an acmeTsigSecret that is not a secret",
      mutate: withAcme,
      ctx: { secretKeys: new Set() },
      path: "acmeTsigSecret",
      message: /must be stored as a secret: pulumi config set --secret acmeTsigSecret/,
      value: undefined,
    },
    {
      title: "an acmeTsigSecret that is not base64 (value redacted)",
      mutate: (c) => {
        withAcme(c);
        c.acmeTsigSecret = "not base64 !!";
      },
      ctx: { secretKeys: ALL_SECRETS },
      path: "acmeTsigSecret",
      message: /must be a base64 TSIG secret/,
      value: "[secret]",
    },
    {
      title: "certbot on another host than the load balancer",
      mutate: (c) => {
        withAcme(c);
        c.hosts.local.address = "192.168.1.10";
        c.hosts.other = { kind: "docker", url: "ssh://deploy@other.lan", address: "192.168.1.11" };
        c.certbotHost = "other";
      },
      ctx: { secretKeys: ALL_SECRETS },
      path: "certbotHost",
      message: /must be the load balancer's host "local"/,
      value: "other",
    },
    {
      title: "an unknown TSIG algorithm",
      mutate: (c) => (c.acmeTsigAlgorithm = "hmac-sha999"),
      path: "acmeTsigAlgorithm",
      message: /HMAC-SHA512/,
      value: "hmac-sha999",
    },
    {
      title: "an unknown tlsMode",
      mutate: (c) => (c.tlsMode = "letsencrypt"),
      path: "tlsMode",
      message: /selfsigned/,
      value: "letsencrypt",
    },
    {
      title: "an http:// ACME server",
      mutate: (c) => (c.acmeServer = "http://acme.lan/directory"),
      path: "acmeServer",
      message: /must be an https:\/\/ ACME directory URL/,
      value: "http://acme.lan/directory",
    },
    // Unknown keys.
    {
      title: "an unknown top-level key near none",
      mutate: (c) => (c.colour = "blue"),
      path: "colour",
      message: /^unknown key \(check the spelling; see docs\/configuration\.md\)$/,
      value: "blue",
    },
    {
      // The key it means is set too: it is named all the same (Pulumi.yaml's defaults set every declared key).
      title: "a top-level key in the wrong letter case, the key it means set",
      mutate: (c) => (c.tlsmode = "acme"),
      path: "tlsmode",
      message: /^unknown key: did you mean tlsMode\?$/,
      value: "acme",
    },
    {
      title: "a misspelled key in a host, the key it means set",
      mutate: (c) => (c.hosts.local.urll = "unix:///run/docker.sock"),
      path: "hosts.local.urll",
      message: /^unknown key: did you mean url\?$/,
      value: "unix:///run/docker.sock",
    },
    {
      title: "an unknown key in a route",
      mutate: (c) => {
        c.routes[0].server = c.routes[0].servers;
        delete c.routes[0].servers;
      },
      path: "routes[0].server",
      // One problem, one issue: the typo names the key it meant, whose own "is required" is dropped.
      message: /^unknown key: did you mean servers\? \(servers is required\)$/,
      value: ["10.0.0.10:8080", "backend.lan:8080"],
    },
    {
      title: "a misspelled required top-level key",
      mutate: (c) => {
        c.domain = c.domains;
        delete (c as Partial<Cfg>).domains;
      },
      path: "domain",
      message: /^unknown key: did you mean domains\? \(domains is required\)$/,
    },
    {
      title: "a misspelled optional key",
      mutate: (c) => (c.publishAdress = "127.0.0.1"),
      path: "publishAdress",
      message: /^unknown key: did you mean publishAddress\?$/,
      value: "127.0.0.1",
    },
    {
      title: "a misspelled RouterOS host key (its kind's keys)",
      mutate: (c) => {
        withRouter(c);
        c.hosts.r1.vethPrefx = "edge-";
      },
      path: "hosts.r1.vethPrefx",
      message: /^unknown key: did you mean vethPrefix\?$/,
    },
    {
      title: "an unknown key near none",
      mutate: (c) => (c.routes[0].weight = 3),
      path: "routes[0].weight",
      message: /^unknown key \(check the spelling/,
    },
    {
      title: "a host without kind",
      mutate: (c) => delete c.hosts.local.kind,
      path: "hosts.local.kind",
      message: /^is required: one of "docker", "routeros"$/,
    },
    {
      title: "a misspelled host kind named by every placement: one issue, not one per placement",
      mutate: (c) => {
        c.hosts.local.kind = "dokcer";
        c.stagingWorkerHost = "local";
        c.productionWorkerHosts = ["local"];
        c.loadBalancerHost = "local";
      },
      path: "hosts.local.kind",
      message: /^must be one of: "docker", "routeros"$/,
      value: "dokcer",
    },
    {
      title: "a misspelled tlsMode with the ACME keys set: one issue, none on the ACME keys",
      mutate: (c) => {
        c.tlsMode = "acm";
        c.acmeEmail = "ops@example.com";
        c.acmeServer = "https://acme.example/directory";
      },
      path: "tlsMode",
      message: /^must be one of: "selfsigned", "acme"$/,
      value: "acm",
    },
    {
      title: "an invalid domain: one issue, none on the route hosts it would have covered",
      mutate: (c) => (c.domains[0] = "exa mple.com"),
      path: "domains[0]",
      message: /must be a domain name/,
      value: "exa mple.com",
    },
    // Durations, images, names, addresses.
    {
      title: "a duration with a space",
      mutate: (c) => (c.timeoutConnect = "5 s"),
      path: "timeoutConnect",
      message: /must be an HAProxy time/,
      value: "5 s",
    },
    {
      title: "an ACME domain redundant with a wildcard of the same order",
      mutate: (c) => {
        withAcme(c);
        c.domains = ["example.com", "*.example.com", "www.example.com", "*.staging.example.com"];
      },
      ctx: { secretKeys: ALL_SECRETS },
      path: "domains[2]",
      message: /is covered by \*\.example\.com: an ACME CA refuses a name redundant with a wildcard/,
      value: "www.example.com",
    },
    ...[
      ["c2VjcmV0", "a TSIG secret of 6 bytes"],
      ["c2VjcmV0LXRzaWctYWJjZGVmZ2hpams", "a TSIG secret without its padding"],
      [Buffer.alloc(600, 7).toString("base64"), "a TSIG secret of 600 bytes"],
    ].map(([secret, what]): RejectCase => ({
      title: what,
      ...acmeWith("acmeTsigSecret", secret),
      path: "acmeTsigSecret",
      message: /must be the base64 secret of a TSIG key, 16 to 512 bytes/,
      value: "[secret]",
    })),
    {
      title: "an ACME CA bundle whose certificate does not parse",
      ...acmeWith(
        "acmeCaBundle",
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
      ),
      path: "acmeCaBundle",
      message: /must be PEM certificates that parse/,
    },
    {
      title: "an ACME server URL with a port out of range",
      ...acmeWith("acmeServer", "https://acme.lan:70000/directory"),
      path: "acmeServer",
      message: /has a port out of range \(1 to 65535\)/,
      value: "https://acme.lan:70000/directory",
    },
    {
      title: "a registry URL with a port out of range",
      ...routerWith("registryUrl", "https://registry.lan:0"),
      path: "hosts.r1.registryUrl",
      message: /has a port out of range \(1 to 65535\)/,
      value: "[secret]", // under the secret `hosts`
    },
    ...(
      [
        [
          "a 100 kB health-check path",
          (c: Cfg) => (c.routes[0].healthCheckPath = `/${"h".repeat(100_000)}`),
          "routes[0].healthCheckPath",
          "1,024",
        ],
        [
          "a 2 kB path prefix",
          (c: Cfg) => (c.routes[1].pathPrefix = `/${"p".repeat(2000)}`),
          "routes[1].pathPrefix",
          "1,024",
        ],
        [
          "a 300-character image",
          (c: Cfg) => (c.haproxyImage = `reg.lan/${"i".repeat(300)}:1`),
          "haproxyImage",
          "255",
        ],
        [
          "a 3 kB ACME server URL",
          (c: Cfg) => (c.acmeServer = `https://acme.lan/${"d".repeat(3000)}`),
          "acmeServer",
          "2,048",
        ],
      ] as const
    ).map(([title, mutate, path, n]): RejectCase => ({
      title,
      mutate,
      path,
      message: new RegExp(`must be at most ${n} characters`),
    })),
    {
      title: "a Docker host's edge subnet containing its own LAN address",
      mutate: (c) => {
        c.hosts.local.address = "172.29.80.7";
      },
      path: "hosts.local.subnet",
      message:
        /contains the host's own address 172\.29\.80\.7 \(hosts\.local\.address\): pick a subnet apart/,
      value: "172.29.80.0/24",
    },
    {
      title: "a router's container subnet containing its own address",
      ...routerWith("address", "172.20.0.9"),
      path: "hosts.r1.subnet",
      message: /contains the host's own address \[secret\] \(hosts\.r1\.address\)/,
      value: "[secret]",
    },
    {
      title: "more connections than HAProxy gets file descriptors for",
      mutate: (c) => ((c as unknown as Record<string, unknown>).maxConnections = 600_000),
      path: "maxConnections",
      message: /must be at most 500000: HAProxy needs two file descriptors per connection/,
      value: 600_000,
    },
    {
      title: "a container memory limit too small for HAProxy",
      mutate: (c) => ((c as unknown as Record<string, unknown>).containerMemoryMb = 16),
      path: "containerMemoryMb",
      message: /must be a whole number from 32 to 1048576/,
      value: 16,
    },
    {
      title: "a container memory limit in another unit",
      mutate: (c) => ((c as unknown as Record<string, unknown>).containerMemoryMb = 0.5),
      path: "containerMemoryMb",
      message: /must be a whole number from 32 to 1048576/,
      value: 0.5,
    },
    {
      title: "a pids limit too small for HAProxy's threads",
      mutate: (c) => ((c as unknown as Record<string, unknown>).containerPidsLimit = 8),
      path: "containerPidsLimit",
      message: /must be a whole number from 32 to 4194304/,
      value: 8,
    },
    {
      title: "a server listed twice in one route",
      mutate: (c) => (c.routes[0].servers = ["10.0.0.10:8080", "backend.lan:8080", "10.0.0.10:8080"]),
      path: "routes[0].servers[2]",
      message: /is listed twice in this route/,
      value: "10.0.0.10:8080",
    },
    {
      title: "staging host names the certificate does not cover",
      mutate: (c) => (c.domains = ["example.com", "*.example.com"]),
      path: "stagingHostPattern",
      message:
        /makes staging host names the certificate does not cover \(app\.staging\.example\.com, api\.staging\.example\.com\): add \*\.staging\.example\.com to domains/,
      value: "*.staging.example.com",
    },
    ...["25d", "597h", "35792m", "2147484s"].map((t): RejectCase => ({
      title: `a duration past HAProxy's timers (${t})`,
      mutate: (c) => (c.timeoutServer = t),
      path: "timeoutServer",
      message: /is longer than HAProxy's timers can hold: at most 24d \(2147483647ms\)/,
      value: t,
    })),
    {
      title: "a zero duration",
      mutate: (c) => (c.timeoutClient = "0s"),
      path: "timeoutClient",
      message: /must be an HAProxy time/,
      value: "0s",
    },
    {
      title: "a duration with a long unit",
      mutate: (c) => (c.timeoutHttpRequest = "5sec"),
      path: "timeoutHttpRequest",
      message: /must be an HAProxy time/,
      value: "5sec",
    },
    {
      title: "an upper-case image name",
      mutate: (c) => (c.haproxyImage = "Haproxy:3.0"),
      path: "haproxyImage",
      message: /must be a Docker image reference/,
      value: "Haproxy:3.0",
    },
    {
      title: "an image reference with a shell command",
      mutate: (c) => (c.certbotImage = "haproxy:3.0 ; rm -rf /"),
      path: "certbotImage",
      message: /must be a Docker image reference/,
      value: "haproxy:3.0 ; rm -rf /",
    },
    {
      title: "a host name as publishAddress",
      mutate: (c) => (c.publishAddress = "localhost"),
      path: "publishAddress",
      message: /must be an IPv4 address/,
      value: "localhost",
    },
    {
      title: "a staging pattern that is not a wildcard",
      mutate: (c) => (c.stagingHostPattern = "staging.example.com"),
      path: "stagingHostPattern",
      message: /must be a wildcard host name/,
      value: "staging.example.com",
    },
    {
      title: "a stack name with a space",
      mutate: () => undefined,
      ctx: { stack: "my stack" },
      path: "(stack name)",
      message: /must be 1 to 40 letters, digits/,
      value: "my stack",
    },
    {
      title: "demoBackends with no route server in a Docker host's subnet",
      mutate: (c) => {
        c.demoBackends = true;
      },
      path: "demoBackends",
      message: /no route server is an address in a Docker host's subnet/,
    },
    {
      title: "demoBackends with a route server at the Docker network's gateway",
      mutate: (c) => {
        c.demoBackends = true;
        c.routes[0].servers = ["172.29.80.1:8080"];
      },
      path: "routes[0].servers[0]",
      message: /is the network, gateway or load balancer address of hosts\.local\.subnet/,
      value: "172.29.80.1:8080",
    },
    {
      title: "demoBackends with a route server at the load balancer's fixed address",
      mutate: (c) => {
        c.demoBackends = true;
        c.routes[0].servers = ["172.29.80.2:8080"];
      },
      path: "routes[0].servers[0]",
      message: /is the network, gateway or load balancer address of hosts\.local\.subnet/,
      value: "172.29.80.2:8080",
    },
    {
      title: "demoBackends with a route server at the Docker network's broadcast address",
      mutate: (c) => {
        c.demoBackends = true;
        c.routes[1].servers = ["172.29.80.100:8080", "172.29.80.255:8080"];
      },
      path: "routes[1].servers[1]",
      message:
        /is in the upper half of hosts\.local\.subnet, .* lower half \(172\.29\.80\.3 to 172\.29\.80\.127\)/,
      value: "172.29.80.255:8080",
    },
    {
      title: "demoBackends with a route server in Docker's dynamic range (the subnet's upper half)",
      mutate: (c) => {
        c.demoBackends = true;
        c.routes[1].servers = ["172.29.80.128:8080"];
      },
      path: "routes[1].servers[0]",
      message: /is in the upper half of hosts\.local\.subnet/,
      value: "172.29.80.128:8080",
    },
    {
      title: "a Docker edge subnet smaller than a /27",
      mutate: (c) => {
        c.hosts.local.subnet = "172.29.80.0/28";
      },
      path: "hosts.local.subnet",
      message: /is too small: use a \/27 or larger \(the lower half holds fixed addresses/,
      value: "172.29.80.0/28",
    },
  ];

  describe("rejects", () => {
    it(`has at least 40 cases (${cases.length})`, () => assert.ok(cases.length >= 40));
    for (const t of cases) {
      it(`${t.title} → ${t.path}`, () => {
        const c = baseline();
        t.mutate(c);
        const issues = issuesOf(c, t.ctx);
        const listing = formatIssues(issues);
        const hit = issues.find((i) => i.path === t.path && t.message.test(i.message));
        assert.ok(hit, `no issue at ${t.path} matching ${t.message}; got:\n${listing}`);
        if ("value" in t) {
          if (t.value === undefined)
            assert.ok(!("value" in hit), `expected no value, got ${JSON.stringify(hit.value)}`);
          else assert.deepEqual(hit.value, t.value);
        }
        if (t.others !== "any") {
          const rest = issues.filter((i) => i !== hit).map((i) => i.path);
          assert.deepEqual(rest.sort(), [...(t.others ?? [])].sort(), `unexpected other issues:\n${listing}`);
        }
      });
    }
  });

  it("reports all errors together", () => {
    const c = baseline();
    c.routes[0].name = "my app";
    c.routes[1].servers = ["10.0.0.20"];
    c.httpPort = 0;
    c.timeoutConnect = "5 s";
    c.tlsmode = "acme";
    c.blocklistCidrs = ["10.0.0.1/8"];
    c.productionWorkerHosts = ["local", "nope"];
    c.haproxyImage = "Haproxy:3.0";
    const issues = issuesOf(c, { stack: "my stack" });
    const paths = issues.map((i) => i.path);
    for (const p of [
      "(stack name)",
      "routes[0].name",
      "routes[1].servers[0]",
      "httpPort",
      "timeoutConnect",
      "tlsmode",
      "blocklistCidrs[0]",
      "productionWorkerHosts[1]",
      "haproxyImage",
    ]) {
      assert.ok(paths.includes(p), `missing ${p} in ${JSON.stringify(paths)}`);
    }
    assert.equal(issues.length, 9);
    assert.throws(
      () => loadModel(c, { ...CTX, stack: "my stack" }),
      (e: unknown) => e instanceof ConfigError && e.issues.length === 9 && /\(9 problems\)/.test(e.message),
    );
  });

  /*
   * Bugs found while writing these tests (see the report to the config owner). These tests state the intended
   * behaviour and fail until config/parse.ts is fixed.
   */
  describe("misspelled top-level keys, Pulumi.yaml's defaults present as the engine passes them", () => {
    /** The baseline as the program gets it from the engine: every declared default, the stack's values on top. */
    const withDefaults = (): Cfg => ({
      ...(decodeRawConfig(stripNamespace(projectDefaults())) as Partial<Cfg>),
      ...baseline(),
    });

    it("has a default for the keys the hints are tested on", () => {
      const defaults = decodeRawConfig(stripNamespace(projectDefaults()));
      for (const key of ["rateLimitRequests", "httpPort", "tlsMode", "productionWorkerHosts"])
        assert.ok(key in defaults, `${key} has no default in Pulumi.yaml`);
      parseOk(withDefaults());
    });

    it("names the key a misspelled one means though that key is present (rateLimitRequest → rateLimitRequests)", () => {
      const c = withDefaults();
      c.rateLimitRequest = 50;
      assert.deepEqual(issuesOf(c), [
        { path: "rateLimitRequest", message: "unknown key: did you mean rateLimitRequests?", value: 50 },
      ]);
    });

    it("names the meant key for a letter dropped, two letters swapped or the wrong case, of every key", () => {
      const keys = Object.keys(topLevel);
      const wrong: string[] = [];
      for (const key of keys) {
        const mid = Math.floor(key.length / 2);
        const typos = [
          key.slice(0, -1),
          key.slice(0, mid - 1) + key[mid] + key[mid - 1] + key.slice(mid + 1),
          key.toLowerCase(),
        ].filter((t) => !keys.includes(t));
        for (const typo of typos) {
          const c = withDefaults();
          c[typo] = c[key] ?? "x";
          const hints = issuesOf(c)
            .filter((i) => i.path === typo)
            .map((i) => i.message);
          if (hints.join() !== `unknown key: did you mean ${key}?`)
            wrong.push(`${typo}: ${hints.join(" | ")}`);
        }
      }
      assert.deepEqual(wrong, []);
    });

    it("prints no value of a misspelled secret key, and still names the key it means", () => {
      const secret = "c2VjcmV0LW1pc3NwZWxsZWQ=";
      const c = withDefaults();
      withAcme(c);
      c.acmeTsigSecert = secret;
      const issues = issuesOf(c, { secretKeys: new Set(["acmeTsigSecret", "acmeTsigSecert"]) });
      assert.deepEqual(issues, [
        { path: "acmeTsigSecert", message: "unknown key: did you mean acmeTsigSecret?", value: "[secret]" },
      ]);
      assert.ok(!new ConfigError(issues).message.includes(secret));
    });
  });

  describe("bugs in config/parse.ts", () => {
    it("cross-route issues name the route's own index when an earlier route is invalid", () => {
      const c = baseline();
      c.routes.push({ name: "bad name", hosts: ["x.example.com"], servers: ["10.0.0.1:80"] });
      c.routes.push({ name: "app", hosts: ["y.example.org"], servers: ["10.0.0.1:80"] });
      const paths = issuesOf(c).map((i) => i.path);
      assert.deepEqual(paths.sort(), ["routes[2].name", "routes[3].hosts[0]", "routes[3].name"]);
    });

    it("a missing required top-level key says 'is required'", () => {
      const c = baseline();
      delete (c as Partial<Cfg>).domains;
      assert.deepEqual(issuesOf(c), [{ path: "domains", message: "is required" }]);
    });

    it("rejects unknown top-level keys named like Object.prototype members", () => {
      const c = baseline();
      Object.assign(c, JSON.parse('{"constructor":"x","toString":"y"}'));
      assert.deepEqual(
        issuesOf(c).map((i) => i.path),
        ["constructor", "toString"],
      );
    });

    it("a placement on a host named like an Object.prototype member is an unknown host, not a crash", () => {
      for (const key of ["loadBalancerHost", "stagingWorkerHost"] as const) {
        const c = baseline();
        c[key] = "constructor";
        const res = parse(c);
        assert.equal(res.ok, false, `${key}: "constructor" was accepted`);
        if (!res.ok) assert.ok(res.issues.some((i) => i.path === key && /must name a host/.test(i.message)));
        assert.throws(() => loadModel(c, CTX), ConfigError);
      }
      const c = baseline();
      c.productionWorkerHosts = ["local", "valueOf"];
      assert.throws(() => loadModel(c, CTX), ConfigError);
    });

    it("never prints the value of a misspelled secret key", () => {
      const secret = "c2VjcmV0LW1pc3NwZWxsZWQ=";
      const c = baseline();
      c.acmeTsigSecert = secret; // pulumi config set --secret acmeTsigSecert ...
      withRouter(c);
      c.hosts.r1.privatekey =
        "-----BEGIN OPENSSH PRIVATE KEY-----\nbGVha2VkLWtleQ==\n-----END OPENSSH PRIVATE KEY-----";
      const message = new ConfigError(issuesOf(c, { secretKeys: new Set(["hosts", "acmeTsigSecert"]) }))
        .message;
      assert.match(message, /acmeTsigSecert: unknown key/);
      assert.match(message, /hosts\.r1\.privatekey: unknown key/);
      assert.ok(!message.includes(secret), message);
      assert.ok(!message.includes("bGVha2VkLWtleQ=="), message);
    });
  });

  describe("secret redaction", () => {
    const badSecret = "not base64 !!";
    const keyBody = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ";
    const badKey = [`-----BEGIN OPENSSH PRIVATE KEY-----\n${keyBody}\n-----END OPENSSH PRIVATE KEY-----`];

    function invalidSecrets(): Cfg {
      const c = baseline();
      withAcme(c);
      c.acmeTsigSecret = badSecret;
      withRouter(c);
      c.hosts.r1.privateKey = badKey; // a list instead of a string: invalid, and must not be printed
      return c;
    }

    it("never prints an invalid acmeTsigSecret or privateKey", () => {
      const issues = issuesOf(invalidSecrets(), { secretKeys: ALL_SECRETS });
      const tsig = issues.find((i) => i.path === "acmeTsigSecret");
      const key = issues.find((i) => i.path === "hosts.r1.privateKey");
      assert.equal(tsig?.value, "[secret]");
      assert.equal(key?.value, "[secret]");
      const message = new ConfigError(issues).message;
      assert.ok(!message.includes(badSecret), message);
      assert.ok(!message.includes("not base64"), message);
      assert.ok(!message.includes(keyBody), message);
      assert.ok(!message.includes("PRIVATE KEY"), message);
      assert.match(message, /acmeTsigSecret: must be a base64 TSIG secret \(got "\[secret\]"\)/);
      assert.match(message, /hosts\.r1\.privateKey: .* \(got "\[secret\]"\)/);
    });

    it("loadModel's ConfigError does not print them either", () => {
      try {
        loadModel(invalidSecrets(), { ...CTX, secretKeys: ALL_SECRETS });
        assert.fail("loadModel accepted invalid secrets");
      } catch (e) {
        assert.ok(e instanceof ConfigError);
        assert.ok(!e.message.includes(badSecret) && !e.message.includes(keyBody), e.message);
        assert.ok(e.message.includes("[secret]"));
      }
    });

    it("redacts by secret-ness: a key stored as a secret under any name, and every value under a secret key", () => {
      const c = baseline();
      withAcme(c);
      const keyName = "bad key name/with slash";
      c.acmeTsigKeyName = keyName; // invalid, and stored with --secret
      withRouter(c);
      const hostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI-not-a-key";
      c.hosts.r1.hostKey = hostKey; // invalid; `hosts` is a secret (its router key)
      const issues = issuesOf(c, { secretKeys: new Set([...ALL_SECRETS, "acmeTsigKeyName"]) });
      assert.equal(issues.find((i) => i.path === "acmeTsigKeyName")?.value, "[secret]");
      assert.equal(issues.find((i) => i.path === "hosts.r1.hostKey")?.value, "[secret]");
      const message = new ConfigError(issues).message;
      for (const secret of [keyName, hostKey, "AAAAC3NzaC1lZDI1NTE5"])
        assert.ok(!message.includes(secret), message);
    });

    it("prints nothing but the redacted, shortened message when Pulumi inspects the error", () => {
      const c = baseline();
      withAcme(c);
      const long = `${"A".repeat(11_000)}!`; // not base64, 11,001 characters
      c.acmeTsigSecret = long;
      c.httpPort = 0;
      c.routes[0].healthCheckPath = `/${"x".repeat(11_000)}`; // too long, not secret
      const e = (() => {
        try {
          loadModel(c, { ...CTX, secretKeys: ALL_SECRETS });
        } catch (err) {
          return err as ConfigError;
        }
        return assert.fail("loadModel accepted it");
      })();
      const shown = inspect(e, { depth: 10 });
      assert.ok(!shown.includes("AAAAAAAA"), shown.slice(0, 400));
      assert.ok(!shown.includes("x".repeat(200)), "a long value is shown shortened only");
      assert.ok(shown.length < 2000, `${shown.length} characters`);
      assert.match(shown, /httpPort: must be a whole number from 1 to 65535 \(got 0\)/);
      assert.equal(e.issues.length, 3, "the issues are still there for the program");
      assert.ok(!Object.keys(e).includes("issues"), "not enumerable");
    });

    it("does not print a valid secret when other keys are wrong", () => {
      const c = baseline();
      withAcme(c);
      withRouter(c);
      c.httpPort = 0;
      const message = new ConfigError(issuesOf(c)).message; // no secretKeys: both secrets are reported
      assert.match(message, /acmeTsigSecret: must be stored as a secret/);
      assert.match(message, /hosts\.r1\.privateKey: must be stored as a secret/);
      assert.ok(!message.includes(TSIG_SECRET) && !message.includes("c2VjcmV0LXJvdXRlci1rZXk"), message);
    });
  });

  describe("ConfigError", () => {
    it("lists each path, its message and the value it got", () => {
      const e = new ConfigError([
        { path: "routes[1].servers[0]", message: "must be host:port", value: "10.0.0.1" },
        { path: "httpPort", message: "must be a whole number from 1 to 65535", value: 0 },
        { path: "acmeEmail", message: 'is required when tlsMode is "acme"' },
        { path: "blocklistCidrs", message: "bad", value: ["a", 1] },
      ]);
      assert.equal(e.name, "ConfigError");
      assert.ok(e instanceof Error);
      assert.equal(e.issues.length, 4);
      assert.equal(
        e.message,
        [
          "Invalid stack configuration (4 problems); nothing was deployed:",
          '  - routes[1].servers[0]: must be host:port (got "10.0.0.1")',
          "  - httpPort: must be a whole number from 1 to 65535 (got 0)",
          '  - acmeEmail: is required when tlsMode is "acme"',
          '  - blocklistCidrs: bad (got ["a",1])',
        ].join("\n"),
      );
    });

    it("says problem for one issue and shortens long values", () => {
      const e = new ConfigError([{ path: "domains", message: "bad", value: "x".repeat(500) }]);
      assert.match(e.message, /^Invalid stack configuration \(1 problem\);/);
      assert.ok(e.message.length < 250, e.message);
      assert.match(e.message, /\(got "x+\.\.\.\)$/);
    });

    it("is what loadModel throws, with the parse issues", () => {
      const c = baseline();
      c.routes[1].servers = ["10.0.0.20:0"];
      try {
        loadModel(c, CTX);
        assert.fail("loadModel accepted an invalid config");
      } catch (e) {
        assert.ok(e instanceof ConfigError);
        assert.deepEqual(e.issues, [
          {
            path: "routes[1].servers[0]",
            message: "must be host:port with a host name or IPv4 address and a port from 1 to 65535",
            value: "10.0.0.20:0",
          },
        ]);
        assert.match(
          e.message,
          /^ {2}- routes\[1\]\.servers\[0\]: must be host:port .* \(got "10\.0\.0\.20:0"\)$/m,
        );
      }
    });
  });

  describe("decodeRawConfig", () => {
    it("keeps string keys as strings, even when they look like numbers or JSON", () => {
      const values = decodeRawConfig({
        acmeEmail: "123",
        acmeTsigKeyName: "true",
        loadBalancerHost: "null",
        stagingWorkerHost: '{"a":1}',
        timeoutConnect: "[1]",
        tlsMode: '"acme"',
      });
      assert.deepEqual(values, {
        acmeEmail: "123",
        acmeTsigKeyName: "true",
        loadBalancerHost: "null",
        stagingWorkerHost: '{"a":1}',
        timeoutConnect: "[1]",
        tlsMode: '"acme"',
      });
    });

    it("parses numbers, booleans, arrays and objects from JSON", () => {
      const values = decodeRawConfig({
        httpPort: "8080",
        domains: '["example.com","*.example.com"]',
        hosts: '{"local":{"kind":"docker"}}',
        routes: '[{"name":"app","internalOnly":true}]',
      });
      assert.deepEqual(values, {
        httpPort: 8080,
        domains: ["example.com", "*.example.com"],
        hosts: { local: { kind: "docker" } },
        routes: [{ name: "app", internalOnly: true }],
      });
    });

    it("decodes a whole stack that then parses", () => {
      const values = decodeRawConfig({
        domains: '["example.com","*.example.com","*.staging.example.com"]',
        httpPort: "8080",
        httpsPort: "8443",
        publishAddress: "127.0.0.1",
        routes: '[{"name":"app","hosts":["app.example.com"],"servers":["10.0.0.1:80"]}]',
      });
      const c = parseOk(values as Cfg);
      assert.equal(c.httpsPort, 8443);
      assert.equal(c.routes[0].servers[0], "10.0.0.1:80");
    });

    it("leaves a non-JSON value of an integer key for the schema to report at that key", () => {
      const values = decodeRawConfig({
        domains: '["example.com"]',
        httpsPort: "eighty",
        maxConnections: "1k",
      });
      assert.equal(values.httpsPort, "eighty");
      const res = parseStackConfig(values, CTX);
      assert.equal(res.ok, false);
      if (!res.ok) {
        assert.deepEqual(
          res.issues.map((i) => [i.path, i.value]),
          [
            ["httpsPort", "eighty"],
            ["maxConnections", "1k"],
          ],
        );
        assert.match(res.issues[0].message, PORT_MESSAGE);
      }
    });
  });

  describe("addressInSubnet", () => {
    it("counts from the network address", () => {
      assert.equal(addressInSubnet("172.20.0.0/24", 1), "172.20.0.1");
      assert.equal(addressInSubnet("172.20.0.0/24", 20), "172.20.0.20");
      assert.equal(addressInSubnet("10.0.0.0/8", 256), "10.0.1.0");
    });
  });

  describe("message wording", () => {
    it("never uses zod's default wording, for any key of any level given a value of a wrong kind", () => {
      const wrong: unknown[] = [
        42,
        -1,
        1e12,
        1.5,
        true,
        "",
        "x".repeat(3000),
        [],
        [1],
        {},
        { a: 1 },
        null,
        "-x",
        "ünï",
      ];
      const zodWording = /Invalid|expected|Too (big|small)|Unrecognized|received/;
      const found: string[] = [];
      const sweep = (what: string, set: (c: Cfg, v: unknown) => void) => {
        for (const v of wrong) {
          const c = baseline();
          withRouter(c);
          set(c, v);
          for (const i of issuesOf(c))
            if (zodWording.test(i.message))
              found.push(`${what} = ${JSON.stringify(v)}: ${i.path}: ${i.message}`);
        }
      };
      for (const k of Object.keys(topLevel)) sweep(k, (c, v) => (c[k] = v));
      for (const k of Object.keys(routeSchema.shape)) sweep(`routes[0].${k}`, (c, v) => (c.routes[0][k] = v));
      for (const o of hostSchema.options)
        for (const k of Object.keys(o.shape))
          sweep(`${o.shape.kind.value} host ${k}`, (c, v) => {
            c.hosts[o.shape.kind.value === "docker" ? "local" : "r1"][k] = v;
          });
      assert.deepEqual(found, []);
    });
  });
});
