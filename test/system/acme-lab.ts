/**
 * The ACME lab of the certificate tests: a private ACME server (Debian's pebble) that validates DNS-01 against
 * an RFC 2136 DNS server (Debian's bind9) serving the lab zone and accepting updates only with the TSIG key.
 * Both run from `haproxy-edge/acme-lab:trixie` (scripts/images.sh) as test containers with fixed addresses on
 * the stack's network, with their files bind-mounted from a temporary folder of this machine. Pebble resolves
 * DNS-01 challenges with that server (`-dnsserver`), and certbot trusts pebble's certificate through the stack's
 * `acmeCaBundle`.
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { NETWORK, STACK, containerLogs, dockerCli, run, until } from "./support";

export const ACME_LAB_IMAGE = "haproxy-edge/acme-lab:trixie";
/** Fixed addresses on the stack's network (172.30.90.0/24, see Pulumi.systest.yaml). */
export const ACME_LAB = {
  zone: "systest.example.com",
  dnsIp: "172.30.90.53",
  pebbleIp: "172.30.90.14",
  keyName: "certbot-key.",
  dnsContainer: `${STACK}-acme-dns`,
  pebbleContainer: `${STACK}-acme-pebble`,
} as const;

async function openssl(args: string[], cwd: string): Promise<void> {
  const r = await run("openssl", args, 30_000, undefined, cwd);
  if (r.code !== 0) throw new Error(`openssl ${args[0]}: ${r.stderr.trim()}`);
}

/** A base64 TSIG secret for HMAC-SHA512 (64 random bytes, as tsig-keygen makes). */
export function tsigSecret(): string {
  return randomBytes(64).toString("base64");
}

export class AcmeLab {
  private constructor(
    /** Host folder mounted at /lab in both containers. */
    readonly dir: string,
    /** The TSIG secret bind9 accepts. */
    readonly secret: string,
    /** CA of pebble's HTTPS listener (what certbot must trust: the stack's `acmeCaBundle`). */
    readonly listenerCa: string,
  ) {}

  /** Writes bind9's and pebble's files (a fresh zone, TSIG key and listener certificate). */
  static async prepare(): Promise<AcmeLab> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "haproxy-edge-acme-lab-"));
    fs.chmodSync(dir, 0o755);
    const secret = tsigSecret();
    const { zone, dnsIp, pebbleIp, keyName } = ACME_LAB;
    for (const d of ["bind/data", "pebble", "pki"]) fs.mkdirSync(path.join(dir, d), { recursive: true });
    fs.writeFileSync(
      path.join(dir, "bind/tsig.key"),
      `key "${keyName}" {\n  algorithm hmac-sha512;\n  secret "${secret}";\n};\n`,
    );
    fs.writeFileSync(
      path.join(dir, "bind/named.conf"),
      [
        "options {",
        '  directory "/lab/bind/data";',
        '  pid-file "/lab/bind/data/named.pid";',
        '  session-keyfile "/lab/bind/data/session.key";',
        "  listen-on port 53 { any; };",
        "  listen-on-v6 { none; };",
        "  recursion no;",
        "  allow-query { any; };",
        "  allow-transfer { none; };",
        "  dnssec-validation no;",
        "  notify no;",
        "};",
        "controls { };",
        'include "/lab/bind/tsig.key";',
        `zone "${zone}" {`,
        "  type primary;",
        `  file "${zone}.zone";`,
        // TXT records only, and only with the key: what DNS-01 needs and nothing more.
        `  update-policy { grant ${keyName} zonesub TXT; };`,
        "};",
        "",
      ].join("\n"),
    );
    fs.writeFileSync(
      path.join(dir, `bind/data/${zone}.zone`),
      [
        "$TTL 60",
        `@   IN SOA ns1.${zone}. hostmaster.${zone}. ( 1 60 60 600 10 )`,
        `@   IN NS  ns1.${zone}.`,
        `ns1 IN A   ${dnsIp}`,
        "@   IN A   127.0.0.1",
        "*   IN A   127.0.0.1",
        "",
      ].join("\n"),
    );
    const pki = path.join(dir, "pki");
    await openssl(
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=haproxy-edge test ACME listener CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
      ],
      pki,
    );
    await openssl(
      [
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-subj",
        "/CN=pebble",
        "-keyout",
        "pebble.key",
        "-out",
        "pebble.csr",
      ],
      pki,
    );
    fs.writeFileSync(
      path.join(pki, "pebble.ext"),
      `subjectAltName=IP:${pebbleIp},DNS:pebble\nextendedKeyUsage=serverAuth\n`,
    );
    await openssl(
      [
        "x509",
        "-req",
        "-in",
        "pebble.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "pebble.ext",
        "-out",
        "pebble.pem",
      ],
      pki,
    );
    fs.writeFileSync(
      path.join(dir, "pebble/pebble-config.json"),
      JSON.stringify(
        {
          pebble: {
            listenAddress: "0.0.0.0:14000",
            managementListenAddress: "0.0.0.0:15000",
            certificate: "/lab/pki/pebble.pem",
            privateKey: "/lab/pki/pebble.key",
            httpPort: 5002,
            tlsPort: 5001,
            ocspResponderURL: "",
            externalAccountBindingRequired: false,
          },
        },
        null,
        2,
      ),
    );
    // The containers read these as other users (bind); nothing here is a production secret.
    for (const f of ["pki/pebble.key", "bind/tsig.key"]) fs.chmodSync(path.join(dir, f), 0o644);
    return new AcmeLab(dir, secret, fs.readFileSync(path.join(pki, "ca.pem"), "utf8"));
  }

  /** The stack config that points the program's certbot at this lab (top-level keys, no namespace). */
  stackOverrides(): Record<string, unknown> {
    return {
      tlsMode: "acme",
      acmeServer: `https://${ACME_LAB.pebbleIp}:14000/dir`,
      acmeEmail: `hostmaster@${ACME_LAB.zone}`,
      acmeDnsServer: ACME_LAB.dnsIp,
      acmeDnsPort: 53,
      acmeTsigKeyName: ACME_LAB.keyName,
      // Lower case on purpose: the program must upper-case it (certbot-dns-rfc2136 falls back to MD5 otherwise).
      acmeTsigAlgorithm: "hmac-sha512",
      acmeTsigSecret: this.secret,
      acmePropagationSeconds: 0,
      acmeCaBundle: this.listenerCa,
    };
  }

  /** Starts bind9 and pebble on the stack's network (it must exist) and waits until both answer. */
  async start(): Promise<void> {
    const common = ["run", "-d", "--label", `haproxy-edge.test=${STACK}`, "--network", NETWORK];
    const mount = ["-v", `${this.dir}:/lab`];
    await dockerCli([
      ...common,
      "--name",
      ACME_LAB.dnsContainer,
      "--ip",
      ACME_LAB.dnsIp,
      ...mount,
      ACME_LAB_IMAGE,
      "sh",
      "-c",
      "chown -R bind:bind /lab/bind/data && named-checkconf /lab/bind/named.conf && exec named -g -u bind -c /lab/bind/named.conf",
    ]);
    await dockerCli([
      ...common,
      "--name",
      ACME_LAB.pebbleContainer,
      "--ip",
      ACME_LAB.pebbleIp,
      ...mount,
      // Deterministic tests: no random validation sleep, no rejected good nonces, DNS-01 on every order.
      "-e",
      "PEBBLE_VA_NOSLEEP=1",
      "-e",
      "PEBBLE_WFE_NONCEREJECT=0",
      "-e",
      "PEBBLE_AUTHZREUSE=0",
      ACME_LAB_IMAGE,
      "pebble",
      "-config",
      "/lab/pebble/pebble-config.json",
      "-dnsserver",
      `${ACME_LAB.dnsIp}:53`,
      "-strict=false",
    ]);
    await until(
      "bind9 answers the lab zone's SOA",
      async () => {
        const soa = await dockerCli(
          [
            "exec",
            ACME_LAB.dnsContainer,
            "dig",
            "+short",
            "+time=1",
            "+tries=1",
            "@127.0.0.1",
            "SOA",
            ACME_LAB.zone,
          ],
          10_000,
        );
        return soa.includes(`ns1.${ACME_LAB.zone}.`) ? true : undefined;
      },
      30_000,
    );
    await until(
      "pebble serves its ACME directory",
      async () => {
        const dir = await this.pebbleGet(`https://${ACME_LAB.pebbleIp}:14000/dir`);
        return dir.includes("newNonce") ? true : undefined;
      },
      30_000,
    );
  }

  /** GET through curl inside the pebble container (its listener is on the stack's network only). */
  private pebbleGet(url: string): Promise<string> {
    return dockerCli(
      [
        "exec",
        ACME_LAB.pebbleContainer,
        "curl",
        "-sS",
        "--max-time",
        "5",
        "--cacert",
        "/lab/pki/ca.pem",
        url,
      ],
      15_000,
    );
  }

  /** The root of the chains pebble issues (it changes every time pebble starts). */
  async issuingRoot(): Promise<string> {
    const pem = await this.pebbleGet(`https://${ACME_LAB.pebbleIp}:15000/roots/0`);
    if (!pem.includes("-----BEGIN CERTIFICATE-----"))
      throw new Error(`pebble /roots/0: ${pem.slice(0, 200)}`);
    return pem;
  }

  /** bind9's log (its stderr, `named -g`). */
  dnsLog(): Promise<string> {
    return containerLogs(ACME_LAB.dnsContainer);
  }

  /** Removes the lab's containers (before the stack's network is removed) but keeps its files. */
  async stop(): Promise<void> {
    for (const c of [ACME_LAB.pebbleContainer, ACME_LAB.dnsContainer]) {
      await dockerCli(["rm", "-f", c]).catch(() => undefined);
    }
  }

  /** Removes the containers and the folder. */
  async dispose(): Promise<void> {
    await this.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
