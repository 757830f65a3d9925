import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import path from "node:path";
import sharp from "sharp";
import { KIE_ERRORS, UPLOAD_ERRORS } from "../../src/errors.js";
import { startPeel, type TestPeel } from "../helpers/harness.js";
import { sleep, until } from "../helpers/polling.js";
import { mountTmpfs, type Tmpfs } from "../helpers/tmpfs.js";

// Issue 10 §4 on a real full disk: the whole data directory (SQLite database and WAL, result and
// upload files, staging) lives on a small tmpfs that the test fills to the last block.

const MiB = 1024 * 1024;

async function peelOnTmpfs(
  t: TestContext,
  size: number,
  opts: { env?: Record<string, string>; background?: boolean; credits?: number } = {},
): Promise<{ peel: TestPeel; fs: Tmpfs } | null> {
  const fs = mountTmpfs(size);
  if (typeof fs === "string") {
    t.skip(fs);
    return null;
  }
  let peel: TestPeel | null = null;
  t.after(async () => {
    await peel?.close();
    fs.unmount();
  });
  peel = await startPeel({ dataDir: path.join(fs.dir, "data"), ...opts });
  return { peel, fs };
}

const STORAGE_FULL = { code: 500, msg: KIE_ERRORS.storage_full.msg, data: null };
const create = (peel: TestPeel, prompt: string) =>
  peel.api("POST", "/api/v1/jobs/createTask", { model: "nano-banana-pro", input: { prompt } });

test("full disk: createTask and uploads answer a clear storage_full 500, /readyz reports it, and all recovers when space returns", async (t) => {
  const rig = await peelOnTmpfs(t, 16 * MiB, { background: false, credits: 1_000_000, env: { PEEL_CREATE_LIMIT: "0" } });
  if (!rig) return;
  const { peel, fs } = rig;
  assert.equal((await create(peel, "before")).json.code, 200);
  assert.equal((await fetch(`${peel.url}/readyz`)).status, 200);

  await fs.fill();
  // SQLite keeps writing into WAL space it already has until a commit needs a new page of disk;
  // keep creating until that happens. Every answer is a success or the clear 500, never a stack.
  let accepted = 1;
  let refused = 0;
  for (let i = 0; i < 5000 && refused < 3; i++) {
    const res = await create(peel, `while full ${i} ${"x".repeat(2000)}`);
    if (res.json?.code === 200) {
      accepted++;
      continue;
    }
    assert.equal(res.status, 500, res.text);
    assert.deepEqual(res.json, STORAGE_FULL);
    assert.ok(!/at .*\(.*:\d+:\d+\)|stack/i.test(res.text), "no stack in the answer");
    refused++;
  }
  assert.equal(refused, 3, `the database never filled up (${accepted} creates accepted)`);
  t.diagnostic(`${accepted} creates accepted on the full disk before the database needed a new page`);

  // /readyz reuses a passing check for a few seconds, then sees the full storage
  const ready = await until("/readyz to report the full storage", 15_000, async () => {
    const res = await fetch(`${peel.url}/readyz`);
    return res.status === 503 ? res : null;
  });
  const r = (await ready.json()) as any;
  assert.equal(r.ready, false);
  assert.equal(r.checks.storage.ok, false);
  assert.match(r.checks.storage.error, /^storage is full \((SQLITE_FULL|ENOSPC)/);
  // liveness is not readiness: the process still answers, and must not be restarted for this
  assert.equal((await fetch(`${peel.url}/healthz`)).status, 200);

  // an upload needs disk for its staging file and its stored copy
  const png = await sharp({ create: { width: 64, height: 64, channels: 3, background: "#abcdef" } })
    .png()
    .toBuffer();
  const form = new FormData();
  form.append("file", new Blob([png], { type: "image/png" }), "a.png");
  const up = await fetch(`${peel.url}/api/file-stream-upload`, {
    method: "POST",
    headers: { authorization: `Bearer ${peel.key}` },
    body: form,
  });
  assert.equal(up.status, 500);
  assert.deepEqual(await up.json(), { success: false, code: 500, msg: UPLOAD_ERRORS.storage_full.msg, data: null });
  const b64 = await peel.api("POST", "/api/file-base64-upload", { base64Data: png.toString("base64") });
  assert.equal(b64.status, 500);
  assert.deepEqual(b64.json, { success: false, code: 500, msg: UPLOAD_ERRORS.storage_full.msg, data: null });

  // space comes back: health recovers by itself (probe), creates and uploads work again
  await fs.free();
  await until("/readyz to report storage ok", 10_000, async () => (await fetch(`${peel.url}/readyz`)).status === 200);
  const after = await create(peel, "after");
  assert.equal(after.json.code, 200, after.text);
  accepted++;
  const up2 = await peel.api("POST", "/api/file-base64-upload", { base64Data: png.toString("base64") });
  assert.equal(up2.json.code, 200, up2.text);
  // refused creates were neither stored nor charged
  const credit = (await peel.api("GET", "/api/v1/chat/credit")).json.data;
  assert.equal(credit, 1_000_000 - 18 * accepted);
  // no staging left behind by the failed uploads
  assert.deepEqual(
    readdirSync(path.join(peel.dataDir, "tmp")).filter((n) => n.startsWith("peel-upload-")),
    [],
  );
});

test("full disk while a task generates: the result write waits with the lease held, and the task succeeds once space returns", async (t) => {
  const rig = await peelOnTmpfs(t, 24 * MiB, {
    // a short lease: had the worker stopped renewing while it waits, the task would be claimed again
    env: { PEEL_SANDBOX_DELAY_MS: "1500", PEEL_LEASE_MS: "1000" },
  });
  if (!rig) return;
  const { peel, fs } = rig;
  const created = await peel.api("POST", "/api/v1/jobs/createTask", {
    model: "nano-banana-pro",
    input: { prompt: "a result that does not fit", resolution: "4K", output_format: "png" },
  });
  assert.equal(created.json.code, 200, created.text);
  const taskId = created.json.data.taskId;
  const state = async () => (await peel.api("GET", `/api/v1/jobs/recordInfo?taskId=${taskId}`)).json.data.state;
  await until("the task to generate", 10_000, async () => (await state()) === "generating");
  await fs.fill();

  await until("the result write to hit the full disk", 20_000, async () => peel.runtime.files.storageStatus.full);
  // several lease lengths pass: still generating, never handed to another run
  await sleep(3000);
  assert.equal(await state(), "generating");
  const during = await peel.runtime.store.getTask(taskId, peel.account.id);
  assert.equal(during?.attempts, 1);
  await until("/readyz to report the full storage", 15_000, async () => (await fetch(`${peel.url}/readyz`)).status === 503);

  await fs.free();
  const rec = await peel.waitForTask(taskId, { timeoutMs: 20_000 });
  assert.equal(rec.state, "success", `${rec.failCode} ${rec.failMsg}`);
  const done = await peel.runtime.store.getTask(taskId, peel.account.id);
  assert.equal(done?.attempts, 1, "the same run finished the task");
  const url = JSON.parse(rec.resultJson).resultUrls[0];
  const img = await fetch(url);
  assert.equal(img.status, 200);
  const meta = await sharp(Buffer.from(await img.arrayBuffer())).metadata();
  assert.equal(meta.format, "png");
  assert.equal((await peel.api("GET", "/api/v1/chat/credit")).json.data, 1000 - 24);
  await until("/readyz to be ready again", 10_000, async () => (await fetch(`${peel.url}/readyz`)).status === 200);
});
