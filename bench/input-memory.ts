/**
 * Peak memory while loading a task's inputs: 8 distinct ~25 MB noise PNGs served from disk over
 * loopback, loaded with loadInputImages (fetch → sniff → prepareReference, one at a time), with
 * process memory sampled every 20 ms. Acceptance: peak growth stays within a few times one input.
 *
 *   node --expose-gc --import tsx bench/input-memory.ts [count=8] [megabytes=25] [--warm]
 *
 * --expose-gc only settles the baseline before measuring; the loader never calls gc().
 */
import { AddressPolicy } from "../src/net/address-guard.js";
import { closeGuardedClients } from "../src/net/guarded-fetch.js";
import { loadInputImages } from "../src/inputs/load-inputs.js";
import { makeNoiseSet, sampleMemory } from "../test/inputs/noise.js";

const args = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const count = Number(args[0] ?? 8);
const mb = Number(args[1] ?? 25);
/** --warm: load one task first, unmeasured, as a long-running worker already has. */
const warm = process.argv.includes("--warm");
const MiB = 1 << 20;
const fmt = (n: number) => `${(n / MiB).toFixed(1)} MiB`;

const set = await makeNoiseSet(count, mb * 1e6);
const one = Math.max(...set.files.map((f) => f.size));
const policy = new AddressPolicy(["127.0.0.1"]);
const opts = { policy, maxBytes: 30 * MiB, timeoutMs: 30_000, connectTimeoutMs: 5_000, publicUrl: "http://peel.invalid" };
if (warm) await loadInputImages(set.urls, opts, new AbortController().signal);
const gc = (globalThis as { gc?: () => void }).gc;
gc?.();
await new Promise((r) => setTimeout(r, 200));

const mem = sampleMemory(20);
const started = Date.now();
const images = await loadInputImages(set.urls, opts, new AbortController().signal);
const took = Date.now() - started;
const { base, peak, growth } = mem.stop();

console.log(
  `inputs:        ${count} × ~${fmt(one)} (largest); ${warm ? "warm (one task loaded first)" : "cold"}; gc ${gc ? "settled baseline" : "not exposed"}`,
);
console.log(`prepared:      ${images.map((i) => `${i.mimeType.slice(6)} ${fmt(i.bytes.length)}`).join(", ")}`);
console.log(`prepared kept: ${fmt(images.reduce((s, i) => s + i.bytes.length, 0))}`);
console.log(`time:          ${took} ms (${Math.round(took / count)} ms per input)`);
console.log(
  `rss:           base ${fmt(base.rss)}, peak ${fmt(peak.rss)}, growth ${fmt(growth.rss)} = ${(growth.rss / one).toFixed(2)} × one input`,
);
console.log(
  `arrayBuffers:  base ${fmt(base.arrayBuffers)}, peak ${fmt(peak.arrayBuffers)}, growth ${fmt(growth.arrayBuffers)} = ${(growth.arrayBuffers / one).toFixed(2)} × one input`,
);

await closeGuardedClients();
await set.cleanup();
