import { isIP } from "node:net";
import ipaddr from "ipaddr.js";

/**
 * Which callback destinations peel sends to (docs/webhooks.md, "Callback destination policy").
 * Some clients hard-wire a callBackUrl at a host that can never expect peel's callbacks (kie's own
 * proxy, for one); peel accepts such tasks but records their callback as `skipped` instead of
 * posting prompts and result URLs there for three days.
 *
 * Rules are lists of patterns: an exact host (`hooks.example.com`, `127.0.0.1`, `::1`), `*.suffix`
 * (the suffix itself and every name under it), a CIDR (`10.0.0.0/8`, matched against IP-literal
 * hosts only: no DNS lookup happens when a task settles), or `*` (any host). The first list that
 * matches decides, in this order:
 *
 *   1. the account's allow list → sent
 *   2. the account's deny list  → skipped
 *   3. PEEL_CALLBACK_ALLOW      → sent
 *   4. PEEL_CALLBACK_DENY       → skipped (default `*.kie.ai`)
 *   5. nothing matched          → sent
 *
 * So an allow list holds exceptions to the deny list below it, `PEEL_CALLBACK_DENY=*` plus an allow
 * list admits only the listed hosts, and an account's lists override the operator's. This policy is
 * about where callbacks are wanted; the private-address guard (PEEL_OUTBOUND_ALLOW, src/net/) is a
 * separate check that runs first, at createTask and before every connection.
 */

export interface HostRules {
  allow: readonly string[];
  deny: readonly string[];
}

type Pattern =
  | { kind: "any"; text: string }
  | { kind: "host"; host: string; text: string }
  | { kind: "suffix"; suffix: string; text: string }
  | { kind: "cidr"; range: [ipaddr.IPv4 | ipaddr.IPv6, number]; text: string };

const LABEL = /^[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?$/;

function isHostName(s: string): boolean {
  return s.length > 0 && s.length <= 253 && s.split(".").every((l) => l.length <= 63 && LABEL.test(l));
}

/** `[::1]` → `::1`, `Example.COM.` → `example.com`. */
function normalizeHost(raw: string): string {
  return raw
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, "$1")
    .replace(/\.$/, "");
}

/** An IPv4-mapped IPv6 address is its IPv4 address, so `::ffff:127.0.0.1` matches `127.0.0.0/8`. */
function parseIp(host: string): ipaddr.IPv4 | ipaddr.IPv6 | null {
  return isIP(host) ? ipaddr.process(host) : null;
}

function parsePattern(raw: string): Pattern | null {
  const text = raw.trim();
  if (text === "*") return { kind: "any", text };
  if (text.includes("/")) {
    try {
      const [addr, bits] = ipaddr.parseCIDR(text);
      // A mapped IPv6 range is written as its IPv4 range, like the hosts it is compared with.
      if (addr.kind() === "ipv6" && (addr as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96) {
        return { kind: "cidr", range: [(addr as ipaddr.IPv6).toIPv4Address(), bits - 96], text };
      }
      return { kind: "cidr", range: [addr, bits], text };
    } catch {
      return null;
    }
  }
  const host = normalizeHost(text);
  const ip = parseIp(host);
  if (ip) return { kind: "cidr", range: [ip, ip.kind() === "ipv4" ? 32 : 128], text };
  if (host.startsWith("*.")) {
    const suffix = host.slice(2);
    return isHostName(suffix) ? { kind: "suffix", suffix, text } : null;
  }
  return isHostName(host) ? { kind: "host", host, text } : null;
}

/** The problems of a pattern list, one per bad entry (for ConfigError and the admin API). */
export function hostPatternProblems(patterns: readonly unknown[], name: string): string[] {
  const problems: string[] = [];
  for (const p of patterns) {
    if (typeof p !== "string" || parsePattern(p) === null) {
      problems.push(`${name}: ${JSON.stringify(p)} is not a host name, *.suffix pattern, IP address or CIDR`);
    }
  }
  return problems;
}

function compile(patterns: readonly string[]): Pattern[] {
  const out: Pattern[] = [];
  for (const p of patterns) {
    const parsed = parsePattern(p);
    // Lists are checked when they are configured or stored; an entry that slipped through never
    // matches rather than taking a whole callback down.
    if (parsed) out.push(parsed);
  }
  return out;
}

function matches(p: Pattern, host: string, ip: ipaddr.IPv4 | ipaddr.IPv6 | null): boolean {
  switch (p.kind) {
    case "any":
      return true;
    case "host":
      return host === p.host;
    case "suffix":
      return host === p.suffix || host.endsWith(`.${p.suffix}`);
    case "cidr":
      return ip !== null && ip.kind() === p.range[0].kind() && ip.match(p.range);
  }
}

function firstMatch(patterns: Pattern[], host: string, ip: ipaddr.IPv4 | ipaddr.IPv6 | null): Pattern | undefined {
  return patterns.find((p) => matches(p, host, ip));
}

export type CallbackDecision = { send: true } | { send: false; host: string; reason: string };

/** Pino-compatible subset, for the one line a skipped callback gets. */
export interface PolicyLogger {
  info(obj: object, msg: string): void;
}

export class CallbackPolicy {
  private readonly allow: Pattern[];
  private readonly deny: Pattern[];

  /**
   * @param operator PEEL_CALLBACK_ALLOW / PEEL_CALLBACK_DENY, already checked by the config.
   * @param logger where `skipped` says so (info level).
   */
  constructor(
    operator: HostRules,
    private readonly logger?: PolicyLogger,
  ) {
    this.allow = compile(operator.allow);
    this.deny = compile(operator.deny);
  }

  /** The one log line of a callback recorded as skipped: the host and why, never the full URL. */
  skipped(d: { taskId: string | null; deliveryId: string; host: string; reason: string }): void {
    this.logger?.info(
      { event: "callback:skipped", taskId: d.taskId, deliveryId: d.deliveryId, host: d.host },
      `callback not sent: ${d.reason}`,
    );
  }

  /** Whether a callback to `url` is sent, given the owning account's own rules (or null). */
  decide(url: string, account: HostRules | null): CallbackDecision {
    let host: string;
    try {
      host = normalizeHost(new URL(url).hostname);
    } catch {
      // createTask only stores valid URLs; an unparseable one is left to the sender to fail.
      return { send: true };
    }
    const ip = parseIp(host);
    if (account) {
      if (firstMatch(compile(account.allow), host, ip)) return { send: true };
      const denied = firstMatch(compile(account.deny), host, ip);
      if (denied)
        return { send: false, host, reason: `callback host ${host} is denied by the account's callback policy (${denied.text})` };
    }
    if (firstMatch(this.allow, host, ip)) return { send: true };
    const denied = firstMatch(this.deny, host, ip);
    if (denied) return { send: false, host, reason: `callback host ${host} is denied by PEEL_CALLBACK_DENY (${denied.text})` };
    return { send: true };
  }
}
