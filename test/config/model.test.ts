/**
 * Tests of config/model.ts: the committed example stacks (Pulumi.dev.yaml, Pulumi.prod.yaml) go through the
 * same decode → parse → model path as index.ts, and the model has the addresses, names and ports the
 * components rely on.
 */
import { strict as assert } from "node:assert";
import {
  PATHS,
  buildModel,
  certificateName,
  dockerNetwork,
  loadModel,
  type EdgeModel,
} from "../../config/model";
import { decodeRawConfig, parseStackConfig } from "../../config/parse";
import { workerRoutesPlan } from "../../config/routes";
import { TEST_SECRETS, loadStackFile, stripNamespace } from "../support/stack-config";

function stackModel(name: "dev" | "prod"): EdgeModel {
  const { config, secretKeys } = loadStackFile(name);
  const values = decodeRawConfig(stripNamespace(config));
  return loadModel(values, { project: "haproxy-edge", stack: name, secretKeys });
}

describe("config/model", () => {
  describe("the stack file loader", () => {
    it("gives namespaced keys and JSON-encodes non-string values", () => {
      const { config, secretKeys } = loadStackFile("dev");
      assert.equal(config["haproxy-edge:tlsMode"], "selfsigned");
      assert.equal(config["haproxy-edge:httpPort"], "8080");
      assert.deepEqual(JSON.parse(config["haproxy-edge:productionWorkerHosts"]), ["local", "local"]);
      assert.ok(Object.keys(config).every((k) => k.startsWith("haproxy-edge:")));
      assert.equal(secretKeys.size, 0);
    });

    it("adds the test secrets to prod", () => {
      const { config, secretKeys } = loadStackFile("prod");
      assert.deepEqual([...secretKeys].sort(), ["acmeTsigSecret", "hosts"]);
      assert.equal(config["haproxy-edge:acmeTsigSecret"], TEST_SECRETS.acmeTsigSecret);
      const hosts = JSON.parse(config["haproxy-edge:hosts"]) as Record<string, Record<string, unknown>>;
      assert.equal(hosts["edge-router"].privateKey, TEST_SECRETS.routerPrivateKey);
      assert.equal(hosts["edge-router"].version, "7.21");
    });
  });

  describe("dev stack", () => {
    let m: EdgeModel;
    before(() => {
      m = stackModel("dev");
    });

    it("names the project and stack", () => {
      assert.equal(m.project, "haproxy-edge");
      assert.equal(m.stack, "dev");
      assert.deepEqual(
        m.hosts.map((h) => [h.name, h.kind]),
        [["local", "docker"]],
      );
    });

    it("has the workers staging, prod-1, prod-2 in rollout order", () => {
      assert.deepEqual(
        m.workers.map((w) => [w.name, w.role, w.index]),
        [
          ["staging", "staging", 0],
          ["prod-1", "production", 1],
          ["prod-2", "production", 2],
        ],
      );
    });

    it("names containers after the stack", () => {
      assert.deepEqual(
        m.workers.map((w) => [w.containerName, w.dataplaneApiContainerName]),
        [
          ["dev-staging", "dev-staging-dataplaneapi"],
          ["dev-prod-1", "dev-prod-1-dataplaneapi"],
          ["dev-prod-2", "dev-prod-2-dataplaneapi"],
        ],
      );
      assert.equal(m.loadBalancer.containerName, "dev-lb");
      assert.equal(m.certbot, undefined);
    });

    it("reaches same-host workers by network alias, trusting only the load balancer's fixed address", () => {
      for (const w of m.workers) {
        assert.equal(w.placement.host.name, "local");
        assert.equal(w.placement.veth, undefined);
        assert.equal(w.alias, w.name);
        assert.deepEqual(w.upstream, { address: w.name, port: 8080 });
        assert.equal(w.publish, undefined);
        assert.deepEqual(w.trustedSources, ["172.29.80.2/32"]);
      }
      assert.equal(m.loadBalancer.edgeAddress, "172.29.80.2");
    });

    it("keeps the edge network's lower half for fixed addresses: Docker gives the others the upper half", () => {
      const host = m.hosts[0];
      assert.equal(host.kind, "docker");
      if (host.kind !== "docker") return;
      assert.deepEqual(host.network, {
        gateway: "172.29.80.1",
        ipRange: "172.29.80.128/25",
        loadBalancerAddress: "172.29.80.2",
      });
      assert.deepEqual(dockerNetwork("10.9.0.0/27"), {
        gateway: "10.9.0.1",
        ipRange: "10.9.0.16/28",
        loadBalancerAddress: "10.9.0.2",
      });
    });

    it("publishes the Data Plane APIs on 127.0.0.1:5555-5557", () => {
      assert.deepEqual(
        m.workers.map((w) => [w.dataplaneApi.publishedPort, w.dataplaneApi.endpoint, w.dataplaneApi.user]),
        [
          [5555, "http://127.0.0.1:5555", "haproxy-edge"],
          [5556, "http://127.0.0.1:5556", "haproxy-edge"],
          [5557, "http://127.0.0.1:5557", "haproxy-edge"],
        ],
      );
    });

    it("configures the load balancer from the stack file and the defaults", () => {
      const lb = m.loadBalancer;
      assert.equal(lb.placement.host.name, "local");
      assert.equal(lb.publishAddress, "127.0.0.1");
      assert.equal(lb.httpPort, 8080);
      assert.equal(lb.httpsPort, 8443);
      assert.deepEqual(lb.rateLimit, { requests: 200, windowSeconds: 10 });
      assert.deepEqual(lb.blocklistCidrs, ["192.0.2.0/24"]);
      assert.equal(lb.stagingSuffix, ".staging.lab.example.com");
      assert.deepEqual(lb.timeouts, {
        connect: "1s",
        client: "30s",
        server: "30s",
        httpRequest: "5s",
        httpKeepAlive: "5s",
      });
      assert.equal(lb.maxConnections, 4096);
    });

    it("names the certificate after the first domain", () => {
      assert.equal(m.tls.mode, "selfsigned");
      assert.equal(m.tls.certName, "lab.example.com");
      assert.equal(m.loadBalancer.certPath, `${PATHS.certsDir}/lab.example.com.pem`);
    });

    it("models routes with parsed servers and staging hosts", () => {
      assert.deepEqual(
        m.routes.map((r) => [r.name, r.stagingHost, r.servers, r.internalOnly]),
        [
          ["app", "app.staging.lab.example.com", [{ host: "172.29.80.100", port: 8080 }], false],
          ["admin", "admin.staging.lab.example.com", [{ host: "172.29.80.101", port: 8080 }], true],
        ],
      );
    });
  });

  describe("prod stack", () => {
    let m: EdgeModel;
    before(() => {
      m = stackModel("prod");
    });

    it("places the load balancer on the router with veth edge-lb at 172.20.0.2", () => {
      const p = m.loadBalancer.placement;
      assert.equal(p.host.kind, "routeros");
      assert.equal(p.host.name, "edge-router");
      assert.deepEqual(p.veth, { name: "edge-lb", address: "172.20.0.2" });
      if (p.host.kind === "routeros") {
        assert.equal(p.host.bridgeAddress, "172.20.0.1");
        assert.equal(p.host.prefixLength, 24);
        assert.deepEqual(p.host.versionParts, [7, 21, 0]);
        assert.equal(p.host.privateKey, TEST_SECRETS.routerPrivateKey);
      }
    });

    it("places certbot next to it with veth edge-certbot at 172.20.0.3", () => {
      assert.ok(m.certbot);
      assert.equal(m.certbot.placement.host.name, "edge-router");
      assert.deepEqual(m.certbot.placement.veth, { name: "edge-certbot", address: "172.20.0.3" });
      assert.equal(m.certbot.containerName, "prod-certbot");
      assert.equal(m.certbot.email, "hostmaster@example.com");
      assert.deepEqual(m.certbot.dns, {
        server: "192.168.88.53",
        port: 53,
        keyName: "acme-update.example.com.",
        algorithm: "HMAC-SHA512",
        secret: TEST_SECRETS.acmeTsigSecret,
      });
    });

    it("reaches the workers on docker-1's LAN address, trusting only the router", () => {
      assert.deepEqual(
        m.workers.map((w) => w.name),
        ["staging", "prod-1", "prod-2"],
      );
      m.workers.forEach((w, i) => {
        assert.equal(w.placement.host.name, "docker-1");
        assert.equal(w.port, 8080);
        assert.deepEqual(w.upstream, { address: "192.168.88.20", port: 8080 + i });
        assert.deepEqual(w.publish, { address: "192.168.88.20", port: 8080 + i });
        assert.deepEqual(w.trustedSources, ["192.168.88.1/32"]);
      });
    });

    it("gives Data Plane API endpoints through an ssh tunnel to docker-1", () => {
      m.workers.forEach((w, i) => {
        const port = 5555 + i;
        assert.equal(w.dataplaneApi.publishedPort, port);
        assert.match(
          w.dataplaneApi.endpoint,
          new RegExp(`^http://127\\.0\\.0\\.1:${port} on deploy@docker-1\\.lan`),
        );
        assert.ok(
          w.dataplaneApi.endpoint.includes(`ssh -L ${port}:127.0.0.1:${port}`),
          w.dataplaneApi.endpoint,
        );
      });
    });

    it("names the certificate example.com", () => {
      assert.equal(m.tls.mode, "acme");
      assert.deepEqual(m.tls.domains, ["example.com", "*.example.com", "*.staging.example.com"]);
      assert.equal(m.tls.certName, "example.com");
      assert.equal(m.loadBalancer.certPath, "/usr/local/etc/haproxy/certs/example.com.pem");
    });

    it("stages each route at <name>.staging.example.com", () => {
      assert.deepEqual(
        m.routes.map((r) => [r.name, r.stagingHost]),
        [
          ["www", "www.staging.example.com"],
          ["grafana", "grafana.staging.example.com"],
        ],
      );
      assert.deepEqual(m.routes[0].servers, [
        { host: "192.168.88.31", port: 8080 },
        { host: "192.168.88.32", port: 8080 },
      ]);
      assert.equal(m.routes[0].healthCheckPath, "/healthz");
      assert.equal(m.loadBalancer.stagingSuffix, ".staging.example.com");
    });

    it("is refused without the secrets held as secrets", () => {
      const { config } = loadStackFile("prod");
      const values = decodeRawConfig(stripNamespace(config));
      const res = parseStackConfig(values, { project: "haproxy-edge", stack: "prod", secretKeys: new Set() });
      assert.equal(res.ok, false);
      if (!res.ok) {
        assert.deepEqual(res.issues.map((i) => i.path).sort(), [
          "acmeTsigSecret",
          "hosts.edge-router.privateKey",
        ]);
      }
    });
  });

  describe("every service on the router (prod with its workers moved there)", () => {
    const onRouter = (routeUpdates: "live" | "restart") => {
      const { config, secretKeys } = loadStackFile("prod", {
        stagingWorkerHost: "edge-router",
        productionWorkerHosts: ["edge-router", "edge-router"],
        routeUpdates,
      });
      return loadModel(decodeRawConfig(stripNamespace(config)), {
        project: "haproxy-edge",
        stack: "prod",
        secretKeys,
      });
    };

    it("gives each worker its own veth at its slot, reached by the load balancer on the bridge", () => {
      const m = onRouter("live");
      assert.deepEqual(
        m.workers.map((w) => [w.name, w.placement.host.name, w.placement.veth]),
        [
          ["staging", "edge-router", { name: "edge-staging", address: "172.20.0.4" }],
          ["prod-1", "edge-router", { name: "edge-prod-1", address: "172.20.0.5" }],
          ["prod-2", "edge-router", { name: "edge-prod-2", address: "172.20.0.6" }],
        ],
      );
      for (const w of m.workers) {
        assert.deepEqual(w.upstream, { address: w.placement.veth?.address, port: 8080 });
        assert.equal(w.publish, undefined, "nothing is published on a router");
        // PROXY headers are accepted from the load balancer's veth only.
        assert.deepEqual(w.trustedSources, ["172.20.0.2/32"]);
      }
    });

    it("gives each API sidecar its own veth after every possible worker, and a short container name", () => {
      const m = onRouter("live");
      assert.deepEqual(
        m.workers.map((w) => [w.dataplaneApiContainerName, w.dataplaneApi.veth, w.dataplaneApi.url]),
        [
          ["prod-staging-api", { name: "edge-api0", address: "172.20.0.21" }, "http://172.20.0.21:5555"],
          ["prod-prod-1-api", { name: "edge-api1", address: "172.20.0.22" }, "http://172.20.0.22:5555"],
          ["prod-prod-2-api", { name: "edge-api2", address: "172.20.0.23" }, "http://172.20.0.23:5555"],
        ],
      );
      const addresses = [
        m.loadBalancer.placement.veth?.address,
        m.certbot?.placement.veth?.address,
        ...m.workers.flatMap((w) => [w.placement.veth?.address, w.dataplaneApi.veth?.address]),
      ];
      assert.equal(new Set(addresses).size, addresses.length, `unique: ${addresses.join(" ")}`);
      assert.match(
        m.workers[1].dataplaneApi.endpoint,
        /^http:\/\/172\.20\.0\.22:5555 on edge-router's container bridge \(ssh -L 5556:172\.20\.0\.22:5555 pulumi@192\.168\.88\.1 -p 22; needs \/ip ssh forwarding-enabled=local\)$/,
      );
    });

    it("keeps every service at the same address whatever the route update mode", () => {
      const live = onRouter("live");
      const restart = onRouter("restart");
      assert.deepEqual(
        restart.workers.map((w) => [w.placement.veth, w.upstream, w.trustedSources]),
        live.workers.map((w) => [w.placement.veth, w.upstream, w.trustedSources]),
      );
      assert.deepEqual(restart.loadBalancer.placement, live.loadBalancer.placement);
    });
  });

  describe("what clients reach, and what destroy keeps", () => {
    it("dev: the load balancer on 127.0.0.1 with its ports, route URLs with the HTTPS port and path", () => {
      const m = stackModel("dev");
      assert.deepEqual(m.loadBalancer.endpoint, {
        host: "local",
        http: "http://127.0.0.1:8080/",
        https: "https://127.0.0.1:8443/",
      });
      for (const r of m.routes) {
        assert.deepEqual(
          r.urls,
          r.hosts.map((h) => `https://${h}:8443${r.pathPrefix ?? "/"}`),
        );
        assert.equal(r.stagingUrl, `https://${r.stagingHost}:8443${r.pathPrefix ?? "/"}`);
      }
      assert.deepEqual(m.retainedVolumes, ["dev-certs"]);
    });

    it("prod: the router's address on default ports, the ACME account kept, the router renews the certificates", () => {
      const m = stackModel("prod");
      const router = m.hosts.find((h) => h.kind === "routeros");
      assert.ok(router && router.kind === "routeros");
      assert.deepEqual(m.loadBalancer.endpoint, {
        host: router.name,
        http: `http://${router.address}/`,
        https: `https://${router.address}/`,
      });
      assert.ok(m.routes.every((r) => r.urls.every((u) => /^https:\/\/[^:/]+\//.test(u))));
      assert.deepEqual(m.retainedVolumes, ["prod-certs", "prod-letsencrypt"]);
      assert.equal(m.certbot?.placement.host, router);
      assert.equal(router.renewsCertificates, true);
    });
  });

  describe("container hardening", () => {
    const withPorts = (ports: Record<string, number>) => {
      const { config, secretKeys } = loadStackFile("dev");
      const values = { ...decodeRawConfig(stripNamespace(config)), ...ports };
      return loadModel(values, { project: "haproxy-edge", stack: "dev", secretKeys });
    };

    it("keeps only what HAProxy needs to run its workers as haproxy, 512 MiB and 512 processes by default", () => {
      const m = stackModel("dev");
      assert.deepEqual(m.loadBalancer.capabilities, ["CAP_KILL", "CAP_SETGID", "CAP_SETUID"]);
      for (const w of m.workers)
        assert.deepEqual(w.capabilities, ["CAP_KILL", "CAP_SETGID", "CAP_SETUID"], w.name);
      assert.deepEqual(m.containerLimits, { memoryMb: 512, pidsLimit: 512 });
    });

    it("adds NET_BIND_SERVICE where a service listens below 1024 in its container, and only there", () => {
      const low = withPorts({ httpPort: 80, httpsPort: 443, containerMemoryMb: 96 });
      assert.deepEqual(low.loadBalancer.capabilities, [
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE",
        "CAP_SETGID",
        "CAP_SETUID",
      ]);
      for (const w of low.workers)
        assert.deepEqual(w.capabilities, ["CAP_KILL", "CAP_SETGID", "CAP_SETUID"], w.name);
      assert.deepEqual(low.containerLimits, { memoryMb: 96, pidsLimit: 512 });
      // 1023 is privileged, 1024 is not.
      const https = withPorts({ httpPort: 8080, httpsPort: 1023 });
      assert.ok(https.loadBalancer.capabilities.includes("CAP_NET_BIND_SERVICE"));
      assert.ok(!withPorts({ httpsPort: 1024 }).loadBalancer.capabilities.includes("CAP_NET_BIND_SERVICE"));
      const worker = withPorts({ workerPort: 80 });
      for (const w of worker.workers) assert.ok(w.capabilities.includes("CAP_NET_BIND_SERVICE"), w.name);
      assert.ok(!worker.loadBalancer.capabilities.includes("CAP_NET_BIND_SERVICE"));
    });
  });

  describe("certificateName", () => {
    it("spells a leading wildcard as wildcard.", () => {
      assert.equal(certificateName(["*.x.com"]), "wildcard.x.com");
      assert.equal(certificateName(["*.x.com", "x.com"]), "wildcard.x.com");
      assert.equal(certificateName(["x.com", "*.x.com"]), "x.com");
    });
  });

  describe("buildModel", () => {
    it("places a second router's services at fixed slots whatever else is placed there", () => {
      const ctx = { project: "haproxy-edge", stack: "lab", secretKeys: new Set(["hosts"]) };
      const res = parseStackConfig(
        {
          domains: ["*.x.com"],
          hosts: {
            r1: {
              kind: "routeros",
              address: "10.1.0.1",
              privateKey: "k",
              hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
              vethPrefix: "e",
              subnet: "10.9.0.0/27",
            },
            d1: { kind: "docker", address: "10.1.0.2" },
          },
          loadBalancerHost: "r1",
          stagingWorkerHost: "d1",
          productionWorkerHosts: ["d1"],
        },
        ctx,
      );
      if (!res.ok) assert.fail(JSON.stringify(res.issues));
      const m = buildModel(res.config, ctx);
      assert.deepEqual(m.loadBalancer.placement.veth, { name: "elb", address: "10.9.0.2" });
      assert.equal(m.tls.certName, "wildcard.x.com");
      assert.equal(m.loadBalancer.certPath, `${PATHS.certsDir}/wildcard.x.com.pem`);
      assert.deepEqual(
        m.workers.map((w) => [w.name, w.upstream.address, w.upstream.port, w.trustedSources[0]]),
        [
          ["staging", "10.1.0.2", 8080, "10.1.0.1/32"],
          ["prod-1", "10.1.0.2", 8081, "10.1.0.1/32"],
        ],
      );
      // Self-signed: no certbot, so the router's scheduler is not needed.
      const r1 = m.hosts.find((h) => h.name === "r1");
      assert.ok(r1?.kind === "routeros" && r1.renewsCertificates === false);
    });
  });
  it("maps the model's routes to each worker's route map: staging hosts on staging only, internal networks on internal-only routes", () => {
    const { config, secretKeys } = loadStackFile("dev");
    const values = decodeRawConfig({
      ...stripNamespace(config),
      routes: JSON.stringify([
        { name: "b", hosts: ["b.lab.example.com"], servers: ["10.0.0.1:80"] },
        {
          name: "a",
          hosts: ["a.lab.example.com"],
          servers: ["h:1"],
          pathPrefix: "/p",
          balance: "first",
          healthCheckPath: "/h",
          internalOnly: true,
        },
      ]),
      internalCidrs: JSON.stringify(["10.1.0.0/16"]),
      demoBackends: "false",
    });
    const model = loadModel(values, { project: "haproxy-edge", stack: "dev", secretKeys });
    const [staging, prod1] = model.workers;
    assert.deepEqual(prod1.routes, {
      a: {
        hosts: ["a.lab.example.com"],
        servers: ["h:1"],
        pathPrefix: "/p",
        balance: "first",
        healthCheckPath: "/h",
        allowFrom: ["10.1.0.0/16"],
      },
      b: {
        hosts: ["b.lab.example.com"],
        servers: ["10.0.0.1:80"],
        balance: "roundrobin",
        healthCheckPath: "/",
      },
    });
    const s = staging.routes;
    assert.equal(s.a.stagingHost, "a.staging.lab.example.com");
    assert.equal(s.b.stagingHost, "b.staging.lab.example.com");
    assert.deepEqual(s.a.allowFrom, ["10.1.0.0/16"]);
    assert.equal(s.b.allowFrom, undefined);
  });

  it("holds each worker's route plan, built once from its routes", () => {
    const m = loadModel(decodeRawConfig(stripNamespace(loadStackFile("dev").config)), {
      project: "haproxy-edge",
      stack: "dev",
      secretKeys: loadStackFile("dev").secretKeys,
    });
    for (const w of m.workers) {
      assert.deepEqual(w.routePlan, workerRoutesPlan(w.routes), w.name);
      assert.deepEqual(
        w.routePlan.backends.map((b) => b.name),
        Object.keys(w.routes).map((n) => `route_${n}`),
      );
    }
  });

  it("holds the facts components used to derive: placed hosts and images, SSH endpoints, publish addresses, volumes, schedules", () => {
    const prod = stackModel("prod");
    assert.deepEqual(
      prod.placedHosts.map((p) => [p.host.name, p.images]),
      [
        ["docker-1", ["haproxy:3.0", "haproxytech/haproxy-debian:3.0"]],
        ["edge-router", ["haproxy:3.0", "certbot/dns-rfc2136:v5.7.0"]],
      ],
    );
    const router = prod.hosts.find((h) => h.name === "edge-router");
    assert.ok(router?.kind === "routeros");
    // The pinned host key travels with the endpoint; no acceptAnyHostKey without the opt-out.
    assert.ok(router.hostKey?.startsWith("ssh-ed25519 "));
    assert.deepEqual(router.ssh, {
      host: router.address,
      port: router.port,
      user: router.user,
      hostKey: router.hostKey,
    });
    assert.deepEqual(prod.hostKeyWarnings, []);
    const docker1 = prod.hosts.find((h) => h.name === "docker-1");
    assert.ok(docker1?.kind === "docker");
    assert.equal(docker1.ssh, docker1.url.replace(/^ssh:\/\//, ""));
    // Its sshOpts set StrictHostKeyChecking=yes already: passed as they are.
    assert.deepEqual(docker1.sshArgs, docker1.sshOpts);
    const [staging] = prod.workers;
    assert.deepEqual(staging.dataplaneApi.publish, {
      address: "127.0.0.1",
      port: staging.dataplaneApi.publishedPort,
    });
    assert.deepEqual(staging.volumes, {
      config: "staging-config",
      master: "staging-master",
      apiState: "staging-api-state",
    });
    assert.deepEqual(prod.certbot?.routerSchedule, { name: "prod-certbot-renew", startTime: "03:17:00" });
    assert.equal(prod.tls.selfSignedValidityDays, 90);
    const dev = stackModel("dev");
    assert.equal(dev.tls.selfSignedValidityDays, 3650);
    assert.equal(dev.hosts.find((h) => h.name === "local")?.kind === "docker" && dev.hosts[0].ssh, undefined);
    assert.deepEqual(
      dev.placedHosts.map((p) => p.host.name),
      ["local"],
    );
  });
});
