import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import os from "node:os";
import sharp from "sharp";
import { startPeel, type TestPeel } from "../helpers/harness.js";
import { until } from "../helpers/polling.js";

/**
 * The SSRF corpus (issue 10): every spelling of every local address that peel must never fetch
 * for a client — IPv4 in decimal, octal, hex and short forms, IPv6 forms that carry an IPv4
 * address (mapped, compatible, SIIT, 6to4, Teredo, NAT64), userinfo tricks, names that resolve
 * locally — sent directly and through a redirect from an allowed server, at each of the three
 * ways a client makes peel fetch a URL: `callBackUrl`, `image_input` and `/api/file-url-upload`.
 *
 * A dual-stack listener on `[::]:P` stands for every local address at once (127.0.0.0/8, ::1,
 * each interface's addresses): every URL in the corpus names port P. A "hit" is any TCP
 * connection it accepts. The listener answers with a valid PNG, so a leak would also show as a
 * succeeded upload or task, or a delivered callback.
 */

export interface SsrfTarget {
  form: string;
  url: string;
}

export interface SsrfResult {
  /** IPv6 tunnel-form addresses made local for the run (so a leak through them would hit), or why not. */
  tunnelAddresses: number | string;
  hits: number;
  /** local addresses that saw the hits. */
  hitAddresses: string[];
  attempts: number;
  byEntry: Record<string, { attempts: number; refused: number; leaked: string[] }>;
  targets: number;
}

/** Every local IPv4 and IPv6 address of this machine (link-local v6 needs a zone URLs cannot carry). */
export function localAddresses(): { v4: string[]; v6: string[] } {
  const v4 = new Set(["127.0.0.1", "127.0.0.2", "127.255.255.254", "0.0.0.0"]);
  const v6 = new Set(["::1", "::"]);
  for (const list of Object.values(os.networkInterfaces()))
    for (const a of list ?? []) {
      if (a.family === "IPv4") v4.add(a.address);
      else v6.add(a.address);
    }
  return { v4: [...v4], v6: [...v6] };
}

/** Names this machine resolves to one of its own addresses (/etc/hosts, its host name). */
export function localNames(): string[] {
  const names = new Set(["localhost", "LOCALHOST", "localhost.", "a.localhost", "ip6-localhost", os.hostname()]);
  try {
    for (const line of readFileSync("/etc/hosts", "utf8").split("\n")) {
      const [addr, ...rest] = line.replace(/#.*/, "").trim().split(/\s+/);
      if (!addr || !/^(127\.|::1$|0\.0\.0\.0$)/.test(addr)) continue;
      for (const n of rest) if (n) names.add(n);
    }
  } catch {
    /* no /etc/hosts */
  }
  return [...names];
}

const octets = (a: string) => a.split(".").map(Number);
const toInt = (a: string) => octets(a).reduce((n, o) => n * 256 + o, 0);
const hex4 = (a: string) => {
  const [x, y, z, w] = octets(a);
  return `${((x << 8) | y).toString(16)}:${((z << 8) | w).toString(16)}`;
};

/** The spellings of one IPv4 address at port `port`. */
function v4Forms(a: string, port: number): SsrfTarget[] {
  const [x, y, z, w] = octets(a);
  const n = toInt(a);
  const teredo = (n ^ 0xffffffff) >>> 0;
  const at = (host: string) => `http://${host}:${port}/x.png`;
  return [
    { form: "dotted", url: at(a) },
    { form: "decimal", url: at(String(n)) },
    {
      form: "octal dotted",
      url: at(
        octets(a)
          .map((o) => `0${o.toString(8)}`)
          .join("."),
      ),
    },
    { form: "octal", url: at(`0${n.toString(8)}`) },
    { form: "hex", url: at(`0x${n.toString(16)}`) },
    {
      form: "hex dotted",
      url: at(
        octets(a)
          .map((o) => `0x${o.toString(16)}`)
          .join("."),
      ),
    },
    { form: "short a.b.c", url: at(`${x}.${y}.${z * 256 + w}`) },
    { form: "short a.b", url: at(`${x}.${y * 65536 + z * 256 + w}`) },
    { form: "trailing dot", url: at(`${a}.`) },
    { form: "percent-encoded", url: at([...a].map((c) => `%${c.charCodeAt(0).toString(16)}`).join("")) },
    {
      form: "fullwidth digits",
      url: at([...a].map((c) => (c === "." ? "。" : String.fromCharCode(c.charCodeAt(0) + 0xfee0))).join("")),
    },
    { form: "IPv4-mapped", url: at(`[::ffff:${a}]`) },
    { form: "IPv4-mapped hex", url: at(`[::ffff:${hex4(a)}]`) },
    { form: "IPv4-compatible", url: at(`[::${a}]`) },
    { form: "SIIT ::ffff:0:a.b.c.d", url: at(`[::ffff:0:${a}]`) },
    { form: "NAT64 64:ff9b::/96", url: at(`[64:ff9b::${a}]`) },
    { form: "NAT64 64:ff9b:1::/48", url: at(`[64:ff9b:1::${hex4(a)}]`) },
    { form: "6to4", url: at(`[2002:${hex4(a)}::1]`) },
    { form: "Teredo", url: at(`[2001:0:4136:e378:8000:63bf:${(teredo >>> 16).toString(16)}:${(teredo & 0xffff).toString(16)}]`) },
    { form: "userinfo user@", url: `http://user@${a}:${port}/x.png` },
    { form: "userinfo user:pw@", url: `http://user:pw@${a}:${port}/x.png` },
    { form: "userinfo host@", url: `http://images.example.com@${a}:${port}/x.png` },
    { form: "backslash userinfo", url: `http://${a}:${port}\\@images.example.com/x.png` },
  ];
}

function v6Forms(a: string, port: number): SsrfTarget[] {
  const at = (host: string) => `http://[${host}]:${port}/x.png`;
  const out = [{ form: "IPv6", url: at(a) }];
  if (a === "::1")
    out.push({ form: "IPv6 expanded", url: at("0:0:0:0:0:0:0:1") }, { form: "IPv6 zero-padded", url: at("0000::0001") });
  if (a.startsWith("fe80:")) out.push({ form: "IPv6 link-local", url: at(a) });
  return out;
}

export function ssrfTargets(port: number, local = localAddresses()): SsrfTarget[] {
  const { v4, v6 } = local;
  return [
    ...v4.flatMap((a) => v4Forms(a, port).map((t) => ({ ...t, form: `${a} ${t.form}` }))),
    ...v6.flatMap((a) => v6Forms(a, port).map((t) => ({ ...t, form: `${a} ${t.form}` }))),
    ...localNames().map((n) => ({ form: `name ${n}`, url: `http://${n}:${port}/x.png` })),
  ];
}

/**
 * The IPv6 addresses whose packets would end up at a local IPv4 address through some tunnel or
 * gateway (compatible, SIIT, NAT64, 6to4, Teredo forms of each local IPv4 address).
 */
function tunnelForms(v4: string[]): string[] {
  return v4
    .filter((a) => a !== "0.0.0.0")
    .flatMap((a) => {
      const n = toInt(a);
      const t = (n ^ 0xffffffff) >>> 0;
      return [
        `::${hex4(a)}`,
        `::ffff:0:${hex4(a)}`,
        `64:ff9b::${hex4(a)}`,
        `64:ff9b:1::${hex4(a)}`,
        `2002:${hex4(a)}::1`,
        `2001:0:4136:e378:8000:63bf:${(t >>> 16).toString(16)}:${(t & 0xffff).toString(16)}`,
      ];
    });
}

/**
 * On a machine with no NAT64 gateway, 6to4 relay or Teredo client, those forms lead nowhere, so a
 * guard that let them through would still score 0 hits. Where it can (root, `ip`), the corpus
 * assigns each of them to the loopback interface for the run: then they are local addresses, the
 * trap listens on them, and letting one through is a hit. Returns the addresses to remove after.
 */
function routeTunnelForms(v4: string[]): { added: string[]; failure: string | null } {
  const added: string[] = [];
  for (const a of tunnelForms(v4)) {
    try {
      execFileSync("ip", ["-6", "addr", "add", `${a}/128`, "dev", "lo"], { stdio: "pipe" });
      added.push(a);
    } catch (err) {
      const why = ((err as { stderr?: Buffer }).stderr?.toString() || (err as Error).message).trim();
      if (/exists/i.test(why)) continue; // another run made it local already
      return { added, failure: `cannot add addresses to lo here (${why.split("\n")[0]})` };
    }
  }
  return { added, failure: null };
}

function unrouteTunnelForms(added: string[]): void {
  for (const a of added) {
    try {
      execFileSync("ip", ["-6", "addr", "del", `${a}/128`, "dev", "lo"], { stdio: "pipe" });
    } catch {
      /* already gone */
    }
  }
}

/** A listener on every local address (dual-stack `[::]`) that counts connections and serves a PNG. */
async function startTrap(): Promise<{ port: number; hits: string[]; close(): Promise<void> }> {
  const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: "#ff0000" } })
    .png()
    .toBuffer();
  const hits: string[] = [];
  const server = http.createServer((_req, res) => res.writeHead(200, { "content-type": "image/png" }).end(png));
  server.on("connection", (s: Socket) => hits.push(s.localAddress ?? "?"));
  await new Promise<void>((r) => server.listen({ port: 0, host: "::", ipv6Only: false }, r));
  return {
    port: (server.address() as AddressInfo).port,
    hits,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/**
 * The allowed server (PEEL_OUTBOUND_ALLOW names its address) that redirects to `?to=`, with the
 * status `?s=` (default 302); `?hop=1` first redirects to itself once (a two-hop chain).
 */
async function startRedirector(host: string): Promise<{ origin: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? "/", "http://x");
    const to = u.searchParams.get("to") ?? "/";
    if (u.searchParams.get("hop") === "1") {
      u.searchParams.delete("hop");
      res.writeHead(302, { location: `${u.pathname}?${u.searchParams}` }).end();
      return;
    }
    // a header carries bytes: non-ASCII targets (fullwidth digits) go out as their UTF-8 bytes
    res.writeHead(Number(u.searchParams.get("s") ?? 302), { location: Buffer.from(to, "utf8").toString("latin1") }).end();
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  return {
    origin: `http://${host}:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const REDIRECTOR_HOST = "127.0.0.3";

/**
 * Runs the whole corpus against a fresh peel. `log` gets one line per leak (none expected).
 * Returns the figures; the caller asserts or prints them.
 */
export async function runSsrfCorpus(
  opts: {
    log?: (line: string) => void;
    /** control runs: extra PEEL_OUTBOUND_ALLOW entries, and a filter on the corpus. */
    allow?: string[];
    only?: (t: SsrfTarget) => boolean;
  } = {},
): Promise<SsrfResult> {
  const local = localAddresses();
  const tunnels = routeTunnelForms(local.v4);
  const trap = await startTrap();
  const redirector = await startRedirector(REDIRECTOR_HOST);
  let peel: TestPeel | null = null;
  try {
    peel = await startPeel({
      credits: 1_000_000,
      env: {
        // only the redirector is allowed: every target must be refused on its own merits
        PEEL_OUTBOUND_ALLOW: [REDIRECTOR_HOST, ...(opts.allow ?? [])].join(","),
        PEEL_CREATE_LIMIT: "0",
        PEEL_READ_LIMIT: "0",
        PEEL_WORKER_CONCURRENCY: "16",
        PEEL_MAX_RUNNING_PER_ACCOUNT: "16",
        PEEL_INPUT_CONNECT_TIMEOUT_MS: "3000",
        PEEL_CALLBACK_TIMEOUT_MS: "3000",
      },
    });
    const p = peel;
    const direct = ssrfTargets(trap.port, local).filter(opts.only ?? (() => true));
    const statuses = [301, 302, 303, 307, 308];
    const redirected: SsrfTarget[] = direct.map((t, i) => {
      const s = statuses[i % statuses.length];
      const hop = i % 3 === 0 ? "&hop=1" : "";
      return {
        form: `redirect ${s}${hop ? " (2 hops)" : ""} → ${t.form}`,
        url: `${redirector.origin}/r?s=${s}${hop}&to=${encodeURIComponent(t.url)}`,
      };
    });
    // protocol-relative Location headers
    if (!opts.only)
      redirected.push(
        {
          form: "redirect → //127.0.0.1:P",
          url: `${redirector.origin}/r?to=${encodeURIComponent(`//127.0.0.1:${trap.port}/x.png`)}`,
        },
        { form: "redirect → //[::1]:P", url: `${redirector.origin}/r?to=${encodeURIComponent(`//[::1]:${trap.port}/x.png`)}` },
      );
    const byEntry: SsrfResult["byEntry"] = {
      callBackUrl: { attempts: 0, refused: 0, leaked: [] },
      image_input: { attempts: 0, refused: 0, leaked: [] },
      "file-url-upload": { attempts: 0, refused: 0, leaked: [] },
    };
    const leak = (entry: string, t: SsrfTarget, what: string) => {
      byEntry[entry].leaked.push(`${t.form}: ${what}`);
      opts.log?.(`LEAK ${entry} ${t.form} (${t.url}): ${what}`);
    };
    const create = (body: unknown) => p.api("POST", "/api/v1/jobs/createTask", body);
    // a callback task fails at once (its image_input is refused), so its callback is sent without a render
    const failFast = { prompt: "ssrf callback", image_input: ["http://10.255.255.1/never.png"] };

    const imageTasks: { t: SsrfTarget; taskId: string }[] = [];
    const callbackTasks: { t: SsrfTarget; taskId: string }[] = [];
    await pool([...direct, ...redirected], 8, async (t) => {
      // image_input
      byEntry.image_input.attempts++;
      const img = await create({ model: "nano-banana-pro", input: { prompt: "ssrf", image_input: [t.url] } });
      if (img.json?.code === 200) imageTasks.push({ t, taskId: img.json.data.taskId });
      else if (img.json?.code === 422) byEntry.image_input.refused++;
      else leak("image_input", t, `createTask answered ${img.status} ${img.text.slice(0, 100)}`);
      // file-url-upload
      byEntry["file-url-upload"].attempts++;
      const up = await p.api("POST", "/api/file-url-upload", { fileUrl: t.url });
      if (up.json?.success === false && up.json.code === 400) byEntry["file-url-upload"].refused++;
      else leak("file-url-upload", t, `answered ${up.status} ${up.text.slice(0, 120)}`);
    });
    // callbacks never follow redirects; all direct forms, and a few redirects to show it
    const callbackTargets = [...direct, ...redirected.slice(0, 10)].filter(opts.only ?? (() => true));
    await pool(callbackTargets, 8, async (t) => {
      byEntry.callBackUrl.attempts++;
      const res = await create({ model: "nano-banana-pro", callBackUrl: t.url, input: failFast });
      if (res.json?.code === 422) byEntry.callBackUrl.refused++;
      else if (res.json?.code === 200) callbackTasks.push({ t, taskId: res.json.data.taskId });
      else leak("callBackUrl", t, `createTask answered ${res.status} ${res.text.slice(0, 100)}`);
    });

    // image tasks must all fail on their input
    for (const { t, taskId } of imageTasks) {
      const rec = await p.waitForTask(taskId, { timeoutMs: 60_000 });
      if (rec.state === "fail" && rec.failCode === "422" && /^Invalid image_input/.test(rec.failMsg))
        byEntry.image_input.refused++;
      else leak("image_input", t, `task ended ${rec.state} ${rec.failCode} ${rec.failMsg}`);
    }
    // accepted callbacks (names, redirects) must have been attempted and not delivered
    for (const { t, taskId } of callbackTasks) {
      await p.waitForTask(taskId, { timeoutMs: 60_000 });
      const [d] = await until(`the callback of ${taskId} to be attempted`, 60_000, async () => {
        const list = await p.runtime.store.listDeliveries({ taskId });
        return list.length > 0 && list[0].attemptCount > 0 ? list : null;
      });
      if (d.state === "delivered") leak("callBackUrl", t, "delivered");
      else byEntry.callBackUrl.refused++;
    }
    const attempts = Object.values(byEntry).reduce((n, e) => n + e.attempts, 0);
    return {
      tunnelAddresses: tunnels.failure ?? tunnels.added.length,
      hits: trap.hits.length,
      hitAddresses: [...new Set(trap.hits)],
      attempts,
      byEntry,
      targets: direct.length + redirected.length,
    };
  } finally {
    await peel?.close();
    await redirector.close();
    await trap.close();
    unrouteTunnelForms(tunnels.added);
  }
}

async function pool<T>(items: T[], n: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}
