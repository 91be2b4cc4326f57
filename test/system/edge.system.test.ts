/**
 * System tier: the program applied by the real Pulumi engine (`pulumi up` with the real docker, command and
 * random providers; test/system/engine.ts) to the real local Docker engine (images built by
 * scripts/images.sh), then proven with real traffic through the load balancer on 127.0.0.1 and from client
 * containers on the stack's own network. Every `up` is followed by `pulumi preview --expect-no-changes`; a
 * container removed by hand shows in `pulumi refresh` and the next `up` repairs it. Then the stack is
 * destroyed, checked gone, re-created, and the same traffic tests run again.
 */
import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { endpointKey, type WorkerRoutesInputs } from "../../dataplane/provider";
import { DataplaneClient, isDataplaneError } from "../../dataplane/client";
import { journalPath } from "../../dataplane/sync";
import { FILES, PATHS, TMPFS } from "../../config/model";
import { loadStackFile } from "../support/stack-config";
import { Engine, type PreviewStep, type StateResource } from "./engine";
import {
  CLIENT_IPS,
  HTTPS_PORT,
  HTTP_PORT,
  IMAGES,
  STACK,
  STACK_FILE,
  assertNoChanges,
  curlFrom,
  curlOutcome,
  statusFrom,
  docker,
  dockerCli,
  header,
  httpRequest,
  httpsRequest,
  removeLeftovers,
  removeTestContainers,
  stackObjects,
  upSystem,
  until,
  type Echo,
} from "./support";

const CONTAINER_TYPE = "docker:index/container:Container";
const HOSTS = {
  app: "app.systest.example.com",
  www: "www.systest.example.com",
  admin: "admin.systest.example.com",
  stagingApp: "app.staging.systest.example.com",
  unknown: "nothing-here.systest.example.com",
};
const WORKERS = ["staging", "prod-1", "prod-2"];

const log = process.env.SYSTEM_TEST_VERBOSE ? (l: string) => console.log(`      ${l}`) : undefined;

/** Everything a traffic suite needs from one apply. */
interface Applied {
  /** The stack's resources after the apply (engine state). */
  resources: StateResource[];
  /** The self-signed certificate (PEM, certificate first) the load balancer serves. */
  ca: string;
  /** The stack's outputs. */
  outputs: Record<string, unknown>;
}

/** `pulumi up` (the demo backends join the stack's network), and the state the traffic tests read. */
async function apply(engine: Engine): Promise<Applied> {
  await upSystem(engine);
  const resources = await engine.resources();
  const cert = resources.find(
    (c) => c.type.startsWith("pulumi-nodejs:dynamic") && c.name.endsWith("-certificate"),
  );
  assert.ok(cert, "no certificate resource");
  const pem = String(cert.outputs.pem);
  const ca = pem.slice(0, pem.indexOf("-----END CERTIFICATE-----") + 26);
  await until(
    "every route served through the edge",
    async () => {
      for (const [host, pathname] of [
        [HOSTS.app, "/"],
        [HOSTS.app, "/api/"],
        [HOSTS.admin, "/"],
      ]) {
        const r = await httpsRequest(host, pathname, { ca });
        if (r.status !== 200) return undefined;
      }
      return true;
    },
    60_000,
  );
  return { resources, ca, outputs: await engine.outputs() };
}

function containers(applied: Applied): StateResource[] {
  return applied.resources.filter((c) => c.type === CONTAINER_TYPE);
}

async function echo(ctx: Applied, host: string, pathname = "/", headers: Record<string, string> = {}) {
  const r = await httpsRequest(host, pathname, { ca: ctx.ca, headers });
  assert.equal(r.status, 200, `${host}${pathname}: ${r.status} ${r.body.slice(0, 200)}`);
  return JSON.parse(r.body) as Echo;
}

function run(cmd: string, args: string[], input = ""): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: 20_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` }),
    );
    child.stdin?.on("error", () => undefined); // EPIPE: see support.ts run()
    child.stdin?.end(input);
  });
}

/** Docker's embedded DNS server: it listens inside every container on a user-defined network. */
const DOCKER_DNS = "127.0.0.11";

/** Listening TCP sockets in a container's network namespace (/proc/net/tcp and tcp6), as `address:port`. */
async function listeningSockets(container: string): Promise<string[]> {
  const out = await dockerCli(["exec", container, "cat", "/proc/net/tcp", "/proc/net/tcp6"]);
  const sockets = new Set<string>();
  for (const line of out.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4 || f[3] !== "0A") continue;
    const [hexAddr, hexPort] = f[1].split(":");
    const port = parseInt(hexPort, 16);
    let address: string;
    if (hexAddr.length === 8)
      address = (hexAddr.match(/../g) ?? [])
        .reverse()
        .map((b) => parseInt(b, 16))
        .join(".");
    else
      address = /^0+$/.test(hexAddr)
        ? "::"
        : hexAddr === "0000000000000000FFFF00000B00007F"
          ? DOCKER_DNS
          : hexAddr;
    sockets.add(`${address}:${port}`);
  }
  return [...sockets].sort();
}

/** The service sockets (Docker's DNS listener left out, after checking it is the only other one). */
async function servicePorts(container: string): Promise<string[]> {
  const all = await listeningSockets(container);
  return all.filter((s) => !s.startsWith(`${DOCKER_DNS}:`));
}

/** The processes of a container, as the kernel reports them (/proc/<pid>/status). */
async function processes(container: string) {
  const status = await dockerCli([
    "exec",
    container,
    "sh",
    "-c",
    'for f in /proc/[0-9]*/status; do tr "\\n" " " < "$f" 2>/dev/null; echo; done',
  ]);
  const hex = (l: string, field: string) =>
    BigInt(`0x${new RegExp(`${field}:\\s+([0-9a-f]+)`).exec(l)?.[1] ?? "ff"}`);
  return status
    .split("\n")
    .filter((l) => /^Name:/.test(l))
    .map((l) => ({
      name: /Name:\s+(\S+)/.exec(l)?.[1] ?? "",
      /** Real uid. */
      uid: /Uid:\s+(\d+)/.exec(l)?.[1] ?? "",
      capEff: hex(l, "CapEff"),
      capBnd: hex(l, "CapBnd"),
      noNewPrivs: /NoNewPrivs:\s+(\d)/.exec(l)?.[1],
    }));
}

/** The traffic tests, run after the first apply and again after teardown and recreation. */
function trafficSuite(ctx: () => Applied) {
  it("every container of the stack is running and healthy", async () => {
    const names = containers(ctx()).map((c) => String(c.inputs.name));
    assert.deepEqual(
      names.sort(),
      [`${STACK}-lb`, ...WORKERS.flatMap((w) => [`${STACK}-${w}`, `${STACK}-${w}-dataplaneapi`])].sort(),
    );
    for (const name of names) {
      const c = await docker.request<{ State: { Running: boolean; Health?: { Status: string } } }>({
        method: "GET",
        path: `/containers/${name}/json`,
      });
      assert.ok(c.State.Running, `${name} not running`);
      assert.equal(c.State.Health?.Status, "healthy", name);
    }
  });

  it("hardens every container: only its own capabilities, no new privileges, read-only root, memory limit, no raw socket", async () => {
    // Linux capability bits: KILL 5, SETGID 6, SETUID 7, NET_RAW 13.
    const HAPROXY_CAPS = (1n << 5n) | (1n << 6n) | (1n << 7n);
    const NET_RAW = 1n << 13n;
    const RAW_SOCKET =
      'use Socket; socket(my $s, PF_INET, SOCK_RAW, 1) or die "raw socket: $!\\n"; print "raw socket open\\n"';
    const names = containers(ctx()).map((c) => String(c.inputs.name));
    assert.equal(names.length, 1 + 2 * WORKERS.length);
    for (const name of names) {
      const api = name.endsWith("-dataplaneapi");
      const c = await docker.request<{
        Config: { User: string };
        HostConfig: {
          CapDrop: string[] | null;
          CapAdd: string[] | null;
          SecurityOpt: string[] | null;
          Memory: number;
          MemorySwap: number;
          ReadonlyRootfs: boolean;
          PidsLimit: number | null;
          Tmpfs: Record<string, string> | null;
        };
        Mounts: { Name?: string; Destination: string; RW: boolean }[];
      }>({ method: "GET", path: `/containers/${name}/json` });
      const hc = c.HostConfig;
      assert.deepEqual(hc.CapDrop, ["ALL"], name);
      assert.deepEqual(
        [...(hc.CapAdd ?? [])].sort(),
        api ? [] : ["CAP_KILL", "CAP_SETGID", "CAP_SETUID"],
        name,
      );
      assert.deepEqual(hc.SecurityOpt, ["no-new-privileges:true"], name);
      assert.equal(hc.Memory, 512 * 1024 * 1024, name);
      assert.equal(hc.MemorySwap, 512 * 1024 * 1024, name);
      assert.equal(hc.PidsLimit, 512, name);
      assert.equal(c.Config.User, "root", name);
      // A read-only root: tmpfs only where the program writes, its files from its own volume.
      assert.equal(hc.ReadonlyRootfs, true, name);
      assert.deepEqual(
        Object.keys(hc.Tmpfs ?? {}).sort(),
        api ? [...TMPFS.dataplaneApi] : [...TMPFS.haproxy],
        name,
      );
      const files = c.Mounts.find((m) => m.Destination === PATHS.edgeDir);
      assert.ok(files && files.Name?.endsWith("-files"), `${name}: ${JSON.stringify(c.Mounts)}`);
      // Read-only but the load balancer's (its live files are written there while it runs).
      assert.equal(files.RW, name === `${STACK}-lb`, name);
      const write = await run("docker", ["exec", name, "sh", "-c", "echo x > /probe; echo x > /etc/probe"]);
      assert.notEqual(write.code, 0, name);
      assert.match(write.out, /Read-only file system/, name);
      if (!files.RW) {
        const own = await run("docker", ["exec", name, "sh", "-c", `echo x > ${PATHS.edgeDir}/probe`]);
        assert.match(own.out, /Read-only file system/, name);
      }

      // Inside: what the kernel says of each process (HAProxy's master, its workers; the API).
      const procs = await processes(name);
      const main = procs.filter((p) => p.name === (api ? "dataplaneapi" : "haproxy"));
      assert.ok(main.length >= (api ? 1 : 2), `${name}: ${JSON.stringify(procs.map((p) => p.name))}`);
      for (const p of procs) {
        assert.equal(p.noNewPrivs, "1", `${name} ${p.name}`);
        const allowed = api ? 0n : HAPROXY_CAPS;
        assert.equal(p.capBnd & ~allowed, 0n, `${name} ${p.name}: bounding set ${p.capBnd.toString(16)}`);
        assert.equal(p.capEff & NET_RAW, 0n, `${name} ${p.name}`);
      }
      if (!api) {
        // The master keeps root with KILL, SETGID, SETUID; its worker process runs as haproxy with nothing. One
        // worker: the master could signal the old ones away after each reload (that needs KILL: without it they
        // stay forever).
        const haproxyUid = (await dockerCli(["exec", name, "id", "-u", "haproxy"])).trim();
        const settled = await until(
          `${name}: one HAProxy master (root) and one worker (haproxy)`,
          async () => {
            const now = (await processes(name)).filter((p) => p.name === "haproxy");
            const master = now.filter((p) => p.uid === "0");
            const workers = now.filter((p) => p.uid === haproxyUid);
            return master.length === 1 && workers.length === 1 && now.length === 2
              ? { master, workers }
              : undefined;
          },
          30_000,
        );
        assert.equal(settled.master[0].capEff, HAPROXY_CAPS, name);
        assert.equal(settled.workers[0].capEff, 0n, name);
      }

      // The attacker's view: no raw socket (no ARP or IP spoofing on the bridge).
      const raw = await run("docker", ["exec", name, "perl", "-e", RAW_SOCKET]);
      assert.notEqual(raw.code, 0, `${name}: ${raw.out}`);
      assert.match(raw.out, /raw socket: Operation not permitted/, name);
    }
    // A process bomb stops at the pids limit: forks fail well before 2,000 (each child is killed at once after).
    const BOMB =
      'my @k; while (@k < 2000) { my $p = fork(); if (!defined $p) { print "fork failed after ", scalar(@k), ": $!\n"; last } if (!$p) { sleep 30; exit 0 } push @k, $p } kill "KILL", @k; waitpid($_, 0) for @k; print "forked ", scalar(@k), "\n"';
    const bomb = await run("docker", ["exec", `${STACK}-staging`, "perl", "-e", BOMB]);
    const forked = Number(/fork failed after (\d+): Resource temporarily unavailable/.exec(bomb.out)?.[1]);
    assert.ok(forked > 400 && forked < 512, bomb.out);
    // Control: the same probe opens a raw socket in a container with Docker's default capabilities.
    const control = await run("docker", [
      "run",
      "--rm",
      "--label",
      `haproxy-edge.test=${STACK}`,
      "--network",
      "none",
      "--entrypoint",
      "perl",
      IMAGES.haproxy,
      "-e",
      RAW_SOCKET,
    ]);
    assert.equal(control.code, 0, control.out);
    assert.match(control.out, /raw socket open/);
  });

  it("answers plain HTTP with 301 to the same host, path and query on HTTPS", async () => {
    const r = await httpRequest(HOSTS.app, "/some/path?x=1&y=2");
    assert.equal(r.status, 301);
    assert.equal(r.headers.location, `https://${HOSTS.app}:${HTTPS_PORT}/some/path?x=1&y=2`);
  });

  it("routes by host (and path) through load balancer → production worker → the route's backend", async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const e = await echo(ctx(), HOSTS.app, `/page-${i}`);
      assert.match(e.backend, /^app-[12]$/);
      assert.equal(e.path, `/page-${i}`);
      assert.match(header(e, "X-Edge-Worker"), /^prod-[12]$/);
      seen.add(e.backend);
    }
    assert.deepEqual([...seen].sort(), ["app-1", "app-2"], "both servers of the route serve");
    assert.equal((await echo(ctx(), HOSTS.www)).backend.slice(0, 4), "app-");
    assert.equal((await echo(ctx(), HOSTS.app, "/api/v1/items")).backend, "api-1");
    assert.equal((await echo(ctx(), HOSTS.admin)).backend, "admin-1");
  });

  it("serves the custom 404 page for an unknown host, over verified TLS", async () => {
    const r = await httpsRequest(HOSTS.unknown, "/", { ca: ctx().ca });
    assert.equal(r.status, 404);
    assert.match(String(r.headers["content-type"]), /text\/html/);
    assert.match(r.body, /haproxy-edge custom 404/);
  });

  it("serves the certificate the program made, valid for the stack's names", async () => {
    const out = await run("openssl", [
      "s_client",
      "-connect",
      `127.0.0.1:${HTTPS_PORT}`,
      "-servername",
      HOSTS.app,
      "-verify_return_error",
      "-CAfile",
      writeTemp("ca.pem", ctx().ca),
      "-verify_hostname",
      HOSTS.app,
      "-brief",
    ]);
    assert.equal(out.code, 0, out.out);
    assert.match(out.out, /Verification: OK/);
    assert.match(out.out, /Protocol version: TLSv1\.3/);
  });

  it("refuses TLS 1.1 (and the client really offers it: it succeeds against an s_server that allows it)", async () => {
    const client = ["s_client", "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0", "-servername", HOSTS.app];
    const refused = await run("openssl", [...client, "-connect", `127.0.0.1:${HTTPS_PORT}`]);
    assert.notEqual(refused.code, 0, refused.out);
    assert.match(
      refused.out,
      /alert protocol version|unsupported protocol|wrong version number|no protocols available/i,
    );

    // Positive control: the same client completes a TLS 1.1 handshake with a server that allows it.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tls11-"));
    await run("openssl", [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-subj",
      "/CN=control",
      "-days",
      "1",
      "-keyout",
      path.join(dir, "k.pem"),
      "-out",
      path.join(dir, "c.pem"),
    ]);
    const port = 18990;
    const server = execFile(
      "openssl",
      [
        "s_server",
        "-accept",
        `127.0.0.1:${port}`,
        "-tls1_1",
        "-cipher",
        "DEFAULT@SECLEVEL=0",
        "-cert",
        path.join(dir, "c.pem"),
        "-key",
        path.join(dir, "k.pem"),
        "-naccept",
        "1",
      ],
      { timeout: 30_000 },
    );
    try {
      let ok = { code: 1, out: "" };
      await until(
        "TLS 1.1 control handshake",
        async () => {
          ok = await run("openssl", [...client, "-connect", `127.0.0.1:${port}`], "Q\n");
          return ok.code === 0 || undefined;
        },
        15_000,
      );
      assert.match(ok.out, /Protocol\s*: TLSv1\.1/, ok.out);
    } finally {
      server.kill();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("keeps the real client address across both hops (PROXY v2 → worker → X-Forwarded-For)", async () => {
    const out = await curlFrom(CLIENT_IPS.plain, [
      "--insecure",
      "--connect-to",
      `${HOSTS.app}:${HTTPS_PORT}:lb:${HTTPS_PORT}`,
      `https://${HOSTS.app}:${HTTPS_PORT}/whoami`,
    ]);
    const e = JSON.parse(out) as Echo;
    assert.equal(header(e, "X-Forwarded-For"), CLIENT_IPS.plain);
    assert.equal(header(e, "X-Forwarded-Proto"), "https");
    assert.match(header(e, "X-Edge-Worker"), /^prod-[12]$/);
    // The backend's TCP peer is the worker, not the client.
    assert.notEqual(e.remote_addr.split(":")[0], CLIENT_IPS.plain);
  });

  it("answers 403 to a blocklisted source, on HTTPS and on plain HTTP alike", async () => {
    assert.equal(await statusFrom(CLIENT_IPS.blocked, HOSTS.app), "403");
    const http = (ip: string) =>
      curlFrom(ip, ["--output", "/dev/null", "--write-out", "%{http_code}", `http://lb:${HTTP_PORT}/`]);
    assert.equal((await http(CLIENT_IPS.blocked)).trim(), "403", "port 80 answers the blocklist too");
    assert.equal((await http(CLIENT_IPS.plain)).trim(), "301", "and redirects everyone else");
  });

  it("removes every forwarding header a client forges and sets its own (Forwarded, X-Forwarded-*, X-Real-IP, X-Edge-*)", async () => {
    const forged = [
      "Forwarded: for=127.0.0.1;proto=http;host=admin.systest.example.com",
      "X-Forwarded-For: 127.0.0.1",
      "x-forwarded-for: 10.0.0.1",
      "X-Forwarded-Host: admin.systest.example.com",
      "X-Forwarded-Proto: http",
      "X-Forwarded-Port: 1",
      "X-Forwarded-Server: evil",
      "X-Real-IP: 127.0.0.1",
      "X-Edge-Worker: staging",
      "X-Edge-Stage: staging",
      "X-EDGE-Anything: 1",
    ];
    const args = ["--insecure", "--connect-to", `${HOSTS.app}:${HTTPS_PORT}:lb:${HTTPS_PORT}`];
    for (const h of forged) args.push("--header", h);
    const e = JSON.parse(
      await curlFrom(CLIENT_IPS.plain, [...args, `https://${HOSTS.app}:${HTTPS_PORT}/f`]),
    ) as Echo;
    assert.equal(header(e, "X-Forwarded-For"), CLIENT_IPS.plain);
    assert.equal(header(e, "X-Real-IP"), CLIENT_IPS.plain);
    assert.equal(header(e, "X-Forwarded-Proto"), "https");
    assert.equal(header(e, "X-Forwarded-Host"), `${HOSTS.app}:${HTTPS_PORT}`);
    assert.equal(header(e, "X-Forwarded-Port"), String(HTTPS_PORT));
    assert.equal(
      header(e, "Forwarded"),
      `proto=https;host="${HOSTS.app}:${HTTPS_PORT}";for=${CLIENT_IPS.plain}`,
    );
    assert.equal(header(e, "X-Forwarded-Server"), "");
    assert.equal(header(e, "X-Edge-Anything"), "");
    assert.equal(header(e, "X-Edge-Stage"), "");
    assert.match(header(e, "X-Edge-Worker"), /^prod-[12]$/);
    const leaked = Object.entries(e.headers).filter(([, v]) =>
      /127\.0\.0\.1|10\.0\.0\.1|evil/.test(String(v)),
    );
    assert.deepEqual(leaked, [], "no forged value reaches the application");
    // Forged headers do not open internal-only routes either.
    const admin = await curlFrom(CLIENT_IPS.plain, [
      ...args.map((a) => a.replace(HOSTS.app, HOSTS.admin)),
      "--output",
      "/dev/null",
      "--write-out",
      "%{http_code}",
      `https://${HOSTS.admin}:${HTTPS_PORT}/`,
    ]);
    assert.equal(admin.trim(), "403");
  });

  it("workers accept PROXY connections from the load balancer's address only: a neighbour on the edge network claiming an internal client is refused", async () => {
    // curl sends a PROXY header claiming 127.0.0.1 (internal) straight to a worker, from another container on
    // the stack's network (and from the gateway's side, as a local process would appear).
    const forge = (target: string) => [
      "--haproxy-protocol",
      "--haproxy-clientip",
      "127.0.0.1",
      "--header",
      `Host: ${HOSTS.admin}`,
      "--output",
      "/dev/null",
      "--write-out",
      "%{http_code}",
      `http://${target}:8080/`,
    ];
    for (const worker of WORKERS) {
      const r = await curlOutcome(CLIENT_IPS.plain, forge(worker));
      assert.match(r.out, /^000/, `${worker} answered a neighbour: ${r.out}`);
      // Refused, reset or closed without an answer (not a name or timeout problem of the client).
      assert.ok([7, 52, 55, 56].includes(r.exit), `${worker}: curl exit ${r.exit}`);
    }
    // From this machine straight to a worker's address on the bridge (a local process: the gateway's address).
    const inspect = await docker.request<{
      NetworkSettings: { Networks: Record<string, { IPAddress: string }> };
    }>({
      method: "GET",
      path: `/containers/${STACK}-prod-1/json`,
    });
    const workerIp = inspect.NetworkSettings.Networks[`${STACK}-edge`].IPAddress;
    // (curl from the images, in this machine's network namespace: the same curl as above, a local process.)
    const local = await run("docker", [
      "run",
      "--rm",
      "--network",
      "host",
      "--entrypoint",
      "curl",
      IMAGES.base,
      "--silent",
      "--max-time",
      "10",
      ...forge(workerIp),
    ]);
    assert.notEqual(local.code, 0, `a local process was answered: ${local.out}`);
    assert.match(local.out, /^000/, local.out);
    // Positive control: the same request from inside the load balancer's container (its fixed address) is served.
    const fromLb = await dockerCli([
      "exec",
      `${STACK}-lb`,
      "curl",
      "--silent",
      "--max-time",
      "10",
      ...forge("prod-1"),
    ]);
    assert.equal(fromLb.trim(), "200", "the load balancer's own address is trusted");
  });

  it("offers only Mozilla's intermediate key exchange groups (X25519, P-256, P-384), not X448 or P-521", async () => {
    const handshake = (group: string) =>
      run("openssl", [
        "s_client",
        "-connect",
        `127.0.0.1:${HTTPS_PORT}`,
        "-servername",
        HOSTS.app,
        "-groups",
        group,
        "-brief",
      ]);
    for (const [group, shown] of [
      ["X25519", /X25519/],
      ["P-256", /prime256v1|P-256/],
      ["P-384", /secp384r1|P-384/],
    ] as const) {
      const ok = await handshake(group);
      assert.equal(ok.code, 0, `${group}: ${ok.out}`);
      assert.match(ok.out, /(Peer|Server) Temp Key: ([^\n]*)/, ok.out);
      assert.match(
        /(?:Peer|Server) Temp Key: ([^\n]*)/.exec(ok.out)?.[1] ?? "",
        shown,
        `${group}: ${ok.out}`,
      );
    }
    for (const group of ["X448", "P-521"]) {
      const refused = await handshake(group);
      assert.notEqual(refused.code, 0, `${group} accepted: ${refused.out}`);
      assert.match(refused.out, /handshake failure|no suitable|alert/i, `${group}: ${refused.out}`);
    }
  });

  it("refuses the internal-only route (403) and the staging hosts to a client outside internalCidrs", async () => {
    const code = (host: string) => statusFrom(CLIENT_IPS.plain, host);
    // The stack's internal networks are 127.0.0.0/8 and 172.30.90.0/25; this client is 172.30.90.200.
    assert.equal(await code(HOSTS.admin), "403", "internal-only route");
    assert.equal(await code(HOSTS.stagingApp), "404", "a staging host from outside reaches production");
    assert.equal(await code(HOSTS.app), "200");
    // From inside (this machine, through the published port), the same route serves.
    assert.equal((await echo(ctx(), HOSTS.admin)).backend, "admin-1");
  });

  it("rate-limits per source address (429 over the limit) and serves again after the window", async () => {
    const url = `https://${HOSTS.app}:${HTTPS_PORT}/limited`;
    const burst = 100; // the stack allows 60 per 3 s
    const args = ["--insecure", "--connect-to", `${HOSTS.app}:${HTTPS_PORT}:lb:${HTTPS_PORT}`];
    for (let i = 0; i < burst; i++) args.push("--output", "/dev/null", "--write-out", "%{http_code}\\n", url);
    const codes = (await curlFrom(CLIENT_IPS.limited, args)).trim().split("\n");
    assert.equal(codes.length, burst);
    assert.ok(
      codes.slice(0, 50).every((c) => c === "200"),
      `first requests: ${codes.slice(0, 50).join(" ")}`,
    );
    const limited = codes.filter((c) => c === "429").length;
    assert.ok(limited >= 20, `429 answers: ${limited} of ${burst}: ${codes.join(" ")}`);
    // Another source is not affected meanwhile.
    assert.equal((await echo(ctx(), HOSTS.app)).backend.slice(0, 4), "app-");
    const started = Date.now();
    await until(
      "served again after the window",
      async () => {
        const code = await curlFrom(CLIENT_IPS.limited, [
          ...args.slice(0, 3),
          "--output",
          "/dev/null",
          "--write-out",
          "%{http_code}",
          url,
        ]);
        return code.trim() === "200" || undefined;
      },
      15_000,
      500,
    );
    assert.ok(Date.now() - started < 15_000);
  });

  it("answers 408 and closes a connection whose request head is not complete within timeoutHttpRequest (slowloris)", async () => {
    // The stack keeps the default `timeoutHttpRequest: 5s`; the client sends a request head and never ends it.
    const started = Date.now();
    const r = await new Promise<{ data: string; ms: number }>((resolve, reject) => {
      const s = net.connect({ host: "127.0.0.1", port: HTTP_PORT });
      let data = "";
      s.setEncoding("utf8");
      s.on("connect", () => s.write(`GET / HTTP/1.1\r\nHost: ${HOSTS.app}\r\nX-Slow: 1\r\n`));
      s.on("data", (d: string) => (data += d));
      s.on("close", () => resolve({ data, ms: Date.now() - started }));
      s.on("error", reject);
      s.setTimeout(20_000, () => {
        s.destroy();
        reject(new Error(`still open after 20 s; received: ${JSON.stringify(data)}`));
      });
    });
    assert.match(r.data, /^HTTP\/1\.[01] 408 /, r.data);
    assert.ok(r.ms >= 4500 && r.ms < 12_000, `closed after ${r.ms} ms, with timeoutHttpRequest 5s`);
    // A complete request on a new connection is served as usual.
    assert.equal((await echo(ctx(), HOSTS.app)).backend.slice(0, 4), "app-");
  });

  it("reaches the staging worker by the staging host pattern only; production hosts never do", async () => {
    for (let i = 0; i < 6; i++) {
      const e = await echo(ctx(), HOSTS.stagingApp, "/preview");
      assert.equal(header(e, "X-Edge-Worker"), "staging");
      assert.equal(header(e, "X-Edge-Stage"), "staging");
      assert.equal(e.host.split(":")[0], HOSTS.app, "the worker sees the production host");
      assert.match(e.backend, /^app-[12]$/);
    }
    for (let i = 0; i < 20; i++) {
      const e = await echo(ctx(), i % 2 ? HOSTS.app : HOSTS.www, "/prod");
      assert.match(header(e, "X-Edge-Worker"), /^prod-[12]$/);
      assert.equal(header(e, "X-Edge-Stage"), "");
    }
    // A client cannot smuggle itself onto staging with the header.
    const e = await echo(ctx(), HOSTS.app, "/", { "X-Edge-Stage": "staging" });
    assert.match(header(e, "X-Edge-Worker"), /^prod-[12]$/);
  });

  it("never lets a client outside internalCidrs reach the staging worker, whichever spelling of a staging host", async () => {
    const staging = HOSTS.stagingApp;
    const spellings = [
      staging,
      staging.toUpperCase(),
      `App.Staging.${staging.split(".").slice(2).join(".")}`,
      `${staging}.`,
      `${staging}:${HTTPS_PORT}`,
      `${staging}:1`,
      `${staging.toUpperCase()}.:${HTTPS_PORT}`,
    ];
    const base = ["--insecure", "--connect-to", `${HOSTS.app}:${HTTPS_PORT}:lb:${HTTPS_PORT}`];
    for (const host of spellings) {
      const out = await curlFrom(CLIENT_IPS.plain, [
        ...base,
        "--header",
        `Host: ${host}`,
        "--write-out",
        "\n%{http_code}",
        `https://${HOSTS.app}:${HTTPS_PORT}/`,
      ]);
      const code = out.slice(out.lastIndexOf("\n") + 1);
      const body = out.slice(0, out.lastIndexOf("\n"));
      if (code === "200") {
        const worker = header(JSON.parse(body) as Echo, "X-Edge-Worker");
        assert.notEqual(worker, "staging", `Host: ${host} reached staging from outside`);
      } else {
        assert.ok(["400", "403", "404"].includes(code), `Host: ${host}: ${code}`);
      }
    }
    // An absolute request target naming the staging host: refused when Host differs (HTTP/1.1), and never staging.
    for (const [extra, want] of [
      [["--http1.1"], ["400"]],
      [["--http1.1", "--header", `Host: ${staging}`], ["404"]],
      [[], ["400", "404"]],
    ] as const) {
      const code = await curlFrom(CLIENT_IPS.plain, [
        ...base,
        ...extra,
        "--request-target",
        `https://${staging}/`,
        "--output",
        "/dev/null",
        "--write-out",
        "%{http_code}",
        `https://${HOSTS.app}:${HTTPS_PORT}/`,
      ]);
      assert.ok((want as readonly string[]).includes(code.trim()), `${extra.join(" ")}: ${code}`);
    }
  });

  it("has no TCP admin socket anywhere: every container listens on exactly its service ports", async () => {
    // HAProxy binds `:port` (IPv4 any address); nothing on loopback, nothing else.
    // ... and the load balancer's local peer (stick tables handed over on a reload), on its loopback only.
    assert.deepEqual(await servicePorts(`${STACK}-lb`), [
      `0.0.0.0:${HTTP_PORT}`,
      `0.0.0.0:${HTTPS_PORT}`,
      "127.0.0.1:10000",
    ]);
    for (const worker of WORKERS) {
      assert.deepEqual(await servicePorts(`${STACK}-${worker}`), ["0.0.0.0:8080", "127.0.0.1:8405"], worker);
      // The Data Plane API sidecar: its API port only, published on the Docker host's loopback only.
      const api = `${STACK}-${worker}-dataplaneapi`;
      assert.deepEqual(await servicePorts(api), [":::5555"], api);
      const c = await docker.request<{
        HostConfig: { PortBindings: Record<string, { HostIp: string; HostPort: string }[]> };
      }>({ method: "GET", path: `/containers/${api}/json` });
      assert.deepEqual(Object.keys(c.HostConfig.PortBindings), ["5555/tcp"]);
      assert.deepEqual(
        c.HostConfig.PortBindings["5555/tcp"].map((b) => b.HostIp),
        ["127.0.0.1"],
      );
    }
    // The runtime API is the unix socket (the one certbot's hook uses), and it answers there.
    const unix = await dockerCli(["exec", `${STACK}-lb`, "cat", "/proc/net/unix"]);
    assert.ok(unix.includes(` ${FILES.lbSocket}`), unix);
    const info = await dockerCli([
      "exec",
      `${STACK}-lb`,
      "sh",
      "-c",
      `echo "show info" | socat -t 2 stdio UNIX-CONNECT:${FILES.lbSocket}`,
    ]);
    assert.match(info, /^Name: HAProxy$/m);
    assert.match(info, /^Version: 3\.0\./m);
  });
}

const tempDir = fs.mkdtempSync(path.join(os.tmpdir(), "haproxy-edge-system-"));
function writeTemp(name: string, content: string): string {
  const file = path.join(tempDir, name);
  fs.writeFileSync(file, content, { mode: 0o600 });
  return file;
}

/** A client of a worker's Data Plane API, published on 127.0.0.1 (credentials from the stack's state). */
async function workerApi(engine: Engine, worker: string): Promise<DataplaneClient> {
  const resources = await engine.resources();
  const password = resources.find((r) => r.name === `${STACK}-${worker}-dataplaneapi-password`);
  assert.ok(password, `no password resource for ${worker}`);
  return new DataplaneClient({
    baseUrl: `http://127.0.0.1:${15555 + WORKERS.indexOf(worker)}`,
    user: "haproxy-edge",
    password: String(password.outputs.result),
  });
}

/** A worker's configuration file as its Data Plane API serves it. */
async function workerConfig(engine: Engine, worker: string): Promise<string> {
  return (await (await workerApi(engine, worker)).raw()).text;
}

/**
 * Polls the worker's Data Plane API until a transaction other than those in `before` (open before the run) is
 * open (in_progress); undefined once `done` aborts. A leftover of an earlier test then fails that test only.
 */
async function openTransaction(
  api: DataplaneClient,
  done: AbortSignal,
  before: readonly string[],
): Promise<string | undefined> {
  while (!done.aborted) {
    const open = (await api.transactions("in_progress").catch(() => [])).filter(
      (t) => !before.includes(t.id),
    );
    if (open.length > 0) return open[0].id;
    await new Promise((r) => setTimeout(r, 20));
  }
  return undefined;
}

const ROUTES_TYPE = "pulumi-nodejs:dynamic/dataplane:WorkerRoutes";

/** Non-secret rendered files of every container (its files volume's writer), by volume name and path. */
function renderedFiles(applied: Applied): Record<string, string> {
  const out: Record<string, string> = {};
  for (const w of applied.resources.filter((r) => r.type === "pulumi-nodejs:dynamic/docker:ServiceFiles")) {
    const files = [...((w.inputs.files ?? []) as unknown[]), ...((w.inputs.seedFiles ?? []) as unknown[])];
    for (const f of files as { path: string; content: unknown; mode: number }[]) {
      // Secrets (userlist, key material) are regenerated, and kept encrypted in the state.
      if (typeof f.content !== "string" || f.mode === 0o600) continue;
      out[`${String(w.inputs.volume)}:${f.path}`] = f.content;
    }
  }
  return out;
}

describe("system: the edge stack through the real engine on a real Docker engine", function () {
  let engine: Engine | undefined;
  let first: Applied | undefined;
  let second: Applied | undefined;

  before(async function () {
    await removeLeftovers();
    engine = await Engine.create({ stack: STACK, stackFile: STACK_FILE, log });
    first = await apply(engine);
  });

  after(async function () {
    await removeTestContainers();
    await engine?.dispose().catch((e) => console.error(e));
    await removeLeftovers();
    fs.rmSync(tempDir, { recursive: true, force: true });
  });

  describe("after the first `pulumi up`", () => {
    it("`pulumi preview --expect-no-changes` finds nothing to do", async () => {
      await assertNoChanges(engine as Engine);
    });
    trafficSuite(() => first as Applied);
  });

  describe("drift: a container removed by hand", () => {
    const victim = `${STACK}-prod-2`;
    const victimUrnName = `${STACK}-prod-2-haproxy`;
    let refresh: { code: number; stdout: string };
    let repairedAt = "";
    before(async function () {
      assert.ok(engine && first, "first apply failed");
      await dockerCli(["rm", "-f", victim]);
      refresh = await engine.refresh();
    });

    it("shows in `pulumi refresh` as deleted, and the state no longer holds it", async () => {
      assert.equal(refresh.code, 0, refresh.stdout);
      assert.match(
        refresh.stdout,
        new RegExp(`docker:index:Container\\s+${victimUrnName}\\s+deleted`),
        refresh.stdout,
      );
      const names = (await (engine as Engine).resources())
        .filter((r) => r.type === CONTAINER_TYPE)
        .map((r) => String(r.inputs.name));
      assert.ok(!names.includes(victim), names.join(" "));
      const preview = await (engine as Engine).preview(["--expect-no-changes"]);
      assert.notEqual(preview.code, 0, "preview sees no change although the container is gone");
    });

    it("the next `pulumi up` recreates it, and nothing else changes", async () => {
      const e = engine as Engine;
      const before = new Map(containers(first as Applied).map((c) => [String(c.inputs.name), c.id]));
      first = await apply(e);
      const after = new Map(containers(first).map((c) => [String(c.inputs.name), c.id]));
      for (const [name, id] of before) {
        if (name === victim) assert.notEqual(after.get(name), id, "the victim was not recreated");
        else assert.equal(after.get(name), id, `${name} was replaced`);
      }
      const c = await docker.request<{ State: { Running: boolean; StartedAt: string } }>({
        method: "GET",
        path: `/containers/${victim}/json`,
      });
      assert.ok(c.State.Running);
      repairedAt = c.State.StartedAt;
      assert.ok(repairedAt);
      await assertNoChanges(e);
    });
  });

  describe("after `pulumi destroy` and `pulumi up` again", () => {
    let destroyed: { code: number; stdout: string };
    let stateBefore: StateResource[];
    let stateAfter: StateResource[];
    let afterDestroy: Awaited<ReturnType<typeof stackObjects>>;
    let firstFiles: Record<string, string>;
    let firstHashes: unknown;

    before(async function () {
      assert.ok(engine && first, "first apply failed");
      firstFiles = renderedFiles(first);
      firstHashes = first.outputs.fileHashes;
      stateBefore = await engine.resources();
      await removeTestContainers(); // demo backends hold the network
      destroyed = await engine.destroy();
      first = undefined;
      stateAfter = await engine.resources();
      afterDestroy = await stackObjects();
      second = await apply(engine);
    });

    it("teardown removed every container and network; only the retained volumes are left", () => {
      assert.equal(destroyed.code, 0, destroyed.stdout);
      assert.deepEqual(stateAfter, [], "the state still holds resources");
      assert.deepEqual(afterDestroy.containers, []);
      assert.deepEqual(afterDestroy.networks, []);
      assert.deepEqual(afterDestroy.volumes, [`${STACK}-certs`]);
      assert.deepEqual(
        stateBefore.filter((r) => r.retainOnDelete).map((r) => `${r.type} ${String(r.inputs.name)}`),
        [`docker:index/volume:Volume ${STACK}-certs`],
      );
      const count = (type: string) => stateBefore.filter((r) => r.type === type && !r.retainOnDelete).length;
      assert.equal(count("docker:index/container:Container"), 7, "LB, 3 workers and their API sidecars");
      assert.equal(
        count("docker:index/volume:Volume"),
        17,
        "config, master, API state per worker; LB runtime; the files of each container",
      );
      assert.equal(count("docker:index/network:Network"), 1);
    });

    it("recreation rendered byte-identical files, and the containers hold exactly them", async () => {
      assert.ok(second);
      assert.deepEqual(second.outputs.fileHashes, firstHashes);
      const files = renderedFiles(second);
      assert.deepEqual(Object.keys(files).sort(), Object.keys(firstFiles).sort());
      for (const [key, content] of Object.entries(files)) assert.equal(content, firstFiles[key], key);
      const lbConfig = files[`${STACK}-lb-files:haproxy.cfg`];
      assert.ok(lbConfig);
      const inside = await dockerCli(["exec", `${STACK}-lb`, "cat", FILES.lbConfig]);
      assert.equal(inside, lbConfig);
    });

    it("`pulumi preview --expect-no-changes` finds nothing to do", async () => {
      await assertNoChanges(engine as Engine);
    });

    trafficSuite(() => second as Applied);
  });

  describe("a route change through `pulumi preview --diff` and `pulumi up`", () => {
    /** The system stack's routes with the `api` route's server moved from api-1 to admin-1. */
    const changed = () => {
      const file = loadStackFile(STACK_FILE);
      const routes = JSON.parse(file.config["haproxy-edge:routes"]) as { name: string; servers: string[] }[];
      return routes.map((r) => (r.name === "api" ? { ...r, servers: ["172.30.90.103:8080"] } : r));
    };
    let steps: PreviewStep[];
    let diff: string;
    before(async function () {
      assert.ok(engine && second, "the stack was not re-created");
      await engine.configure({ routes: changed() });
      steps = await engine.previewSteps();
      const r = await engine.preview(["--diff"]);
      assert.equal(r.code, 0, r.stdout);
      diff = r.stdout;
    });

    it("plans one in-place update per worker's routes, of `routes.api.servers` only: no container, no load balancer", () => {
      assert.deepEqual(
        steps.map((st) => `${st.op} ${st.type} ${st.name}`).sort(),
        WORKERS.map((w) => `update ${ROUTES_TYPE} ${STACK}-${w}-routes`).sort(),
      );
      // Node dynamic providers cannot hand the engine a detailed diff: the engine diffs the inputs itself.
      for (const st of steps) {
        for (const key of Object.keys(st.detailedDiff)) assert.match(key, /^routes\.api\.servers/, st.name);
      }
    });

    it("shows, in the diff, the route's old and new server and nothing replaced", () => {
      assert.match(diff, /"172\.30\.90\.102:8080"\s*=>\s*"172\.30\.90\.103:8080"/, diff);
      assert.equal(diff.match(/=>/g)?.length, WORKERS.length, diff);
      assert.doesNotMatch(diff, /\breplace\b/i);
      assert.doesNotMatch(diff, /haproxy\.cfg|ServiceFiles|uploads/);
    });

    it("`pulumi up` applies it: the route's path reaches the new server, other routes unchanged, no container restarted", async () => {
      const e = engine as Engine;
      const startedAt = async () =>
        Object.fromEntries(
          await Promise.all(
            containers(second as Applied).map(async (c) => {
              const name = String(c.inputs.name);
              const j = await docker.request<{ Id: string; State: { StartedAt: string } }>({
                method: "GET",
                path: `/containers/${name}/json`,
              });
              return [name, `${j.Id} ${j.State.StartedAt}`];
            }),
          ),
        );
      const before = await startedAt();
      second = await apply(e);
      await until(
        "the api route served by admin-1",
        async () =>
          (await echo(second as Applied, HOSTS.app, "/api/x")).backend === "admin-1" ? true : undefined,
        30_000,
      );
      assert.match((await echo(second, HOSTS.app, "/page")).backend, /^app-[12]$/);
      assert.deepEqual(await startedAt(), before, "every container kept its id and start time");
      await assertNoChanges(e);
    });
  });

  describe("a route whose server is down, through `pulumi up`", () => {
    let good: unknown[];
    let failed: { code: number; stdout: string; stderr: string };
    const production: Record<string, string> = {};

    before(async function () {
      assert.ok(engine && second, "the stack was not applied");
      // The routes as the previous describe left them (the api route on admin-1).
      const file = loadStackFile(STACK_FILE);
      good = (JSON.parse(file.config["haproxy-edge:routes"]) as { name: string }[]).map((r) =>
        r.name === "api" ? { ...r, servers: ["172.30.90.103:8080"] } : r,
      );
      for (const w of WORKERS.filter((x) => x !== "staging"))
        production[w] = await workerConfig(engine as Engine, w);
      // A closed port on a demo backend's address: its health check is refused.
      await engine.configure({
        routes: [
          ...good,
          { name: "broken", hosts: ["broken.systest.example.com"], servers: ["172.30.90.100:9"] },
        ],
      });
      failed = await engine.up();
    });

    it("fails at the staging worker's smoke check, naming the route, the server and HAProxy's check result", () => {
      assert.notEqual(failed.code, 0, "pulumi up succeeded");
      const out = `${failed.stdout}\n${failed.stderr}`;
      assert.match(out, /worker staging: smoke check failed, the rollout stops here/, out.slice(-3000));
      assert.match(out, /route broken server s1 \(172\.30\.90\.100:9\): DOWN, check L4CON/, out.slice(-3000));
    });

    it("leaves the production workers' configuration byte-identical (read through their Data Plane API), and puts staging back", async () => {
      for (const [w, raw] of Object.entries(production))
        assert.equal(await workerConfig(engine as Engine, w), raw, w);
      // Staging is put back to the routes the state holds, so the next `pulumi up` applies and checks it again.
      assert.doesNotMatch(
        await workerConfig(engine as Engine, "staging"),
        /route_broken/,
        "staging is back on its last applied routes",
      );
    });

    it("without the route, the next `pulumi up` converges everywhere", async () => {
      const e = engine as Engine;
      await e.configure({ routes: good });
      second = await apply(e);
      assert.doesNotMatch(await workerConfig(engine as Engine, "staging"), /route_broken/);
      await assertNoChanges(e);
    });
  });

  describe("a route HAProxy rejects, through `pulumi up`", () => {
    let failed: { code: number; stdout: string; stderr: string };
    const configs: Record<string, string> = {};
    let good: unknown[];

    before(async function () {
      assert.ok(engine && second, "the stack was not applied");
      const file = loadStackFile(STACK_FILE);
      good = (JSON.parse(file.config["haproxy-edge:routes"]) as { name: string }[]).map((r) =>
        r.name === "api" ? { ...r, servers: ["172.30.90.103:8080"] } : r,
      );
      for (const w of WORKERS) configs[w] = await workerConfig(engine, w);
      // Valid stack config, but a server name that does not resolve: HAProxy's own validation refuses it.
      await engine.configure({
        routes: [
          ...good,
          { name: "typo", hosts: ["typo.systest.example.com"], servers: ["no-such-host.invalid:8080"] },
        ],
      });
      failed = await engine.up();
    });

    it("fails at the staging worker, naming the route and HAProxy's reason", () => {
      assert.notEqual(failed.code, 0, "pulumi up succeeded");
      const out = `${failed.stdout}\n${failed.stderr}`;
      assert.match(
        out,
        /worker staging: HAProxy rejected the configuration for route typo; nothing was changed/,
        out.slice(-3000),
      );
      assert.match(out, /no-such-host\.invalid/, out.slice(-3000));
    });

    it("changes no worker's configuration, byte for byte (read through their Data Plane API)", async () => {
      for (const w of WORKERS) assert.equal(await workerConfig(engine as Engine, w), configs[w], w);
    });

    it("without the route, `pulumi up` converges and nothing is left to do", async () => {
      const e = engine as Engine;
      await e.configure({ routes: good });
      second = await apply(e);
      await assertNoChanges(e);
    });
  });

  describe("an out-of-band edit of a worker's routes (through its Data Plane API)", () => {
    let refreshed: { code: number; stdout: string };
    let preview: { code: number; stdout: string };
    before(async function () {
      assert.ok(engine && second, "the stack was not applied");
      const api = await workerApi(engine, "prod-1");
      // Somebody switches the app route's balance algorithm by hand.
      const tx = await api.startTransaction(await api.version());
      const app = (await api.backends(tx.id)).backends.find((b) => b.name === "route_app");
      assert.ok(app, "no route_app backend on prod-1");
      await api.replaceBackend({ ...app, balance: { algorithm: "source" } }, tx.id);
      await api.commitTransaction(tx.id, { forceReload: true });
      refreshed = await engine.refresh();
      preview = await engine.preview(["--diff"]);
    });

    it("`pulumi refresh` updates that worker's routes in the state, and only them", () => {
      assert.equal(refreshed.code, 0, refreshed.stdout);
      assert.match(refreshed.stdout, new RegExp(`${STACK}-prod-1-routes\\s+updated`), refreshed.stdout);
      assert.doesNotMatch(refreshed.stdout, new RegExp(`${STACK}-(staging|prod-2)-routes\\s+updated`));
    });

    it("`pulumi preview` then shows the drift as a change of that route's balance, to be undone", () => {
      assert.equal(preview.code, 0, preview.stdout);
      assert.match(preview.stdout, /"source"\s*=>\s*"roundrobin"/, preview.stdout);
      assert.match(preview.stdout, new RegExp(`${STACK}-prod-1-routes`));
    });

    it("the next `pulumi up` undoes it, and nothing is left to do", async () => {
      const e = engine as Engine;
      second = await apply(e);
      await assertNoChanges(e);
    });
  });

  describe("a large route change through `pulumi up`: a concurrent edit during it, and a run killed in the middle of it", () => {
    /** Enough routes that a worker's transaction stays open for a while (~2 s here) to act within it. */
    const BULK = 150;
    const bulk = Array.from({ length: BULK }, (_, i) => {
      const n = String(i + 1).padStart(3, "0");
      return {
        name: `bulk-${n}`,
        hosts: [`bulk-${n}.systest.example.com`],
        servers: ["172.30.90.100:8080"],
        healthCheckPath: "/healthz",
      };
    });
    let good: unknown[];
    let staging: DataplaneClient;
    let killedTx: string | undefined;

    before(async function () {
      assert.ok(engine && second, "the stack was not applied");
      const file = loadStackFile(STACK_FILE);
      good = (JSON.parse(file.config["haproxy-edge:routes"]) as { name: string }[]).map((r) =>
        r.name === "api" ? { ...r, servers: ["172.30.90.103:8080"] } : r,
      );
      staging = await workerApi(engine, "staging");
    });

    it("a change committed by hand while the staging worker's transaction is open is kept, and so is the route change (the provider starts over)", async () => {
      const e = engine as Engine;
      await e.configure({ routes: [...good, ...bulk] });
      let raced: { tx: string; before: number; after: number } | undefined;
      const openBefore = (await staging.transactions("in_progress")).map((t) => t.id);
      const r = await e.up(async (done) => {
        const tx = await openTransaction(staging, done, openBefore);
        if (!tx) return;
        // Somebody adds a backend by hand, in a transaction of their own, and commits first.
        const before = await staging.version();
        const mine = await staging.startTransaction(before);
        await staging.createBackend({ name: "be_manual", mode: "http" }, mine.id);
        try {
          await staging.commitTransaction(mine.id, { forceReload: true });
        } catch (err) {
          throw new Error(`the hand edit lost the race (the provider committed first): ${String(err)}`);
        }
        raced = { tx, before, after: await staging.version() };
      });
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
      assert.ok(raced, "no transaction of the provider was seen open on the staging worker");
      assert.ok(
        raced.after > raced.before,
        "the hand edit was committed while the provider's transaction was open",
      );
      const cfg = await workerConfig(e, "staging");
      assert.match(cfg, /^backend be_manual\b/m, "the hand edit is kept");
      assert.equal(cfg.match(/^backend route_bulk-\d{3}\b/gm)?.length, BULK, "every new route is there");
      assert.deepEqual(await staging.transactions("in_progress"), [], "no transaction left open");
      assert.equal((await echo(second as Applied, `bulk-${BULK}.systest.example.com`)).backend, "app-1");
      await assertNoChanges(e);
    });

    it("a `pulumi up` killed inside the staging worker's transaction changes nothing, and leaves that transaction open", async () => {
      const e = engine as Engine;
      const configs: Record<string, string> = {};
      for (const w of WORKERS) configs[w] = await workerConfig(e, w);
      const routesState = (await e.resources()).find((x) => x.name === `${STACK}-staging-routes`);
      assert.ok(routesState, "no staging routes resource");
      const journal = journalPath(endpointKey(routesState.inputs as unknown as WorkerRoutesInputs));
      await e.configure({ routes: good });
      // Killed once the provider has journaled the transaction: that is most of its life. (Killed in the few
      // milliseconds between the API's answer and the journal, it is not ours to delete: the next commit
      // outdates it, so it is not left in progress either.)
      const openBefore = (await staging.transactions("in_progress")).map((t) => t.id);
      const r = await e.upKilledWhen(async (done) => {
        killedTx = await openTransaction(staging, done, openBefore);
        while (killedTx && !done.aborted) {
          if (fs.existsSync(journal) && fs.readFileSync(journal, "utf8").includes(killedTx)) return true;
          await new Promise((res) => setTimeout(res, 5));
        }
        return false;
      });
      assert.ok(r.killed, `pulumi up ended before the kill:\n${r.stdout}`);
      assert.deepEqual(
        (await staging.transactions("in_progress")).map((t) => t.id),
        [killedTx],
        "the killed run's transaction is still open",
      );
      for (const w of WORKERS) assert.equal(await workerConfig(e, w), configs[w], `${w} unchanged`);
    });

    it("the next `pulumi up` is refused while the stack is locked; after `pulumi cancel` it deletes the transaction, applies the change and converges", async () => {
      const e = engine as Engine;
      const locked = await e.up();
      assert.notEqual(locked.code, 0, "pulumi up ran on a locked stack");
      assert.match(`${locked.stdout}\n${locked.stderr}`, /the stack is currently locked/);
      await e.cancel();
      const r = await e.mustUp();
      assert.match(
        r.stdout,
        /pending operations from previous deployment/,
        "the engine warned of the interrupted update",
      );
      for (const w of WORKERS) {
        const api = await workerApi(e, w);
        assert.deepEqual(await api.transactions("in_progress"), [], `${w}: no transaction left open`);
        assert.doesNotMatch((await api.raw()).text, /route_bulk-/, `${w}: the bulk routes are gone`);
      }
      // Deleted by the next run (its journal names a dead process), not merely outdated by its commit.
      await assert.rejects(
        staging.request("GET", `/services/haproxy/transactions/${killedTx}`),
        (err: unknown) => isDataplaneError(err, 404),
        `transaction ${killedTx} still exists`,
      );
      assert.match(await workerConfig(e, "staging"), /^backend be_manual\b/m, "the hand edit is still kept");
      await assertNoChanges(e);
    });
  });

  describe("switching to `routeUpdates: restart` through `pulumi up`", () => {
    let switched: { code: number; stdout: string; stderr: string };
    before(async function () {
      assert.ok(engine && second, "the stack was not applied");
      const file = loadStackFile(STACK_FILE);
      const routes = (JSON.parse(file.config["haproxy-edge:routes"]) as { name: string }[]).map((r) =>
        r.name === "api" ? { ...r, servers: ["172.30.90.103:8080"] } : r,
      );
      await engine.configure({ routes, routeUpdates: "restart" });
      switched = await engine.up();
    });

    it("succeeds: the sidecars go, and their routes with them (deleted with the sidecar, not through it)", async () => {
      assert.equal(switched.code, 0, `${switched.stdout.slice(-4000)}\n${switched.stderr.slice(-2000)}`);
      const names = (await stackObjects()).containers;
      assert.deepEqual(names.sort(), [`${STACK}-lb`, ...WORKERS.map((w) => `${STACK}-${w}`)].sort());
    });

    it("serves the same routes from the workers' own configuration, and nothing is left to do", async () => {
      await until(
        "the api route served by admin-1",
        async () =>
          (await echo(second as Applied, HOSTS.app, "/api/x")).backend === "admin-1" ? true : undefined,
        60_000,
      );
      assert.equal((await echo(second as Applied, HOSTS.admin)).backend, "admin-1");
      await assertNoChanges(engine as Engine);
    });
  });
});
