/**
 * Tests of render/ (template.ts, haproxy.ts, certbot.ts): the files rendered for the committed example stacks (Pulumi.dev.yaml,
 * Pulumi.prod.yaml) are deterministic, pass `haproxy -c` with the real HAProxy 3.0, say what the edge relies
 * on (TLS, rate limit, PROXY protocol, unix sockets only, ...), and the certbot scripts are POSIX sh that
 * behave: the deploy hook is run under dash against a fake HAProxy runtime API on a unix socket.
 */
import { strict as assert } from "node:assert";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";
import { generateSelfSignedCertificate } from "../../components/self-signed-certificate";
import { sha512Crypt } from "../../components/worker";
import {
  DATAPLANE_API_CONTAINER_PORT,
  FILES,
  HEALTH_URI,
  PATHS,
  loadModel,
  type EdgeModel,
  type WorkerModel,
} from "../../config/model";
import { decodeRawConfig } from "../../config/parse";
import { renderCertbot } from "../../render/certbot";
import { renderDemoBackend, renderLoadBalancer, renderUserlist, renderWorker } from "../../render/haproxy";
import { render, sha256, type RenderedFile } from "../../render/template";
import { haproxyCheck } from "../support/haproxy-check";
import { TEST_SECRETS, loadStackFile, stripNamespace } from "../support/stack-config";

type StackName = "dev" | "prod";

/** The same path as index.ts: stack file → decoded raw config → validated model. */
function stackModel(name: StackName, override: Record<string, string> = {}): EdgeModel {
  const { config, secretKeys } = loadStackFile(name);
  const values = decodeRawConfig({ ...stripNamespace(config), ...override });
  return loadModel(values, { project: "haproxy-edge", stack: name, secretKeys });
}

const PASSWORD_HASH = sha512Crypt("pw", "saltsaltsalt1234");

/** Every file the stack renders, keyed `<group>/<logical name>`. */
function renderAll(model: EdgeModel): Record<string, RenderedFile> {
  const out: Record<string, RenderedFile> = {};
  for (const [k, f] of Object.entries(renderLoadBalancer(model))) out[`lb/${k}`] = f;
  for (const w of model.workers) {
    for (const [k, f] of Object.entries(renderWorker(model, w))) out[`${w.name}/${k}`] = f;
    out[`${w.name}/userlist.cfg`] = renderUserlist(model, w, PASSWORD_HASH);
  }
  if (model.certbot) for (const [k, f] of Object.entries(renderCertbot(model))) out[`certbot/${k}`] = f;
  return out;
}

/** Top-level sections of a HAProxy config: header line → its directives (trimmed, no comments, no blanks). */
function sections(cfg: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of cfg.split("\n")) {
    const t = line.trim();
    if (t === "" || t.startsWith("#")) continue;
    if (/^\S/.test(line)) {
      current = [];
      out.set(t, current);
    } else {
      assert.ok(current, `directive outside a section: ${line}`);
      current.push(t);
    }
  }
  return out;
}

function section(cfg: string, header: string): string[] {
  const s = sections(cfg).get(header);
  assert.ok(s, `no section "${header}" in:\n${cfg}`);
  return s;
}

/** `server <name> <address>:<port>` lines of a backend. */
function servers(cfg: string, backend: string): string[] {
  return section(cfg, `backend ${backend}`)
    .filter((l) => l.startsWith("server "))
    .map((l) => l.split(/\s+/).slice(1, 3).join(" "));
}

/** Non-comment, non-blank lines of a map or ACL file. */
function entries(content: string): string[] {
  return content.split("\n").filter((l) => l.trim() !== "" && !l.startsWith("#"));
}

/** Output lines that are HAProxy warnings or alerts. */
function problems(output: string): string[] {
  return output.split("\n").filter((l) => /\[(WARNING|ALERT)\]/.test(l));
}

/**
 * The container runtime provides /etc/resolv.conf (Docker always does); the rootfs has none, and
 * `parse-resolv-conf` in the load balancer's resolvers section needs one.
 */
const RESOLV_CONF = { "/etc/resolv.conf": "nameserver 127.0.0.11\n" };

/** The load balancer's files at their container paths, plus a real certificate at the served path. */
async function lbCheckFiles(model: EdgeModel, cfg?: string): Promise<Record<string, string>> {
  const lb = renderLoadBalancer(model);
  const { pem } = await generateSelfSignedCertificate({ domains: model.tls.domains, validityDays: 1 });
  const files: Record<string, string> = { ...RESOLV_CONF, [model.loadBalancer.certPath]: pem };
  for (const k of ["haproxy.cfg", "blocklist.acl", "internal.acl"]) {
    files[lb[k].path] = lb[k].content;
  }
  if (cfg !== undefined) files[lb["haproxy.cfg"].path] = cfg;
  return files;
}

/** TCP forms of a `stats socket` address: `:port`, `ipv4@`, `ipv6@`, an address, `*`. */
const TCP_STATS_SOCKET = /stats\s+socket\s+(?::|ipv4@|ipv6@|\d|\*)/;

function which(cmd: string): string | undefined {
  const r = spawnSync("sh", ["-c", `command -v ${cmd}`], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** dash (Debian's /bin/sh, POSIX only): required for the shell checks. */
function dash(): string {
  const d = which("dash");
  if (d === undefined) {
    throw new Error(
      "dash is not installed; it is in Debian's base system (apt-get install dash) and the sh checks need it",
    );
  }
  return d;
}

/** `dash -n`: POSIX syntax check of a script. */
function dashSyntax(script: string): { ok: boolean; stderr: string } {
  const r = spawnSync(dash(), ["-n"], { input: script, encoding: "utf8", timeout: 5000 });
  return { ok: r.status === 0, stderr: r.stderr };
}

/**
 * The shell code of a script: comments dropped, the text inside single quotes blanked (a grep pattern such
 * as '^[[:space:]]*$' or an embedded python program is data, not shell), double-quoted text kept.
 */
function shellCode(script: string): string {
  let out = "";
  let state: "none" | "single" | "double" = "none";
  for (let i = 0; i < script.length; i++) {
    const c = script[i];
    if (state === "single") {
      if (c === "'") state = "none";
      out += c === "'" || c === "\n" ? c : " ";
    } else if (c === "\\") {
      out += c + (script[i + 1] ?? "");
      i++;
    } else if (state === "double") {
      if (c === '"') state = "none";
      out += c;
    } else if (c === "#" && (i === 0 || /[\s;&|(]/.test(script[i - 1]))) {
      while (i + 1 < script.length && script[i + 1] !== "\n") i++;
    } else {
      if (c === "'") state = "single";
      if (c === '"') state = "double";
      out += c;
    }
  }
  assert.equal(state, "none", "unbalanced quotes");
  return out;
}

const BASHISMS: [string, RegExp][] = [
  ["echo -e", /\becho\s+-e\b/],
  ["[[", /\[\[/],
  ["function", /(^|\s)function\s/m],
  ["$'...'", /\$'/],
  ["<<<", /<<</],
  ["source", /(^|[\s;])source\s/m],
];

describe("render", () => {
  describe("render()", () => {
    it("does not HTML-escape values", () => {
      const raw = `a&b<c>"d'`;
      const out = render("lb-apply.sh", { stack: raw, dir: raw, lists: [`1.2.3.0/24 ${raw}`] });
      assert.ok(out.includes(`running HAProxy (${raw}).`), out);
      assert.ok(out.includes(`LISTS='1.2.3.0/24 ${raw} '`), out);
      assert.doesNotMatch(out, /&amp;|&lt;|&gt;|&quot;|&#39;|&#x27;/);
    });

    it("hashes content with sha256 (hex)", () => {
      assert.equal(sha256(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
      assert.equal(sha256("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    });
  });

  describe("the POSIX sh checks of these tests", () => {
    it("find bashisms in shell code, not in comments or single-quoted data, and dash -n bites", () => {
      const samples: [string, string][] = [
        ["echo -e", 'echo -e "a\\tb"\n'],
        ["[[", 'if [[ -n "$x" ]]; then :; fi\n'],
        ["function", "function f { :; }\n"],
        ["$'...'", "x=$'\\n'\n"],
        ["<<<", 'grep a <<< "$x"\n'],
        ["source", "source ./lib.sh\n"],
      ];
      for (const [name, script] of samples) {
        const found = BASHISMS.filter(([, re]) => re.test(shellCode(script))).map(([n]) => n);
        assert.deepEqual(found, [name], script);
      }
      const clean =
        "# [[ echo -e, source x, function f\n" +
        "grep -v '^[[:space:]]*$' f | tr -d '\\r'\n" +
        "python3 -c 'function source [[ <<< $'\"'\"'' \"$1\"\n";
      for (const [name, re] of BASHISMS) assert.doesNotMatch(shellCode(clean), re, name);
      assert.ok(dashSyntax(clean).ok);
      assert.ok(!dashSyntax("if then fi\n").ok);
    });
  });

  for (const stack of ["dev", "prod"] as const) {
    describe(`${stack} stack`, () => {
      let model: EdgeModel;
      let lb: Record<string, RenderedFile>;
      let cfg: string;
      const production = () => model.workers.filter((w) => w.role === "production");
      const staging = () => model.workers.filter((w) => w.role === "staging");

      before(() => {
        model = stackModel(stack);
        lb = renderLoadBalancer(model);
        cfg = lb["haproxy.cfg"].content;
      });

      describe("determinism", () => {
        it("renders byte-identical files twice from one model and from two models", () => {
          const a = renderAll(model);
          const b = renderAll(model);
          const c = renderAll(stackModel(stack));
          assert.deepEqual(Object.keys(a).sort(), Object.keys(c).sort());
          for (const [k, f] of Object.entries(a)) {
            assert.equal(b[k].content, f.content, `${k} differs between two renders`);
            assert.equal(c[k].content, f.content, `${k} differs between two models`);
            assert.deepEqual(c[k], f, k);
            assert.equal(sha256(c[k].content), sha256(f.content), k);
          }
          if (stack === "prod") assert.ok("certbot/deploy-hook.sh" in a);
          else assert.ok(!Object.keys(a).some((k) => k.startsWith("certbot/")));
          if (stack === "dev") assert.throws(() => renderCertbot(model), /no certbot/);
        });

        it("contains no timestamp and only \\n line endings", () => {
          const now = new Date();
          for (const [k, f] of Object.entries(renderAll(model))) {
            assert.ok(!f.content.includes("\r"), `${k} has a CR`);
            assert.ok(!f.content.includes(String(now.getFullYear())), `${k} mentions the current year`);
            assert.doesNotMatch(f.content, /\b(19|20)\d\d-[01]\d-[0-3]\d/, `${k} has an ISO date`);
            assert.doesNotMatch(f.content, /\b\d\d:\d\d:\d\d\b/, `${k} has a time of day`);
            assert.ok(f.content.endsWith("\n"), `${k} does not end with a newline`);
          }
        });

        it("gives every file an absolute container path and a mode", () => {
          for (const [k, f] of Object.entries(renderAll(model))) {
            assert.ok(path.posix.isAbsolute(f.path) && path.posix.normalize(f.path) === f.path, k);
            const expected = f.path.endsWith(".sh") ? 0o755 : f.secret ? 0o600 : 0o644;
            assert.equal(f.mode.toString(8), expected.toString(8), k);
          }
        });
      });

      describe("haproxy -c (HAProxy 3.0)", () => {
        it("accepts the load balancer config with its files and a real certificate, without warnings", async () => {
          const r = await haproxyCheck(await lbCheckFiles(model), [lb["haproxy.cfg"].path]);
          assert.match(r.version, /^HAProxy version 3\.0\./);
          assert.ok(r.ok, `haproxy -c failed:\n${r.output}`);
          assert.deepEqual(problems(r.output), [], r.output);
        });

        it("rejects the load balancer config with a bogus ssl-default-bind-options keyword (the check bites)", async () => {
          assert.ok(cfg.includes("ssl-min-ver TLSv1.2"));
          const bad = cfg.replace("ssl-min-ver TLSv1.2", "ssl-bogus-keyword TLSv1.2");
          const r = await haproxyCheck(await lbCheckFiles(model, bad), [lb["haproxy.cfg"].path]);
          assert.ok(!r.ok, `haproxy -c accepted a bogus keyword:\n${r.output}`);
          assert.match(r.output, /\[ALERT\].*ssl-bogus-keyword/);
        });

        it("accepts every demo backend's config (dev: demoBackends), without warnings", async () => {
          if (stack !== "dev") {
            assert.deepEqual(model.demoBackends, [], "prod runs no demo backend");
            return;
          }
          assert.deepEqual(
            model.demoBackends.map((d) => [d.name, d.containerName]),
            [
              ["172.29.80.100:8080", "dev-demo-172-29-80-100-8080"],
              ["172.29.80.101:8080", "dev-demo-172-29-80-101-8080"],
            ],
          );
          for (const d of model.demoBackends) {
            const f = renderDemoBackend(model, d);
            assert.equal(f.path, FILES.demoBackendConfig);
            assert.ok(f.content.includes(`bind :${d.port}`), f.content);
            assert.equal(renderDemoBackend(model, d).content, f.content, "deterministic");
            const r = await haproxyCheck({ [f.path]: f.content }, [f.path]);
            assert.ok(r.ok, `haproxy -c failed for ${d.name}:\n${r.output}`);
            assert.deepEqual(problems(r.output), [], `${d.name}:\n${r.output}`);
          }
        });

        it("accepts every worker's bootstrap config with its userlist, without warnings", async () => {
          assert.equal(model.workers.length, 3);
          const results = await Promise.all(
            model.workers.map(async (w) => {
              const f: Record<string, RenderedFile> = {
                ...renderWorker(model, w),
                "userlist.cfg": renderUserlist(model, w, PASSWORD_HASH),
              };
              const files = Object.fromEntries(
                [f["haproxy.cfg"], f["userlist.cfg"], f["404.html"]].map((x) => [x.path, x.content]),
              );
              return { w, r: await haproxyCheck(files, [f["haproxy.cfg"].path, f["userlist.cfg"].path]) };
            }),
          );
          for (const { w, r } of results) {
            assert.ok(r.ok, `haproxy -c failed for ${w.name}:\n${r.output}`);
            assert.deepEqual(problems(r.output), [], `${w.name}:\n${r.output}`);
          }
        });
      });

      describe("load balancer", () => {
        it("runs master-worker with the runtime API on an absolute unix socket only", () => {
          assert.ok(section(cfg, "global").includes("master-worker"));
          const sockets = cfg.split("\n").filter((l) => /^\s*stats\s+socket\b/.test(l));
          assert.equal(sockets.length, 1, cfg);
          for (const l of sockets) {
            assert.match(l, /^\s*stats socket (?:unix@)?\/[^\s:]+\s/, l);
            assert.ok(l.includes(` ${FILES.lbSocket} `), l);
          }
          for (const [k, f] of Object.entries(renderAll(model))) {
            for (const line of f.content.split("\n")) {
              assert.doesNotMatch(line, TCP_STATS_SOCKET, `${k}: TCP admin socket: ${line}`);
            }
          }
        });

        it("serves TLS 1.2+ with ECDHE AEAD ciphers only", () => {
          const global = section(cfg, "global");
          const options = global.find((l) => l.startsWith("ssl-default-bind-options "));
          assert.ok(options?.split(/\s+/).includes("ssl-min-ver"), String(options));
          assert.match(String(options), /\bssl-min-ver TLSv1\.2\b/);
          const ciphers = global.find((l) => l.startsWith("ssl-default-bind-ciphers "));
          assert.ok(ciphers, cfg);
          const list = ciphers.split(/\s+/)[1].split(":");
          assert.ok(list.length > 0);
          for (const c of list) {
            assert.match(c, /^ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$/, c);
          }
          const suites = global.find((l) => l.startsWith("ssl-default-bind-ciphersuites "));
          for (const s of String(suites).split(/\s+/)[1].split(":")) {
            assert.match(s, /^TLS_(AES_(128|256)_GCM_SHA(256|384)|CHACHA20_POLY1305_SHA256)$/, s);
          }
          const bind = section(cfg, "frontend fe_https").find((l) => l.startsWith("bind "));
          assert.equal(
            bind,
            `bind :${model.loadBalancer.httpsPort} ssl crt ${model.loadBalancer.certPath} alpn h2,http/1.1`,
          );
        });

        it("resolves workers by name at run time only when an upstream is a name", async () => {
          const named = model.workers.some((w) => !/^\d+\.\d+\.\d+\.\d+$/.test(w.upstream.address));
          assert.equal(named, stack === "dev");
          const defaults = cfg.split("\n").filter((l) => l.trim().startsWith("default-server "));
          assert.equal(defaults.length, 2);
          if (named) {
            assert.ok(section(cfg, "resolvers edge_dns").includes("parse-resolv-conf"), cfg);
            // A worker that is down at start-up must not keep the load balancer from starting.
            for (const d of defaults) assert.match(d, / resolvers edge_dns .*init-addr last,libc,none$/, d);
          } else {
            assert.doesNotMatch(cfg, /resolvers|parse-resolv-conf|init-addr/);
            // No /etc/resolv.conf needed (a RouterOS container may have none): the check passes without it.
            const files = await lbCheckFiles(model);
            delete files["/etc/resolv.conf"];
            const r = await haproxyCheck(files, [FILES.lbConfig]);
            assert.ok(r.ok, r.output);
          }
        });

        it("installs its certificate at every start in selfsigned mode, only when none in acme mode", () => {
          const start = renderLoadBalancer(model)["start.sh"].content;
          assert.ok(start.includes(`CERT='${model.loadBalancer.certPath}'`), start);
          assert.ok(start.includes(`PLACEHOLDER='${FILES.placeholderCert}'`), start);
          assert.ok(start.includes(`LAST_GOOD='${model.loadBalancer.certPath}.last-good'`), start);
          const guarded = start.includes(`if [ ! -e "$CERT" ]; then\n  install "$PLACEHOLDER"`);
          const always = /^install "\$PLACEHOLDER" \|\|/m.test(start);
          assert.equal(guarded, model.tls.mode === "acme", start);
          assert.equal(always, model.tls.mode === "selfsigned", start);
          assert.ok(start.includes("umask 077"));
        });

        it("refuses a served certificate HAProxy cannot load, and serves the last good copy or the placeholder", () => {
          const start = renderLoadBalancer(model)["start.sh"].content;
          const r = dashSyntax(start);
          assert.ok(r.ok, r.stderr);
          // HAProxy itself loads the file (certificate and key parse and match), from a config on standard input.
          assert.ok(start.includes("haproxy -c -f /dev/stdin"), start);
          assert.ok(start.includes('ssl crt %s\\n\' "$1"'), start);
          assert.match(start, /ERROR: refusing the served certificate \$CERT/);
          assert.ok(start.includes('if [ -e "$LAST_GOOD" ] && install "$LAST_GOOD"; then'), start);
          assert.ok(start.includes('elif install "$PLACEHOLDER"; then'), start);
          // A candidate is checked under a temporary name and renamed over the served file only when it loads.
          assert.ok(start.includes('loads "$CERT.tmp" && mv -f "$CERT.tmp" "$CERT"'), start);
          assert.ok(
            start.endsWith(
              `exec haproxy -W -db -S '${FILES.lbMasterSocket},mode,600' -f '${FILES.lbConfig}'\n`,
            ),
            start,
          );
        });

        it("redirects HTTP to HTTPS with a 301", () => {
          const http = section(cfg, "frontend fe_http");
          assert.ok(http.includes(`bind :${model.loadBalancer.httpPort}`), http.join("\n"));
          // An explicit location, so a non-default HTTPS port is named and the HTTP port is not carried over.
          const port = model.loadBalancer.httpsPort === 443 ? "" : `:${model.loadBalancer.httpsPort}`;
          assert.ok(
            http.includes(
              `http-request redirect code 301 location https://%[req.hdr(host),field(1,:)]${port}%[capture.req.uri]`,
            ),
            http.join("\n"),
          );
        });

        it("rate-limits per client with the stack's limit and window, and denies blocked clients", () => {
          const expected = {
            dev: { requests: 200, windowSeconds: 10 },
            prod: { requests: 100, windowSeconds: 10 },
          };
          assert.deepEqual(model.loadBalancer.rateLimit, expected[stack]);
          const { requests, windowSeconds } = expected[stack];
          const fe = section(cfg, "frontend fe_https");
          assert.ok(
            fe.includes(
              `stick-table type ipv6 size 1m expire ${windowSeconds}s peers edge_peers store http_req_rate(${windowSeconds}s)`,
            ),
            fe.join("\n"),
          );
          // The counters survive a reload: handed from the old process to the new one by the local peer.
          assert.deepEqual(section(cfg, "peers edge_peers"), ["peer lb 127.0.0.1:10000"]);
          assert.ok(section(cfg, "global").includes("localpeer lb"));
          assert.ok(fe.includes("http-request track-sc0 src"));
          assert.ok(
            fe.includes(`http-request deny deny_status 429 if { sc_http_req_rate(0) gt ${requests} }`),
            fe.join("\n"),
          );
          assert.ok(fe.includes(`acl blocked src -f ${FILES.blocklist}`));
          assert.ok(fe.includes("http-request deny deny_status 403 if blocked"));
          // The block comes before tracking, so blocked clients never fill the table.
          assert.ok(
            fe.indexOf("http-request deny deny_status 403 if blocked") <
              fe.indexOf("http-request track-sc0 src"),
          );
        });

        it("bounds the request head time and sets the forwarding headers itself", () => {
          assert.ok(
            section(cfg, "defaults").includes(
              `timeout http-request ${model.loadBalancer.timeouts.httpRequest}`,
            ),
          );
          const fe = section(cfg, "frontend fe_https");
          for (const h of [
            "http-request set-header X-Forwarded-For %[src]",
            "http-request set-header X-Forwarded-Proto https",
            "http-request set-header X-Forwarded-Host %[req.hdr(host)]",
          ]) {
            assert.ok(fe.includes(h), h);
          }
        });

        it("checks workers over PROXY protocol v2 and retries on another one", () => {
          const defaults = section(cfg, "defaults");
          assert.ok(
            defaults.some((l) => l.startsWith("retry-on ")),
            defaults.join("\n"),
          );
          assert.ok(
            defaults.some((l) => /^option redispatch\b/.test(l)),
            defaults.join("\n"),
          );
          for (const be of ["be_production", "be_staging"]) {
            const ds = section(cfg, `backend ${be}`).find((l) => l.startsWith("default-server "));
            const words = String(ds).split(/\s+/);
            for (const w of ["check", "send-proxy-v2", "check-send-proxy"])
              assert.ok(words.includes(w), `${be}: ${w}`);
          }
        });

        it("sends production traffic to the production workers only and staging to the staging worker", () => {
          const expected = {
            dev: {
              production: ["prod-1 prod-1:8080", "prod-2 prod-2:8080"],
              staging: ["staging staging:8080"],
            },
            prod: {
              production: ["prod-1 192.168.88.20:8081", "prod-2 192.168.88.20:8082"],
              staging: ["staging 192.168.88.20:8080"],
            },
          };
          const up = (ws: WorkerModel[]) =>
            ws.map((w) => `${w.name} ${w.upstream.address}:${w.upstream.port}`);
          assert.deepEqual(servers(cfg, "be_production"), expected[stack].production);
          assert.deepEqual(servers(cfg, "be_production"), up(production()));
          assert.deepEqual(servers(cfg, "be_staging"), expected[stack].staging);
          assert.deepEqual(servers(cfg, "be_staging"), up(staging()));
          const fe = section(cfg, "frontend fe_https");
          assert.deepEqual(
            fe.filter((l) => /^(use_backend|default_backend) /.test(l)),
            ["use_backend be_staging if staging_host internal", "default_backend be_production"],
          );
          const suffix = { dev: ".staging.lab.example.com", prod: ".staging.example.com" }[stack];
          assert.ok(fe.includes(`acl staging_host var(txn.host) -m end ${suffix}`), fe.join("\n"));
          assert.equal(suffix, model.loadBalancer.stagingSuffix);
        });

        it("holds no per-route state: no route's host, name or server appears, and changing the routes changes nothing", () => {
          for (const r of model.routes) {
            for (const h of r.hosts)
              assert.ok(!new RegExp(`(^|\\s)${h.replace(/\./g, "\\.")}(\\s|$)`, "m").test(cfg), h);
            for (const sv of r.servers) assert.ok(!cfg.includes(`${sv.host}:${sv.port}`), sv.host);
          }
          const other = stackModel(stack, {
            demoBackends: "false",
            routes: JSON.stringify([
              {
                name: "other",
                hosts: [model.tls.domains[0].replace(/^\*\./, "other.")],
                servers: ["10.9.9.9:80"],
              },
            ]),
          });
          assert.deepEqual(renderLoadBalancer(other), lb);
        });

        it("lists the blocked and internal CIDRs", () => {
          const expected = {
            dev: {
              blocked: ["192.0.2.0/24"],
              internal: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8"],
            },
            prod: { blocked: [], internal: ["192.168.88.0/24", "10.8.0.0/24"] },
          };
          assert.equal(lb["blocklist.acl"].path, FILES.blocklist);
          assert.equal(lb["internal.acl"].path, FILES.internalNetworks);
          assert.deepEqual(entries(lb["blocklist.acl"].content), expected[stack].blocked);
          assert.deepEqual(entries(lb["internal.acl"].content), expected[stack].internal);
          assert.deepEqual(entries(lb["blocklist.acl"].content), model.loadBalancer.blocklistCidrs);
          assert.deepEqual(entries(lb["internal.acl"].content), model.loadBalancer.internalCidrs);
          assert.ok(
            section(cfg, "frontend fe_https").includes(`acl internal src -f ${FILES.internalNetworks}`),
          );
        });

        it(`sends HSTS only with a real certificate (${stack === "prod" ? "acme: yes" : "selfsigned: no"})`, () => {
          const hsts = cfg.split("\n").filter((l) => l.includes("Strict-Transport-Security"));
          if (stack === "prod") {
            assert.equal(model.tls.mode, "acme");
            assert.deepEqual(
              hsts.map((l) => l.trim()),
              ['http-response set-header Strict-Transport-Security "max-age=31536000"'],
            );
          } else {
            assert.equal(model.tls.mode, "selfsigned");
            assert.deepEqual(hsts, []);
          }
        });

        it("leaves the 404 page to the workers (it has no host list to decide with)", () => {
          assert.equal(lb["404.html"], undefined);
          assert.ok(!cfg.includes(FILES.notFoundPage));
        });
      });

      describe("workers", () => {
        const trusted = { dev: "172.29.80.2/32", prod: "192.168.88.1/32" };

        it("accepts PROXY connections from the load balancer only and answers 404 by default", () => {
          for (const w of model.workers) {
            const c = renderWorker(model, w)["haproxy.cfg"];
            assert.equal(c.path, FILES.workerBootstrap);
            const fe = section(c.content, "frontend fe_edge");
            assert.ok(fe.includes("bind :8080 accept-proxy"), fe.join("\n"));
            assert.ok(
              fe.includes(`tcp-request connection reject if !{ src ${trusted[stack]} }`),
              `${w.name}:\n${fe.join("\n")}`,
            );
            assert.ok(fe.includes("default_backend be_not_found"));
            // Not ready for the load balancer's check until the Data Plane API applied its routes.
            assert.deepEqual(
              fe.filter((l) => l.includes("edge_routes_applied") || l.includes(HEALTH_URI)),
              [
                "acl edge_routes_applied always_false",
                "http-request return status 200 content-type text/plain string ready if { path /haproxy-edge/health } edge_routes_applied",
                "http-request return status 503 content-type text/plain string not-ready if { path /haproxy-edge/health }",
              ],
              fe.join("\n"),
            );
            assert.ok(section(c.content, "global").includes("master-worker"));
            assert.ok(
              section(c.content, "backend be_not_found").includes(
                `http-request return status 404 content-type "text/html; charset=utf-8" file ${FILES.notFoundPage}`,
              ),
            );
            assert.doesNotMatch(c.content, /stats\s+socket/, `${w.name} has a stats socket`);
          }
        });

        it("renders the userlist with a 4-field SHA-512 crypt hash, never insecure-password", () => {
          for (const w of model.workers) {
            const u = renderUserlist(model, w, PASSWORD_HASH);
            assert.equal(u.path, FILES.userlist);
            assert.equal(u.mode, 0o600);
            assert.equal(u.secret, true);
            assert.ok(!u.content.includes("insecure-password"));
            assert.deepEqual(entries(u.content), [
              "userlist dataplaneapi",
              `    user haproxy-edge password ${PASSWORD_HASH}`,
            ]);
            const hash = /user haproxy-edge password (\S+)/.exec(u.content)?.[1];
            assert.ok(hash, u.content);
            assert.match(hash, /^\$6\$[A-Za-z0-9./]{8,16}\$[A-Za-z0-9./]{86}$/);
            assert.equal(hash.split("$").length, 4, `not $6$salt$hash (no rounds=): ${hash}`);
          }
        });

        it("configures the Data Plane API for the master socket, with no docker", () => {
          for (const w of model.workers) {
            const f = renderWorker(model, w)["dataplaneapi.yml"];
            assert.equal(f.path, FILES.dataplaneApiConfig);
            assert.ok(!f.secret);
            const doc = parseYaml(f.content) as {
              name: string;
              dataplaneapi: {
                host: string;
                port: number;
                userlist: { userlist: string; userlist_file: string };
              };
              haproxy: {
                config_file: string;
                master_worker_mode: boolean;
                master_runtime: string;
                reload: { reload_delay: number; reload_strategy: string };
              };
            };
            assert.equal(doc.name, w.name);
            assert.equal(doc.dataplaneapi.host, "0.0.0.0");
            assert.equal(doc.dataplaneapi.port, 5555);
            assert.equal(doc.dataplaneapi.port, DATAPLANE_API_CONTAINER_PORT);
            assert.equal(doc.dataplaneapi.userlist.userlist, "dataplaneapi");
            assert.equal(doc.dataplaneapi.userlist.userlist_file, FILES.userlist);
            assert.equal(doc.haproxy.config_file, FILES.workerConfig);
            assert.equal(doc.haproxy.master_worker_mode, true);
            assert.equal(doc.haproxy.master_runtime, FILES.workerMasterSocket);
            assert.equal(doc.haproxy.reload.reload_delay, 1);
            assert.equal(doc.haproxy.reload.reload_strategy, "custom");
            // No setting uses docker (the comments explain that none does).
            assert.doesNotMatch(JSON.stringify(doc), /docker/i);
            const settings = f.content.split("\n").filter((l) => !l.trim().startsWith("#"));
            assert.doesNotMatch(settings.join("\n"), /docker/i);
          }
        });

        it("gives the Data Plane API a status command, so /v3/health reports HAProxy up or down", () => {
          const w = model.workers[0];
          const files = renderWorker(model, w);
          const doc = parseYaml(files["dataplaneapi.yml"].content) as {
            haproxy: { reload: { status_cmd: string } };
          };
          // The API splits the command on spaces and runs it without a shell.
          assert.deepEqual(doc.haproxy.reload.status_cmd.split(" "), [
            "/bin/sh",
            FILES.dataplaneApiStatusScript,
          ]);
          const script = files["dataplaneapi-status.sh"];
          assert.equal(script.path, FILES.dataplaneApiStatusScript);
          assert.equal(script.mode, 0o755);
          assert.ok(script.content.includes(`'${FILES.workerMasterSocket}'`), script.content);
        });

        describe("the status command against a fake master CLI socket", function () {
          this.timeout(20_000);
          let dir: string;
          let sock: string;
          let script: string;
          let server: net.Server | undefined;
          beforeEach(() => {
            dir = fs.mkdtempSync(path.join(os.tmpdir(), "dpapi-status-"));
            sock = path.join(dir, "master.sock");
            script = path.join(dir, "status.sh");
            const content = renderWorker(model, model.workers[0])["dataplaneapi-status.sh"].content;
            fs.writeFileSync(script, content.split(FILES.workerMasterSocket).join(sock));
          });
          afterEach(() => {
            server?.close();
            server = undefined;
            fs.rmSync(dir, { recursive: true, force: true });
          });
          /** A master CLI: answers one command once the client has closed its sending side. */
          const master = (answer: string | undefined) =>
            new Promise<void>((resolve) => {
              server = net.createServer({ allowHalfOpen: true }, (conn) => {
                let got = "";
                conn.on("data", (d) => (got += String(d)));
                conn.on("end", () => {
                  if (answer !== undefined) conn.end(got === "show proc\n" ? answer : "Unknown command\n");
                });
                conn.on("error", () => undefined);
              });
              server.listen(sock, () => resolve());
            });
          /** Runs the script (asynchronously: the fake master answers from this process). */
          const status = () =>
            new Promise<{ code: number | null; ms: number }>((resolve) => {
              const started = Date.now();
              const child = spawn("sh", [script], { stdio: "ignore", timeout: 10_000 });
              child.on("close", (code) => resolve({ code, ms: Date.now() - started }));
            });
          const PROC = [
            "#<PID>          <type>          <reloads>       <uptime>        <version>",
            "1               master          0 [failed: 0]   0d00h00m12s     3.0.11",
            "# workers",
          ];

          it("exits 0 when the master lists a worker", async () => {
            await master(
              [...PROC, "8               worker          0               0d00h00m12s     3.0.11", ""].join(
                "\n",
              ),
            );
            assert.equal((await status()).code, 0);
          });
          it("exits non-zero when no worker runs, when nothing listens, and (within 3 s) when the master hangs", async () => {
            await master([...PROC, ""].join("\n"));
            assert.equal((await status()).code, 1);
            await new Promise((resolve) => server?.close(resolve));
            assert.equal((await status()).code, 1, "no socket");
            await master(undefined);
            const hung = await status();
            assert.equal(hung.code, 2);
            assert.ok(hung.ms < 6000, `took ${hung.ms} ms`);
          });
        });

        it("starts HAProxy with the master CLI on a 0600 unix socket and seeds the config once per bootstrap", () => {
          const s = renderWorker(model, model.workers[0])["start.sh"];
          assert.equal(s.mode, 0o755);
          assert.ok(s.content.includes(`-S '${FILES.workerMasterSocket},mode,600'`), s.content);
          assert.match(
            s.content,
            /^exec haproxy -W -db -S .* -f '\/usr\/local\/etc\/haproxy\/haproxy\.cfg'$/m,
          );
          const bootstrap = renderWorker(model, model.workers[0])["haproxy.cfg"].content;
          assert.ok(s.content.includes(`if [ ! -s '${FILES.workerConfig}' ] || `), s.content);
          assert.ok(s.content.includes(`!= '${sha256(bootstrap)}' ]; then`), s.content);
        });

        it("worker start.sh under dash: copies the bootstrap only when the config is absent or empty, or the bootstrap changed", function () {
          this.timeout(10_000);
          const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "haproxy-edge-start-"));
          try {
            const bootstrapSha256 = sha256(renderWorker(model, model.workers[0])["haproxy.cfg"].content);
            const view = (p: (s: string) => string, hash = bootstrapSha256) => ({
              stack: model.stack,
              configDir: p(PATHS.workerConfigDir),
              configFile: p(FILES.workerConfig),
              bootstrapFile: p(FILES.workerBootstrap),
              bootstrapSha256: hash,
              bootstrapMark: p(`${PATHS.workerConfigDir}/.bootstrap-sha256`),
              masterDir: p(PATHS.workerMasterDir),
              masterSocket: p(FILES.workerMasterSocket),
            });
            // The template with the real paths is exactly what renderWorker ships.
            assert.equal(
              render(
                "worker-start.sh",
                view((s) => s),
              ),
              renderWorker(model, model.workers[0])["start.sh"].content,
            );
            const inTmp = (s: string) => path.join(tmp, "root", s);
            const script = path.join(tmp, "start.sh");
            fs.writeFileSync(script, render("worker-start.sh", view(inTmp)));
            const bin = path.join(tmp, "bin");
            fs.mkdirSync(bin);
            fs.writeFileSync(path.join(bin, "haproxy"), '#!/bin/sh\nprintf "%s\\n" "$@"\n', { mode: 0o755 });
            fs.mkdirSync(path.dirname(inTmp(FILES.workerBootstrap)), { recursive: true });
            fs.writeFileSync(inTmp(FILES.workerBootstrap), "bootstrap\n");
            const run = () =>
              spawnSync(dash(), [script], {
                env: { PATH: `${bin}:${process.env.PATH ?? "/usr/bin:/bin"}` },
                encoding: "utf8",
                timeout: 5000,
              });

            let r = run();
            assert.equal(r.status, 0, r.stderr);
            assert.equal(fs.readFileSync(inTmp(FILES.workerConfig), "utf8"), "bootstrap\n");
            assert.deepEqual(r.stdout.split("\n").filter(Boolean), [
              "-W",
              "-db",
              "-S",
              `${inTmp(FILES.workerMasterSocket)},mode,600`,
              "-f",
              inTmp(FILES.workerConfig),
            ]);
            assert.ok(fs.statSync(inTmp(PATHS.workerMasterDir)).isDirectory());

            fs.writeFileSync(inTmp(FILES.workerConfig), "owned by the Data Plane API\n");
            r = run();
            assert.equal(r.status, 0, r.stderr);
            assert.equal(fs.readFileSync(inTmp(FILES.workerConfig), "utf8"), "owned by the Data Plane API\n");

            fs.writeFileSync(inTmp(FILES.workerConfig), "");
            r = run();
            assert.equal(r.status, 0, r.stderr);
            assert.equal(fs.readFileSync(inTmp(FILES.workerConfig), "utf8"), "bootstrap\n");
            assert.ok(!fs.existsSync(`${inTmp(FILES.workerConfig)}.tmp`));

            // A directory that outlives its container (a RouterOS mount) and a new bootstrap: seeded again, once.
            const mark = inTmp(`${PATHS.workerConfigDir}/.bootstrap-sha256`);
            assert.equal(fs.readFileSync(mark, "utf8"), `${bootstrapSha256}\n`);
            fs.writeFileSync(inTmp(FILES.workerConfig), "routes of the old bootstrap\n");
            fs.writeFileSync(inTmp(FILES.workerBootstrap), "new bootstrap\n");
            const next = "0".repeat(64);
            fs.writeFileSync(script, render("worker-start.sh", view(inTmp, next)));
            r = run();
            assert.equal(r.status, 0, r.stderr);
            assert.equal(fs.readFileSync(inTmp(FILES.workerConfig), "utf8"), "new bootstrap\n");
            assert.equal(fs.readFileSync(mark, "utf8"), `${next}\n`);
            assert.ok(!fs.existsSync(`${mark}.tmp`));
            fs.writeFileSync(inTmp(FILES.workerConfig), "owned by the Data Plane API\n");
            r = run();
            assert.equal(r.status, 0, r.stderr);
            assert.equal(fs.readFileSync(inTmp(FILES.workerConfig), "utf8"), "owned by the Data Plane API\n");
          } finally {
            fs.rmSync(tmp, { recursive: true, force: true });
          }
        });
      });

      it("renders only POSIX sh scripts (dash -n, no bashisms)", () => {
        for (const [k, f] of Object.entries(renderAll(model))) {
          if (!f.path.endsWith(".sh")) continue;
          assert.ok(f.content.startsWith("#!/bin/sh\n"), k);
          const r = dashSyntax(f.content);
          assert.ok(r.ok, `${k}: dash -n failed:\n${r.stderr}`);
          for (const [name, re] of BASHISMS)
            assert.doesNotMatch(shellCode(f.content), re, `${k} uses ${name}`);
        }
      });
    });
  }

  describe("prod with every worker on the router", () => {
    for (const routeUpdates of ["live", "restart"]) {
      it(`${routeUpdates}: haproxy -c accepts the load balancer and every worker bootstrap, addressed by veth`, async function () {
        this.timeout(30_000);
        const model = stackModel("prod", {
          stagingWorkerHost: "edge-router",
          productionWorkerHosts: JSON.stringify(["edge-router", "edge-router"]),
          routeUpdates,
        });
        const lbCfg = renderLoadBalancer(model)["haproxy.cfg"];
        for (const w of model.workers)
          assert.ok(
            lbCfg.content.includes(`server ${w.name} ${w.upstream.address}:${w.upstream.port}\n`),
            w.name,
          );
        assert.ok(
          !lbCfg.content.includes("resolvers edge_dns resolve-prefer"),
          "addresses, no names to resolve",
        );
        const lbRun = await haproxyCheck(await lbCheckFiles(model), [lbCfg.path]);
        assert.ok(lbRun.ok, `haproxy -c failed:\n${lbRun.output}`);
        assert.deepEqual(problems(lbRun.output), [], lbRun.output);
        for (const w of model.workers) {
          const f: Record<string, RenderedFile> = {
            ...renderWorker(model, w),
            "userlist.cfg": renderUserlist(model, w, PASSWORD_HASH),
          };
          assert.ok(f["haproxy.cfg"].content.includes("!{ src 172.20.0.2/32 }"), w.name);
          const paths =
            routeUpdates === "live"
              ? [f["haproxy.cfg"].path, f["userlist.cfg"].path]
              : [f["haproxy.cfg"].path];
          const files = Object.fromEntries(
            [f["haproxy.cfg"], f["userlist.cfg"], f["404.html"]].map((x) => [x.path, x.content]),
          );
          const r = await haproxyCheck(files, paths);
          assert.ok(r.ok, `haproxy -c failed for ${w.name}:\n${r.output}`);
          assert.deepEqual(problems(r.output), [], `${w.name}:\n${r.output}`);
        }
      });
    }
  });

  describe("certbot (prod)", () => {
    let model: EdgeModel;
    let cb: Record<string, RenderedFile>;
    before(() => {
      model = stackModel("prod");
      cb = renderCertbot(model);
    });

    it("renders exactly the rfc2136 credentials, the deploy hook and the runner", () => {
      assert.deepEqual(Object.keys(cb).sort(), [
        "deploy-hook.sh",
        "health.sh",
        "pem-check.py",
        "renew.sh",
        "rfc2136.ini",
      ]);
      assert.equal(cb["rfc2136.ini"].path, `${PATHS.certbotEdgeDir}/rfc2136.ini`);
      assert.equal(cb["deploy-hook.sh"].path, `${PATHS.certbotEdgeDir}/deploy-hook.sh`);
      assert.equal(cb["renew.sh"].path, `${PATHS.certbotEdgeDir}/renew.sh`);
    });

    it("keeps the TSIG credentials secret (0600) with an upper-case algorithm", () => {
      const ini = cb["rfc2136.ini"];
      assert.equal(ini.mode, 0o600);
      assert.equal(ini.secret, true);
      assert.deepEqual(entries(ini.content), [
        "dns_rfc2136_server = 192.168.88.53",
        "dns_rfc2136_port = 53",
        "dns_rfc2136_name = acme-update.example.com.",
        `dns_rfc2136_secret = ${TEST_SECRETS.acmeTsigSecret}`,
        "dns_rfc2136_algorithm = HMAC-SHA512",
      ]);
    });

    it("upper-cases a lower-case TSIG algorithm from the config", () => {
      const m = stackModel("prod", { acmeTsigAlgorithm: "hmac-sha256" });
      assert.ok(
        entries(renderCertbot(m)["rfc2136.ini"].content).includes("dns_rfc2136_algorithm = HMAC-SHA256"),
      );
    });

    it("makes the scripts executable, POSIX and free of bashisms", () => {
      for (const k of ["deploy-hook.sh", "renew.sh", "health.sh"]) {
        const f = cb[k];
        assert.equal(f.mode, 0o755, k);
        assert.ok(!f.secret, k);
        const r = dashSyntax(f.content);
        assert.ok(r.ok, `${k}: dash -n failed:\n${r.stderr}`);
        for (const [name, re] of BASHISMS) assert.doesNotMatch(shellCode(f.content), re, `${k} uses ${name}`);
      }
    });

    it("hot-swaps the exact served certificate through unix sockets only, atomically and under a lock", () => {
      const hook = cb["deploy-hook.sh"].content;
      const certPath = model.loadBalancer.certPath;
      assert.equal(certPath, "/usr/local/etc/haproxy/certs/example.com.pem");
      assert.ok(hook.includes(`HAPROXY_CERT='${certPath}'`), hook);
      assert.ok(hook.includes(`printf 'set ssl cert %s <<\\n' "$HAPROXY_CERT"`), hook);
      assert.ok(hook.includes(`printf 'commit ssl cert %s\\n' "$HAPROXY_CERT"`), hook);
      assert.ok(hook.includes(`printf 'abort ssl cert %s\\n' "$HAPROXY_CERT"`), hook);
      assert.ok(hook.includes("Transaction created for certificate"), hook);
      assert.ok(hook.includes("Transaction updated for certificate"), hook);
      assert.ok(hook.includes("Success!"), hook);
      assert.match(hook, /^umask 077$/m);
      assert.match(hook, /mktemp /);
      assert.match(hook, /mv -f "\$tmp" "\$1"/);
      assert.match(hook, /^write_checked "\$CERT_FILE" \|\| fail /m);
      assert.match(hook, /flock /);
      assert.ok(hook.includes("UNIX-CONNECT:"), hook);
      assert.ok(hook.includes("socket.AF_UNIX"), hook);
      assert.doesNotMatch(hook, /\bnc /);
      assert.doesNotMatch(hook, /TCP[46]?:/);
      assert.doesNotMatch(hook, /AF_INET/);
      assert.ok(hook.includes(`SOCKETS='${PATHS.certbotRuntimeDir}/admin.sock '`), hook);
      assert.equal(path.posix.basename(FILES.lbSocket), "admin.sock");
    });

    it("renews without random sleep, through dns-rfc2136, for every domain", () => {
      const sh = cb["renew.sh"].content;
      assert.ok(sh.includes("--no-random-sleep-on-renew"), sh);
      assert.ok(sh.includes(`--dns-rfc2136-credentials '${PATHS.certbotEdgeDir}/rfc2136.ini'`), sh);
      assert.ok(sh.includes("--server 'https://acme-v02.api.letsencrypt.org/directory'"), sh);
      assert.ok(sh.includes("--cert-name 'example.com'"), sh);
      for (const d of model.tls.domains) assert.ok(sh.includes(` -d '${d}'`), d);
      // The domain flags only (not `tr -d '\r'`).
      assert.equal((sh.match(/ -d '[^\\']/g) ?? []).length, model.tls.domains.length);
      assert.ok(sh.includes(`--deploy-hook "$HOOK"`), sh);
      assert.ok(sh.includes(`HOOK='${PATHS.certbotEdgeDir}/deploy-hook.sh'`), sh);
      assert.ok(!sh.includes("REQUESTS_CA_BUNDLE"), "no CA bundle is configured in prod");
    });

    describe("deploy hook under dash, against a fake runtime API", function () {
      this.timeout(15_000);
      const certPath = "/usr/local/etc/haproxy/certs/example.com.pem";
      /** A runtime API that takes every certificate transaction. */
      const ok = (c: string) =>
        c.startsWith("set ssl cert ")
          ? `Transaction created for certificate ${certPath}!\n\n`
          : c.startsWith("commit ssl cert ")
            ? `Committing ${certPath}.\nSuccess!\n\n`
            : "Unknown command.\n\n";
      // A real certificate and key (the hook checks that they parse and match), written as certbot might: a CR,
      // a blank line, and a second certificate in the chain.
      let FULLCHAIN: string;
      let PRIVKEY: string;
      let INSTALLED: string;
      /** Certificate + key, each from a different key pair: they parse but do not match. */
      let MISMATCHED: { fullchain: string; privkey: string };
      const split = (pem: string) => {
        const at = pem.indexOf("-----BEGIN PRIVATE KEY-----");
        return { fullchain: pem.slice(0, at), privkey: pem.slice(at) };
      };

      let tmp: string;
      let lineage: string;
      let certs: string;
      let sock: string;
      let hookFile: string;
      const servers: net.Server[] = [];
      let received: string[];
      /** What each socket received (several load balancers). */
      let receivedAt: Record<string, string[]>;

      /** The template with the paths of the container, as renderCertbot gives it. */
      const view = (p: {
        certFile: string;
        sockets: string[];
        failedMark: string;
        lockFile: string;
        lastGoodFile: string;
        pemCheckFile: string;
      }) => ({
        stack: model.stack,
        certName: model.tls.certName,
        haproxyCertPath: model.loadBalancer.certPath,
        ...p,
      });

      /** A unix socket that answers like HAProxy's runtime API: one command per connection, then close. */
      function serve(answer: (command: string) => string, at = sock): Promise<void> {
        return new Promise((resolve, reject) => {
          const server = net.createServer({ allowHalfOpen: true }, (conn) => {
            let data = "";
            let answered = false;
            const reply = () => {
              if (answered) return;
              answered = true;
              received.push(data);
              (receivedAt[at] ??= []).push(data);
              conn.end(answer(data));
            };
            conn.setEncoding("utf8");
            conn.on("data", (d: string) => {
              data += d;
              const first = data.split("\n")[0];
              // A payload (`<<`) ends with an empty line, any other command with its newline.
              if (first.endsWith(" <<") ? data.includes("\n\n") : data.includes("\n")) reply();
            });
            conn.on("end", reply);
            conn.on("error", () => undefined);
          });
          servers.push(server);
          server.once("error", reject);
          server.listen(at, () => resolve());
        });
      }

      /** Runs a script under dash with `env` (bounded); resolves with its exit status and output. */
      function runDash(
        args: string[],
        env: NodeJS.ProcessEnv,
        timeoutMs: number,
      ): Promise<{ code: number | null; stdout: string; stderr: string }> {
        return new Promise((resolve, reject) => {
          const child = spawn(dash(), args, { env, timeout: timeoutMs, killSignal: "SIGKILL" });
          let stdout = "";
          let stderr = "";
          child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
          child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
          child.on("error", reject);
          child.on("close", (code) => resolve({ code, stdout, stderr }));
        });
      }

      function runHook(): Promise<{ code: number | null; stdout: string; stderr: string }> {
        return runDash(
          [hookFile],
          { PATH: process.env.PATH ?? "/usr/bin:/bin", RENEWED_LINEAGE: lineage },
          10_000,
        );
      }

      const failedMark = () => path.join(certs, ".deploy-failed");
      const installed = () => path.join(certs, "example.com.pem");

      const pemCheck = () => path.join(tmp, "pem-check.py");
      const lastGood = () => `${installed()}.last-good`;

      before(async () => {
        for (const cmd of ["flock", "mktemp"])
          assert.ok(which(cmd), `${cmd} is needed to run the deploy hook`);
        const py = spawnSync("python3", ["-c", "import cryptography"], { encoding: "utf8" });
        assert.equal(py.status, 0, `the deploy hook needs python3 with cryptography: ${py.stderr}`);
        dash();
        const domains = ["example.com"];
        const a = split((await generateSelfSignedCertificate({ domains, validityDays: 90 })).pem);
        const b = split((await generateSelfSignedCertificate({ domains, validityDays: 90 })).pem);
        const [leaf, ...rest] = a.fullchain.split("-----END CERTIFICATE-----\n");
        const intermediate = b.fullchain;
        FULLCHAIN = `${leaf.replace("\n", "\r\n")}-----END CERTIFICATE-----\n\n${rest.join("")}${intermediate}`;
        PRIVKEY = a.privkey;
        INSTALLED = (FULLCHAIN + PRIVKEY).replace(/\r/g, "").replace(/\n+/g, "\n");
        MISMATCHED = { fullchain: a.fullchain, privkey: b.privkey };
      });

      beforeEach(() => {
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "haproxy-edge-hook-"));
        lineage = path.join(tmp, "live", model.tls.certName);
        certs = path.join(tmp, "certs");
        fs.mkdirSync(lineage, { recursive: true });
        fs.mkdirSync(certs);
        fs.writeFileSync(path.join(lineage, "fullchain.pem"), FULLCHAIN);
        fs.writeFileSync(path.join(lineage, "privkey.pem"), PRIVKEY);
        sock = path.join(tmp, "admin.sock");
        received = [];
        receivedAt = {};
        const real = view({
          certFile: `${PATHS.certbotCertsDir}/example.com.pem`,
          sockets: [`${PATHS.certbotRuntimeDir}/admin.sock`],
          failedMark: FILES.deployFailedMark,
          lockFile: FILES.deployLock,
          lastGoodFile: `${PATHS.certbotCertsDir}/example.com.pem.last-good`,
          pemCheckFile: `${PATHS.certbotEdgeDir}/pem-check.py`,
        });
        // Only the paths differ from the shipped hook.
        assert.equal(render("certbot-deploy-hook.sh", real), cb["deploy-hook.sh"].content);
        hookFile = path.join(tmp, "deploy-hook.sh");
        fs.writeFileSync(pemCheck(), cb["pem-check.py"].content);
        fs.writeFileSync(
          hookFile,
          render(
            "certbot-deploy-hook.sh",
            view({
              certFile: installed(),
              sockets: [sock],
              failedMark: failedMark(),
              lockFile: path.join(certs, ".deploy.lock"),
              lastGoodFile: lastGood(),
              pemCheckFile: pemCheck(),
            }),
          ),
          { mode: 0o755 },
        );
      });

      afterEach(async () => {
        for (const s of servers.splice(0)) await new Promise<void>((resolve) => s.close(() => resolve()));
        fs.rmSync(tmp, { recursive: true, force: true });
      });

      it("installs a clean PEM 0600 atomically, sets and commits it, and clears a stale failed mark", async () => {
        fs.writeFileSync(failedMark(), "an earlier push failed\n");
        await serve((c) =>
          c.startsWith("set ssl cert ")
            ? `Transaction created for certificate ${certPath}!\n\n`
            : c.startsWith("commit ssl cert ")
              ? `Committing ${certPath}.\nSuccess!\n\n`
              : "Unknown command.\n\n",
        );
        const r = await runHook();
        assert.equal(r.code, 0, `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
        const pem = fs.readFileSync(installed(), "utf8");
        assert.equal(pem, INSTALLED);
        assert.ok(!pem.includes("\r"));
        assert.ok(pem.endsWith("\n"));
        assert.deepEqual(
          pem
            .split("\n")
            .slice(0, -1)
            .filter((l) => l.trim() === ""),
          [],
          "blank line in the installed PEM",
        );
        assert.equal((fs.statSync(installed()).mode & 0o777).toString(8), "600");
        assert.equal(fs.readFileSync(lastGood(), "utf8"), INSTALLED, "the last good copy");
        assert.deepEqual(received, [
          `set ssl cert ${certPath} <<\n${INSTALLED}\n`,
          `commit ssl cert ${certPath}\n`,
        ]);
        assert.ok(!fs.existsSync(failedMark()), "the failed mark is still there");
        assert.deepEqual(
          fs.readdirSync(certs).filter((f) => f.startsWith("example.com.pem.") && !f.endsWith(".last-good")),
          [],
          "mktemp leftovers",
        );
        assert.match(r.stdout, /swapped in through/);
      });

      it("accepts 'Transaction updated' (an open transaction) as well", async () => {
        await serve((c) =>
          c.startsWith("set ssl cert ")
            ? `Transaction updated for certificate ${certPath}!\n\n`
            : `Committing ${certPath}.\nSuccess!\n\n`,
        );
        const r = await runHook();
        assert.equal(r.code, 0, r.stderr);
        assert.equal(received.length, 2);
      });

      it("fails, aborts and leaves a failed mark when HAProxy refuses the certificate", async () => {
        const refusal = "Can't replace a certificate which is not referenced by the configuration!";
        await serve((c) =>
          c.startsWith("set ssl cert ")
            ? `${refusal}\n\n`
            : c.startsWith("abort ssl cert ")
              ? `Transaction aborted for certificate '${certPath}'!\n\n`
              : "Unknown command.\n\n",
        );
        const r = await runHook();
        assert.notEqual(r.code, 0, r.stdout);
        assert.match(r.stderr, /FAILED: .*set ssl cert on .*Can't replace a certificate/);
        assert.equal(received.length, 2, received.join("---\n"));
        assert.ok(received[0].startsWith(`set ssl cert ${certPath} <<\n`));
        assert.equal(received[1], `abort ssl cert ${certPath}\n`);
        assert.ok(!received.some((c) => c.startsWith("commit")), "committed after a refusal");
        assert.ok(fs.existsSync(failedMark()), "no failed mark");
        assert.match(fs.readFileSync(failedMark(), "utf8"), /Can't replace a certificate/);
        // The file is still installed for the next start or reload of HAProxy.
        assert.equal(fs.readFileSync(installed(), "utf8"), INSTALLED);
      });

      it("fails and leaves a failed mark when the commit does not succeed", async () => {
        await serve((c) =>
          c.startsWith("set ssl cert ")
            ? `Transaction created for certificate ${certPath}!\n\n`
            : c.startsWith("commit ssl cert ")
              ? `Committing ${certPath}.\nunable to load the certificate\n\n`
              : "Transaction aborted.\n\n",
        );
        const r = await runHook();
        assert.notEqual(r.code, 0, r.stdout);
        assert.deepEqual(
          received.map((c) => c.split("\n")[0]),
          [`set ssl cert ${certPath} <<`, `commit ssl cert ${certPath}`, `abort ssl cert ${certPath}`],
        );
        assert.match(fs.readFileSync(failedMark(), "utf8"), /commit ssl cert/);
      });

      describe("with two load balancers", () => {
        let sock2: string;
        beforeEach(() => {
          sock2 = path.join(tmp, "admin-2.sock");
          const view2 = view({
            certFile: installed(),
            sockets: [sock, sock2],
            failedMark: failedMark(),
            lockFile: path.join(certs, ".deploy.lock"),
            lastGoodFile: lastGood(),
            pemCheckFile: pemCheck(),
          });
          fs.writeFileSync(hookFile, render("certbot-deploy-hook.sh", view2));
        });

        it("swaps the certificate into every one", async () => {
          await serve(ok);
          await serve(ok, sock2);
          const r = await runHook();
          assert.equal(r.code, 0, r.stderr);
          for (const at of [sock, sock2]) {
            assert.deepEqual(
              receivedAt[at],
              [`set ssl cert ${certPath} <<\n${INSTALLED}\n`, `commit ssl cert ${certPath}\n`],
              at,
            );
          }
        });

        it("still updates the others when one is unreachable, and fails naming it", async () => {
          await serve(ok, sock2);
          const r = await runHook();
          assert.notEqual(r.code, 0, r.stdout);
          assert.equal(receivedAt[sock2]?.length, 2, "the reachable one got set + commit");
          assert.match(
            fs.readFileSync(failedMark(), "utf8"),
            new RegExp(`no runtime API socket at ${sock}$`, "m"),
          );
        });
      });

      it("fails and leaves a failed mark when the runtime API socket does not exist", async () => {
        const r = await runHook();
        assert.notEqual(r.code, 0, r.stdout);
        assert.match(r.stderr, /no runtime API socket at/);
        assert.match(fs.readFileSync(failedMark(), "utf8"), new RegExp(`no runtime API socket at ${sock}`));
      });

      // Known bug (reported, not fixed here): `cat fullchain privkey | tr | grep > tmp` only checks grep's
      // status, so a missing or unreadable fullchain.pem installs (and pushes) a key-only PEM over the served
      // certificate; HAProxy then fails to start at its next restart. Expected: fail before touching it.
      it("keeps the served certificate and pushes nothing when fullchain.pem cannot be read", async () => {
        fs.writeFileSync(installed(), INSTALLED, { mode: 0o600 });
        fs.rmSync(path.join(lineage, "fullchain.pem"));
        await serve((c) =>
          c.startsWith("set ssl cert ")
            ? `Transaction created for certificate ${certPath}!\n\n`
            : `Committing ${certPath}.\nSuccess!\n\n`,
        );
        const r = await runHook();
        assert.notEqual(r.code, 0, `the hook succeeded:\n${r.stdout}`);
        assert.match(r.stderr, /cannot read the certificate/);
        assert.equal(fs.readFileSync(installed(), "utf8"), INSTALLED, "the served certificate was replaced");
        assert.deepEqual(received, [], "a key-only PEM was pushed to HAProxy");
        assert.ok(fs.existsSync(failedMark()));
      });

      for (const [what, lineageFiles, problem] of [
        ["a key that does not match the certificate", () => MISMATCHED, /does not match the certificate/],
        [
          "a chain cut short (a short write)",
          () => ({ fullchain: FULLCHAIN.slice(0, 300), privkey: PRIVKEY }),
          /incomplete PEM|no certificate parses/,
        ],
        ["no private key", () => ({ fullchain: FULLCHAIN, privkey: "" }), /0 private keys/],
      ] as const) {
        it(`refuses ${what}: the served file and its last good copy stay, nothing is pushed, the mark says why`, async () => {
          fs.writeFileSync(installed(), "served\n", { mode: 0o600 });
          fs.writeFileSync(lastGood(), "last good\n", { mode: 0o600 });
          const bad = lineageFiles();
          fs.writeFileSync(path.join(lineage, "fullchain.pem"), bad.fullchain);
          fs.writeFileSync(path.join(lineage, "privkey.pem"), bad.privkey);
          await serve(() => "Unknown command.\n\n");
          const r = await runHook();
          assert.notEqual(r.code, 0, r.stdout);
          assert.match(r.stderr, problem);
          assert.match(
            r.stderr,
            /FAILED: the certificate written to .* is not good: .*the served certificate is unchanged/,
          );
          assert.equal(fs.readFileSync(installed(), "utf8"), "served\n");
          assert.equal(fs.readFileSync(lastGood(), "utf8"), "last good\n");
          assert.deepEqual(received, []);
          assert.match(fs.readFileSync(failedMark(), "utf8"), problem);
          assert.deepEqual(
            fs
              .readdirSync(certs)
              .filter((f) => f.startsWith("example.com.pem.") && f !== "example.com.pem.last-good"),
            [],
            "temporary files left behind",
          );
        });
      }

      it("does nothing for another lineage", async () => {
        const other = path.join(tmp, "live", "other.example.org");
        fs.mkdirSync(other);
        const child = spawnSync(dash(), [hookFile], {
          env: { PATH: process.env.PATH ?? "/usr/bin:/bin", RENEWED_LINEAGE: other },
          encoding: "utf8",
          timeout: 5000,
        });
        assert.equal(child.status, 0, child.stderr);
        assert.match(child.stdout, /is not ours/);
        assert.ok(!fs.existsSync(installed()));
        assert.ok(!fs.existsSync(failedMark()));
      });

      describe("renew.sh pass under dash (a fake certbot that renews nothing), re-pushing a stale served file", () => {
        /** Certificates and keys that are not the lineage's: fresh, or expiring within 20 days. */
        let OTHER: string;
        let EXPIRING: string;
        let renewFile: string;
        const certbotArgs = () => path.join(tmp, "certbot.args");
        const renewalMark = () => path.join(tmp, "renewal-failed");

        /** renew.sh's view: the prod model's, with the paths given. */
        const renewView = (p: {
          self: string;
          credentialsFile: string;
          hookFile: string;
          letsencryptDir: string;
          failedMark: string;
          renewalFailedMark: string;
          healthFile: string;
          certFile: string;
          pemCheckFile: string;
        }) => {
          const c = model.certbot;
          assert.ok(c);
          return {
            stack: model.stack,
            certName: model.tls.certName,
            domains: model.tls.domains,
            email: c.email,
            server: c.server,
            propagationSeconds: c.propagationSeconds,
            minValidDays: c.minValidDays,
            caBundleFile: undefined,
            intervalHours: c.renewIntervalHours,
            intervalSeconds: c.renewIntervalHours * 3600,
            ...p,
          };
        };

        before(async () => {
          const domains = ["example.com"];
          OTHER = (await generateSelfSignedCertificate({ domains, validityDays: 90 })).pem;
          EXPIRING = (await generateSelfSignedCertificate({ domains, validityDays: 19 })).pem;
        });

        beforeEach(() => {
          const edge = PATHS.certbotEdgeDir;
          const real = renewView({
            self: `${edge}/renew.sh`,
            credentialsFile: `${edge}/rfc2136.ini`,
            hookFile: `${edge}/deploy-hook.sh`,
            letsencryptDir: PATHS.letsencryptDir,
            failedMark: FILES.deployFailedMark,
            renewalFailedMark: FILES.renewalFailedMark,
            healthFile: `${edge}/health.sh`,
            certFile: `${PATHS.certbotCertsDir}/example.com.pem`,
            pemCheckFile: `${edge}/pem-check.py`,
          });
          assert.equal(render("certbot-renew.sh", real), cb["renew.sh"].content, "only the paths differ");
          renewFile = path.join(tmp, "renew.sh");
          fs.writeFileSync(
            renewFile,
            render(
              "certbot-renew.sh",
              renewView({
                self: renewFile,
                credentialsFile: path.join(tmp, "rfc2136.ini"),
                hookFile,
                letsencryptDir: tmp,
                failedMark: failedMark(),
                renewalFailedMark: renewalMark(),
                healthFile: path.join(tmp, "health.sh"),
                certFile: installed(),
                pemCheckFile: pemCheck(),
              }),
            ),
          );
          fs.writeFileSync(
            path.join(tmp, "health.sh"),
            render("certbot-health.sh", {
              stack: model.stack,
              renewalFailedMark: renewalMark(),
              deployFailedMark: failedMark(),
              pemCheckFile: pemCheck(),
              certFile: installed(),
              minValidDays: 20,
            }),
          );
          // The domains certbot last issued for are the configured ones: the pass runs `certbot renew`.
          fs.writeFileSync(
            path.join(tmp, ".haproxy-edge-domains"),
            model.tls.domains.map((d) => `${d} `).join(""),
          );
          // certbot that has nothing to renew: it records its arguments and exits 0.
          fs.mkdirSync(path.join(tmp, "bin"));
          fs.writeFileSync(
            path.join(tmp, "bin", "certbot"),
            `#!/bin/sh\nprintf '%s\\n' "$*" >> '${certbotArgs()}'\nexit 0\n`,
            { mode: 0o755 },
          );
        });

        function runRenew(): Promise<{ code: number | null; stdout: string; stderr: string }> {
          const PATH = `${path.join(tmp, "bin")}:${process.env.PATH ?? "/usr/bin:/bin"}`;
          return runDash([renewFile, "once"], { PATH }, 15_000);
        }

        const REPUSH = /the served certificate .* differs from the lineage's /;

        it("pushes nothing when the served file is what the deploy hook made of the lineage", async () => {
          await serve(ok);
          const hook = await runHook();
          assert.equal(hook.code, 0, hook.stderr);
          received.splice(0);
          const r = await runRenew();
          assert.equal(r.code, 0, `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
          assert.match(fs.readFileSync(certbotArgs(), "utf8"), /^renew --no-random-sleep-on-renew /);
          assert.deepEqual(received, [], "pushed again");
          assert.doesNotMatch(r.stdout + r.stderr, /re-push/);
          assert.equal(fs.readFileSync(installed(), "utf8"), INSTALLED);
        });

        for (const [what, served, why] of [
          [
            "another good certificate (a lost failed mark)",
            () => OTHER,
            /differs from the lineage's \(serial [0-9A-F]+, valid until /,
          ],
          [
            "a certificate that expires within 20 days",
            () => EXPIRING,
            /differs from the lineage's and is not good \(it expires within 20 days \(serial /,
          ],
          [
            "cut short",
            () => OTHER.slice(0, 400),
            /differs from the lineage's and is not good \((incomplete PEM|no cert)/,
          ],
          ["missing", () => undefined, /differs from the lineage's and is not good \(cannot read /],
        ] as const) {
          it(`re-pushes the lineage when the served file is ${what}, saying why in one line`, async () => {
            const content = served();
            if (content !== undefined) fs.writeFileSync(installed(), content, { mode: 0o600 });
            await serve(ok);
            const r = await runRenew();
            const out = r.stdout + r.stderr;
            assert.equal(r.code, 0, out);
            const lines = out.split("\n").filter((l) => REPUSH.test(l));
            assert.equal(lines.length, 1, out);
            assert.match(lines[0], why);
            assert.match(lines[0], /; re-pushing the lineage \(serial [0-9A-F]+, valid until [^)]+\)$/);
            assert.doesNotMatch(out, /PRIVATE KEY/, "key material in the output");
            assert.deepEqual(received, [
              `set ssl cert ${certPath} <<\n${INSTALLED}\n`,
              `commit ssl cert ${certPath}\n`,
            ]);
            assert.equal(fs.readFileSync(installed(), "utf8"), INSTALLED);
            assert.equal(fs.readFileSync(lastGood(), "utf8"), INSTALLED);
            assert.ok(!fs.existsSync(failedMark()));
          });
        }

        for (const [what, lineageFiles, problem] of [
          ["its key does not match", () => MISMATCHED, /does not match the certificate/],
          ["it expires within 20 days", () => split(EXPIRING), /it expires within 20 days/],
        ] as const) {
          it(`does not push a lineage that is not good (${what}) over another served certificate`, async () => {
            fs.writeFileSync(installed(), OTHER, { mode: 0o600 });
            const bad = lineageFiles();
            fs.writeFileSync(path.join(lineage, "fullchain.pem"), bad.fullchain);
            fs.writeFileSync(path.join(lineage, "privkey.pem"), bad.privkey);
            await serve(ok);
            const r = await runRenew();
            const out = r.stdout + r.stderr;
            // The served certificate is good: the pass and the healthcheck are fine.
            assert.equal(r.code, 0, out);
            assert.match(r.stderr, /the lineage is not good either \(.*\): not re-pushing it/);
            assert.match(r.stderr, problem);
            assert.deepEqual(received, []);
            assert.equal(fs.readFileSync(installed(), "utf8"), OTHER);
          });
        }

        it("fails the pass when the re-push fails, and the next pass retries it", async () => {
          fs.writeFileSync(installed(), EXPIRING, { mode: 0o600 });
          let refuse = true;
          await serve((c) => (refuse && c.startsWith("set ssl cert ") ? "Unknown command.\n\n" : ok(c)));
          const r = await runRenew();
          assert.equal(r.code, 1, r.stdout + r.stderr);
          assert.match(r.stderr, /FAILED: the re-push of the lineage failed; next try at the next pass/);
          assert.ok(fs.existsSync(failedMark()), "no failed mark");
          assert.equal(fs.readFileSync(installed(), "utf8"), INSTALLED, "installed for HAProxy's next start");

          refuse = false;
          received.splice(0);
          const again = await runRenew();
          assert.equal(again.code, 0, again.stdout + again.stderr);
          assert.match(again.stderr, /the last certificate push failed/);
          assert.deepEqual(
            received.map((c) => c.split("\n")[0]),
            [`set ssl cert ${certPath} <<`, `commit ssl cert ${certPath}`],
          );
          assert.ok(!fs.existsSync(failedMark()));
        });
      });
    });

    describe("healthcheck (health.sh) under dash", function () {
      this.timeout(15_000);
      let tmp: string;
      let pems: { fresh: string; expiring: string };
      const served = () => path.join(tmp, "example.com.pem");
      const renewalMark = () => path.join(tmp, "renewal-failed");
      const deployMark = () => path.join(tmp, "deploy-failed");

      before(async () => {
        const domains = ["example.com"];
        pems = {
          fresh: (await generateSelfSignedCertificate({ domains, validityDays: 90 })).pem,
          expiring: (await generateSelfSignedCertificate({ domains, validityDays: 19 })).pem,
        };
      });
      beforeEach(() => {
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "haproxy-edge-health-"));
        fs.writeFileSync(path.join(tmp, "pem-check.py"), cb["pem-check.py"].content);
        const view = {
          stack: model.stack,
          renewalFailedMark: FILES.renewalFailedMark,
          deployFailedMark: FILES.deployFailedMark,
          pemCheckFile: `${PATHS.certbotEdgeDir}/pem-check.py`,
          certFile: `${PATHS.certbotCertsDir}/example.com.pem`,
          minValidDays: 20,
        };
        assert.equal(render("certbot-health.sh", view), cb["health.sh"].content, "only the paths differ");
        fs.writeFileSync(
          path.join(tmp, "health.sh"),
          render("certbot-health.sh", {
            ...view,
            renewalFailedMark: renewalMark(),
            deployFailedMark: deployMark(),
            pemCheckFile: path.join(tmp, "pem-check.py"),
            certFile: served(),
          }),
        );
      });
      afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

      const health = () => {
        const r = spawnSync(dash(), [path.join(tmp, "health.sh")], {
          encoding: "utf8",
          timeout: 10_000,
          env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
        });
        return { code: r.status, out: r.stdout + r.stderr };
      };

      it("is healthy with a served certificate valid 90 days and no failure mark, and writes nothing", () => {
        fs.writeFileSync(served(), pems.fresh);
        const before = fs.readdirSync(tmp).sort();
        const r = health();
        assert.equal(r.code, 0, r.out);
        assert.match(r.out, /^ok: the served certificate has serial [0-9A-F]+, valid until \d{4}-/);
        assert.deepEqual(fs.readdirSync(tmp).sort(), before);
      });

      it("is unhealthy when the served certificate expires within 20 days (a renewal that could not leave its mark)", () => {
        fs.writeFileSync(served(), pems.expiring);
        const r = health();
        assert.equal(r.code, 1, r.out);
        assert.match(r.out, /UNHEALTHY: the served certificate .*: it expires within 20 days \(serial /);
      });

      it("is unhealthy while a renewal or a push failed, with the reason", () => {
        fs.writeFileSync(served(), pems.fresh);
        fs.writeFileSync(renewalMark(), "renewal failed: certbot exited with status 1\n");
        let r = health();
        assert.equal(r.code, 1, r.out);
        assert.match(r.out, /UNHEALTHY: renewal failed: certbot exited with status 1/);
        fs.rmSync(renewalMark());
        // An empty mark (no space for the reason) still counts.
        fs.writeFileSync(deployMark(), "");
        r = health();
        assert.equal(r.code, 1, r.out);
        assert.match(r.out, /UNHEALTHY: +\(mark .*deploy-failed\)/);
      });

      for (const [what, content] of [
        ["cut short", () => pems.fresh.slice(0, 400)],
        ["without its key", () => pems.fresh.slice(0, pems.fresh.indexOf("-----BEGIN PRIVATE KEY-----"))],
        ["garbage", () => "not a certificate\n"],
      ] as const) {
        it(`is unhealthy when the served certificate is ${what}`, () => {
          fs.writeFileSync(served(), content());
          const r = health();
          assert.equal(r.code, 1, r.out);
          assert.match(r.out, /UNHEALTHY: the served certificate /);
        });
      }

      it("is unhealthy when there is no served certificate", () => {
        const r = health();
        assert.equal(r.code, 1, r.out);
        assert.match(r.out, /UNHEALTHY: the served certificate .*: cannot read/);
      });
    });
  });

  describe("routeUpdates: restart (routes rendered into the worker configuration)", () => {
    const routes = JSON.stringify([
      {
        name: "app",
        hosts: ["app.lab.example.com", "www.lab.example.com"],
        servers: ["172.29.80.100:8080", "172.29.80.101:8081"],
        healthCheckPath: "/healthz",
      },
      {
        name: "api",
        hosts: ["app.lab.example.com"],
        pathPrefix: "/api",
        servers: ["172.29.80.102:8080"],
        balance: "leastconn",
        internalOnly: true,
      },
    ]);
    const live = stackModel("dev", { routes });
    const restart = stackModel("dev", { routes, routeUpdates: "restart" });

    it("writes each route's ACLs, use_backend rule (path routes first) and backend, with the route resource's names", () => {
      const cfg = renderWorker(restart, restart.workers[1])["haproxy.cfg"].content;
      const lines = section(cfg, "frontend fe_edge");
      assert.deepEqual(
        lines.filter(
          (l) => l.startsWith("acl ") || l.startsWith("use_backend ") || l.startsWith("default_backend "),
        ),
        [
          // Ready from the start: the routes are in the bootstrap.
          "acl edge_routes_applied always_true",
          "acl ambiguous_path path_sub -i %2f %5c %00 %c0 %c1 \\x5c /.; /..;",
          "acl ambiguous_path path_reg -i %25[0-9a-f][0-9a-f] ;[^/]*/",
          "acl route_api_host req.hdr(host),field(1,:) -i app.lab.example.com",
          "acl route_api_path path_beg -i /api",
          "acl route_app_host req.hdr(host),field(1,:) -i app.lab.example.com www.lab.example.com",
          "use_backend route_api if route_api_host route_api_path",
          "use_backend route_app if route_app_host",
          "default_backend be_not_found",
        ],
      );
      assert.deepEqual(section(cfg, "backend route_app"), [
        "balance roundrobin",
        "option httpchk GET /healthz",
        "server s1 172.29.80.100:8080 check inter 1000 fastinter 200",
        "server s2 172.29.80.101:8081 check inter 1000 fastinter 200",
      ]);
      assert.deepEqual(section(cfg, "backend route_api"), [
        "balance leastconn",
        "option httpchk GET /",
        "acl allowed_client src 10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 127.0.0.0/8",
        "http-request deny deny_status 403 unless allowed_client",
        "server s1 172.29.80.102:8080 check inter 1000 fastinter 200",
      ]);
    });

    it("on the staging worker, selects each route by its staging host too and serves it with the route's first host", () => {
      const cfg = renderWorker(restart, restart.workers[0])["haproxy.cfg"].content;
      assert.equal(restart.workers[0].role, "staging");
      const acls = section(cfg, "frontend fe_edge").filter((l) => l.startsWith("acl route_"));
      assert.deepEqual(acls, [
        "acl route_api_host req.hdr(host),field(1,:) -i app.lab.example.com api.staging.lab.example.com",
        "acl route_api_path path_beg -i /api",
        "acl route_app_host req.hdr(host),field(1,:) -i app.lab.example.com www.lab.example.com app.staging.lab.example.com",
      ]);
      assert.deepEqual(section(cfg, "backend route_app"), [
        "balance roundrobin",
        "option httpchk GET /healthz",
        "acl staging_host req.hdr(host),field(1,:) -i app.staging.lab.example.com",
        "http-request set-header Host app.lab.example.com if staging_host",
        "server s1 172.29.80.100:8080 check inter 1000 fastinter 200",
        "server s2 172.29.80.101:8081 check inter 1000 fastinter 200",
      ]);
      assert.deepEqual(section(cfg, "backend route_api"), [
        "balance leastconn",
        "option httpchk GET /",
        "acl allowed_client src 10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 127.0.0.0/8",
        "acl staging_host req.hdr(host),field(1,:) -i api.staging.lab.example.com",
        "http-request deny deny_status 403 unless allowed_client",
        "http-request set-header Host app.lab.example.com if staging_host",
        "server s1 172.29.80.102:8080 check inter 1000 fastinter 200",
      ]);
    });

    it("leaves routes out of the bootstrap in live mode (the Data Plane API writes them)", () => {
      const cfg = renderWorker(live, live.workers[0])["haproxy.cfg"].content;
      assert.ok(!cfg.includes("route_"), cfg);
    });

    it("passes haproxy -c (HAProxy 3.0) without warnings, for every worker", async () => {
      for (const w of restart.workers) {
        const f = renderWorker(restart, w);
        const files = Object.fromEntries([f["haproxy.cfg"], f["404.html"]].map((x) => [x.path, x.content]));
        const r = await haproxyCheck(files, [f["haproxy.cfg"].path]);
        assert.ok(r.ok, `haproxy -c failed for ${w.name}:\n${r.output}`);
        assert.deepEqual(problems(r.output), [], `${w.name}:\n${r.output}`);
      }
    });
  });
});
