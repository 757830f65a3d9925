import sharp from "sharp";
import type { GenerateRequest, InputImage } from "../../src/engines/engine.js";
import { GeminiEngine, type EngineLogger, type GeminiEngineOptions } from "../../src/engines/gemini.js";
import { ProviderError } from "../../src/errors.js";

/** Shared setup for the gemini engine tests. */

/** Collects log lines instead of printing them. */
export function memoryLogger(): EngineLogger & { lines: Array<{ level: string; msg: string; obj: object }> } {
  const lines: Array<{ level: string; msg: string; obj: object }> = [];
  return {
    lines,
    warn: (obj, msg) => lines.push({ level: "warn", msg, obj }),
    info: (obj, msg) => lines.push({ level: "info", msg, obj }),
  };
}

export function geminiEngine(baseUrl: string, over: Partial<GeminiEngineOptions> = {}): GeminiEngine {
  return new GeminiEngine({
    mode: "gemini",
    apiKey: "test-key",
    baseUrl,
    attemptTimeoutMs: 30_000,
    attemptTimeout4kMs: 60_000,
    logger: memoryLogger(),
    ...over,
  });
}

export function genRequest(over: Partial<GenerateRequest> = {}): GenerateRequest {
  return {
    model: "nano-banana-pro",
    upstreamModel: "gemini-3-pro-image",
    prompt: "A paper-cut diorama of a lighthouse at dusk",
    images: [],
    aspectRatio: "1:1",
    resolution: "1K",
    outputFormat: "png",
    taskId: "0123456789abcdef0123456789abcdef",
    ...over,
  };
}

export async function inputImage(format: "png" | "jpeg" | "webp", url: string): Promise<InputImage> {
  const base = sharp({ create: { width: 32, height: 24, channels: 3, background: { r: 9, g: 9, b: 9 } } });
  const bytes = await (format === "png" ? base.png() : format === "jpeg" ? base.jpeg() : base.webp()).toBuffer();
  return { bytes, mimeType: `image/${format}`, url };
}

/** Awaits a rejection and returns it as a ProviderError (fails otherwise). */
export async function providerError(p: Promise<unknown>): Promise<ProviderError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ProviderError) return err;
    throw new Error(`expected a ProviderError, got ${String(err)}`, { cause: err });
  }
  throw new Error("expected a rejection");
}

/** The colour of the top-left pixel. */
export async function cornerColour(bytes: Buffer): Promise<{ r: number; g: number; b: number }> {
  const px = await sharp(bytes).extract({ left: 0, top: 0, width: 1, height: 1 }).removeAlpha().raw().toBuffer();
  return { r: px[0], g: px[1], b: px[2] };
}
