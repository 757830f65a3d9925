import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdtemp, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import sharp from "sharp";
import { startServer } from "../net/servers.js";
import type { TestServer } from "../net/servers.js";

/**
 * Large, distinct input images for memory measurements: random-noise RGB PNGs (noise does not
 * compress, so file size ≈ width × height × 3) written once to a temp dir and served from disk
 * by a streaming server, so the server itself holds no image in memory.
 */
export interface NoiseSet {
  dir: string;
  files: { name: string; size: number }[];
  server: TestServer;
  urls: string[];
  cleanup(): Promise<void>;
}

export async function makeNoiseSet(count: number, approxBytes: number): Promise<NoiseSet> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "peel-noise-"));
  const side = Math.round(Math.sqrt(approxBytes / 3));
  const files: { name: string; size: number }[] = [];
  for (let i = 0; i < count; i++) {
    const name = `noise-${i}.png`;
    // one raw buffer at a time, so generating does not itself inflate the baseline much; the
    // height differs per file so every image is distinct in size as well as content
    const height = side + i;
    await sharp(randomBytes(side * height * 3), { raw: { width: side, height, channels: 3 } })
      .png({ compressionLevel: 1 })
      .toFile(path.join(dir, name));
    files.push({ name, size: (await stat(path.join(dir, name))).size });
  }
  const server = await startServer((req, res) => {
    const f = files.find((x) => `/${x.name}` === req.url);
    if (!f) return void res.writeHead(404).end();
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(f.size) });
    createReadStream(path.join(dir, f.name)).pipe(res);
  });
  return {
    dir,
    files,
    server,
    urls: files.map((f) => `${server.origin}/${f.name}`),
    cleanup: async () => {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface MemorySample {
  rss: number;
  arrayBuffers: number;
}

/** Samples process memory every intervalMs until stop(); returns baseline and peaks. */
export function sampleMemory(intervalMs = 20) {
  const base = process.memoryUsage();
  const peak: MemorySample = { rss: base.rss, arrayBuffers: base.arrayBuffers };
  const tick = () => {
    const m = process.memoryUsage();
    peak.rss = Math.max(peak.rss, m.rss);
    peak.arrayBuffers = Math.max(peak.arrayBuffers, m.arrayBuffers);
  };
  const timer = setInterval(tick, intervalMs);
  return {
    base: { rss: base.rss, arrayBuffers: base.arrayBuffers } as MemorySample,
    stop(): { base: MemorySample; peak: MemorySample; growth: MemorySample } {
      clearInterval(timer);
      tick();
      return {
        base: { rss: base.rss, arrayBuffers: base.arrayBuffers },
        peak,
        growth: { rss: peak.rss - base.rss, arrayBuffers: peak.arrayBuffers - base.arrayBuffers },
      };
    },
  };
}
