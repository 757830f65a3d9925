import assert from "node:assert/strict";
import sharp from "sharp";
import type { GenerateRequest, InputImage } from "../../src/engines/engine.js";
import { ProviderError, type UpstreamOutcome } from "../../src/errors.js";
import { AddressPolicy } from "../../src/net/address-guard.js";
import { GuardedClient } from "../../src/net/guarded-fetch.js";
import { classifyFailure } from "../../src/upstreams/outcome.js";

/** Shared setup for the relay engine tests (kie, fal, Replicate). */

/** The outbound client the relays use in tests: the guard allows the local fakes only. */
export function testClient(): GuardedClient {
  return new GuardedClient(new AddressPolicy(["127.0.0.1"]), { connectTimeoutMs: 2_000 });
}

export function relayRequest(over: Partial<GenerateRequest> = {}): GenerateRequest {
  return {
    taskId: "0123456789abcdef0123456789abcdef",
    model: "nano-banana-pro",
    upstreamModel: "nano-banana-pro",
    prompt: "A paper-cut diorama of a lighthouse at dusk",
    images: [],
    aspectRatio: "16:9",
    resolution: "2K",
    outputFormat: "png",
    ...over,
  };
}

export async function inputImage(url: string, format: "png" | "jpeg" = "png"): Promise<InputImage> {
  const base = sharp({ create: { width: 24, height: 16, channels: 3, background: { r: 10, g: 90, b: 200 } } });
  const bytes = await (format === "png" ? base.png() : base.jpeg()).toBuffer();
  return { bytes, mimeType: format === "png" ? "image/png" : "image/jpeg", url };
}

/** Awaits a rejection that must be a ProviderError of `outcome`; returns it. */
export async function failsWith(p: Promise<unknown>, outcome: UpstreamOutcome): Promise<ProviderError> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof ProviderError, `expected a ProviderError (${outcome}), got ${String(err)}`);
  assert.equal(classifyFailure(err), outcome, err.message);
  return err;
}

/** The format sharp sees in `bytes`. */
export async function formatOf(bytes: Buffer): Promise<string | undefined> {
  return (await sharp(bytes).metadata()).format;
}
