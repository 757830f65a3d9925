import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { test } from "node:test";
import sharp from "sharp";
import { MODEL_INFO, type ModelInput, PeelClient, PeelError, type TaskRecord, TaskFailedError } from "../../src/client/index.js";
import { clientModelInfo } from "../../scripts/gen-client-models.js";
import { startPeel } from "../helpers/harness.js";
import { KieLikeServer } from "./kie-like-server.js";

/**
 * peel/client against a real peel (sandbox engine) and against a local server that answers like
 * kie.ai (no events endpoint, a separate upload origin).
 */

/** fetch that records the paths it was asked for. */
function recordingFetch(log: string[]): typeof fetch {
  return (input, init) => {
    log.push(new URL(String(input)).pathname);
    return fetch(input, init);
  };
}

const png = (w = 40, h = 30) =>
  sharp({ create: { width: w, height: h, channels: 3, background: "#2a6" } })
    .png()
    .toBuffer();

test("generate against peel: typed input, live states from events (no recordInfo polls), a real image", async (t) => {
  const peel = await startPeel({ env: { PEEL_SANDBOX_DELAY_MS: "200" } });
  t.after(() => peel.close());
  const paths: string[] = [];
  const client = new PeelClient({ baseUrl: `${peel.url}/`, apiKey: peel.key, fetch: recordingFetch(paths) });
  const seen: TaskRecord[] = [];
  const { taskId, record, urls } = await client.generate(
    { model: "nano-banana-pro", input: { prompt: "a kite", aspect_ratio: "16:9", resolution: "1K", output_format: "png" } },
    { onUpdate: (r) => seen.push(r) },
  );
  assert.equal(record.state, "success");
  assert.equal(record.taskId, taskId);
  assert.ok(seen.length >= 2, "at least one state before success");
  assert.equal(seen.at(-1)!.state, "success");
  assert.ok(paths.includes("/api/v1/jobs/events"));
  assert.ok(!paths.includes("/api/v1/jobs/recordInfo"), "no polling when the server has events");
  const meta = await sharp(Buffer.from(await (await fetch(urls[0])).arrayBuffer())).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ["png", 1376, 768]);
  // getTask answers the same record
  assert.deepEqual(await client.getTask(taskId), record);
  assert.equal(await client.credits(), 1000 - 18);
});

test("errors carry kie's code and msg; a failed task rejects generate with TaskFailedError", async (t) => {
  const peel = await startPeel({ env: { PEEL_TASK_DEADLINE_MS: "1000" }, background: false });
  t.after(() => peel.close());
  const bad = new PeelClient({ baseUrl: peel.url, apiKey: "peel_nope" });
  await assert.rejects(bad.credits(), (e: unknown) => e instanceof PeelError && e.code === 401 && e.httpStatus === 200);
  const client = new PeelClient({ baseUrl: peel.url, apiKey: peel.key });
  await assert.rejects(
    client.createTask({ model: "nano-banana-pro", input: { prompt: "x", resolution: "8K" as "1K" } }),
    (e: unknown) =>
      e instanceof PeelError && e.code === 422 && e.message === "resolution is not within the range of allowed options",
  );
  await assert.rejects(
    client.getTask("0123456789abcdef0123456789abcdef"),
    (e: unknown) => e instanceof PeelError && e.code === 422 && e.message === "recordInfo is null",
  );
  // the sweeper alone: the task times out and fails
  peel.runtime.sweeper!.start();
  await assert.rejects(
    client.generate({ model: "nano-banana-pro", input: { prompt: "too slow" } }),
    (e: unknown) =>
      e instanceof TaskFailedError && e.record.failCode === "500" && e.message === "Generation timed out, please try again later",
  );
  // an aborted wait rejects with the abort reason
  const id = await client.createTask({ model: "nano-banana-pro", input: { prompt: "abort me" } });
  const ctrl = new AbortController();
  const waiting = client.waitForTask(id, { signal: ctrl.signal });
  setTimeout(() => ctrl.abort(new Error("stop")), 100);
  await assert.rejects(waiting, /stop/);
  const polling = client.waitForTask(id, { signal: ctrl.signal, mode: "poll" });
  await assert.rejects(polling, /stop/);
});

test("uploads: base64 bytes, a Blob as multipart, a URL; an upload is a usable image_input", async (t) => {
  const peel = await startPeel();
  t.after(() => peel.close());
  const image = await png();
  const host = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "image/png" });
    res.end(image);
  });
  await new Promise<void>((r) => host.listen(0, "127.0.0.1", r));
  t.after(() => new Promise<void>((r) => host.close(() => r())));
  const client = new PeelClient({ baseUrl: peel.url, apiKey: peel.key });

  const a = await client.uploadBase64(image, { fileName: "a.png" });
  assert.equal(a.fileName, "a.png");
  assert.equal(a.fileSize, image.length);
  const b = await client.uploadFile(new Blob([image], { type: "image/png" }), { fileName: "b.png", uploadPath: "cli" });
  assert.equal(b.filePath, "cli/b.png");
  const c = await client.uploadUrl(`http://127.0.0.1:${(host.address() as AddressInfo).port}/c.png`, { fileName: "c.png" });
  assert.equal(c.mimeType, "image/png");
  for (const u of [a, b, c]) assert.equal((await fetch(u.fileUrl)).status, 200);
  await assert.rejects(
    client.uploadBase64("not base64!"),
    (e: unknown) => e instanceof PeelError && e.code === 400 && e.message === "Base64 decoding failed: Invalid Base64 format",
  );

  const { record } = await client.generate({
    model: "nano-banana-pro",
    input: { prompt: "use these", image_input: [a.fileUrl, b.fileUrl] },
  });
  assert.equal(record.state, "success");
});

test("against a kie.ai-like server: no events endpoint, so it polls; uploads go to the upload origin", async (t) => {
  const kie = await KieLikeServer.start("kie-key", 2);
  t.after(() => kie.close());
  const uploads = await KieLikeServer.start("kie-key");
  t.after(() => uploads.close());
  const client = new PeelClient({ baseUrl: kie.url, uploadBaseUrl: uploads.url, apiKey: "kie-key" });
  const states: string[] = [];
  const { urls } = await client.generate(
    { model: "nano-banana-pro", input: { prompt: "x" } },
    { onUpdate: (r) => states.push(r.state), pollDelayMs: () => 20 },
  );
  assert.deepEqual(states, ["waiting", "generating", "success"]);
  assert.ok(urls[0].startsWith(kie.url));
  assert.deepEqual(
    kie.requests.map((r) => r.path),
    [
      "/api/v1/jobs/createTask",
      "/api/v1/jobs/events",
      "/api/v1/jobs/recordInfo",
      "/api/v1/jobs/recordInfo",
      "/api/v1/jobs/recordInfo",
    ],
  );
  // the 404 is remembered: the next wait polls straight away
  await client.generate({ model: "nano-banana-pro", input: { prompt: "y" } }, { pollDelayMs: () => 20 });
  assert.equal(kie.requests.filter((r) => r.path === "/api/v1/jobs/events").length, 1);
  await assert.rejects(
    client.generate({ model: "nano-banana-pro", input: { prompt: "please fail" } }, { pollDelayMs: () => 20 }),
    TaskFailedError,
  );
  await client.uploadBase64(await png());
  assert.deepEqual(
    uploads.uploads.map((u) => u.path),
    ["/api/file-base64-upload"],
  );
  assert.ok(kie.requests.every((r) => r.auth === "Bearer kie-key"));
  // kie.ai's own base URL implies its upload host
  assert.equal(new PeelClient({ baseUrl: "https://api.kie.ai", apiKey: "k" }).uploadBaseUrl, "https://kieai.redpandaai.co");
});

test("the client's model data matches the registry, and the client imports nothing but itself", () => {
  assert.deepEqual(
    JSON.parse(JSON.stringify(MODEL_INFO)),
    clientModelInfo(),
    "src/client/model-info.ts is stale: run `npm run client:models`",
  );
  const dir = path.resolve("src/client");
  for (const f of readdirSync(dir)) {
    const text = readFileSync(path.join(dir, f), "utf8");
    for (const m of text.matchAll(/^(?:import|export)\b[^;]*?from\s+"([^"]+)"/gm))
      assert.match(m[1], /^\.\/[\w-]+\.js$/, `${f} imports ${m[1]}`);
  }
});

// Compile-time checks of the per-model input types (npm test typechecks before it runs).
export const typeChecks: ModelInput<"nano-banana-pro">[] = [
  { prompt: "ok", aspect_ratio: "21:9", resolution: "4K", output_format: "jpg", image_input: [] },
  // @ts-expect-error nano-banana-pro has no 1:4 ratio
  { prompt: "x", aspect_ratio: "1:4" },
  // @ts-expect-error nano-banana-pro spells JPEG `jpg`
  { prompt: "x", output_format: "jpeg" },
];
export const editNeedsImages: ModelInput<"google/nano-banana-edit">[] = [
  { prompt: "x", image_urls: ["https://example.com/a.png"], image_size: "1:1", output_format: "jpeg" },
  // @ts-expect-error the edit model requires image_urls
  { prompt: "x" },
  // @ts-expect-error the flash models have no resolution
  { prompt: "x", image_urls: [], resolution: "1K" },
];
export const nb2: ModelInput<"nano-banana-2">[] = [{ prompt: "x", aspect_ratio: "1:8", google_search: true }];
export const lite: ModelInput<"nano-banana-2-lite">[] = [
  { prompt: "x", image_urls: [], resolution: "1K" },
  // @ts-expect-error nano-banana-2-lite is 1K only
  { prompt: "x", resolution: "2K" },
];
