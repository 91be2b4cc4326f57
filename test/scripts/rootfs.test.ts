/**
 * Tests of the HAProxy 3.0 validation harness: scripts/rootfs.sh (the cached
 * Debian trixie rootfs) and test/support/haproxy-check.ts (haproxy -c in a
 * private overlay of it). Needs the rootfs: `bash scripts/rootfs.sh` once.
 */
import "reflect-metadata"; // @peculiar/x509 needs a Reflect polyfill, loaded first
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { webcrypto } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as x509 from "@peculiar/x509";
import { defaultRootfsPath, haproxyCheck, haproxyRootfs } from "../support/haproxy-check";

const SCRIPT = path.resolve(__dirname, "..", "..", "scripts", "rootfs.sh");
const CFG = "/usr/local/etc/haproxy/haproxy.cfg";
const EXTRA_CFG = "/usr/local/etc/haproxy/conf.d/10-backends.cfg";
const PEM = "/usr/local/etc/haproxy/certs/edge.pem";
const PAGE = "/usr/local/etc/haproxy-edge/404.html";

/** A self-signed ECDSA certificate and its key, concatenated as HAProxy's `crt` wants them. */
async function selfSignedPem(commonName: string): Promise<string> {
  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = await webcrypto.subtle.generateKey(alg, true, ["sign", "verify"]);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: `CN=${commonName}`,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    signingAlgorithm: alg,
    keys,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: "dns", value: commonName }])],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey));
  const key = pkcs8.toString("base64").replace(/(.{64})/g, "$1\n");
  return `${cert.toString("pem")}\n-----BEGIN PRIVATE KEY-----\n${key.trimEnd()}\n-----END PRIVATE KEY-----\n`;
}

/** Master-worker edge config: unix stats socket, TLS bind, a page served from a file, env var. */
function validConfig(page = PAGE): string {
  return `global
  master-worker
  user haproxy
  group haproxy
  stats socket /var/run/haproxy/admin.sock mode 660 level admin expose-fd listeners
  log stdout format raw local0

defaults
  mode http
  log global
  timeout connect 5s
  timeout client 30s
  timeout server 30s

frontend edge
  bind :80
  bind :443 ssl crt ${PEM} alpn h2,http/1.1
  http-request return status 404 content-type text/html file ${page} if !{ path_beg /.well-known/ }
  default_backend be_app
`;
}

const backends = `backend be_app
  server app1 127.0.0.1:"\${APP_PORT}" check
`;

describe("scripts/rootfs.sh + test/support/haproxy-check", function () {
  let root: string;
  let pem: string;
  const watched = ["", "etc", "run", "usr/local", "usr/local/etc", "tmp"];
  let statsBefore: Map<string, string>;
  const stamp = (p: string) => {
    const st = fs.statSync(path.join(root, p));
    return `${st.mtimeMs}/${st.ctimeMs}/${st.nlink}`;
  };

  before(async function () {
    root = haproxyRootfs();
    pem = await selfSignedPem("edge.test");
    statsBefore = new Map(watched.map((p) => [p, stamp(p)]));
  });

  it("--print-path names the directory a cached run reuses, and haproxyRootfs() agrees", function () {
    const printed = execFileSync("bash", [SCRIPT, "--print-path"], { encoding: "utf8" }).trim();
    assert.match(printed, /\/rootfs-trixie-[0-9a-f]{12}$/);
    assert.equal(defaultRootfsPath(), printed);
    if (!fs.existsSync(printed)) {
      // Nothing cached here: the rootfs in use must then be the HAPROXY_EDGE_ROOTFS override.
      assert.ok(process.env.HAPROXY_EDGE_ROOTFS, `no cached rootfs at ${printed} and no HAPROXY_EDGE_ROOTFS`);
      assert.equal(haproxyRootfs(), process.env.HAPROXY_EDGE_ROOTFS);
      return;
    }
    const t0 = Date.now();
    const out = execFileSync("bash", [SCRIPT], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    const elapsed = Date.now() - t0;
    assert.equal(out.trim().split("\n").pop(), printed);
    assert.ok(elapsed < 1000, `cached run took ${elapsed} ms`);
    const saved = process.env.HAPROXY_EDGE_ROOTFS;
    delete process.env.HAPROXY_EDGE_ROOTFS;
    try {
      assert.equal(haproxyRootfs(), printed);
    } finally {
      if (saved !== undefined) process.env.HAPROXY_EDGE_ROOTFS = saved;
    }
  });

  it("haproxyRootfs() explains how to build a missing rootfs", function () {
    const saved = process.env.HAPROXY_EDGE_ROOTFS;
    process.env.HAPROXY_EDGE_ROOTFS = "/nonexistent/rootfs-trixie-x";
    try {
      assert.throws(
        () => haproxyRootfs(),
        /HAProxy 3\.0 rootfs not found at \/nonexistent\/rootfs-trixie-x; run `bash scripts\/rootfs\.sh`/,
      );
    } finally {
      if (saved === undefined) delete process.env.HAPROXY_EDGE_ROOTFS;
      else process.env.HAPROXY_EDGE_ROOTFS = saved;
    }
  });

  it("accepts a valid master-worker config with a unix stats socket, TLS and a file response", async function () {
    const res = await haproxyCheck(
      { [CFG]: validConfig(), [EXTRA_CFG]: backends, [PEM]: pem, [PAGE]: "<h1>Not found</h1>\n" },
      [CFG, EXTRA_CFG],
      { env: { APP_PORT: "8080" } },
    );
    assert.equal(res.ok, true, res.output);
    assert.doesNotMatch(res.output, /ALERT/);
    assert.match(res.version, /^HAProxy version 3\.0\.\d+/);
  });

  it("places files through the rootfs's symlinks (/var/run -> /run)", async function () {
    const res = await haproxyCheck(
      { [CFG]: validConfig("/run/haproxy-edge/page.html"), [EXTRA_CFG]: backends, [PEM]: pem },
      [CFG, EXTRA_CFG],
      { env: { APP_PORT: "8080" } },
    );
    assert.equal(res.ok, false, "the page is missing, so this must fail");
    const withPage = await haproxyCheck(
      {
        [CFG]: validConfig("/run/haproxy-edge/page.html"),
        [EXTRA_CFG]: backends,
        [PEM]: pem,
        "/var/run/haproxy-edge/page.html": "hi",
      },
      [CFG, EXTRA_CFG],
      { env: { APP_PORT: "8080" } },
    );
    assert.equal(withPage.ok, true, withPage.output);
  });

  it("rejects a syntax error, naming the file and line", async function () {
    const broken = validConfig().replace(
      "  default_backend be_app\n",
      "  default_backend be_app\n  bogus-directive on\n",
    );
    const line = broken.split("\n").indexOf("  bogus-directive on") + 1;
    const res = await haproxyCheck({ [CFG]: broken, [PEM]: pem, [PAGE]: "x" }, [CFG]);
    assert.equal(res.ok, false);
    assert.match(res.output, new RegExp(`\\[${CFG.replace(/\./g, "\\.")}:${line}\\]`));
    assert.match(res.output, /unknown keyword 'bogus-directive'/);
  });

  it("rejects a config that references a missing file", async function () {
    const res = await haproxyCheck(
      { [CFG]: validConfig(), [EXTRA_CFG]: backends, [PEM]: pem },
      [CFG, EXTRA_CFG],
      {
        env: { APP_PORT: "8080" },
      },
    );
    assert.equal(res.ok, false);
    assert.match(res.output, new RegExp(`error opening file '${PAGE.replace(/\./g, "\\.")}'`));
  });

  it("keeps concurrent checks of the same path apart", async function () {
    const good = { [CFG]: validConfig(), [EXTRA_CFG]: backends, [PEM]: pem, [PAGE]: "ok" };
    const bad = {
      ...good,
      [PEM]: "-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n",
    };
    const opts = { env: { APP_PORT: "8080" } };
    const results = await Promise.all([
      haproxyCheck(good, [CFG, EXTRA_CFG], opts),
      haproxyCheck(bad, [CFG, EXTRA_CFG], opts),
      haproxyCheck(good, [CFG, EXTRA_CFG], opts),
      haproxyCheck(bad, [CFG, EXTRA_CFG], opts),
    ]);
    assert.deepEqual(
      results.map((r) => r.ok),
      [true, false, true, false],
      results.map((r) => r.output).join("\n---\n"),
    );
    assert.match(results[1].output, new RegExp(PEM.replace(/\./g, "\\.")));
  });

  it("kills a check at its deadline and says so", async function () {
    await assert.rejects(
      haproxyCheck({ [CFG]: validConfig(), [PEM]: pem, [PAGE]: "x" }, [CFG], { timeoutMs: 1 }),
      /did not finish within 1 ms/,
    );
  });

  it("refuses relative or unnormalized paths", async function () {
    await assert.rejects(haproxyCheck({ "etc/x.cfg": "" }, ["/etc/x.cfg"]), /absolute and normalized/);
    await assert.rejects(haproxyCheck({ "/etc/../x.cfg": "" }, ["/x.cfg"]), /absolute and normalized/);
  });

  it("leaves the cached rootfs, the mount table and the temp dir as they were", async function () {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "haproxy-check-test-"));
    const savedTmp = process.env.TMPDIR;
    process.env.TMPDIR = tmp;
    try {
      const res = await haproxyCheck({ [CFG]: "global\n", "/etc/haproxy-edge-marker": "x" }, [CFG]);
      assert.equal(res.ok, true, res.output);
      assert.deepEqual(fs.readdirSync(tmp), [], "the check's temp dir was not removed");
    } finally {
      if (savedTmp === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = savedTmp;
      fs.rmSync(tmp, { recursive: true, force: true });
    }
    for (const p of [CFG, EXTRA_CFG, PEM, PAGE, "/etc/haproxy-edge-marker", "/run/haproxy-edge"]) {
      assert.equal(fs.existsSync(path.join(root, p)), false, `${p} leaked into the cached rootfs`);
    }
    for (const p of watched) assert.equal(stamp(p), statsBefore.get(p), `/${p} changed in the cached rootfs`);
    const mounts = fs.readFileSync("/proc/self/mountinfo", "utf8");
    assert.doesNotMatch(mounts, /haproxy-check-/);
    assert.doesNotMatch(mounts, new RegExp(root.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")));
  });
});

describe("scripts/rootfs.sh --extra-packages", function () {
  const printPath = (...args: string[]) =>
    execFileSync("bash", [SCRIPT, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();

  it("names a separate cache entry per extra package list, next to the default one", function () {
    const base = printPath("--print-path");
    const certbot = printPath("--print-path", "--extra-packages", "certbot,python3-certbot-dns-rfc2136");
    assert.match(certbot, /\/rootfs-trixie-extra-[0-9a-f]{12}$/);
    assert.equal(path.dirname(certbot), path.dirname(base));
    assert.equal(printPath("--extra-packages=certbot,python3-certbot-dns-rfc2136", "--print-path"), certbot);
    assert.notEqual(printPath("--print-path", "--extra-packages", "certbot"), certbot);
    // Without the option (or with an empty list) the default rootfs is unchanged.
    assert.equal(printPath("--print-path", "--extra-packages", ""), base);
  });

  it("refuses anything but comma-separated Debian package names", function () {
    for (const bad of ["certbot python3", "certbot,", "-certbot", "Certbot", "certbot;rm"]) {
      assert.throws(
        () => printPath("--print-path", "--extra-packages", bad),
        (err: { status?: number; stderr?: string }) =>
          err.status === 1 && /must be comma-separated Debian package names/.test(String(err.stderr)),
        bad,
      );
    }
    assert.throws(
      () => printPath("--extra-packages"),
      (err: { stderr?: string }) => /--extra-packages needs a value/.test(String(err.stderr)),
    );
  });
});
