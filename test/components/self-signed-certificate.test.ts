/**
 * Tests of components/self-signed-certificate.ts: the generator the dynamic provider runs gives a PEM
 * HAProxy can load (certificate + matching PKCS#8 key, no blank lines, no CR) for the requested names.
 */
import { strict as assert } from "node:assert";
import { X509Certificate, createPrivateKey } from "node:crypto";
import { generateSelfSignedCertificate } from "../../components/self-signed-certificate";

const DAY_MS = 86_400_000;

function blocks(pem: string, label: string): string[] {
  const re = new RegExp(`-----BEGIN ${label}-----\\n[A-Za-z0-9+/=\\n]+?-----END ${label}-----\\n`, "g");
  return pem.match(re) ?? [];
}

describe("components/self-signed-certificate", () => {
  const domains = ["example.com", "*.example.com"];

  it("gives one certificate and one private key block, without blank lines or CR", async () => {
    const { pem } = await generateSelfSignedCertificate({ domains, validityDays: 30 });
    assert.equal(blocks(pem, "CERTIFICATE").length, 1, pem);
    assert.equal(blocks(pem, "PRIVATE KEY").length, 1, pem);
    assert.equal((pem.match(/-----BEGIN /g) ?? []).length, 2);
    assert.ok(!pem.includes("\r"));
    assert.ok(pem.endsWith("-----END PRIVATE KEY-----\n"), pem);
    assert.ok(pem.startsWith("-----BEGIN CERTIFICATE-----\n"), pem);
    assert.deepEqual(
      pem
        .split("\n")
        .slice(0, -1)
        .filter((l) => l.trim() === ""),
      [],
    );
    assert.equal(pem, blocks(pem, "CERTIFICATE")[0] + blocks(pem, "PRIVATE KEY")[0]);
  });

  it("covers every domain, lasts validityDays, and matches its key", async () => {
    const before = Date.now();
    const out = await generateSelfSignedCertificate({ domains, validityDays: 30 });
    const cert = new X509Certificate(blocks(out.pem, "CERTIFICATE")[0]);
    const key = createPrivateKey(blocks(out.pem, "PRIVATE KEY")[0]);

    const san = (cert.subjectAltName ?? "").split(/,\s*/);
    assert.deepEqual(san, ["DNS:example.com", "DNS:*.example.com"]);
    assert.equal(cert.checkHost("example.com"), "example.com");
    assert.equal(cert.checkHost("www.example.com"), "*.example.com");
    assert.equal(cert.checkHost("a.b.example.com"), undefined);
    assert.equal(cert.checkHost("example.org"), undefined);
    assert.match(cert.subject, /CN=example\.com/);
    assert.ok(!cert.ca);
    assert.ok(cert.checkPrivateKey(key));
    assert.equal(key.asymmetricKeyType, "ec");
    assert.ok(cert.verify(cert.publicKey), "not self-signed");

    const from = new Date(cert.validFrom).getTime();
    const to = new Date(cert.validTo).getTime();
    assert.ok(Math.abs(to - from - 30 * DAY_MS) <= 2000, `${cert.validFrom} → ${cert.validTo}`);
    assert.ok(from <= before, `valid from ${cert.validFrom}, after its creation`);
    assert.ok(from >= before - 5 * 60_000, `backdated too far: ${cert.validFrom}`);
    assert.ok(Math.abs(new Date(out.notAfter).getTime() - to) < 1000, `${out.notAfter} vs ${cert.validTo}`);

    assert.deepEqual(out.domains, domains);
    assert.equal(out.validityDays, 30);
    const strip = (h: string) => h.toLowerCase().replace(/^0+/, "");
    assert.equal(strip(cert.serialNumber), strip(out.serial));
  });

  it("honours a one-day validity", async () => {
    const { pem } = await generateSelfSignedCertificate({ domains: ["lab.example.com"], validityDays: 1 });
    const cert = new X509Certificate(blocks(pem, "CERTIFICATE")[0]);
    const days = (new Date(cert.validTo).getTime() - new Date(cert.validFrom).getTime()) / DAY_MS;
    assert.ok(Math.abs(days - 1) < 0.001, String(days));
    assert.equal(cert.subjectAltName, "DNS:lab.example.com");
  });

  it("gives a new serial and key on every call", async () => {
    const [a, b] = await Promise.all([
      generateSelfSignedCertificate({ domains, validityDays: 1 }),
      generateSelfSignedCertificate({ domains, validityDays: 1 }),
    ]);
    assert.notEqual(a.serial, b.serial);
    assert.match(a.serial, /^[0-9a-f]{32}$/);
    const ca = new X509Certificate(blocks(a.pem, "CERTIFICATE")[0]);
    const cb = new X509Certificate(blocks(b.pem, "CERTIFICATE")[0]);
    assert.notEqual(ca.serialNumber, cb.serialNumber);
    assert.notEqual(blocks(a.pem, "PRIVATE KEY")[0], blocks(b.pem, "PRIVATE KEY")[0]);
  });
});
