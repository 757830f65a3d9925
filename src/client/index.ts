/**
 * `peel/client`: a typed, dependency-free client of peel's task API (and of kie.ai's).
 *
 *   import { PeelClient } from "peel/client";
 *   const peel = new PeelClient({ baseUrl: "http://localhost:8080", apiKey: process.env.PEEL_API_KEY! });
 *   const { urls } = await peel.generate({ model: "nano-banana-pro", input: { prompt: "…", resolution: "2K" } });
 */
export { defaultPollDelay, PeelClient, type PeelClientOptions, PeelError, TaskFailedError, type WaitOptions } from "./client.js";
export { MODEL_INFO } from "./model-info.js";
export { readSse, type SseMessage } from "./sse.js";
export * from "./types.js";
