import { createHash } from "node:crypto";
import sharp from "sharp";
import { ProviderError } from "../errors.js";
import { MAX_INPUT_PIXELS } from "../images/convert.js";
import { imageWork } from "../images/image-work.js";
import { nearestRatio, outputSize, ratiosOf } from "../images/sizes.js";
import { sniffImage } from "../images/sniff.js";
import type { GenerateRequest, GeneratedImage, ImageEngine, InputImage } from "./engine.js";
import { renderSandbox, type Thumbnail } from "./sandbox-render.js";

/**
 * The sandbox engine: lets anyone run peel with no key and no network. It draws a placeholder
 * (sandbox-render.ts) at exactly the size the real model would return, in the requested format,
 * and the same request always yields the same bytes, so tests can compare outputs.
 */
export interface SandboxEngineOptions {
  /**
   * Artificial generation time before the image is returned, so clients see the task pass
   * through `generating`. Abortable.
   * @defaultValue 0 (milliseconds)
   */
  delayMs?: number;
}

export class SandboxEngine implements ImageEngine {
  readonly name = "sandbox" as const;
  readonly #delayMs: number;

  constructor(opts: SandboxEngineOptions = {}) {
    const delay = opts.delayMs ?? 0;
    if (!Number.isFinite(delay) || delay < 0) throw new RangeError(`delayMs must be ≥ 0, got ${delay}`);
    this.#delayMs = delay;
  }

  async generate(req: GenerateRequest, signal: AbortSignal): Promise<GeneratedImage> {
    signal.throwIfAborted();
    // Inputs are checked first so a bad one fails the task without waiting out the delay.
    const inputs = await imageWork.run(() => Promise.all(req.images.map(inspectInput)), signal);
    if (this.#delayMs > 0) await sleep(this.#delayMs, signal);
    signal.throwIfAborted();
    // Rendering takes its turn in the process-wide image queue (images/image-work.ts), so a burst
    // of tasks cannot take every CPU from the event loop.
    return imageWork.run(() => this.render(req, inputs, signal), signal);
  }

  private async render(
    req: GenerateRequest,
    inputs: { width: number; height: number }[],
    signal: AbortSignal,
  ): Promise<GeneratedImage> {
    // "auto" follows the first input's shape, like the real model; text-only requests get 1:1.
    const ratio =
      req.aspectRatio !== "auto"
        ? req.aspectRatio
        : inputs.length > 0
          ? nearestRatio(inputs[0].width, inputs[0].height, ratiosOf(req.model))
          : "1:1";
    const { width, height } = outputSize(req.model, ratio, req.resolution);

    const bytes = await renderSandbox({
      width,
      height,
      format: req.outputFormat,
      prompt: req.prompt,
      seed: await seedOf(req),
      caption: [req.model, ratio, req.resolution ?? "single size", req.outputFormat, `${width}×${height}`].join(" · "),
      inputAspects: inputs.map((i) => i.width / i.height),
      thumbnail: (index, maxW, maxH) => thumbnail(req.images[index], maxW, maxH),
    });
    signal.throwIfAborted();
    return { bytes, format: req.outputFormat, width, height };
  }
}

/** sha256 over everything that shapes the output (never the task id), so equal requests match. */
async function seedOf(req: GenerateRequest): Promise<Buffer> {
  const h = createHash("sha256");
  h.update(JSON.stringify([req.model, req.prompt, req.aspectRatio, req.resolution, req.outputFormat, req.images.length]));
  // Inputs can be 7 MB each: WebCrypto hashes them on libuv's thread pool, not on the event loop.
  for (const img of req.images) h.update(Buffer.from(await crypto.subtle.digest("SHA-256", img.bytes)));
  return h.digest();
}

function invalidInput(img: InputImage, cause: unknown): ProviderError {
  return new ProviderError("invalid_input", `sandbox could not decode ${img.url}`, {
    failMsg: `Invalid image_input: ${img.url}`,
    cause,
  });
}

const open = (bytes: Buffer) => sharp(bytes, { limitInputPixels: MAX_INPUT_PIXELS, failOn: "error" });

/** Displayed (EXIF-oriented) size of an input; rejects anything that is not PNG, JPEG or WebP. */
async function inspectInput(img: InputImage): Promise<{ width: number; height: number }> {
  try {
    if (sniffImage(img.bytes) === null) throw new Error("not a PNG, JPEG or WebP image");
    const meta = await open(img.bytes).metadata();
    const { width, height } = meta.autoOrient ?? meta;
    if (!width || !height) throw new Error("image has no dimensions");
    return { width, height };
  } catch (err) {
    throw invalidInput(img, err);
  }
}

async function thumbnail(img: InputImage, maxWidth: number, maxHeight: number): Promise<Thumbnail> {
  try {
    // fit "inside" keeps the input's aspect; libvips shrinks JPEG and WebP on load, so a 25 MB
    // photo never decodes at full size.
    const { data, info } = await open(img.bytes)
      .autoOrient()
      .resize({ width: maxWidth, height: maxHeight, fit: "inside" })
      .ensureAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    return { data, width: info.width, height: info.height };
  } catch (err) {
    throw invalidInput(img, err);
  }
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
