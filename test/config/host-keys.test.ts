/**
 * SSH host keys are always verified (config/host-keys.ts), tried as a careless user or an attacker would: a
 * router without `hostKey`, a `hostKey` that is not the key it claims to be, and every spelling of `sshOpts`
 * that turns OpenSSH's host key checking off; each refused with its key path unless the host opts out with
 * `insecureAcceptAnyHostKey: true`, and then the model holds the warning every run prints.
 */
import { strict as assert } from "node:assert";
import { formatIssues, parseStackConfig, type ConfigIssue } from "../../config/parse";
import { loadModel } from "../../config/model";
import { hostKeyProblem, sshArgsWithHostKeyChecking, sshOptsHostKeyProblems } from "../../config/host-keys";

const ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
const RSA =
  "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCvDntq4wInM9JovqzOMWHZo6TkkZmNGIyloMsvbL9t7IcjuuH53oLn8SVCKI7g0KJj5yHz8r+ScfOsTeWI+48OzcVthD0QT36yDtDzBvK1yIp+SZgZVndyXKBIkGroHrL1JKSC8FuITpjHx2HyZMryCIH1ODq0PW3ngUQJLm4p57bR3tc4bkjA7LC4d7tkqMReoZ4cr3R8h61Ua2RB10Kc6TRW7eoUUWgRrSx1nu6xFwbWeRDtvJwH3vz0Vm04ahbIu2zrMxcgYp32ahg5XuI2S6RSyQIywBt/RRtA7ZCmPpQ/UiQlPHTrW7fo7lSdjgrFbottOu+HRB7PwmY7UqN3";
const RSA_1024 =
  "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQCd4gdAvm2oWgwv+jcESQF9Og6AfrSHKPjgnD+aNrns6ZDLolTJKpJOaRlaLatek3VhCtPQ7wDtoxJtyhG1y/9ZUgmXut7DuE56M+0kqwN73a35PNuo4q9GGvU4NqfqFXCsMbmatE6zK2Zy6OoEkmed0hek07OD3SQdQL55NimX9Q==";
const ECDSA =
  "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBJJgwlyI/H/iUvUyhKsX0TkZKFJRWQ3ALb/eI+mm8U4zDfVjtkdFb9qKW9pDfCOSRks3zKEeGqNbWuBV2Fpxjjo=";
const ROUTER_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nc2VjcmV0\n-----END OPENSSH PRIVATE KEY-----";
/** A router key makes `hosts` a secret (as `pulumi config set --secret --path` does); else nothing is. */
function ctxOf(config: Record<string, unknown>) {
  const router = Object.hasOwn(config.hosts as object, "r1");
  return { project: "haproxy-edge", stack: "dev", secretKeys: new Set(router ? ["hosts"] : []) };
}

type Host = Record<string, unknown>;

/** A valid stack: the load balancer on router `r1` (or the local engine), the workers on `remote`. */
function stack(hosts: { r1?: Host; remote?: Host }): Record<string, unknown> {
  return {
    domains: ["example.com"],
    hosts: {
      local: { kind: "docker", address: "192.168.88.10" },
      ...(hosts.r1
        ? { r1: { kind: "routeros", address: "192.168.88.1", privateKey: ROUTER_KEY, ...hosts.r1 } }
        : {}),
      ...(hosts.remote
        ? {
            remote: {
              kind: "docker",
              url: "ssh://deploy@docker-1.lan",
              address: "192.168.88.20",
              ...hosts.remote,
            },
          }
        : {}),
    },
    loadBalancerHost: hosts.r1 ? "r1" : "local",
    stagingWorkerHost: hosts.remote ? "remote" : "local",
    productionWorkerHosts: [hosts.remote ? "remote" : "local"],
  };
}

/** The issues of `config` (secrets: none, so every value shows). */
function issues(config: Record<string, unknown>): ConfigIssue[] {
  const res = parseStackConfig(config, ctxOf(config));
  return res.ok ? [] : res.issues;
}

function model(config: Record<string, unknown>) {
  return loadModel(config, ctxOf(config));
}

describe("config/host-keys", () => {
  describe("a router's hostKey", () => {
    it("is required, naming hosts.<name>.hostKey, how to get it and the opt-out", () => {
      const found = issues(stack({ r1: {} }));
      assert.equal(found.length, 1, formatIssues(found));
      assert.equal(found[0].path, "hosts.r1.hostKey");
      assert.match(found[0].message, /^is required: the router's SSH host key as "<type> <base64>"/);
      assert.match(found[0].message, /ssh-keyscan -t rsa,ed25519 -p <port> <address>/);
      assert.match(found[0].message, /router's console \(docs\/operations\.md#ssh-host-keys\)/);
      assert.match(
        found[0].message,
        /or set hosts\.r1\.insecureAcceptAnyHostKey: true to accept any host key \(insecure/,
      );
    });

    it("accepts the key types ssh-keyscan prints: RSA (RouterOS' default), Ed25519, ECDSA P-256", () => {
      for (const hostKey of [RSA, RSA_1024, ED25519, ECDSA]) {
        assert.deepEqual(issues(stack({ r1: { hostKey } })), [], hostKey);
        const router = model(stack({ r1: { hostKey } })).hosts.find((h) => h.name === "r1");
        assert.ok(router?.kind === "routeros");
        // Pinned, and nothing that accepts another key.
        assert.deepEqual(router.ssh, { host: "192.168.88.1", port: 22, user: "admin", hostKey });
      }
    });

    const base64Of = (key: string) => key.split(" ")[1];
    for (const [title, hostKey, message] of [
      [
        "an RSA key labelled ed25519",
        `ssh-ed25519 ${base64Of(RSA)}`,
        /is not a ssh-ed25519 public key: the base64 part holds a "ssh-rsa" key/,
      ],
      [
        "an Ed25519 key labelled rsa",
        `ssh-rsa ${base64Of(ED25519)}`,
        /is not a ssh-rsa public key: the base64 part holds a "ssh-ed25519" key/,
      ],
      ["a truncated key", ED25519.slice(0, -8), /is not|does not decode/],
      [
        "a key with bytes appended",
        `ssh-ed25519 ${Buffer.concat([Buffer.from(base64Of(ED25519), "base64"), Buffer.from([0, 0, 0, 1, 7])]).toString("base64")}`,
        /is not a complete ssh-ed25519 public key/,
      ],
      [
        "only the type's header (no key)",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5",
        /is not a complete ssh-ed25519 public key/,
      ],
      ["a placeholder", "ssh-ed25519 AAAA", /is not|does not decode/],
      ["a 512-bit RSA key", "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAQQC7", /is not|does not decode/],
      [
        "a P-384 key labelled P-256",
        `ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBFXhCDRx9feMdHNVhB9d47f6L3Gt8gNQL4CUjSpdbB+6hf0TcxKGCn3uJuhpFvDYqagwAO61LeH6+uNBG0dH8NsetbDHCZ6O77FeIXPj9ZFgV7gCBZdz5g9/dyd6hPaM9A==`,
        /is not a ecdsa-sha2-nistp256 public key/,
      ],
      [
        "the host field of ssh-keyscan left in",
        `192.168.88.1 ${ED25519}`,
        /must be an SSH public host key: <type> <base64>/,
      ],
      ["a trailing comment", `${ED25519} admin@router`, /must be an SSH public host key/],
      ["two keys (both lines of ssh-keyscan)", `${RSA}\n${ED25519}`, /must be an SSH public host key/],
      [
        "a fingerprint",
        "SHA256:81H0BDT8yQghiWgCHzqr/aC2TFt42pPpo418res/MTw",
        /must be an SSH public host key/,
      ],
      ["a DSA key", "ssh-dss AAAAB3NzaC1kc3MAAACBAP", /must be an SSH public host key/],
    ] as const) {
      it(`refuses ${title}`, () => {
        const found = issues(stack({ r1: { hostKey } }));
        assert.deepEqual(
          found.map((i) => i.path),
          ["hosts.r1.hostKey"],
          formatIssues(found),
        );
        assert.match(found[0].message, message);
      });
    }

    it("hostKeyProblem names the type inside the base64 when the label lies", () => {
      assert.equal(hostKeyProblem(ED25519), undefined);
      assert.equal(hostKeyProblem(RSA), undefined);
      assert.match(hostKeyProblem(`ssh-rsa ${base64Of(ECDSA)}`) ?? "", /"ecdsa-sha2-nistp256" key/);
    });

    it("opts out only with insecureAcceptAnyHostKey: true, then every run warns naming the router", () => {
      const config = stack({ r1: { insecureAcceptAnyHostKey: true } });
      assert.deepEqual(issues(config), []);
      const m = model(config);
      const router = m.hosts.find((h) => h.name === "r1");
      assert.ok(router?.kind === "routeros");
      assert.deepEqual(router.ssh, { host: "192.168.88.1", port: 22, user: "admin", acceptAnyHostKey: true });
      assert.equal(m.hostKeyWarnings.length, 1);
      assert.match(
        m.hostKeyWarnings[0],
        /^host r1: the router's SSH host key is not verified \(hosts\.r1\.insecureAcceptAnyHostKey: true\)/,
      );
      assert.match(m.hostKeyWarnings[0], /pin the key instead \(docs\/operations\.md#ssh-host-keys\)/);
    });

    it("warns only for hosts something is placed on", () => {
      const config = stack({ r1: { insecureAcceptAnyHostKey: true } });
      config.loadBalancerHost = "local";
      assert.deepEqual(issues(config), []);
      assert.deepEqual(model(config).hostKeyWarnings, []);
    });

    for (const value of ["true", "yes", 1, "TRUE"]) {
      it(`refuses insecureAcceptAnyHostKey: ${JSON.stringify(value)} (only the boolean true opts out)`, () => {
        const found = issues(stack({ r1: { insecureAcceptAnyHostKey: value } }));
        assert.ok(
          found.some((i) => i.path === "hosts.r1.insecureAcceptAnyHostKey"),
          formatIssues(found),
        );
      });
    }

    it("refuses the opt-out next to a pinned key: a pinned key is always checked", () => {
      const found = issues(stack({ r1: { hostKey: ED25519, insecureAcceptAnyHostKey: true } }));
      assert.deepEqual(found, [
        {
          path: "hosts.r1.insecureAcceptAnyHostKey",
          message: "must not be true with hostKey set: remove one of them",
          value: "[secret]", // all of `hosts` is a secret once it holds a router key
        },
      ]);
    });

    it("misspellings of the opt-out are unknown keys, never an opt-out", () => {
      for (const key of ["insecureAcceptAnyHostkey", "acceptAnyHostKey", "insecure_accept_any_host_key"]) {
        const found = issues(stack({ r1: { [key]: true } }));
        assert.deepEqual(found.map((i) => i.path).sort(), [`hosts.r1.${key}`], formatIssues(found));
      }
    });
  });

  describe("a Docker host's sshOpts", () => {
    // [sshOpts, index of the refused argument, why]
    const refused: [string[], number, RegExp][] = [
      [["-o", "StrictHostKeyChecking=no"], 1, /StrictHostKeyChecking=no turns host key checking off/],
      [["-oStrictHostKeyChecking=no"], 0, /StrictHostKeyChecking=no turns/],
      [["-o", "stricthostkeychecking=NO"], 1, /StrictHostKeyChecking=NO turns/],
      [["-o", "STRICTHOSTKEYCHECKING=No"], 1, /turns host key checking off/],
      [["-o", "StrictHostKeyChecking=off"], 1, /StrictHostKeyChecking=off turns/],
      [["-o", "StrictHostKeyChecking=false"], 1, /StrictHostKeyChecking=false turns/],
      [["-o", "StrictHostKeyChecking==no"], 1, /turns host key checking off/],
      [["-o", "StrictHostKeyChecking=accept-new"], 1, /accept-new accepts any host key the first time/],
      [["-oStrictHostKeyChecking=Accept-New"], 0, /accept-new accepts any host key/],
      [
        ["-o", "StrictHostKeyChecking=yes", "-o", "StrictHostKeyChecking=no"],
        3,
        /turns host key checking off/,
      ],
      [
        ["-o", "StrictHostKeyChecking=no", "-o", "StrictHostKeyChecking=yes"],
        1,
        /turns host key checking off/,
      ],
      [["-o", "UserKnownHostsFile=/dev/null"], 1, /UserKnownHostsFile=\/dev\/null is a device/],
      [["-oUserKnownHostsFile=/dev/null"], 0, /is a device/],
      [["-o", "userknownhostsfile=/dev//null"], 1, /is a device/],
      [["-o", "UserKnownHostsFile=//dev/null"], 1, /is a device/],
      [["-o", "UserKnownHostsFile=/dev/./null"], 1, /is a device/],
      [["-o", "UserKnownHostsFile=/./dev/null"], 1, /is a device/],
      [["-o", "UserKnownHostsFile=/dev/null/"], 1, /is a device/],
      [["-o", "UserKnownHostsFile=/DEV/NULL"], 1, /is a device/],
      [["-o", "UserKnownHostsFile=/dev/stdin"], 1, /is a device/],
      [["-o", "UserKnownHostsFile=/dev/fd/0"], 1, /is a device/],
      [["-o", "UserKnownHostsFile=/proc/self/fd/0"], 1, /is a device/],
      [["-o", "UserKnownHostsFile=/tmp/../dev/null"], 1, /must not contain '\.\.'/],
      [
        ["-o", "UserKnownHostsFile=../../../../dev/null"],
        1,
        /must be an absolute path: a relative one depends/,
      ],
      [["-o", "UserKnownHostsFile=dev/null"], 1, /must be an absolute path/],
      [["-o", "UserKnownHostsFile=none"], 1, /UserKnownHostsFile=none keeps no known host keys/],
      [["-o", "UserKnownHostsFile=NONE"], 1, /keeps no known host keys/],
      [["-o", "GlobalKnownHostsFile=/dev/null"], 1, /GlobalKnownHostsFile=\/dev\/null is a device/],
      [["-oglobalknownhostsfile=none"], 0, /GlobalKnownHostsFile=none keeps no known host keys/],
      [
        ["-i", "/root/.ssh/id", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes"],
        3,
        /is a device/,
      ],
    ];
    for (const [sshOpts, index, message] of refused) {
      it(`refuses ${JSON.stringify(sshOpts)} at sshOpts[${index}], with the way to pin and the opt-out`, () => {
        const found = issues(stack({ remote: { sshOpts } }));
        assert.deepEqual(
          found.map((i) => i.path),
          [`hosts.remote.sshOpts[${index}]`],
          formatIssues(found),
        );
        assert.match(found[0].message, message);
        assert.match(
          found[0].message,
          /pin the host in known_hosts instead \(docs\/operations\.md#ssh-host-keys\)/,
        );
        assert.match(found[0].message, /or set hosts\.remote\.insecureAcceptAnyHostKey: true/);
        assert.equal(found[0].value, sshOpts[index]);
      });
    }

    // Spellings ssh itself would read as one option with its value, refused by the argument rule already.
    for (const arg of [
      "StrictHostKeyChecking no",
      "StrictHostKeyChecking\tno",
      "StrictHostKeyChecking = no",
      'StrictHostKeyChecking="no"',
      "StrictHostKeyChecking='no'",
      '"StrictHostKeyChecking=no"',
      "UserKnownHostsFile /dev/null",
    ]) {
      it(`refuses ${JSON.stringify(["-o", arg])} (one ssh argument without spaces or quotes)`, () => {
        const found = issues(stack({ remote: { sshOpts: ["-o", arg] } }));
        assert.deepEqual(
          found.map((i) => i.path),
          ["hosts.remote.sshOpts[1]"],
          formatIssues(found),
        );
        assert.match(found[0].message, /must be one ssh argument without spaces or quotes/);
      });
    }

    it("refuses the same spellings fused with other flags (ssh would parse -4o as -4 -o)", () => {
      for (const arg of ["-4oStrictHostKeyChecking=no", "-qo", "-Co"]) {
        const found = issues(stack({ remote: { sshOpts: [arg, "StrictHostKeyChecking=no"] } }));
        assert.equal(found[0]?.path, "hosts.remote.sshOpts[0]", formatIssues(found));
      }
    });

    const accepted: string[][] = [
      [],
      ["-o", "StrictHostKeyChecking=yes"],
      ["-oStrictHostKeyChecking=YES"],
      ["-o", "StrictHostKeyChecking=true"],
      ["-o", "StrictHostKeyChecking=ask"],
      ["-o", "UserKnownHostsFile=/etc/haproxy-edge/known_hosts", "-o", "StrictHostKeyChecking=yes"],
      ["-o", "UserKnownHostsFile=/home/deploy/.ssh/known_hosts_edge"],
      ["-o", "GlobalKnownHostsFile=/etc/ssh/ssh_known_hosts"],
      ["-o", "UserKnownHostsFile=/devices/known_hosts"],
      ["-o", "HostKeyAlias=docker-1", "-o", "HostKeyAlgorithms=ssh-ed25519"],
    ];
    for (const sshOpts of accepted) {
      it(`accepts ${JSON.stringify(sshOpts)}`, () => {
        assert.deepEqual(issues(stack({ remote: { sshOpts } })), []);
        assert.deepEqual(model(stack({ remote: { sshOpts } })).hostKeyWarnings, []);
      });
    }

    it("sshOptsHostKeyProblems finds every refused argument, not only the first", () => {
      const opts = [
        "-oStrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-oGlobalKnownHostsFile=none",
      ];
      assert.deepEqual(
        sshOptsHostKeyProblems(opts).map((p) => p.index),
        [0, 2, 3],
      );
    });

    it("are passed with StrictHostKeyChecking=yes first unless they set it, so ~/.ssh/config cannot turn it off", () => {
      assert.deepEqual(sshArgsWithHostKeyChecking([]), ["-o", "StrictHostKeyChecking=yes"]);
      assert.deepEqual(sshArgsWithHostKeyChecking(["-i", "/k"]), [
        "-o",
        "StrictHostKeyChecking=yes",
        "-i",
        "/k",
      ]);
      for (const opts of [["-o", "StrictHostKeyChecking=ask"], ["-ostricthostkeychecking=yes"]])
        assert.deepEqual(sshArgsWithHostKeyChecking(opts), opts);
      const remote = model(stack({ remote: { sshOpts: ["-o", "BatchMode=yes"] } })).hosts.find(
        (h) => h.name === "remote",
      );
      assert.ok(remote?.kind === "docker");
      assert.deepEqual(remote.sshArgs, ["-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes"]);
    });

    it("opts out with insecureAcceptAnyHostKey: true; every run then warns naming the host", () => {
      const sshOpts = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"];
      const config = stack({ remote: { sshOpts, insecureAcceptAnyHostKey: true } });
      assert.deepEqual(issues(config), []);
      const m = model(config);
      const remote = m.hosts.find((h) => h.name === "remote");
      assert.ok(remote?.kind === "docker");
      assert.deepEqual(remote.sshArgs, sshOpts); // as given: nothing overrides the opt-out
      assert.deepEqual(m.hostKeyWarnings, [
        "host remote: its sshOpts turn SSH host key checking off (hosts.remote.insecureAcceptAnyHostKey: true): " +
          "whoever answers at its address receives its secrets; pin the key instead (docs/operations.md#ssh-host-keys)",
      ]);
    });

    it("refuses an opt-out that opts out of nothing (its name would lie)", () => {
      const found = issues(
        stack({ remote: { sshOpts: ["-o", "StrictHostKeyChecking=yes"], insecureAcceptAnyHostKey: true } }),
      );
      assert.deepEqual(
        found.map((i) => i.path),
        ["hosts.remote.insecureAcceptAnyHostKey"],
      );
      assert.match(found[0].message, /sshOpts keep host key checking on/);
    });

    it("reports the problems of every host together", () => {
      const found = issues(stack({ r1: {}, remote: { sshOpts: ["-oStrictHostKeyChecking=accept-new"] } }));
      assert.deepEqual(found.map((i) => i.path).sort(), ["hosts.r1.hostKey", "hosts.remote.sshOpts[0]"]);
    });
  });
});
