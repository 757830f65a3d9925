import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { MODELS } from "../../src/domain/models.js";
import { startPeel, type TestPeel } from "../helpers/harness.js";

/**
 * createTask acceptances (docs/kie-contract.md §4, §5.1 `param`, §14.2/3/11): defaults, null fields,
 * unknown fields, limits at their edge, lenient content types, the playground alias. Workers are
 * off, so every task stays `waiting` and what was stored can be read back exactly.
 */

let peel: TestPeel;
before(async () => {
  peel = await startPeel({ background: false, credits: 100_000, env: { PEEL_CREATE_LIMIT: "0", PEEL_READ_LIMIT: "0" } });
});
after(() => peel.close());

const PATH = "/api/v1/jobs/createTask";
const PRO = MODELS.find((m) => m.id === "nano-banana-pro")!;

async function create(
  body: unknown,
  opts: { path?: string; raw?: string; headers?: Record<string, string> } = {},
): Promise<string> {
  const res = await peel.api("POST", opts.path ?? PATH, body, { raw: opts.raw, headers: opts.headers });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "application/json; charset=utf-8");
  assert.equal(res.json.code, 200, JSON.stringify(res.json));
  assert.equal(res.json.msg, "success");
  assert.deepEqual(Object.keys(res.json.data), ["taskId"]);
  assert.match(res.json.data.taskId, /^[0-9a-f]{32}$/);
  return res.json.data.taskId;
}

async function stored(taskId: string) {
  const t = await peel.runtime.store.getTask(taskId, peel.account.id);
  assert.ok(t, `task ${taskId} stored`);
  return t;
}

async function record(taskId: string, prefix = "/api/v1/jobs") {
  const res = await peel.api("GET", `${prefix}/recordInfo?taskId=${taskId}`);
  assert.equal(res.status, 200);
  assert.equal(res.json.code, 200, JSON.stringify(res.json));
  return res.json.data;
}

describe("defaults and null fields (§4.1)", () => {
  test("absent optional fields get their defaults", async () => {
    const t = await stored(await create({ model: "nano-banana-pro", input: { prompt: "p" } }));
    assert.deepEqual(t.input, { prompt: "p", imageUrls: [], aspectRatio: "1:1", resolution: "1K", outputFormat: "png" });
    assert.equal(t.callbackUrl, null);
    assert.equal(t.state, "waiting");
    assert.equal(t.price, 18);
  });

  test("null fields count as absent", async () => {
    const body = {
      model: "nano-banana-pro",
      callBackUrl: null,
      input: { prompt: "p", image_input: null, aspect_ratio: null, resolution: null, output_format: null },
    };
    const t = await stored(await create(body));
    assert.deepEqual(t.input, { prompt: "p", imageUrls: [], aspectRatio: "1:1", resolution: "1K", outputFormat: "png" });
    assert.equal(t.callbackUrl, null);
  });

  test('callBackUrl "" means no callback', async () => {
    const t = await stored(await create({ model: "nano-banana-pro", callBackUrl: "", input: { prompt: "p" } }));
    assert.equal(t.callbackUrl, null);
  });

  test("a valid callBackUrl is kept", async () => {
    const t = await stored(
      await create({ model: "nano-banana-pro", callBackUrl: "http://127.0.0.1:9/hook?x=1", input: { prompt: "p" } }),
    );
    assert.equal(t.callbackUrl, "http://127.0.0.1:9/hook?x=1");
  });

  test("an empty image_input is text-to-image", async () => {
    const t = await stored(await create({ model: "nano-banana-pro", input: { prompt: "p", image_input: [] } }));
    assert.deepEqual(t.input.imageUrls, []);
  });

  test("8 image_input URLs (the maximum) are accepted in order, not fetched at create", async () => {
    const urls = Array.from({ length: 8 }, (_, i) => `http://127.0.0.1:9/never-fetched-${i}.png`);
    const t = await stored(await create({ model: "nano-banana-pro", input: { prompt: "p", image_input: urls } }));
    assert.deepEqual(t.input.imageUrls, urls);
  });

  test("a 2048-character URL is accepted", async () => {
    const head = "https://example.com/";
    const u = head + "a".repeat(2048 - head.length);
    const t = await stored(await create({ model: "nano-banana-pro", callBackUrl: u, input: { prompt: "p", image_input: [u] } }));
    assert.equal(t.callbackUrl, u);
    assert.deepEqual(t.input.imageUrls, [u]);
  });
});

describe("enums are exact and every allowed value works (§4.1, §14.3)", () => {
  for (const r of PRO.ratios) {
    test(`aspect_ratio ${r}`, async () =>
      assert.equal(
        (await stored(await create({ model: "nano-banana-pro", input: { prompt: "p", aspect_ratio: r } }))).input.aspectRatio,
        r,
      ));
  }
  for (const r of PRO.resolutions!) {
    test(`resolution ${r}`, async () => {
      const t = await stored(await create({ model: "nano-banana-pro", input: { prompt: "p", resolution: r } }));
      assert.equal(t.input.resolution, r);
      assert.equal(t.price, r === "4K" ? 24 : 18);
    });
  }
  test("output_format png and jpg, and jpeg as jpg (param keeps what was sent)", async () => {
    assert.equal(
      (await stored(await create({ model: "nano-banana-pro", input: { prompt: "p", output_format: "png" } }))).input.outputFormat,
      "png",
    );
    assert.equal(
      (await stored(await create({ model: "nano-banana-pro", input: { prompt: "p", output_format: "jpg" } }))).input.outputFormat,
      "jpeg",
    );
    const jpeg = await stored(await create({ model: "nano-banana-pro", input: { prompt: "p", output_format: "jpeg" } }));
    assert.equal(jpeg.input.outputFormat, "jpeg");
    assert.equal(JSON.parse(jpeg.param).input.output_format, "jpeg");
    // and the older models' `jpeg` takes `jpg` too
    const flash = await stored(await create({ model: "google/nano-banana", input: { prompt: "p", output_format: "jpg" } }));
    assert.equal(flash.input.outputFormat, "jpeg");
  });
});

describe("prompt length limit is 10,000 UTF-16 units (§4.1)", () => {
  test("exactly 10,000 characters is accepted", async () => {
    const prompt = "a".repeat(10_000);
    assert.equal((await stored(await create({ model: "nano-banana-pro", input: { prompt } }))).input.prompt, prompt);
  });
  test("5,000 emoji (10,000 UTF-16 units) is accepted", async () => {
    const prompt = "😀".repeat(5_000);
    assert.equal(prompt.length, 10_000);
    assert.equal((await stored(await create({ model: "nano-banana-pro", input: { prompt } }))).input.prompt, prompt);
  });
  test("a prompt with surrounding whitespace is kept as sent", async () => {
    assert.equal((await stored(await create({ model: "nano-banana-pro", input: { prompt: "  p  " } }))).input.prompt, "  p  ");
  });
});

describe("unknown fields are ignored (§14.2)", () => {
  test("unknown top-level and input fields, including seed/n/negative_prompt", async () => {
    const body = {
      model: "nano-banana-pro",
      extra: { nested: true },
      input: { prompt: "p", seed: 42, n: 4, num_images: 2, negative_prompt: "blurry", google_search: true },
    };
    const t = await stored(await create(body));
    assert.deepEqual(t.input, { prompt: "p", imageUrls: [], aspectRatio: "1:1", resolution: "1K", outputFormat: "png" });
  });

  test("a misspelt image_urls yields a plain text-to-image task", async () => {
    const t = await stored(
      await create({ model: "nano-banana-pro", input: { prompt: "p", image_urls: ["https://example.com/a.png"] } }),
    );
    assert.deepEqual(t.input.imageUrls, []);
  });
});

describe("content types (§1): the body is JSON whatever the header says", () => {
  const raw = JSON.stringify({ model: "nano-banana-pro", input: { prompt: "no content type" } });
  test("no Content-Type header", async () => {
    // A Buffer body makes fetch send no Content-Type at all (a string would add text/plain).
    const res = await fetch(peel.url + PATH, {
      method: "POST",
      headers: { authorization: `Bearer ${peel.key}` },
      body: Buffer.from(raw),
    });
    const json = (await res.json()) as any;
    assert.equal(res.status, 200);
    assert.equal(json.code, 200, JSON.stringify(json));
    assert.equal((await stored(json.data.taskId)).input.prompt, "no content type");
  });
  test("text/plain", async () => {
    const id = await create(undefined, { raw, headers: { "content-type": "text/plain" } });
    assert.equal((await stored(id)).input.prompt, "no content type");
  });
  test("application/json with a charset", async () => {
    await create(undefined, { raw, headers: { "content-type": "application/json; charset=utf-8" } });
  });
  test("application/x-www-form-urlencoded holding JSON", async () => {
    await create(undefined, { raw, headers: { "content-type": "application/x-www-form-urlencoded" } });
  });
  test("a leading UTF-8 byte order mark is ignored", async () => {
    const id = await create(undefined, { raw: "\uFEFF" + raw, headers: { "content-type": "application/json" } });
    assert.equal((await stored(id)).input.prompt, "no content type");
  });
  test("a body of exactly 1 MiB is accepted (only over 1 MiB is too large)", async () => {
    const shell = JSON.stringify({ model: "nano-banana-pro", input: { prompt: "big", pad: "" } });
    const body = JSON.stringify({
      model: "nano-banana-pro",
      input: { prompt: "big", pad: "x".repeat(1024 * 1024 - shell.length) },
    });
    assert.equal(Buffer.byteLength(body), 1024 * 1024);
    assert.equal(
      (await stored(await create(undefined, { raw: body, headers: { "content-type": "application/json" } }))).input.prompt,
      "big",
    );
  });
  test("UTF-8 prompt text round-trips", async () => {
    const prompt = "灯台の夕暮れ — ñ, ü, 😀";
    assert.equal((await stored(await create({ model: "nano-banana-pro", input: { prompt } }))).input.prompt, prompt);
  });
});

describe("param is the body as received (§5.1)", () => {
  test("model and input as sent, no callBackUrl when not sent, no defaults, no unknown top-level fields", async () => {
    const input = { prompt: "p", seed: 7, image_urls: ["x"], aspect_ratio: null };
    const id = await create({ extra: 1, model: "nano-banana-pro", input });
    const rec = await record(id);
    assert.equal(typeof rec.param, "string");
    assert.equal(rec.param, JSON.stringify({ model: "nano-banana-pro", input }));
    assert.equal("callBackUrl" in JSON.parse(rec.param), false);
  });

  test("callBackUrl appears when sent, even as null or empty", async () => {
    for (const cb of ["https://app.example.org/hooks/kie", "", null]) {
      const body = { model: "nano-banana-pro", callBackUrl: cb, input: { prompt: "p", resolution: "2K" } };
      const rec = await record(await create(body));
      assert.equal(rec.param, JSON.stringify(body));
    }
  });

  test("input stays a nested object (not a re-encoded string)", async () => {
    const rec = await record(await create({ model: "nano-banana-pro", input: { prompt: "p" } }));
    assert.deepEqual(JSON.parse(rec.param).input, { prompt: "p" });
  });
});

describe("the task is readable at once, as waiting (§5.3)", () => {
  test("recordInfo right after create", async () => {
    const before = Date.now();
    const id = await create({ model: "nano-banana-pro", input: { prompt: "p" } });
    const rec = await record(id);
    assert.equal(rec.taskId, id);
    assert.equal(rec.model, "nano-banana-pro");
    assert.equal(rec.state, "waiting");
    assert.equal(rec.resultJson, "");
    assert.equal(rec.failCode, "");
    assert.equal(rec.failMsg, "");
    assert.equal(rec.costTime, 0);
    assert.equal(rec.completeTime, null);
    assert.equal(rec.consumeCredits, 0);
    assert.equal(rec.creditsConsumed, 0);
    for (const k of ["createTime", "updateTime"]) {
      assert.ok(Number.isInteger(rec[k]), `${k} is an integer`);
      // milliseconds, not seconds
      assert.ok(rec[k] >= before - 5_000 && rec[k] <= Date.now() + 5_000, `${k}=${rec[k]} is a ms timestamp`);
    }
    assert.equal(rec.updateTime, rec.createTime);
  });

  test("updateTime does not move while the state does not", async () => {
    const id = await create({ model: "nano-banana-pro", input: { prompt: "p" } });
    const a = await record(id);
    await new Promise((r) => setTimeout(r, 30));
    const b = await record(id);
    assert.equal(b.state, a.state);
    assert.equal(b.updateTime, a.updateTime);
  });

  test("the price is held at create: chat/credit drops by the price", async () => {
    const key = await peel.newKey({ credits: 100 });
    assert.equal((await peel.api("GET", "/api/v1/chat/credit", undefined, { key: key.key })).json.data, 100);
    const res = await peel.api(
      "POST",
      PATH,
      { model: "nano-banana-pro", input: { prompt: "p", resolution: "4K" } },
      { key: key.key },
    );
    assert.equal(res.json.code, 200);
    assert.equal((await peel.api("GET", "/api/v1/chat/credit", undefined, { key: key.key })).json.data, 76);
  });

  test("identical requests create separate tasks", async () => {
    const body = { model: "nano-banana-pro", input: { prompt: "same" } };
    const a = await create(body);
    const b = await create(body);
    assert.notEqual(a, b);
  });
});

describe("the legacy playground path behaves identically (§14.11)", () => {
  test("create on /playground, read on both paths", async () => {
    const body = {
      model: "nano-banana-pro",
      callBackUrl: "https://app.example.org/h",
      input: { prompt: "legacy", aspect_ratio: "16:9" },
    };
    const id = await create(body, { path: "/api/v1/playground/createTask" });
    const t = await stored(id);
    assert.deepEqual(t.input, { prompt: "legacy", imageUrls: [], aspectRatio: "16:9", resolution: "1K", outputFormat: "png" });
    const a = await record(id, "/api/v1/jobs");
    const b = await record(id, "/api/v1/playground");
    assert.deepEqual(a, b);
    assert.equal(a.param, JSON.stringify(body));
  });
});
