/**
 * A lab's demo backend (`demoBackends: true`): HAProxy from the stack's HAProxy image, at a route server's
 * address on its Docker host's edge network, answering every request with JSON that describes it.
 */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { CAPABILITIES, PATHS, TMPFS, type DemoBackendModel, type EdgeModel } from "../config/model";
import { renderDemoBackend } from "../render/haproxy";
import { dockerLabels, tcpHealthcheck, type DockerHost } from "../docker/host";
import { containerLimits, filesVolume, hardening } from "../docker/service";
import { mergeDeps } from "../service/dependencies";

/** Inputs of {@link DemoBackend}. */
export interface DemoBackendArgs {
  /** The stack's model (its HAProxy image and stack name). */
  model: EdgeModel;
  /** This backend: its address, port and Docker host. */
  demo: DemoBackendModel;
  /** The Docker host it runs on (its provider, edge network and images). */
  dockerHost: DockerHost;
}

/** One demo backend container. */
export class DemoBackend extends pulumi.ComponentResource {
  public readonly container: docker.Container;

  constructor(name: string, args: DemoBackendArgs, opts?: pulumi.ComponentResourceOptions) {
    super("haproxy-edge:demo:Backend", name, {}, opts);
    const { model, demo, dockerHost } = args;
    const cfg = renderDemoBackend(model, demo);
    const child = { parent: this, provider: dockerHost.provider, dependsOn: opts?.dependsOn };
    const files = filesVolume(
      `${name}-haproxy`,
      {
        stack: model.stack,
        key: `demo-${demo.key}`,
        host: dockerHost,
        image: model.images.haproxy,
        files: [cfg],
        dir: PATHS.edgeDir,
        liveFiles: [],
        nestedMounts: false,
      },
      child,
    );
    this.container = new docker.Container(
      `${name}-haproxy`,
      {
        name: demo.containerName,
        image: dockerHost.images[model.images.haproxy].imageId,
        user: "haproxy",
        entrypoints: ["haproxy"],
        command: ["-W", "-db", "-f", cfg.path],
        volumes: [files.mount],
        // Non-root from the start, no capability (Docker lets any user bind a low port in its own network namespace).
        ...hardening({
          capabilities: CAPABILITIES.none,
          memoryMb: model.containerLimits.memoryMb,
          tmpfs: TMPFS.none,
        }),
        networksAdvanced: [{ name: dockerHost.network.name, ipv4Address: demo.address }],
        restart: "unless-stopped",
        labels: files.labels(dockerLabels(model.stack, "demo-backend")),
        healthcheck: tcpHealthcheck(demo.port, { path: "/", expectStatus: 200 }),
        wait: true,
        waitTimeout: 60,
      },
      { ...child, deleteBeforeReplace: true, dependsOn: mergeDeps(opts?.dependsOn, [files.writer]) },
    );
    containerLimits(
      `${name}-haproxy`,
      dockerHost,
      demo.containerName,
      this.container,
      model.containerLimits.pidsLimit,
      { parent: this, dependsOn: opts?.dependsOn },
    );
    this.registerOutputs({ container: this.container.name });
  }
}
