import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

/** One first-task measurement from test/helpers/task-memory-child.ts, in MiB. */
export interface TaskMemory {
  state: string;
  failCode: string;
  failMsg: string;
  took: number;
  /** true when the peak RSS is the kernel's high-water mark, not a 5 ms sample. */
  exactPeak: boolean;
  base: { rss: number; arrayBuffers: number; external: number; heapUsed: number };
  peak: { rss: number; arrayBuffers: number; external: number; heapUsed: number };
}

const CHILD = fileURLToPath(new URL("./task-memory-child.ts", import.meta.url));

/**
 * Runs one task in a fresh node process (so the figure is the first-task one) against the fake
 * Google at `fakeUrl`. `env` is added to the child's environment (MALLOC_ARENA_MAX, ...).
 */
export function measureTaskMemory(opts: {
  fakeUrl: string;
  urls: string[];
  env?: Record<string, string | undefined>;
  nodeArgs?: string[];
}): Promise<TaskMemory> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      TASK_MEMORY_FAKE_URL: opts.fakeUrl,
      TASK_MEMORY_URLS: JSON.stringify(opts.urls),
    };
    for (const [k, v] of Object.entries(opts.env ?? {})) {
      if (v === undefined) delete env[k];
      else env[k] = v;
    }
    const child = spawn(process.execPath, ["--expose-gc", ...(opts.nodeArgs ?? []), "--import", "tsx", CHILD], {
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      const line = out.split("\n").find((l) => l.startsWith("TASK_MEMORY "));
      if (code !== 0 || !line) return reject(new Error(`task-memory child exited ${code}: ${err.slice(-2000)}`));
      resolve(JSON.parse(line.slice("TASK_MEMORY ".length)) as TaskMemory);
    });
  });
}
