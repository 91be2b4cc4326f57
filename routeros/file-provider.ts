/**
 * A file on a RouterOS router, written over SFTP (dynamic resource).
 *
 * `command.remote.CopyToRemote` cannot be previewed when its content is not known yet (its check refuses an
 * unknown asset: "either asset or archive must be set"), which is the case on a stack's first preview for every
 * file made from another resource (the certificate, a password hash). This resource takes the content as a
 * plain input (a secret one stays encrypted in the state), so `pulumi preview` works, an update rewrites the
 * file, and a delete removes it. Its outputs hold the content's sha256, not the content; the router key is kept
 * as a secret output because a delete needs it.
 */
import * as pulumi from "@pulumi/pulumi";
import { connectRouter, type RouterSsh } from "./ssh";

/** Inputs of {@link RouterOsSftpFile}. */
export interface RouterOsSftpFileArgs {
  /** The router's SSH endpoint (host key pinned when given). */
  router: pulumi.Input<RouterSsh>;
  /** The router's SSH private key (secret). */
  privateKey: pulumi.Input<string>;
  /** The file's path on the router (`<disk>/...`); its directory must exist. */
  path: pulumi.Input<string>;
  /** The file's content. */
  content: pulumi.Input<string>;
}

interface FileInputs {
  router: RouterSsh;
  privateKey: string;
  path: string;
  content: string;
}

interface FileOutputs {
  router: RouterSsh;
  privateKey: string;
  path: string;
  sha256: string;
}

/** Bound of one SFTP operation after the session is up. */
const SFTP_TIMEOUT_MS = 60_000;

/** A router path: relative, no `..`, no control characters or quotes. */
export function checkRouterFilePath(p: string): string | undefined {
  if (typeof p !== "string" || p.length === 0 || p.length > 255)
    return "must be a path of 1 to 255 characters";
  if (p.startsWith("/") || p.split("/").some((s) => s === "" || s === "." || s === ".."))
    return "must be a relative path without empty, . or .. segments";
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f"\\]/.test(p)) return "must not contain control characters, quotes or backslashes";
  return undefined;
}

function sha256(text: string): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { createHash } = require("node:crypto") as typeof import("node:crypto");
  return createHash("sha256").update(text, "utf8").digest("hex");
}

/** Runs `fn` with an SFTP session on the router; every step is bounded in time. */
async function withSftp<T>(
  router: RouterSsh,
  privateKey: string,
  fn: (sftp: import("ssh2").SFTPWrapper) => Promise<T>,
): Promise<T> {
  const conn = await connectRouter(router, privateKey, "sftp");
  try {
    const sftp = await new Promise<import("ssh2").SFTPWrapper>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`sftp: no subsystem within ${SFTP_TIMEOUT_MS} ms`)),
        SFTP_TIMEOUT_MS,
      );
      conn.sftp((err, s) => {
        clearTimeout(timer);
        if (err) reject(new Error(`sftp on ${router.user}@${router.host}:${router.port}: ${err.message}`));
        else resolve(s);
      });
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`sftp: no answer within ${SFTP_TIMEOUT_MS} ms`)),
        SFTP_TIMEOUT_MS,
      );
    });
    try {
      return await Promise.race([fn(sftp), timeout]);
    } finally {
      clearTimeout(timer);
    }
  } finally {
    conn.end();
  }
}

/** Writes the whole file (created or truncated). */
async function writeFile(inputs: FileInputs): Promise<void> {
  await withSftp(
    inputs.router,
    inputs.privateKey,
    (sftp) =>
      new Promise<void>((resolve, reject) =>
        sftp.writeFile(inputs.path, Buffer.from(inputs.content, "utf8"), (err) =>
          err
            ? reject(new Error(`sftp write ${inputs.path} on ${inputs.router.host}: ${err.message}`))
            : resolve(),
        ),
      ),
  );
}

/** Removes the file; a file already gone is fine. */
async function removeFile(props: FileOutputs): Promise<void> {
  await withSftp(
    props.router,
    props.privateKey,
    (sftp) =>
      new Promise<void>((resolve, reject) =>
        sftp.unlink(props.path, (err) => {
          // SFTP status 2: SSH_FX_NO_SUCH_FILE.
          if (!err || (err as Error & { code?: number }).code === 2) resolve();
          else reject(new Error(`sftp remove ${props.path} on ${props.router.host}: ${err.message}`));
        }),
      ),
  );
}

function outputsOf(inputs: FileInputs): FileOutputs {
  return {
    router: inputs.router,
    privateKey: inputs.privateKey,
    path: inputs.path,
    sha256: sha256(inputs.content),
  };
}

/** The dynamic provider of {@link RouterOsSftpFile}. */
export function routerOsFileProvider(): pulumi.dynamic.ResourceProvider<FileInputs, FileOutputs> {
  return {
    async check(_olds, news) {
      const why = checkRouterFilePath(news.path);
      return why ? { inputs: news, failures: [{ property: "path", reason: why }] } : { inputs: news };
    },
    async diff(_id, olds, news) {
      const replaces: string[] = [];
      if (olds.path !== news.path) replaces.push("path");
      const r = olds.router;
      const n = news.router;
      if (r.host !== n.host || r.port !== n.port || r.user !== n.user) replaces.push("router");
      const changes =
        replaces.length > 0 ||
        olds.sha256 !== sha256(news.content) ||
        r.hostKey !== n.hostKey ||
        r.acceptAnyHostKey !== n.acceptAnyHostKey;
      // A new key changes nothing on the router, but the state must hold it for a later delete.
      return {
        changes: changes || olds.privateKey !== news.privateKey,
        replaces,
        deleteBeforeReplace: false,
      };
    },
    async create(inputs) {
      await writeFile(inputs);
      return { id: `${inputs.router.host}:${inputs.router.port}/${inputs.path}`, outs: outputsOf(inputs) };
    },
    async update(_id, olds, news) {
      if (olds.sha256 !== sha256(news.content)) await writeFile(news);
      return { outs: outputsOf(news) };
    },
    async delete(_id, props) {
      await removeFile(props);
    },
  };
}

const provider = routerOsFileProvider();

/** A file on a RouterOS router, written over SFTP. */
export class RouterOsSftpFile extends pulumi.dynamic.Resource {
  declare public readonly path: pulumi.Output<string>;
  declare public readonly sha256: pulumi.Output<string>;

  constructor(name: string, args: RouterOsSftpFileArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      provider,
      name,
      { ...args, privateKey: pulumi.secret(args.privateKey), sha256: undefined },
      { ...opts, additionalSecretOutputs: ["privateKey"] },
      "routeros",
      "SftpFile",
    );
  }
}
