/** docker/service.ts: which uploads of a container a change may not replace it for. */
import { strict as assert } from "node:assert";
import { liveUploads } from "../../docker/service";
import { LB_LIVE_FILES, renderLoadBalancer } from "../../render/haproxy";
import { loadStackFile, stripNamespace } from "../support/stack-config";
import { loadModel } from "../../config/model";
import { decodeRawConfig } from "../../config/parse";

describe("docker/service", () => {
  it("ignores changes to exactly the live files' uploads, by their index", () => {
    const files = ["/a/start.sh", "/a/haproxy.cfg", "/a/placeholder.pem", "/a/blocklist.acl"].map((path) => ({
      path,
      content: "",
      mode: 0o644,
    }));
    assert.deepEqual(liveUploads({ files, liveFiles: ["/a/haproxy.cfg", "/a/blocklist.acl"] }), [
      "uploads[1]",
      "uploads[3]",
    ]);
    assert.deepEqual(liveUploads({ files }), []);
  });

  it("the load balancer's live files are rendered files, and its start script and certificate are not among them", () => {
    const { config, secretKeys } = loadStackFile("dev");
    const model = loadModel(decodeRawConfig(stripNamespace(config)), {
      project: "haproxy-edge",
      stack: "dev",
      secretKeys,
    });
    const files = renderLoadBalancer(model);
    for (const k of LB_LIVE_FILES) assert.ok(files[k], k);
    assert.ok(!(LB_LIVE_FILES as readonly string[]).includes("start.sh"));
  });
});
