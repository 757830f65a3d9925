import { SandboxEngine } from "./src/engines/sandbox.js";
const eng = new SandboxEngine();
const req = (i: number, res: "1K" | "2K" | "4K") => ({ taskId: "t" + i, model: "nano-banana-pro", upstreamModel: "x", prompt: "a lighthouse " + i, images: [], aspectRatio: "16:9", resolution: res, outputFormat: (i % 2 ? "png" : "jpg") as any });
await eng.generate(req(0, "1K"), new AbortController().signal);
await Promise.all(Array.from({ length: 32 }, (_, i) => eng.generate(req(i, i % 2 ? "1K" : "2K"), new AbortController().signal)));
