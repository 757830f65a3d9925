import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { classifyAddress } from "../../src/net/address-class.js";
import { AddressPolicy, parseAllowEntry } from "../../src/net/address-guard.js";

// Issue 10 §3: classification with ipaddr.js — only global unicast passes, and IPv6 forms that
// carry an IPv4 address are judged by that address.

/** Teredo address whose obfuscated client is `v4` (last 32 bits = v4 XOR 0xffffffff). */
function teredo(v4: string): string {
  const n = v4.split(".").reduce((a, o) => a * 256 + Number(o), 0) ^ 0xffffffff;
  const u = n >>> 0;
  return `2001:0:4136:e378:8000:63bf:${(u >>> 16).toString(16)}:${(u & 0xffff).toString(16)}`;
}

const REFUSED: [string, string][] = [
  ["127.0.0.1", "loopback"],
  ["127.255.255.254", "loopback"],
  ["10.1.2.3", "private"],
  ["172.16.0.1", "private"],
  ["192.168.1.1", "private"],
  ["169.254.169.254", "linkLocal"],
  ["100.64.0.1", "carrierGradeNat"],
  ["0.0.0.0", "unspecified"],
  ["0.1.2.3", "unspecified"],
  ["224.0.0.1", "multicast"],
  ["255.255.255.255", "broadcast"],
  ["192.0.2.1", "reserved"],
  ["198.18.0.1", "reserved"],
  ["240.0.0.1", "reserved"],
  ["::1", "loopback"],
  ["::", "unspecified"],
  ["fe80::1", "linkLocal"],
  ["fec0::1", "deprecatedSiteLocal"],
  ["fd00::1", "uniqueLocal"],
  ["ff02::1", "multicast"],
  ["100::1", "discard"],
  ["2001:db8::1", "reserved"],
  ["2001:2::1", "benchmarking"],
  ["5f00::1", "segmentRouting"],
  ["4000::1", "unallocated"],
  // IPv4 carried inside IPv6
  ["::ffff:127.0.0.1", "loopback (embedded)"],
  ["::ffff:7f00:1", "loopback (embedded)"],
  ["::127.0.0.1", "loopback (embedded)"],
  ["::7f00:1", "loopback (embedded)"],
  ["::ffff:0:127.0.0.1", "loopback (embedded)"],
  ["::ffff:0:a00:1", "private (embedded)"],
  ["2002:7f00:1::1", "loopback (embedded)"],
  ["2002:a9fe:a9fe::", "linkLocal (embedded)"],
  ["64:ff9b::7f00:1", "loopback (embedded)"],
  ["64:ff9b::10.0.0.1", "private (embedded)"],
  ["64:ff9b:1::a9fe:a9fe", "linkLocal (embedded)"],
  // Teredo is refused whatever it carries
  [teredo("127.0.0.1"), "teredo"],
  [teredo("8.8.8.8"), "teredo"],
  // not IP literals
  ["localhost", "invalid"],
  ["127.1", "invalid"],
  ["0x7f.0.0.1", "invalid"],
];

const ALLOWED: [string, string | undefined][] = [
  ["8.8.8.8", undefined],
  ["93.184.215.14", undefined],
  ["2606:4700::1111", undefined],
  ["2a00:1450:4001:80b::200e", undefined],
  ["::ffff:8.8.8.8", "8.8.8.8"],
  ["64:ff9b::808:808", "8.8.8.8"],
  ["2002:808:808::1", "8.8.8.8"],
];

describe("classifyAddress", () => {
  for (const [addr, range] of REFUSED) {
    test(`refuses ${addr} (${range})`, () => {
      const v = classifyAddress(addr);
      assert.equal(v.ok, false);
      assert.equal(v.range, range);
    });
  }
  for (const [addr, embedded] of ALLOWED) {
    test(`allows ${addr}`, () => {
      const v = classifyAddress(addr);
      assert.equal(v.ok, true, v.range);
      assert.equal(v.embedded, embedded);
    });
  }
  test("the Teredo helper above encodes the client address the way RFC 4380 does", () => {
    // RFC 4380 §4 example: client 192.0.2.45 → 3fff:fdd2 in the last 32 bits
    assert.ok(teredo("192.0.2.45").endsWith(":3fff:fdd2"));
  });
});

describe("AddressPolicy", () => {
  test("URL hosts in every spelling of a forbidden address are refused before any DNS", () => {
    const p = new AddressPolicy([]);
    for (const u of [
      "http://[::127.0.0.1]/",
      "http://[::ffff:0:127.0.0.1]/",
      "http://[2002:7f00:1::1]/",
      `http://[${teredo("127.0.0.1")}]/`,
      "http://[64:ff9b::7f00:1]/",
      "http://[64:ff9b:1::7f00:1]/",
      "http://2130706433/",
      "http://0177.0.0.1/",
      "http://0x7f000001/",
      "http://127.1/",
      "http://%31%32%37.0.0.1/",
      "http://127.0.0.1./",
      "http://[::ffff:127.0.0.1]/",
      "http://localhost./",
      "http://a.b.localhost/",
      "http://[fe80::1]/",
    ]) {
      assert.equal(p.isUrlHostAllowed(new URL(u)), false, u);
    }
    assert.equal(p.isUrlHostAllowed(new URL("https://example.com/")), true, "names pass until DNS answers");
    assert.equal(p.isUrlHostAllowed(new URL("http://8.8.8.8/")), true);
    assert.equal(p.isUrlHostAllowed(new URL("http://[2606:4700::1111]/")), true);
  });

  test("PEEL_OUTBOUND_ALLOW keeps its meaning: hosts, IPs and CIDRs; a mapped address follows its IPv4", () => {
    const p = new AddressPolicy(["127.0.0.1", "10.0.0.0/8", "fd00::/8", "files.internal", "LocalHost."]);
    assert.equal(p.isAddressAllowed("127.0.0.1"), true);
    assert.equal(p.isAddressAllowed("::ffff:127.0.0.1"), true);
    assert.equal(p.isAddressAllowed("127.0.0.2"), false);
    assert.equal(p.isAddressAllowed("10.200.0.1"), true);
    assert.equal(p.isAddressAllowed("::ffff:10.200.0.1"), true);
    assert.equal(p.isAddressAllowed("fd12::1"), true);
    assert.equal(p.isAddressAllowed("fc00::1"), false);
    // tunnels and gateways go elsewhere: the allowed IPv4 does not extend to them
    assert.equal(p.isAddressAllowed("2002:7f00:1::1"), false);
    assert.equal(p.isAddressAllowed("64:ff9b::7f00:1"), false);
    assert.equal(p.isUrlHostAllowed(new URL("http://files.internal/x")), true);
    assert.equal(p.isUrlHostAllowed(new URL("http://localhost/x")), true, "an allowed name beats the name rule");
    assert.equal(p.isUrlHostAllowed(new URL("http://127.0.0.2/x")), false);
  });

  test("a malformed allow entry is an error, not a silent no-op", () => {
    for (const bad of ["10.0.0.0/33", "10.0.0.0/x", "::1/129", "host:8080", "a/b", "10.0.0.0/8/8"]) {
      assert.throws(() => parseAllowEntry(bad), /PEEL_OUTBOUND_ALLOW/, bad);
    }
    assert.deepEqual(parseAllowEntry("Files.Internal."), { kind: "name", name: "files.internal" });
  });
});
