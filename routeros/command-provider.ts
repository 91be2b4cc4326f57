/**
 * One RouterOS object's `create`/`update`/`delete` command lines, each run as one SSH exec (dynamic resource).
 *
 * RouterOS exits 0 even when a command fails and prints the error on stdout, so `remote.Command` (which fails
 * only on a non-zero exit) records a refused step as done. This resource checks the output of every run with
 * {@link checkRouterOutput} and fails the step before Pulumi records it as done:
 * - a failed create or update is kept in the state with the router's message as its initialization error, so
 *   dependents are held back, the next `pulumi up` runs the failed command again, and `pulumi destroy` runs
 *   its delete (the object may exist half-made);
 * - a failed delete keeps the resource in the state (and everything it depends on), to be retried.
 * The router key is kept as a secret output because a delete needs it.
 */
import * as pulumi from "@pulumi/pulumi";
import { connectRouter, type RouterSsh } from "./ssh";
import { checkRouterOutput } from "./commands";

/** Inputs of {@link RouterOsCommand}. */
export interface RouterOsCommandArgs {
  /** The router's SSH endpoint (host key pinned when given). */
  router: pulumi.Input<RouterSsh>;
  /** The router's SSH private key (kept secret). */
  privateKey: pulumi.Input<string>;
  /** Makes the object (idempotent). */
  create: pulumi.Input<string>;
  /** Removes the object (idempotent: removing an absent object succeeds). */
  delete: pulumi.Input<string>;
  /** Run when `create`, `update` or the connection changes; default: `create` again. */
  update?: pulumi.Input<string>;
  /** A change of any of these (or of `delete`, the object's identity) replaces the object: delete, then create. */
  triggers?: pulumi.Input<pulumi.Input<string>[]>;
  /** Bound of one run, in seconds (the command's own bounded waits must fit in it). */
  timeoutSeconds: number;
}

interface CommandInputs {
  router: RouterSsh;
  privateKey: string;
  create: string;
  delete: string;
  update?: string;
  triggers?: string[];
  timeoutSeconds: number;
}

interface CommandOutputs extends CommandInputs {
  /** The last run's output (checked). */
  stdout: string;
  /** The step that failed and must run again (set only in the state of a failed create or update). */
  failed?: "create" | "update";
}

/** Output kept per run: RouterOS answers are short; anything longer is cut from the front. */
const MAX_OUTPUT = 64 * 1024;

/**
 * Runs one command line on the router and returns its stdout.
 * @throws on an SSH failure, a non-zero exit (SSH-level failure only), or no end within `timeoutSeconds`.
 */
export async function routerExec(
  router: RouterSsh,
  privateKey: string,
  command: string,
  timeoutSeconds: number,
): Promise<string> {
  const where = `${router.user}@${router.host}:${router.port}`;
  const conn = await connectRouter(router, privateKey, "RouterOS command");
  try {
    return await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`RouterOS command on ${where}: no end within ${timeoutSeconds} s`)),
        timeoutSeconds * 1000,
      );
      const fail = (e: Error) => {
        clearTimeout(timer);
        reject(new Error(`RouterOS command on ${where}: ${e.message}`));
      };
      conn.once("error", fail);
      conn.exec(command, (err, stream) => {
        if (err) return fail(err);
        let out = "";
        let errOut = "";
        let code: number | null = null;
        stream.setEncoding("utf8");
        stream.on("data", (d: string) => (out = (out + d).slice(-MAX_OUTPUT)));
        stream.stderr.setEncoding("utf8");
        stream.stderr.on("data", (d: string) => (errOut = (errOut + d).slice(-2000)));
        stream.on("exit", (c: number | null) => (code = c));
        stream.on("close", () => {
          clearTimeout(timer);
          if (code !== null && code !== 0) {
            const why = errOut.trim() || out.trim().slice(-2000);
            reject(new Error(`RouterOS command on ${where}: exit status ${code}${why ? `: ${why}` : ""}`));
          } else resolve(out);
        });
      });
    });
  } finally {
    conn.end();
  }
}

/** Runs `command` and checks its output; the error names the step and carries the router's message. */
async function runChecked(props: CommandInputs, step: string, command: string): Promise<string> {
  const out = await routerExec(props.router, props.privateKey, command, props.timeoutSeconds);
  try {
    checkRouterOutput(out);
  } catch (e) {
    throw new Error(`${step} on ${props.router.host}: ${(e as Error).message}`);
  }
  return out.trim();
}

/**
 * An error the dynamic provider host reports as "created, but failed to initialize": the engine keeps `id`
 * with `properties` as the resource's state and `reasons` as its initialization errors.
 */
function initFailure(e: unknown, id: string, properties: CommandOutputs): Error {
  const message = e instanceof Error ? e.message : String(e);
  return Object.assign(new Error(message), { id, properties, reasons: [message] });
}

const same = (a: readonly string[] | undefined, b: readonly string[] | undefined) =>
  JSON.stringify(a ?? []) === JSON.stringify(b ?? []);

/** The dynamic provider of {@link RouterOsCommand}. */
export function routerOsCommandProvider(): pulumi.dynamic.ResourceProvider<CommandInputs, CommandOutputs> {
  return {
    async diff(_id, olds, news) {
      const replaces: string[] = [];
      if (olds.delete !== news.delete) replaces.push("delete");
      if (!same(olds.triggers, news.triggers)) replaces.push("triggers");
      const r = olds.router;
      const n = news.router;
      const changes =
        replaces.length > 0 ||
        olds.failed !== undefined ||
        olds.create !== news.create ||
        olds.update !== news.update ||
        olds.timeoutSeconds !== news.timeoutSeconds ||
        r.host !== n.host ||
        r.port !== n.port ||
        r.user !== n.user ||
        r.hostKey !== n.hostKey ||
        // The state must hold how a later delete may connect.
        r.acceptAnyHostKey !== n.acceptAnyHostKey ||
        olds.privateKey !== news.privateKey;
      return { changes, replaces, deleteBeforeReplace: true };
    },
    async create(inputs) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { randomBytes } = require("node:crypto") as typeof import("node:crypto");
      const id = randomBytes(8).toString("hex");
      try {
        return { id, outs: { ...inputs, stdout: await runChecked(inputs, "create", inputs.create) } };
      } catch (e) {
        throw initFailure(e, id, { ...inputs, stdout: "", failed: "create" });
      }
    },
    async update(id, olds, news) {
      // A failed create runs again as a create: `update` may assume the object was made.
      const step = olds.failed === "create" ? "create" : "update";
      const command = step === "create" ? news.create : (news.update ?? news.create);
      try {
        return { outs: { ...news, stdout: await runChecked(news, step, command) } };
      } catch (e) {
        throw initFailure(e, id, { ...news, stdout: "", failed: step });
      }
    },
    async delete(_id, props) {
      await runChecked(props, "delete", props.delete);
    },
  };
}

const provider = routerOsCommandProvider();

/** One RouterOS object, made and removed by checked command lines over SSH. */
export class RouterOsCommand extends pulumi.dynamic.Resource {
  /** The output of the last successful run (ends with `PULUMI-OK`). */
  declare public readonly stdout: pulumi.Output<string>;

  constructor(name: string, args: RouterOsCommandArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      provider,
      name,
      { ...args, privateKey: pulumi.secret(args.privateKey), stdout: undefined, failed: undefined },
      { ...opts, additionalSecretOutputs: ["privateKey"] },
      "routeros",
      "Command",
    );
  }
}
