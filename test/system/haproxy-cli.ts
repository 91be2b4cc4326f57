/**
 * The HAProxy processes of the system-test stack's containers, seen through their unix CLI sockets (the
 * worker's master CLI, the load balancer's runtime API): which process serves, and a reload that waits for it.
 * Shared by the system tests and the bench.
 */
import { strict as assert } from "node:assert";
import { FILES } from "../../config/model";
import { STACK, dockerCli, until } from "./support";

/** One command on a container's HAProxy CLI socket (the worker's master CLI, the load balancer's stats socket). */
export async function haproxyCli(container: string, socket: string, command: string): Promise<string> {
  return dockerCli([
    "exec",
    container,
    "sh",
    "-c",
    `echo '${command}' | socat -t 5 stdio UNIX-CONNECT:${socket}`,
  ]);
}

/** The pid of the HAProxy process serving now: `show proc` on a worker's master, `show info` on the LB. */
export async function servingPid(container: string): Promise<string> {
  if (container === `${STACK}-lb`) {
    const info = await haproxyCli(container, FILES.lbSocket, "show info");
    return /^Pid: (\d+)$/m.exec(info)?.[1] ?? "";
  }
  const procs = await haproxyCli(container, FILES.workerMasterSocket, "show proc");
  // The first `worker` line is the current process; old ones follow under "# old workers".
  return /^(\d+)\s+worker\b/m.exec(procs)?.[1] ?? "";
}

/** Reloads a container's HAProxy (SIGUSR2 to the master) and waits until a new process serves. */
export async function reloadHaproxy(container: string): Promise<void> {
  const before = await servingPid(container);
  assert.ok(before, `${container}: no serving process`);
  await dockerCli(["kill", "--signal", "USR2", container]);
  await until(
    `${container} reloaded`,
    async () => {
      const now = await servingPid(container).catch(() => "");
      return now && now !== before ? true : undefined;
    },
    30_000,
    100,
  );
}

/** One server as the load balancer sees it (`show stat`): its status (`UP`, `DOWN`, ...) and times chosen. */
export interface ServerStat {
  status: string;
  /** How many times the load balancing picked it (`lbtot`). */
  picked: number;
}

/** The load balancer's view of the servers of `backend`, by server name. */
export async function lbServers(backend: string): Promise<Record<string, ServerStat>> {
  const csv = await haproxyCli(`${STACK}-lb`, FILES.lbSocket, "show stat");
  const [head = "", ...rows] = csv.trim().split("\n");
  const cols = head.replace(/^# /, "").split(",");
  const at = (name: string) => {
    const i = cols.indexOf(name);
    assert.ok(i >= 0, `show stat has no ${name} column: ${head}`);
    return i;
  };
  const [px, sv, status, lbtot] = [at("pxname"), at("svname"), at("status"), at("lbtot")];
  const servers: Record<string, ServerStat> = {};
  for (const r of rows.map((line) => line.split(","))) {
    if (r[px] !== backend || r[sv] === "FRONTEND" || r[sv] === "BACKEND") continue;
    servers[r[sv]] = { status: r[status], picked: Number(r[lbtot]) };
  }
  return servers;
}
