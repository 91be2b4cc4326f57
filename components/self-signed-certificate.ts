/**
 * A self-signed certificate generated once and kept (encrypted) in the Pulumi state.
 *
 * It is the lab certificate in `selfsigned` mode and the placeholder the load balancer starts with in `acme`
 * mode (certbot's deploy hook later swaps the real one in at the same path). Generating it in the program on
 * every run would change it every run; as a dynamic resource it changes only when its domains change.
 */
import * as pulumi from "@pulumi/pulumi";

/** Inputs of {@link SelfSignedCertificate}. */
export interface SelfSignedCertificateArgs {
  /** DNS names (SAN); the first is also the subject CN. Wildcards such as `*.example.com` are allowed. */
  domains: pulumi.Input<pulumi.Input<string>[]>;
  /** Validity in days. */
  validityDays: pulumi.Input<number>;
}

interface CertInputs {
  domains: string[];
  validityDays: number;
}

interface CertOutputs extends CertInputs {
  /** Certificate followed by its PKCS#8 private key, PEM, no blank lines (HAProxy's `crt` format). */
  pem: string;
  /** Hex serial number. */
  serial: string;
  notAfter: string;
}

/** Generates an ECDSA P-256 key and a self-signed certificate for `domains`. Runs in the provider process. */
async function generate(inputs: CertInputs): Promise<CertOutputs> {
  // Required here, not at the top of the module: this function is serialized into the dynamic provider.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require("reflect-metadata");
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const x509 = require("@peculiar/x509") as typeof import("@peculiar/x509");
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { webcrypto, randomBytes } = require("node:crypto") as typeof import("node:crypto");
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = (await webcrypto.subtle.generateKey(alg, true, [
    "sign",
    "verify",
  ])) as import("node:crypto").webcrypto.CryptoKeyPair;
  const serial = randomBytes(16);
  serial[0] &= 0x7f; // positive
  const notBefore = new Date(Date.now() - 60_000);
  const notAfter = new Date(notBefore.getTime() + inputs.validityDays * 86_400_000);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial.toString("hex"),
    name: `CN=${inputs.domains[0]}`,
    notBefore,
    notAfter,
    signingAlgorithm: alg,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(
        inputs.domains.map((d) => ({ type: "dns" as const, value: d })),
      ),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey("pkcs8", keys.privateKey);
  const keyPem = x509.PemConverter.encode(pkcs8, "PRIVATE KEY");
  const pem = `${cert.toString("pem")}\n${keyPem}\n`.replace(/\r/g, "").replace(/\n{2,}/g, "\n");
  return { ...inputs, pem, serial: serial.toString("hex"), notAfter: notAfter.toISOString() };
}

const provider: pulumi.dynamic.ResourceProvider<CertInputs, CertOutputs> = {
  async create(inputs) {
    const outs = await generate(inputs);
    return { id: `selfsigned-${outs.serial}`, outs };
  },
  async diff(_id, olds, news) {
    const replaces: string[] = [];
    if (JSON.stringify(olds.domains) !== JSON.stringify(news.domains)) replaces.push("domains");
    if (olds.validityDays !== news.validityDays) replaces.push("validityDays");
    return { changes: replaces.length > 0, replaces, deleteBeforeReplace: false };
  },
};

/** A self-signed certificate (dynamic resource); `pem` is a secret. */
export class SelfSignedCertificate extends pulumi.dynamic.Resource {
  /** Certificate + private key, PEM (secret). */
  declare public readonly pem: pulumi.Output<string>;
  declare public readonly serial: pulumi.Output<string>;
  declare public readonly notAfter: pulumi.Output<string>;

  constructor(name: string, args: SelfSignedCertificateArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      provider,
      name,
      { ...args, pem: undefined, serial: undefined, notAfter: undefined },
      { ...opts, additionalSecretOutputs: ["pem"] },
      "tls",
      "SelfSignedCertificate",
    );
  }
}

/** Exposed for tests: the generator the provider runs. */
export const generateSelfSignedCertificate = generate;
