import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import sharp from "sharp";
import { generateCommand, type GenerateIo } from "../../src/cli/generate.js";
import { startPeel } from "../helpers/harness.js";
import { KieLikeServer } from "./kie-like-server.js";

/**
 * `peel generate`: the real command as a process against a running sandbox peel, and the same
 * code in-process for the other exits (usage errors, a failed task, kie.ai-style polling).
 */

const ROOT = path.resolve(import.meta.dirname, "../..");

function run(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli.ts", "generate", ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => (stdout += c));
  child.stderr.on("data", (c: Buffer) => (stderr += c));
  return new Promise((resolve) => child.once("exit", (code) => resolve({ code, stdout, stderr })));
}

function memoryIo(env: Record<string, string>) {
  const out: string[] = [];
  let err = "";
  const io: GenerateIo = { stdout: (s) => out.push(s), stderr: { write: (s: string) => (err += s) }, env };
  return {
    io,
    out,
    get err() {
      return err;
    },
  };
}

test("peel generate --aspect-ratio 16:9 --resolution 1K --out x.png writes a 1376×768 PNG", async (t) => {
  const peel = await startPeel({ env: { PEEL_SANDBOX_DELAY_MS: "300" } });
  const dir = mkdtempSync(path.join(os.tmpdir(), "peel-gen-"));
  t.after(async () => {
    await peel.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const out = path.join(dir, "x.png");
  const r = await run(["A paper-cut lighthouse at dusk", "--aspect-ratio", "16:9", "--resolution", "1K", "--out", out], {
    PEEL_URL: peel.url,
    PEEL_API_KEY: peel.key,
  });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), out);
  const meta = await sharp(out).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ["png", 1376, 768]);
  // not a terminal: one plain progress line per state, with the elapsed time
  assert.match(r.stderr, /^task [0-9a-f]{32}$/m);
  assert.match(r.stderr, /^generating \(\d+\.\d s\)$/m);
  assert.match(r.stderr, /^success \(\d+\.\d s\)$/m);

  // usage and configuration errors exit 2 with the reason and the usage
  const noKey = await run(["a cat"], { PEEL_URL: peel.url });
  assert.equal(noKey.code, 2);
  assert.match(noKey.stderr, /an API key is required/);
  assert.match(noKey.stderr, /usage: peel generate PROMPT/);
});

test("local images are uploaded first; URLs are passed as they are", async (t) => {
  const peel = await startPeel();
  const dir = mkdtempSync(path.join(os.tmpdir(), "peel-gen-"));
  t.after(async () => {
    await peel.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const file = path.join(dir, "ref.png");
  writeFileSync(
    file,
    await sharp({ create: { width: 50, height: 50, channels: 3, background: "#35c" } })
      .png()
      .toBuffer(),
  );
  const m = memoryIo({ PEEL_URL: peel.url, PEEL_API_KEY: peel.key });
  const code = await generateCommand(["edit this", "--image", file, "--format", "jpg", "--out", dir], m.io);
  assert.equal(code, 0, m.err);
  assert.match(m.err, /uploading .*ref\.png/);
  const saved = m.out[0];
  assert.ok(saved.startsWith(dir) && saved.endsWith(".jpg"), saved);
  assert.equal((await sharp(saved).metadata()).format, "jpeg");
  const page = await peel.api("GET", "/api/v1/chat/credit/ledger?limit=1");
  const taskId = page.json.data[0].taskId;
  const record = (await peel.api("GET", `/api/v1/jobs/recordInfo?taskId=${taskId}`)).json.data;
  const param = JSON.parse(record.param);
  assert.equal(param.input.image_input.length, 1);
  assert.match(param.input.image_input[0], new RegExp(`^${peel.url}/files/u/[^/]+/peel-cli/ref\\.png$`));
  assert.equal(param.input.output_format, "jpg");
});

test("exit codes: 1 when the task fails (failMsg shown), 2 for usage errors and a refused key", async (t) => {
  const peel = await startPeel({ env: { PEEL_TASK_DEADLINE_MS: "1000", PEEL_SANDBOX_DELAY_MS: "3000" } });
  t.after(() => peel.close());
  const env = { PEEL_URL: peel.url, PEEL_API_KEY: peel.key };
  const failed = memoryIo(env);
  assert.equal(await generateCommand(["slow"], failed.io), 1);
  assert.match(failed.err, /failed: Generation timed out, please try again later \(failCode 500\)/);

  const usage: [string[], Record<string, string>, RegExp][] = [
    [[], env, /a PROMPT is required/],
    [["x", "--resolution", "8K"], env, /--resolution must be 1K, 2K or 4K/],
    [["x", "--format", "gif"], env, /--format must be png or jpg/],
    [["x", "--aspect-ratio", "7:3"], env, /--aspect-ratio for nano-banana-pro must be one of/],
    [["x", "--image", "/nonexistent/a.png"], env, /no such file/],
    [["x", "--model", "google/nano-banana", "--image", "https://example.com/a.png"], env, /takes no reference images/],
    [["x", "--model", "google/nano-banana", "--resolution", "2K"], env, /one size per ratio/],
    [["x", "--model", "nano-banana-2-lite", "--resolution", "2K"], env, /--resolution for nano-banana-2-lite must be 1K/],
    [["x", "--model", "nano-banana-2-lite", "--format", "png"], env, /nano-banana-2-lite always delivers jpg: drop --format/],
    [["x", "--bogus"], env, /Unknown option '--bogus'/],
    [["x"], { PEEL_URL: "ftp://x", PEEL_API_KEY: "k" }, /--url must be an http\(s\) URL/],
    [["x"], { PEEL_URL: peel.url, PEEL_API_KEY: "peel_wrong" }, /You do not have access permissions \(code 401\)/],
  ];
  for (const [args, e, msg] of usage) {
    const m = memoryIo(e);
    assert.equal(await generateCommand(args, m.io), 2, args.join(" "));
    assert.match(m.err, msg, args.join(" "));
  }
  // unreachable server: 1
  const down = memoryIo({ PEEL_URL: "http://127.0.0.1:1", PEEL_API_KEY: "k" });
  assert.equal(await generateCommand(["x"], down.io), 1);
  assert.match(down.err, /cannot reach http:\/\/127\.0\.0\.1:1/);
});

test("against a kie.ai-like server it polls and prints the result URL", async (t) => {
  const kie = await KieLikeServer.start("kie-key", 1);
  t.after(() => kie.close());
  const m = memoryIo({ PEEL_URL: kie.url, PEEL_API_KEY: "kie-key" });
  assert.equal(await generateCommand(["a fox", "--aspect-ratio", "16:9"], m.io), 0, m.err);
  assert.equal(m.out[0], `${kie.url}/result/${"task1".padEnd(32, "0")}.png`);
  assert.ok(kie.requests.some((r) => r.path === "/api/v1/jobs/recordInfo"));
  // on a terminal: one live line, redrawn in place, then the final state with the time it took
  let tty = "";
  const io: GenerateIo = { stdout: () => {}, stderr: { isTTY: true, write: (s: string) => (tty += s) }, env: m.io.env };
  assert.equal(await generateCommand(["a fox"], io), 0);
  assert.match(tty, /\r\x1b\[2K. waiting · \d+\.\d s/);
  assert.match(tty, /\r\x1b\[2Ksuccess in \d+\.\d s\n$/);
});
