import { lookup as dnsLookup } from "node:dns";
import type { LookupAddress, LookupOptions } from "node:dns";
import { isIP } from "node:net";
import ipaddr from "ipaddr.js";
import { classify, parseAddress } from "./address-class.js";

/**
 * The outbound address policy shared by every fetch peel makes on a client's behalf (input
 * images, callbacks, URL uploads): only global unicast addresses are fetched (address-class.ts
 * says what that means, IPv6 forms that embed an IPv4 address included); everything else —
 * loopback, private, link-local, CGNAT, multicast, reserved, cloud metadata — is refused unless
 * the operator allow-lists it (PEEL_OUTBOUND_ALLOW: host names, IPs or CIDRs). Checked on literal
 * hosts before connecting (createTask's callBackUrl, every request and every redirect hop) and on
 * every address DNS returns, at connect time, so a redirect or DNS rebinding cannot slip past.
 */

/** Host names that are never fetched whatever they resolve to (cloud metadata, localhost). */
const BLOCKED_NAMES = [
  /^localhost$/i,
  /\.localhost$/i,
  /^metadata\.google\.internal$/i,
  /^metadata$/i,
  /^instance-data(\.ec2\.internal)?$/i,
];

type Cidr = [ipaddr.IPv4 | ipaddr.IPv6, number];

/**
 * One PEEL_OUTBOUND_ALLOW entry: an IP, a CIDR or a host name. Throws on an IP-looking entry that
 * does not parse (`10.0.0.0/33`), so a typo is a start-up error rather than a silent no-op.
 */
export function parseAllowEntry(entry: string): { kind: "cidr"; cidr: Cidr } | { kind: "name"; name: string } {
  const [addr, bits, ...rest] = entry.split("/");
  if (isIP(addr)) {
    const ip = ipaddr.parse(addr);
    const max = ip.kind() === "ipv4" ? 32 : 128;
    const n = bits === undefined ? max : /^\d{1,3}$/.test(bits) ? Number(bits) : Number.NaN;
    if (rest.length || !(n >= 0 && n <= max))
      throw new Error(`PEEL_OUTBOUND_ALLOW entry ${JSON.stringify(entry)} is not an IP or CIDR`);
    return { kind: "cidr", cidr: [ip, n] };
  }
  if (bits !== undefined || !/^[a-z0-9._-]+$/i.test(entry)) {
    throw new Error(`PEEL_OUTBOUND_ALLOW entry ${JSON.stringify(entry)} is not a host name, IP or CIDR`);
  }
  return { kind: "name", name: entry.replace(/\.+$/, "").toLowerCase() };
}

export class AddressPolicy {
  private readonly allowNames = new Set<string>();
  private readonly allowCidrs: Cidr[] = [];

  /** @param allow entries from PEEL_OUTBOUND_ALLOW: `127.0.0.1`, `10.0.0.0/8`, `::1`, `files.internal` */
  constructor(allow: readonly string[] = []) {
    for (const entry of allow) {
      const e = parseAllowEntry(entry);
      if (e.kind === "cidr") this.allowCidrs.push(e.cidr);
      else this.allowNames.add(e.name);
    }
  }

  /** Is a literal IP address one peel may connect to? Allow-listed, or global unicast. */
  isAddressAllowed(address: string): boolean {
    const addr = parseAddress(address);
    if (!addr) return false;
    return this.isAllowListed(addr) || classify(addr).ok;
  }

  /**
   * The check that needs no DNS: refuses literal forbidden IPs and forbidden names. Used at
   * createTask time on callBackUrl and on every request and redirect hop before it is sent; the
   * full check happens again at connect time.
   */
  isUrlHostAllowed(url: URL): boolean {
    // A trailing dot ("localhost.") names the same host; strip it so the name rules still apply.
    const host = url.hostname
      .replace(/^\[|\]$/g, "")
      .replace(/\.+$/, "")
      .toLowerCase();
    if (this.allowNames.has(host)) return true;
    if (isIP(host)) return this.isAddressAllowed(host);
    return !BLOCKED_NAMES.some((re) => re.test(host));
  }

  /**
   * A `lookup` for net.connect / undici's `connect.lookup`: resolves, then refuses when any
   * address is forbidden, so the socket only ever connects to an address that was checked.
   */
  lookup = (
    hostname: string,
    options: LookupOptions,
    callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
  ): void => {
    const host = hostname.replace(/\.+$/, "").toLowerCase();
    const nameAllowed = this.allowNames.has(host);
    if (!nameAllowed && BLOCKED_NAMES.some((re) => re.test(host))) {
      callback(blockedError(hostname), "", 4);
      return;
    }
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, "", 4);
      const list = addresses as LookupAddress[];
      const bad = nameAllowed ? undefined : list.find((a) => !this.isAddressAllowed(a.address));
      if (bad || list.length === 0) return callback(blockedError(hostname, bad?.address), "", 4);
      if (options.all) return callback(null, list);
      callback(null, list[0].address, list[0].family);
    });
  };

  /**
   * The address, or the IPv4 address of an IPv4-mapped one (`::ffff:127.0.0.1` is the same socket
   * destination as `127.0.0.1`), is inside an allowed IP or CIDR. Other embedding forms (6to4,
   * NAT64…) travel through a gateway to somewhere else, so an allowed IPv4 does not extend to them.
   */
  private isAllowListed(addr: ipaddr.IPv4 | ipaddr.IPv6): boolean {
    const v6 = addr.kind() === "ipv6" ? (addr as ipaddr.IPv6) : null;
    const alt = v6?.isIPv4MappedAddress() ? v6.toIPv4Address() : null;
    return this.allowCidrs.some(
      ([net, bits]) =>
        (net.kind() === addr.kind() && addr.match(net, bits)) || (alt !== null && net.kind() === "ipv4" && alt.match(net, bits)),
    );
  }
}

export class BlockedAddressError extends Error {
  readonly code = "EPEELBLOCKED";
}

function blockedError(host: string, address?: string): NodeJS.ErrnoException {
  return new BlockedAddressError(
    `outbound address refused by policy: ${host}${address ? ` (${address})` : ""}`,
  ) as NodeJS.ErrnoException;
}
