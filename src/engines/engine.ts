import type { OutputFormat, Resolution } from "../domain/types.js";

/** An input image after fetching and sniffing, in request order. */
export interface InputImage {
  bytes: Buffer;
  mimeType: "image/png" | "image/jpeg" | "image/webp";
  /** where it came from, for failMsg (`Invalid image_input: <url>`). */
  url: string;
}

export interface GenerateRequest {
  /** kie model id, e.g. `nano-banana-pro`. */
  model: string;
  /** upstream model id, e.g. `gemini-3-pro-image` (the sandbox ignores it). */
  upstreamModel: string;
  prompt: string;
  images: InputImage[];
  /** a concrete ratio such as `16:9`, or `auto`. */
  aspectRatio: string;
  /** null for single-size models. */
  resolution: Resolution | null;
  outputFormat: OutputFormat;
  /** kie's `google_search`: ground the image on Google Search (models that support it). */
  googleSearch?: boolean;
  taskId: string;
}

export interface GeneratedImage {
  /** bytes already in the requested output format. */
  bytes: Buffer;
  format: OutputFormat;
  width: number;
  height: number;
}

/**
 * An image engine. `generate` either resolves with one image or throws a ProviderError
 * (errors.ts) that says whether a retry can help. It must stop promptly when `signal` aborts.
 */
export interface ImageEngine {
  readonly name: string;
  generate(req: GenerateRequest, signal: AbortSignal): Promise<GeneratedImage>;
}
