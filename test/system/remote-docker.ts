/**
 * A second Docker host for the system tier, reached the way `Pulumi.prod.yaml` reaches `docker-1`: over
 * `ssh://`. It is a second dockerd (its own data root, exec root, socket and bridges) in a network namespace
 * made here, joined to this machine by a veth pair (this side 10.231.0.1/30, the host 10.231.0.2/30), with an
 * OpenSSH server in the same namespace (key login only, its host key pinned by the client) whose sessions talk
 * to that dockerd (`SetEnv DOCKER_HOST`). Images are copied into it with `docker save | docker load`: nothing
 * is pulled. Traffic stays on this machine: loopback, the veth pair and the namespace's own bridges.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { run, until } from "./support";

const NETNS = "he-docker2";
const HOST_IF = "hed2h";
const NS_IF = "hed2n";
/** This machine's end of the veth pair: where the second host sees connections from this one come from. */
export const LOCAL_ADDRESS = "10.231.0.1";
/** The second host's address (its "LAN" address). */
export const REMOTE_ADDRESS = "10.231.0.2";
const ROOT = "/var/lib/haproxy-edge/docker2";
const EXEC_ROOT = "/run/haproxy-edge-docker2";
const SOCKET = `unix://${EXEC_ROOT}.sock`;

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: "utf8", timeout: 60_000, stdio: ["ignore", "pipe", "pipe"] });
}

/** Runs `cmd` and ignores its failure (cleanup of what may not exist). */
function quietly(cmd: string, args: string[]): void {
  try {
    sh(cmd, args);
  } catch {
    /* nothing to remove */
  }
}

export class RemoteDocker {
  readonly address = REMOTE_ADDRESS;
  readonly user = "root";
  /** The SSH client key and the pinned host key (a known_hosts file). */
  readonly keyFile: string;
  readonly knownHosts: string;
  private constructor(
    private readonly dir: string,
    private readonly dockerd: ChildProcess,
    private readonly sshd: ChildProcess,
  ) {
    this.keyFile = path.join(dir, "id_ed25519");
    this.knownHosts = path.join(dir, "known_hosts");
  }

  /** The Docker host's `url` and `sshOpts`, as a stack file names them. */
  get url(): string {
    return `ssh://${this.user}@${this.address}`;
  }

  get sshOpts(): string[] {
    return [
      "-i",
      this.keyFile,
      "-o",
      "IdentitiesOnly=yes",
      "-o",
      `UserKnownHostsFile=${this.knownHosts}`,
      "-o",
      "StrictHostKeyChecking=yes",
      "-o",
      "BatchMode=yes",
    ];
  }

  /**
   * Removes what this class made, also what an interrupted run left: the second engine's containers (through
   * its socket), its dockerd and sshd (SIGTERM, then at most 30 s), the namespace, the veth and the data root.
   */
  static async cleanup(): Promise<void> {
    if ((await run("docker", ["-H", SOCKET, "info"], 10_000)).code === 0) {
      const ids = (await run("docker", ["-H", SOCKET, "ps", "-aq"], 30_000)).stdout
        .split("\n")
        .filter(Boolean);
      if (ids.length > 0) await run("docker", ["-H", SOCKET, "rm", "-f", ...ids], 120_000);
    }
    const pids: number[] = [];
    for (const pidFile of [`${EXEC_ROOT}/dockerd.pid`, `${EXEC_ROOT}-sshd.pid`]) {
      const pid = fs.existsSync(pidFile) ? Number(fs.readFileSync(pidFile, "utf8").trim()) : 0;
      if (pid > 0) pids.push(pid);
    }
    for (const pid of pids) quietly("kill", ["-TERM", String(pid)]);
    const alive = (pid: number) => fs.existsSync(`/proc/${pid}`);
    await until("the second engine stops", async () => (pids.some(alive) ? undefined : true), 30_000).catch(
      () => undefined,
    );
    let left: string[] = [];
    try {
      left = sh("ip", ["netns", "pids", NETNS]).split("\n").filter(Boolean);
    } catch {
      /* no namespace */
    }
    for (const pid of left) quietly("kill", ["-KILL", pid]);
    quietly("ip", ["link", "del", HOST_IF]);
    quietly("ip", ["netns", "del", NETNS]);
    // The data root holds the second engine's images and containers: each run starts from nothing.
    for (const m of fs.readFileSync("/proc/self/mounts", "utf8").split("\n")) {
      const target = m.split(" ")[1];
      if (target?.startsWith(`${ROOT}/`) || target?.startsWith(`${EXEC_ROOT}/`))
        quietly("umount", ["-l", target]);
    }
    fs.rmSync(ROOT, { recursive: true, force: true });
    fs.rmSync(EXEC_ROOT, { recursive: true, force: true });
  }

  /** Starts the namespace, its dockerd and its sshd; resolves once both answer. */
  static async start(images: string[]): Promise<RemoteDocker> {
    await RemoteDocker.cleanup();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "haproxy-edge-docker2-"));
    sh("ip", ["netns", "add", NETNS]);
    sh("ip", ["link", "add", HOST_IF, "type", "veth", "peer", "name", NS_IF]);
    sh("ip", ["link", "set", NS_IF, "netns", NETNS]);
    sh("ip", ["addr", "add", `${LOCAL_ADDRESS}/30`, "dev", HOST_IF]);
    sh("ip", ["link", "set", HOST_IF, "up"]);
    // nsenter enters the network namespace only: `ip netns exec` also remounts /sys, which hides the cgroup
    // mounts dockerd needs.
    const enter = [`--net=/run/netns/${NETNS}`];
    const inNs = (args: string[]) => sh("nsenter", [...enter, ...args]);
    inNs(["ip", "link", "set", "lo", "up"]);
    inNs(["ip", "addr", "add", `${REMOTE_ADDRESS}/30`, "dev", NS_IF]);
    inNs(["ip", "link", "set", NS_IF, "up"]);
    inNs(["ip", "route", "add", "default", "via", LOCAL_ADDRESS]);

    fs.mkdirSync(ROOT, { recursive: true });
    const dockerdLog = fs.openSync(path.join(dir, "dockerd.log"), "a");
    const dockerd = spawn(
      "nsenter",
      [
        ...enter,
        "dockerd",
        "--data-root",
        ROOT,
        "--exec-root",
        EXEC_ROOT,
        "--pidfile",
        `${EXEC_ROOT}/dockerd.pid`,
        "-H",
        SOCKET,
        "--bip",
        "10.232.0.1/24",
        "--default-address-pool",
        "base=10.233.0.0/16,size=24",
      ],
      { stdio: ["ignore", dockerdLog, dockerdLog] },
    );

    // sshd: key login of root with our key only, sessions pointed at the second dockerd.
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path.join(dir, "host_key")]);
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path.join(dir, "id_ed25519")]);
    fs.copyFileSync(path.join(dir, "id_ed25519.pub"), path.join(dir, "authorized_keys"));
    const hostPub = fs.readFileSync(path.join(dir, "host_key.pub"), "utf8").trim().split(/\s+/).slice(0, 2);
    fs.writeFileSync(path.join(dir, "known_hosts"), `${REMOTE_ADDRESS} ${hostPub.join(" ")}\n`);
    fs.writeFileSync(
      path.join(dir, "sshd_config"),
      [
        `ListenAddress ${REMOTE_ADDRESS}:22`,
        `HostKey ${path.join(dir, "host_key")}`,
        `PidFile ${EXEC_ROOT}-sshd.pid`,
        `AuthorizedKeysFile ${path.join(dir, "authorized_keys")}`,
        "PermitRootLogin prohibit-password",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "StrictModes no",
        "AllowTcpForwarding local",
        `SetEnv DOCKER_HOST=${SOCKET}`,
        "",
      ].join("\n"),
    );
    fs.mkdirSync("/run/sshd", { recursive: true }); // privilege separation directory
    const sshdLog = fs.openSync(path.join(dir, "sshd.log"), "a");
    const sshd = spawn(
      "nsenter",
      [...enter, "/usr/sbin/sshd", "-D", "-e", "-f", path.join(dir, "sshd_config")],
      { stdio: ["ignore", sshdLog, sshdLog] },
    );
    const remote = new RemoteDocker(dir, dockerd, sshd);
    try {
      await until(
        "the second dockerd answers",
        async () => ((await run("docker", ["-H", SOCKET, "info"], 10_000)).code === 0 ? true : undefined),
        60_000,
        500,
      );
      // Through SSH with the stack's options, as the docker provider will reach it (`docker system dial-stdio`
      // on the far side, whose session talks to the second dockerd).
      await until(
        "docker over ssh answers",
        async () => {
          const r = await run(
            "ssh",
            [
              ...remote.sshOpts,
              `${remote.user}@${remote.address}`,
              "docker",
              "version",
              "--format",
              "{{.Server.Version}}",
            ],
            20_000,
          );
          return r.code === 0 ? r.stdout : undefined;
        },
        30_000,
        500,
      );
      for (const image of images) await remote.load(image);
    } catch (e) {
      const logs = ["dockerd.log", "sshd.log"]
        .map((f) => `${f}:\n${fs.readFileSync(path.join(dir, f), "utf8").split("\n").slice(-20).join("\n")}`)
        .join("\n");
      await remote.stop();
      throw new Error(`${(e as Error).message}\n${logs}`);
    }
    return remote;
  }

  /** Runs the docker CLI against the second engine (its socket; not over SSH). */
  docker(args: string[], timeoutMs = 60_000) {
    return run("docker", ["-H", SOCKET, ...args], timeoutMs);
  }

  /** Copies a local image into the second engine (`docker save | docker load`, bounded). */
  async load(image: string): Promise<void> {
    const r = await run(
      "bash",
      ["-o", "pipefail", "-c", 'docker save "$1" | docker -H "$2" load', "_", image, SOCKET],
      300_000,
    );
    if (r.code !== 0) throw new Error(`loading ${image} into the second engine: ${r.stderr}`);
  }

  /** Removes the second engine's containers, stops sshd and dockerd, removes the namespace and the data. */
  async stop(): Promise<void> {
    await RemoteDocker.cleanup();
    for (const p of [this.sshd, this.dockerd]) if (p.exitCode === null) p.kill("SIGKILL");
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
