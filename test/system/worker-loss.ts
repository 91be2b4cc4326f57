/**
 * A production worker of the system-test stack lost and brought back, as the load balancer sees it: shared by
 * the system tests and the bench, which run it under load.
 */
import { lbServers } from "./haproxy-cli";
import { STACK, dockerCli, until } from "./support";

/** How a worker is lost: `docker kill` (SIGKILL, no goodbye) or `docker stop` (its stop signal). */
export type Loss = "kill" | "stop";

/** What {@link loseWorker} measured. */
export interface WorkerLoss {
  /**
   * From the loss (a killed container's death, else the docker command) to the load balancer taking the worker
   * out (its log's time of "is DOWN").
   */
  outMs: number;
  /** From the docker command to the container stopped. */
  goneMs: number;
}

/** Until the load balancer has picked `server` of be_production `more` times past now. */
async function picked(server: string, more: number): Promise<void> {
  const from = (await lbServers("be_production"))[server].picked;
  await until(
    `${server} picked ${more} more times`,
    async () => ((await lbServers("be_production"))[server].picked >= from + more ? true : undefined),
    60_000,
    100,
  );
}

/** Until be_production's `server` has a status that matches `want`. */
function status(server: string, want: RegExp): Promise<true> {
  return until(
    `${server} ${want.source}`,
    async () => (want.test((await lbServers("be_production"))[server].status) ? true : undefined),
    60_000,
    100,
  );
}

/**
 * Loses production worker `lost` (`docker kill` or `docker stop`) once the load balancer sends it traffic, waits
 * until it is taken out and `other` served alone for a while, then starts it again and waits until it serves.
 */
export async function loseWorker(how: Loss, lost = "prod-1", other = "prod-2"): Promise<WorkerLoss> {
  const container = `${STACK}-${lost}`;
  await picked(lost, 20);
  const t0 = new Date();
  const gone = dockerCli([how, container], 60_000);
  await status(lost, /^DOWN/);
  await gone;
  const goneMs = Date.now() - t0.getTime();
  // When the load balancer took it out, by the time Docker stamped the log line (polling its status costs more).
  const logged = await dockerCli(["logs", "--timestamps", "--since", t0.toISOString(), `${STACK}-lb`]);
  const down = new RegExp(`^(\\S+) Server be_production/${lost} is DOWN`, "m").exec(logged);
  if (!down) throw new Error(`no "${lost} is DOWN" in the load balancer's log since ${t0.toISOString()}`);
  // A killed worker is lost when it died (the docker command itself takes a while); a stopped one, from the command.
  const died =
    how === "kill"
      ? Date.parse((await dockerCli(["inspect", "-f", "{{.State.FinishedAt}}", container])).trim())
      : NaN;
  const outMs = Date.parse(down[1]) - (Number.isNaN(died) ? t0.getTime() : died);
  await picked(other, 40);
  await dockerCli(["start", container]);
  await status(lost, /^UP$/);
  await picked(lost, 20);
  return { outMs, goneMs };
}
