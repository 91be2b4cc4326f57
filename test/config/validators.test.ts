/** Unit tests of config/validators.ts: the pure checks every config string passes before it is used. */
import { strict as assert } from "node:assert";
import {
  DURATION,
  IMAGE,
  NAME,
  PATH_PREFIX,
  certificateCovers,
  cidrProblem,
  intToIpv4,
  ipv4ToInt,
  isCertificateName,
  isHostname,
} from "../../config/validators";

describe("validators", () => {
  describe("isHostname", () => {
    for (const ok of [
      "example.com",
      "app.example.com",
      "a-b.example.com",
      "x1.y2.example.com",
      "localhost",
      "123.example.com",
    ]) {
      it(`accepts ${ok}`, () => assert.equal(isHostname(ok), true));
    }
    it("accepts a 63-character label and rejects a 64-character one", () => {
      assert.equal(isHostname(`${"a".repeat(63)}.example.com`), true);
      assert.equal(isHostname(`${"a".repeat(64)}.example.com`), false);
    });
    it("rejects names over 253 characters", () => {
      const label = "a".repeat(63);
      const long = [label, label, label, "a".repeat(61)].join("."); // 253 characters
      assert.equal(long.length, 253);
      assert.equal(isHostname(long), true);
      assert.equal(isHostname(`a${long}`), false);
    });
    const bad: [string, string][] = [
      ["", "empty"],
      ["-bad.example.com", "leading hyphen"],
      ["bad-.example.com", "trailing hyphen"],
      ["a..b", "empty label"],
      [".example.com", "leading dot"],
      ["example.com.", "trailing dot"],
      ["exa mple.com", "space"],
      ["App.example.com", "upper case (callers lower-case first)"],
      ["*.example.com", "wildcard"],
      ["a_b.example.com", "underscore"],
      ["192.168.1.10", "IPv4 address"],
      ["app.123", "all-digit last label"],
      ["example.com\n", "newline"],
      ['a"b.example.com', "quote"],
    ];
    for (const [value, why] of bad) {
      it(`rejects ${JSON.stringify(value)} (${why})`, () => assert.equal(isHostname(value), false));
    }
  });

  describe("isCertificateName", () => {
    for (const ok of ["example.com", "*.example.com", "*.staging.example.com", "www.example.com"]) {
      it(`accepts ${ok}`, () => assert.equal(isCertificateName(ok), true));
    }
    for (const bad of [
      "*.com",
      "**.example.com",
      "a.*.example.com",
      "*foo.example.com",
      "*",
      "*.",
      "*.-x.com",
      "x.*",
    ]) {
      it(`rejects ${bad}`, () => assert.equal(isCertificateName(bad), false));
    }
  });

  describe("certificateCovers", () => {
    it("a wildcard covers exactly one extra label", () => {
      assert.equal(certificateCovers("*.example.com", "a.example.com"), true);
      assert.equal(certificateCovers("*.example.com", "example.com"), false);
      assert.equal(certificateCovers("*.example.com", "a.b.example.com"), false);
      assert.equal(certificateCovers("*.example.com", "aexample.com"), false);
      assert.equal(certificateCovers("*.example.com", "a.example.org"), false);
    });
    it("a plain name covers only itself", () => {
      assert.equal(certificateCovers("example.com", "example.com"), true);
      assert.equal(certificateCovers("example.com", "www.example.com"), false);
      assert.equal(certificateCovers("www.example.com", "example.com"), false);
    });
  });

  describe("cidrProblem", () => {
    const ok = [
      "10.0.0.0/8",
      "0.0.0.0/0",
      "192.168.1.7/32",
      "172.16.0.0/12",
      "2001:db8::/32",
      "::/0",
      "::1/128",
      "fe80::/10",
    ];
    for (const v of ok) {
      it(`accepts ${v}`, () => assert.equal(cidrProblem(v), undefined));
    }
    const bad: [string, RegExp][] = [
      ["10.0.0.0", /CIDR form/],
      ["abc", /CIDR form/],
      ["10.0.0.0/", /CIDR form/],
      ["10.0.0.0/8/8", /CIDR form/],
      ["10.0.0.0/-1", /CIDR form/],
      ["10.0.0.0/1000", /CIDR form/],
      ["10.0.0.0/33", /prefix length over 32/],
      ["300.1.1.1/8", /not a valid IPv4 or IPv6 prefix/],
      ["10.0.0/8", /not a valid IPv4 or IPv6 prefix/],
      ["10.0.0.1/8", /host bits set \(did you mean 10\.0\.0\.0\/8\?\)/],
      ["192.168.1.1/24", /did you mean 192\.168\.1\.0\/24\?/],
      ["255.255.255.255/0", /did you mean 0\.0\.0\.0\/0\?/],
      ["2001:db8::/129", /prefix length over 128/],
      ["2001:db8:::/32", /not a valid IPv4 or IPv6 prefix/],
      ["gggg::/16", /not a valid IPv4 or IPv6 prefix/],
    ];
    for (const [v, re] of bad) {
      it(`rejects ${v}`, () => assert.match(cidrProblem(v) ?? "(accepted)", re));
    }
  });

  describe("ipv4ToInt / intToIpv4", () => {
    it("round-trip", () => {
      for (const a of ["0.0.0.0", "10.0.0.1", "172.20.0.3", "255.255.255.255"])
        assert.equal(intToIpv4(ipv4ToInt(a)), a);
      assert.equal(ipv4ToInt("1.0.0.0"), 2 ** 24);
      assert.equal(intToIpv4(2 ** 32 - 1), "255.255.255.255");
    });
  });

  describe("DURATION", () => {
    for (const ok of ["1ms", "500ms", "5s", "1m", "2h", "1d", "9999999s"]) {
      it(`accepts ${ok}`, () => assert.match(ok, DURATION));
    }
    for (const bad of ["5", "0s", "05s", "5 s", "5sec", "5S", "-5s", "1.5s", "s", "10000000s", "5s;"]) {
      it(`rejects ${JSON.stringify(bad)}`, () => assert.doesNotMatch(bad, DURATION));
    }
  });

  describe("IMAGE", () => {
    const digest = "a".repeat(64);
    const ok = [
      "haproxy",
      "haproxy:3.0",
      "haproxytech/haproxy-debian:3.0",
      "certbot/dns-rfc2136:v5.7.0",
      "registry.lan:5000/haproxy:3.0",
      "ghcr.io/org/sub/image:Tag_1.2-rc",
      `haproxy@sha256:${digest}`,
      `haproxy:3.0@sha256:${digest}`,
    ];
    for (const v of ok) {
      it(`accepts ${v}`, () => assert.match(v, IMAGE));
    }
    const bad = [
      "Haproxy:3.0",
      "haproxy:3.0 ; rm -rf /",
      "haproxy:3.0\n",
      "haproxy:",
      ":3.0",
      "haproxy:-3.0",
      "/haproxy",
      "haproxy/",
      "haproxy@sha256:abc",
      "haproxy:$(id)",
      "haproxy:3.0'",
    ];
    for (const v of bad) {
      it(`rejects ${JSON.stringify(v)}`, () => assert.doesNotMatch(v, IMAGE));
    }
  });

  describe("NAME", () => {
    for (const ok of ["a", "app", "my-app", "a1", "1a", "a".repeat(32)]) {
      it(`accepts ${ok}`, () => assert.match(ok, NAME));
    }
    for (const bad of [
      "",
      "-a",
      "a-",
      "My",
      "my app",
      "a_b",
      "a.b",
      'a"b',
      "a$b",
      "a;b",
      "a[b",
      "a\nb",
      "a".repeat(33),
    ]) {
      it(`rejects ${JSON.stringify(bad)}`, () => assert.doesNotMatch(bad, NAME));
    }
  });

  describe("PATH_PREFIX", () => {
    for (const ok of ["/", "/api", "/api/v1", "/a.b_c~d-e/", "/API"]) {
      it(`accepts ${ok}`, () => assert.match(ok, PATH_PREFIX));
    }
    for (const bad of [
      "api",
      "",
      "/a'b",
      "/a$b",
      "/a#b",
      "/a b",
      '/a"b',
      "/a?b",
      "/a%20b",
      "/a\nb",
      "/a\\b",
    ]) {
      it(`rejects ${JSON.stringify(bad)}`, () => assert.doesNotMatch(bad, PATH_PREFIX));
    }
  });
});
