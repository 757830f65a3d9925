import { BlockList, isIP } from "node:net";
import { lookup as dnsLookup } from "node:dns";
import type { LookupAddress, LookupOptions } from "node:dns";

/**
 * The outbound address policy shared by every fetch peel makes on a client's behalf (input
 * images, callbacks, URL uploads): loopback, private, link-local, unspecified, CGNAT, multicast,
 * reserved and cloud-metadata addresses are refused unless the operator allow-lists them
 * (PEEL_OUTBOUND_ALLOW: hosts, IPs or CIDRs). Checked on literal hosts before connecting and on
 * every address DNS returns, at connect time, so a redirect or DNS rebinding cannot slip past.
 */

const BLOCKED = new BlockList();
for (const [net, bits] of [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["127.0.0.0", 8],
  ["169.254.0.0", 16],
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.0.2.0", 24],
  ["192.88.99.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["198.51.100.0", 24],
  ["203.0.113.0", 24],
  ["224.0.0.0", 4],
  ["240.0.0.0", 4],
] as const)
  BLOCKED.addSubnet(net, bits, "ipv4");
for (const [net, bits] of [
  ["::", 128],
  ["::1", 128],
  ["64:ff9b::", 96],
  ["64:ff9b:1::", 48],
  ["100::", 64],
  ["2001:db8::", 32],
  ["fc00::", 7],
  ["fe80::", 10],
  ["fec0::", 10],
  ["ff00::", 8],
] as const)
  BLOCKED.addSubnet(net, bits, "ipv6");

/** Host names that are never fetched whatever they resolve to (cloud metadata, localhost). */
const BLOCKED_NAMES = [
  /^localhost$/i,
  /\.localhost$/i,
  /^metadata\.google\.internal$/i,
  /^metadata$/i,
  /^instance-data(\.ec2\.internal)?$/i,
];

export class AddressPolicy {
  private allowNames = new Set<string>();
  private allowList = new BlockList();
  private hasAllowedAddresses = false;

  /** @param allow entries from PEEL_OUTBOUND_ALLOW: `127.0.0.1`, `10.0.0.0/8`, `::1`, `files.internal` */
  constructor(allow: readonly string[] = []) {
    for (const entry of allow) {
      const [addr, bits] = entry.split("/");
      const fam = isIP(addr);
      if (fam) {
        const type = fam === 4 ? "ipv4" : "ipv6";
        if (bits !== undefined) this.allowList.addSubnet(addr, Number(bits), type);
        else this.allowList.addAddress(addr, type);
        this.hasAllowedAddresses = true;
      } else {
        this.allowNames.add(entry.toLowerCase());
      }
    }
  }

  /** Is a literal IP address one peel may connect to? */
  isAddressAllowed(address: string): boolean {
    const fam = isIP(address);
    if (!fam) return false;
    const type = fam === 4 ? "ipv4" : "ipv6";
    if (this.hasAllowedAddresses && this.allowList.check(address, type)) return true;
    // IPv4-mapped IPv6 (::ffff:127.0.0.1) is judged as the IPv4 address it carries.
    const mapped = fam === 6 ? /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address) : null;
    if (mapped) return this.isAddressAllowed(mapped[1]);
    return !BLOCKED.check(address, type);
  }

  /**
   * The check that needs no DNS: refuses literal forbidden IPs and forbidden names. Used at
   * createTask time on callBackUrl; the full check happens again at connect time.
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
}

export class BlockedAddressError extends Error {
  readonly code = "EPEELBLOCKED";
}

function blockedError(host: string, address?: string): NodeJS.ErrnoException {
  return new BlockedAddressError(
    `outbound address refused by policy: ${host}${address ? ` (${address})` : ""}`,
  ) as NodeJS.ErrnoException;
}
