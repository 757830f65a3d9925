import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startPeel, type TestPeel } from "../helpers/harness.js";
import { assertKieError } from "./kie-endpoints.js";

/**
 * createTask refusals (docs/kie-contract.md §4.2, §4.3, §14.1/3/4/9): every validation row with its exact
 * msg, in table order, first error only; body parsing; HTTP 200 for business errors. Nothing
 * refused here is stored or charged.
 */

let peel: TestPeel;
before(async () => {
  // Workers off: a refused request must not leave anything behind, and we count tasks directly.
  peel = await startPeel({ background: false, env: { PEEL_CREATE_LIMIT: "0" } });
});
after(() => peel.close());

const PATH = "/api/v1/jobs/createTask";
const good = () => ({ model: "nano-banana-pro", input: { prompt: "a lighthouse at dusk" } });
const withInput = (input: Record<string, unknown>) => ({ model: "nano-banana-pro", input: { prompt: "p", ...input } });
const longUrl = (n: number) => {
  const head = "https://example.com/";
  return head + "a".repeat(n - head.length);
};

async function taskCount(accountId = peel.account.id): Promise<number> {
  const counts = await peel.runtime.store.countTasks({ accountId });
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

async function expectRefused(body: unknown, msg: string, opts: { raw?: string; headers?: Record<string, string> } = {}) {
  const res =
    opts.raw !== undefined
      ? await peel.api("POST", PATH, undefined, { raw: opts.raw, headers: opts.headers })
      : await peel.api("POST", PATH, body, { headers: opts.headers });
  assertKieError(res, 422, msg);
  assert.equal(await taskCount(), 0, "a refused request stored a task");
}

// Each row: [what, body, msg]. Grouped by §4.3 row number.
const ROWS: Array<[string, unknown, string]> = [
  // 1
  ["model absent", { input: { prompt: "p" } }, "model is required"],
  ["model null", { model: null, input: { prompt: "p" } }, "model is required"],
  ['model ""', { model: "", input: { prompt: "p" } }, "model is required"],
  // 2
  ["model unknown", { model: "nano-banana-ultra", input: { prompt: "p" } }, "The model name you specified is not supported"],
  [
    "model with google/ prefix",
    { model: "google/nano-banana-pro", input: { prompt: "p" } },
    "The model name you specified is not supported",
  ],
  ["model upper-case", { model: "Nano-Banana-Pro", input: { prompt: "p" } }, "The model name you specified is not supported"],
  ["model a number", { model: 123, input: { prompt: "p" } }, "The model name you specified is not supported"],
  [
    "model an object",
    { model: { id: "nano-banana-pro" }, input: { prompt: "p" } },
    "The model name you specified is not supported",
  ],
  ["model an array", { model: ["nano-banana-pro"], input: { prompt: "p" } }, "The model name you specified is not supported"],
  ["model false", { model: false, input: { prompt: "p" } }, "The model name you specified is not supported"],
  // 3
  ["callBackUrl ftp://", { ...good(), callBackUrl: "ftp://example.com/hook" }, "callBackUrl format is invalid"],
  ["callBackUrl relative", { ...good(), callBackUrl: "/hooks/kie" }, "callBackUrl format is invalid"],
  ["callBackUrl no scheme", { ...good(), callBackUrl: "example.com/hook" }, "callBackUrl format is invalid"],
  ["callBackUrl > 2048 chars", { ...good(), callBackUrl: longUrl(2049) }, "callBackUrl format is invalid"],
  ["callBackUrl a number", { ...good(), callBackUrl: 42 }, "callBackUrl format is invalid"],
  ["callBackUrl an object", { ...good(), callBackUrl: { url: "https://example.com" } }, "callBackUrl format is invalid"],
  ["callBackUrl javascript:", { ...good(), callBackUrl: "javascript:alert(1)" }, "callBackUrl format is invalid"],
  // 4
  ["input missing", { model: "nano-banana-pro" }, "input is required"],
  ["input null", { model: "nano-banana-pro", input: null }, "input is required"],
  ["input an array", { model: "nano-banana-pro", input: [{ prompt: "p" }] }, "input is required"],
  ["input a string", { model: "nano-banana-pro", input: '{"prompt":"p"}' }, "input is required"],
  ["input a number", { model: "nano-banana-pro", input: 1 }, "input is required"],
  // 5
  ["prompt missing", { model: "nano-banana-pro", input: {} }, "prompt is required"],
  ["prompt null", { model: "nano-banana-pro", input: { prompt: null } }, "prompt is required"],
  ['prompt ""', { model: "nano-banana-pro", input: { prompt: "" } }, "prompt is required"],
  ["prompt whitespace only", { model: "nano-banana-pro", input: { prompt: "   " } }, "prompt is required"],
  ["prompt tabs and newlines", { model: "nano-banana-pro", input: { prompt: "\t\n \r\n" } }, "prompt is required"],
  // 6
  ["prompt a number", { model: "nano-banana-pro", input: { prompt: 123 } }, "prompt format is invalid"],
  ["prompt an array", { model: "nano-banana-pro", input: { prompt: ["p"] } }, "prompt format is invalid"],
  ["prompt an object", { model: "nano-banana-pro", input: { prompt: { text: "p" } } }, "prompt format is invalid"],
  ["prompt true", { model: "nano-banana-pro", input: { prompt: true } }, "prompt format is invalid"],
  // 7
  [
    "prompt 10001 chars",
    { model: "nano-banana-pro", input: { prompt: "a".repeat(10_001) } },
    "The text length cannot exceed the maximum limit",
  ],
  // 5001 emoji = 10002 UTF-16 units (the limit counts JS string.length, not code points)
  [
    "prompt 5001 emoji (10002 UTF-16 units)",
    { model: "nano-banana-pro", input: { prompt: "😀".repeat(5001) } },
    "The text length cannot exceed the maximum limit",
  ],
  // 8
  ["image_input a string", withInput({ image_input: "https://example.com/a.png" }), "image_input format is invalid"],
  ["image_input an object", withInput({ image_input: { 0: "https://example.com/a.png" } }), "image_input format is invalid"],
  ["image_input a number", withInput({ image_input: 1 }), "image_input format is invalid"],
  // 9
  [
    "image_input 9 items",
    withInput({ image_input: Array.from({ length: 9 }, (_, i) => `https://example.com/${i}.png`) }),
    "image_input cannot contain more than 8 items",
  ],
  // 10
  ["image_input item not a URL", withInput({ image_input: ["not a url"] }), "image_input format is invalid"],
  ["image_input item relative", withInput({ image_input: ["/files/a.png"] }), "image_input format is invalid"],
  ["image_input item ftp", withInput({ image_input: ["ftp://example.com/a.png"] }), "image_input format is invalid"],
  ["image_input item a number", withInput({ image_input: [1] }), "image_input format is invalid"],
  ["image_input item null", withInput({ image_input: [null] }), "image_input format is invalid"],
  ['image_input item ""', withInput({ image_input: [""] }), "image_input format is invalid"],
  ["image_input item > 2048 chars", withInput({ image_input: [longUrl(2049)] }), "image_input format is invalid"],
  [
    "image_input second item bad",
    withInput({ image_input: ["https://example.com/a.png", "nope"] }),
    "image_input format is invalid",
  ],
  // 11
  ["aspect_ratio 16x9", withInput({ aspect_ratio: "16x9" }), "aspect_ratio is not within the range of allowed options"],
  ["aspect_ratio AUTO", withInput({ aspect_ratio: "AUTO" }), "aspect_ratio is not within the range of allowed options"],
  [
    "aspect_ratio 1:4 (nano-banana-2 only)",
    withInput({ aspect_ratio: "1:4" }),
    "aspect_ratio is not within the range of allowed options",
  ],
  ['aspect_ratio ""', withInput({ aspect_ratio: "" }), "aspect_ratio is not within the range of allowed options"],
  ["aspect_ratio a number", withInput({ aspect_ratio: 1 }), "aspect_ratio is not within the range of allowed options"],
  ["aspect_ratio an array", withInput({ aspect_ratio: ["1:1"] }), "aspect_ratio is not within the range of allowed options"],
  ["aspect_ratio padded", withInput({ aspect_ratio: " 1:1" }), "aspect_ratio is not within the range of allowed options"],
  // 12
  ["resolution 1k", withInput({ resolution: "1k" }), "resolution is not within the range of allowed options"],
  ["resolution 8K", withInput({ resolution: "8K" }), "resolution is not within the range of allowed options"],
  ["resolution 1024", withInput({ resolution: 1024 }), "resolution is not within the range of allowed options"],
  ['resolution ""', withInput({ resolution: "" }), "resolution is not within the range of allowed options"],
  // 13
  ["output_format PNG", withInput({ output_format: "PNG" }), "output_format is not within the range of allowed options"],
  ["output_format JPEG", withInput({ output_format: "JPEG" }), "output_format is not within the range of allowed options"],
  ["output_format webp", withInput({ output_format: "webp" }), "output_format is not within the range of allowed options"],
  ["output_format a number", withInput({ output_format: 1 }), "output_format is not within the range of allowed options"],
];

describe("createTask validation rows (§4.3), exact msg, HTTP 200, body code 422", () => {
  for (const [what, body, msg] of ROWS) {
    test(`${what} → ${msg}`, () => expectRefused(body, msg));
  }
});

describe("only the first failing check answers (§4.3 order, §14.4)", () => {
  // Everything after the named row is also wrong; the earlier rows pass.
  const allBad = {
    callBackUrl: "ftp://x",
    input: { prompt: 5, image_input: "x", aspect_ratio: "16x9", resolution: "1k", output_format: "PNG" },
  };
  const cases: Array<[string, unknown, string]> = [
    ["model missing beats the rest", { ...allBad }, "model is required"],
    ["unknown model beats callBackUrl", { ...allBad, model: "x" }, "The model name you specified is not supported"],
    ["callBackUrl beats input", { ...allBad, model: "nano-banana-pro" }, "callBackUrl format is invalid"],
    [
      "callBackUrl beats a null input",
      { model: "nano-banana-pro", callBackUrl: "ftp://x", input: null },
      "callBackUrl format is invalid",
    ],
    ["input missing beats prompt", { model: "nano-banana-pro", input: "x" }, "input is required"],
    ["prompt type beats image_input", { model: "nano-banana-pro", input: { ...allBad.input } }, "prompt format is invalid"],
    [
      "prompt whitespace beats image_input",
      { model: "nano-banana-pro", input: { ...allBad.input, prompt: "  " } },
      "prompt is required",
    ],
    [
      "prompt too long beats image_input",
      { model: "nano-banana-pro", input: { ...allBad.input, prompt: "a".repeat(10_001) } },
      "The text length cannot exceed the maximum limit",
    ],
    [
      "image_input type beats enums",
      { model: "nano-banana-pro", input: { ...allBad.input, prompt: "p" } },
      "image_input format is invalid",
    ],
    [
      "image_input count beats item format",
      { model: "nano-banana-pro", input: { ...allBad.input, prompt: "p", image_input: Array(9).fill("bad") } },
      "image_input cannot contain more than 8 items",
    ],
    [
      "aspect_ratio beats resolution",
      { model: "nano-banana-pro", input: { ...allBad.input, prompt: "p", image_input: [] } },
      "aspect_ratio is not within the range of allowed options",
    ],
    [
      "resolution beats output_format",
      { model: "nano-banana-pro", input: { ...allBad.input, prompt: "p", image_input: [], aspect_ratio: "1:1" } },
      "resolution is not within the range of allowed options",
    ],
    [
      "output_format last",
      {
        model: "nano-banana-pro",
        input: { ...allBad.input, prompt: "p", image_input: [], aspect_ratio: "1:1", resolution: "4K" },
      },
      "output_format is not within the range of allowed options",
    ],
  ];
  for (const [what, body, msg] of cases) test(what, () => expectRefused(body, msg));
});

describe("body parsing (§4.2 step 4)", () => {
  const NOT_OBJECT = "Request body must be a JSON object";
  test("not JSON", () =>
    expectRefused(undefined, NOT_OBJECT, { raw: "{model: nano-banana-pro", headers: { "content-type": "application/json" } }));
  test("a JSON array", () =>
    expectRefused(undefined, NOT_OBJECT, { raw: JSON.stringify([good()]), headers: { "content-type": "application/json" } }));
  test("a JSON string", () =>
    expectRefused(undefined, NOT_OBJECT, { raw: '"hello"', headers: { "content-type": "application/json" } }));
  test("JSON null", () => expectRefused(undefined, NOT_OBJECT, { raw: "null", headers: { "content-type": "application/json" } }));
  test("empty body with JSON content type", () =>
    expectRefused(undefined, NOT_OBJECT, { raw: "", headers: { "content-type": "application/json" } }));
  test("no body at all", async () => {
    const res = await peel.api("POST", PATH);
    assertKieError(res, 422, NOT_OBJECT);
  });
  test("form-encoded body", () =>
    expectRefused(undefined, NOT_OBJECT, {
      raw: "model=nano-banana-pro&prompt=x",
      headers: { "content-type": "application/x-www-form-urlencoded" },
    }));
  test("body over 1 MiB → Request body is too large", async () => {
    const body = { model: "nano-banana-pro", input: { prompt: "p", padding: "x".repeat(1024 * 1024 + 10) } };
    const res = await peel.api("POST", PATH, body);
    assertKieError(res, 422, "Request body is too large");
  });
  test("body over 1 MiB without a content type → Request body is too large", async () => {
    const raw = JSON.stringify({ model: "nano-banana-pro", input: { prompt: "p", padding: "x".repeat(1024 * 1024 + 10) } });
    const res = await fetch(peel.url + PATH, {
      method: "POST",
      headers: { authorization: `Bearer ${peel.key}` },
      body: Buffer.from(raw),
    });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { code: 422, msg: "Request body is too large", data: null });
  });
  test("a chunked body (no Content-Length) over 1 MiB → Request body is too large", async () => {
    const chunk = new TextEncoder().encode("x".repeat(600_000));
    const stream = new ReadableStream({
      start(c) {
        c.enqueue(chunk);
        c.enqueue(chunk);
        c.close();
      },
    });
    const init = {
      method: "POST",
      headers: { authorization: `Bearer ${peel.key}`, "content-type": "application/json" },
      body: stream,
      duplex: "half",
    };
    const res = await fetch(peel.url + PATH, init as RequestInit);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { code: 422, msg: "Request body is too large", data: null });
  });
  test("the legacy playground path refuses the same way", async () => {
    const res = await peel.api("POST", "/api/v1/playground/createTask", withInput({ resolution: "1k" }));
    assertKieError(res, 422, "resolution is not within the range of allowed options");
    const r2 = await peel.api("POST", "/api/v1/playground/createTask", undefined, {
      raw: "[]",
      headers: { "content-type": "application/json" },
    });
    assertKieError(r2, 422, NOT_OBJECT);
  });
});

describe("statuses other than 200 (§3, §14.1)", () => {
  test("unknown route → HTTP 404 with the kie body", async () => {
    for (const [method, p] of [
      ["GET", "/api/v1/jobs/nope"],
      ["POST", "/api/v1/jobs/recordInfo"],
      ["GET", "/api/v1/jobs/createTask"],
      ["GET", "/nope"],
    ] as const) {
      const res = await peel.api(method, p, method === "POST" ? {} : undefined);
      assertKieError(res, 404, "Not Found", 404);
      assert.ok(res.headers.get("x-request-id"), "x-request-id on a 404");
    }
  });

  test("a business error is HTTP 200 with the JSON content type and a request id", async () => {
    const res = await peel.api("POST", PATH, { model: "x" });
    assertKieError(res, 422, "The model name you specified is not supported");
    assert.match(res.headers.get("x-request-id") ?? "", /\S+/);
  });

  test("402 when the balance is below the price; nothing stored or charged", async () => {
    const poor = await peel.newKey({ credits: 17 });
    const res = await peel.api("POST", PATH, good(), { key: poor.key });
    assertKieError(res, 402, "The current credits are insufficient. Please top up.");
    const credit = await peel.api("GET", "/api/v1/chat/credit", undefined, { key: poor.key });
    assert.deepEqual(credit.json, { code: 200, msg: "success", data: 17 });
    // 4K costs 24: 18 credits are not enough for it either
    const mid = await peel.newKey({ credits: 23 });
    assertKieError(
      await peel.api("POST", PATH, withInput({ resolution: "4K" }), { key: mid.key }),
      402,
      "The current credits are insufficient. Please top up.",
    );
  });

  test("HTTP 429 with Retry-After after 20 creates in 10 s; failed validations count, refused calls do not", async () => {
    // This file runs with the create limit off; a fresh peel has the default 20 / 10 s.
    const limited = await startPeel({ background: false });
    try {
      for (let i = 0; i < 20; i++) {
        const r = await limited.api("POST", PATH, { model: "x" });
        assert.equal(r.json.code, 422, `call ${i + 1}`);
      }
      const res = await limited.api("POST", PATH, good());
      assertKieError(res, 429, "Rate limit exceeded", 429);
      const ra = Number(res.headers.get("retry-after"));
      assert.ok(Number.isInteger(ra) && ra >= 1 && ra <= 10, `Retry-After ${ra}`);
      // the playground alias shares the window
      assertKieError(await limited.api("POST", "/api/v1/playground/createTask", good()), 429, "Rate limit exceeded", 429);
      // another key has its own window
      const other = await limited.newKey();
      assert.equal((await limited.api("POST", PATH, good(), { key: other.key })).json.code, 200);
    } finally {
      await limited.close();
    }
  });
});

describe("nothing refused is charged (§14.9)", () => {
  test("the balance is untouched after the refusals above", async () => {
    const res = await peel.api("GET", "/api/v1/chat/credit");
    assert.deepEqual(res.json, { code: 200, msg: "success", data: 1000 });
  });
});
