import ipaddr from "ipaddr.js";

/**
 * What kind of destination an IP address is, for the outbound guard (address-guard.ts). Built on
 * ipaddr.js's range tables (a maintained list of the IANA special-purpose registries), with one
 * rule: only **global unicast** is fetchable. Every other range (loopback, private, link-local,
 * CGNAT, multicast, documentation, benchmarking, reserved, discard, ORCHID, segment routing…) is
 * refused, and IPv6 must also sit inside 2000::/3, the only block IANA allocates for global
 * unicast.
 *
 * IPv6 forms that carry an IPv4 address are judged by that IPv4 address, because that is where a
 * packet ends up: IPv4-mapped `::ffff:a.b.c.d` (the socket connects over IPv4), IPv4-compatible
 * `::a.b.c.d` (deprecated), SIIT `::ffff:0:a.b.c.d`, 6to4 `2002:AABB:CCDD::/48`, and NAT64
 * `64:ff9b::/96` / `64:ff9b:1::/48` (the gateway forwards to the IPv4 address; DNS64 hands out
 * such addresses for every IPv4-only host, so refusing them outright would break IPv6-only hosts).
 * Teredo (2001::/32) is refused outright: its client address is obfuscated, its relays are public
 * infrastructure peel has no business tunnelling through, and no image host serves from it.
 */

export type AddressVerdict = { ok: true; range: "unicast"; embedded?: string } | { ok: false; range: string; embedded?: string };

/** IPv6 forms whose last 32 bits (or 6to4: bits 16–47) are an IPv4 destination. */
const NAT64 = [ipaddr.IPv6.parseCIDR("64:ff9b::/96"), ipaddr.IPv6.parseCIDR("64:ff9b:1::/48")] as const;
const SIXTOFOUR = ipaddr.IPv6.parseCIDR("2002::/16");
const GLOBAL_UNICAST_V6 = ipaddr.IPv6.parseCIDR("2000::/3");

/** null for anything that is not a plain IPv4 or IPv6 literal. */
export function parseAddress(address: string): ipaddr.IPv4 | ipaddr.IPv6 | null {
  const bare = address.replace(/^\[|\]$/g, "");
  // ipaddr.isValid accepts `127.1`, `0x7f.1` and other legacy IPv4 spellings; peel only ever sees
  // canonical text here (WHATWG URL and DNS both normalise), and a literal that is not canonical
  // is not an address to judge but a name — which DNS then resolves and this module judges.
  if (!ipaddr.IPv6.isValid(bare) && !ipaddr.IPv4.isValidFourPartDecimal(bare)) return null;
  try {
    return ipaddr.parse(bare);
  } catch {
    return null;
  }
}

/** The IPv4 address an IPv6 address delivers to, when it is one of the embedding forms above. */
export function embeddedIPv4(v6: ipaddr.IPv6): ipaddr.IPv4 | null {
  const p = v6.parts;
  const last32 = () => new ipaddr.IPv4([p[6] >> 8, p[6] & 0xff, p[7] >> 8, p[7] & 0xff]);
  // ::ffff:a.b.c.d (mapped), ::a.b.c.d (compatible; not :: and ::1, which are their own ranges),
  // ::ffff:0:a.b.c.d (SIIT, RFC 6145)
  if (p[0] === 0 && p[1] === 0 && p[2] === 0 && p[3] === 0) {
    if (p[4] === 0 && p[5] === 0xffff) return last32();
    if (p[4] === 0 && p[5] === 0 && (p[6] !== 0 || p[7] > 1)) return last32();
    if (p[4] === 0xffff && p[5] === 0) return last32();
  }
  if (NAT64.some((net) => v6.match(net))) return last32();
  if (v6.match(SIXTOFOUR)) return new ipaddr.IPv4([p[1] >> 8, p[1] & 0xff, p[2] >> 8, p[2] & 0xff]);
  return null;
}

/** Classifies a parsed address (see the module comment). */
export function classify(addr: ipaddr.IPv4 | ipaddr.IPv6): AddressVerdict {
  if (addr.kind() === "ipv4") {
    const range = (addr as ipaddr.IPv4).range();
    return range === "unicast" ? { ok: true, range } : { ok: false, range };
  }
  const v6 = addr as ipaddr.IPv6;
  const v4 = embeddedIPv4(v6);
  if (v4) {
    const inner = v4.range();
    const embedded = v4.toString();
    return inner === "unicast" ? { ok: true, range: "unicast", embedded } : { ok: false, range: `${inner} (embedded)`, embedded };
  }
  const range = v6.range();
  if (range !== "unicast") return { ok: false, range };
  if (!v6.match(GLOBAL_UNICAST_V6)) return { ok: false, range: "unallocated" };
  return { ok: true, range };
}

/** classify() on text; anything that is not an IP literal is refused as `invalid`. */
export function classifyAddress(address: string): AddressVerdict {
  const addr = parseAddress(address);
  return addr ? classify(addr) : { ok: false, range: "invalid" };
}
