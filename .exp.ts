import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { SandboxEngine } from "./src/engines/sandbox.js";
const eng = new SandboxEngine();
const req = (i: number, res: "1K" | "2K" | "4K") => ({ taskId: "t" + i, model: "nano-banana-pro", upstreamModel: "x", prompt: "a lighthouse " + i, images: [], aspectRatio: "16:9", resolution: res, outputFormat: (i % 2 ? "png" : "jpg") as any });
for (const res of ["1K", "2K", "4K"] as const) {
  const t0 = performance.now();
  await eng.generate(req(0, res), new AbortController().signal);
  console.log(res, "single render ms", (performance.now() - t0).toFixed(0));
}
const h = monitorEventLoopDelay({ resolution: 5 }); h.enable();
const elu0 = performance.eventLoopUtilization();
const cpu0 = process.cpuUsage();
const t0 = performance.now();
await Promise.all(Array.from({ length: 32 }, (_, i) => eng.generate(req(i, i % 2 ? "1K" : "2K"), new AbortController().signal)));
const wall = performance.now() - t0;
const elu = performance.eventLoopUtilization(elu0);
h.disable();
const cpu = process.cpuUsage(cpu0);
console.log({ wallMs: wall.toFixed(0), elu: elu.utilization.toFixed(3), activeMs: elu.active.toFixed(0), procCpuMs: ((cpu.user + cpu.system) / 1000).toFixed(0), lagMaxMs: (h.max / 1e6).toFixed(1), lagP99: (h.percentile(99) / 1e6).toFixed(1) });
