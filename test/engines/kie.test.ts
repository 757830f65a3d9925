import assert from "node:assert/strict";
import { after, before, beforeEach, test } from "node:test";
import { KieRelayEngine, type KieRelayOptions } from "../../src/engines/kie.js";
import type { UpstreamOutcome } from "../../src/errors.js";
import type { GuardedClient } from "../../src/net/guarded-fetch.js";
import { startFakeKie, type FakeKie } from "../fakes/fake-kie.js";
import { failsWith, formatOf, inputImage, relayRequest, testClient } from "./relay-helpers.js";

/** The kie relay against a fake kie-compatible API: request shape, polling, uploads, every failure class. */

let fake: FakeKie;
let client: GuardedClient;
before(async () => {
  fake = await startFakeKie();
  client = testClient();
});
after(async () => {
  await client.close();
  await fake.close();
});
beforeEach(() => fake.reset());

const engine = (over: Partial<KieRelayOptions> = {}) =>
  new KieRelayEngine({
    baseUrl: fake.url,
    apiKey: "kie-test-key",
    client,
    attemptTimeoutMs: 10_000,
    attemptTimeout4kMs: 20_000,
    pollDelaysMs: [5, 5, 10],
    routeName: "relay",
    ...over,
  });
const signal = () => new AbortController().signal;

test("text-to-image: createTask with the same model and input, recordInfo polled, the result returned as bytes", async () => {
  const out = await engine().generate(relayRequest(), signal());
  assert.equal(out.format, "png");
  assert.equal(await formatOf(out.bytes), "png");
  assert.deepEqual([out.width, out.height], [48, 32]);
  const create = fake.requests.find((r) => r.path === "/api/v1/jobs/createTask")!;
  assert.equal(create.authorized, true);
  assert.deepEqual(create.body, {
    model: "nano-banana-pro",
    input: {
      prompt: "A paper-cut diorama of a lighthouse at dusk",
      aspect_ratio: "16:9",
      resolution: "2K",
      output_format: "png",
    },
  });
  const polls = fake.requests.filter((r) => r.path.startsWith("/api/v1/jobs/recordInfo"));
  assert.ok(polls.length >= 2, "polled until success");
  assert.ok(!fake.requests.some((r) => r.path.includes("upload")), "no inputs, no uploads");
});

test("inputs are uploaded to the upstream first, and the edit model gets kie's own field names", async () => {
  const images = [await inputImage("https://peel.internal/files/u/a.png"), await inputImage("http://10.0.0.9/b.jpg", "jpeg")];
  const out = await engine().generate(
    relayRequest({
      model: "google/nano-banana-edit",
      upstreamModel: "google/nano-banana-edit",
      images,
      aspectRatio: "auto",
      resolution: null,
      outputFormat: "jpeg",
    }),
    signal(),
  );
  assert.equal(await formatOf(out.bytes), "jpeg");
  const uploads = fake.requests.filter((r) => r.path === "/api/file-base64-upload");
  assert.equal(uploads.length, 2);
  assert.match(uploads[0].body.base64Data, /^data:image\/png;base64,/);
  assert.equal(uploads[1].body.fileName, "0123456789abcdef0123456789abcdef-2.jpg");
  const create = fake.requests.find((r) => r.path === "/api/v1/jobs/createTask")!;
  assert.deepEqual(Object.keys(create.body.input).sort(), ["image_size", "image_urls", "output_format", "prompt"]);
  assert.equal(create.body.input.output_format, "jpeg");
  assert.equal(create.body.input.image_size, "auto");
  assert.deepEqual(create.body.input.image_urls, [...fake.uploads.keys()]);
  // nano-banana-2 / pro spell JPEG "jpg"; google_search goes to the models that have it
  const creates = () => fake.requests.filter((r) => r.path === "/api/v1/jobs/createTask");
  await engine().generate(
    relayRequest({ model: "nano-banana-2", upstreamModel: "nano-banana-2", outputFormat: "jpeg", googleSearch: true }),
    signal(),
  );
  assert.deepEqual([creates()[1].body.input.output_format, creates()[1].body.input.google_search], ["jpg", true]);
  await engine().generate(relayRequest({ googleSearch: true }), signal());
  assert.equal(creates()[2].body.input.google_search, undefined);
  // nano-banana-2-lite has no output_format field
  await engine().generate(
    relayRequest({ model: "nano-banana-2-lite", upstreamModel: "nano-banana-2-lite", resolution: "1K" }),
    signal(),
  );
  assert.equal(creates()[3].body.input.output_format, undefined);
});

test("every failure maps to its outcome class", async () => {
  const cases: Array<[string, UpstreamOutcome, string?]> = [
    ["http_429", "rate_limited"],
    ["code_401", "auth"],
    ["code_402", "billing"],
    ["code_433", "rate_limited"],
    ["code_455", "overloaded"],
    ["code_505", "server_error"],
    ["http_500", "server_error"],
    ["http_502_html", "server_error"],
    ["model_unsupported", "unknown_model"],
    ["bad_field", "bad_input"],
    ["fail_prompt_blocked", "content_policy", "The prompt was blocked by the content policy"],
    ["fail_output_blocked", "content_policy", "The generated image was blocked by the content policy"],
    ["fail_no_image", "no_image", "Generation failed: the model returned no image"],
    ["fail_busy", "overloaded", "Upstream service is busy, please try again later"],
    ["fail_timeout", "timeout"],
    ["fail_internal", "server_error"],
    ["result_404", "server_error"],
  ];
  for (const [scenario, outcome, failMsg] of cases) {
    fake.enqueue(scenario);
    const err = await failsWith(engine().generate(relayRequest(), signal()), outcome);
    assert.ok(!err.message.includes("kie-test-key"), "the key never appears in a message");
    if (failMsg) {
      const { failureOf } = await import("../../src/errors.js");
      assert.equal(failureOf(err).failMsg, failMsg, scenario);
    }
  }
  fake.enqueue("http_429");
  const rl = await failsWith(engine().generate(relayRequest(), signal()), "rate_limited");
  assert.equal(rl.retryAfterMs, 7_000, "Retry-After travels with the 429");
});

test("a rejected input is named by the URL the client sent, not the upstream's copy", async () => {
  fake.enqueue("fail_invalid_input");
  const err = await failsWith(
    engine().generate(relayRequest({ images: [await inputImage("https://client.example/cat.png")] }), signal()),
    "bad_input",
  );
  assert.equal(err.reason, "invalid_input");
  assert.equal(err.failMsg, "Invalid image_input: https://client.example/cat.png");
  fake.enqueue("upload_400");
  const up = await failsWith(
    engine().generate(relayRequest({ images: [await inputImage("https://client.example/dog.png")] }), signal()),
    "bad_input",
  );
  assert.equal(up.failMsg, "Invalid image_input: https://client.example/dog.png");
  fake.enqueue("upload_401");
  await failsWith(engine().generate(relayRequest({ images: [await inputImage("https://x/y.png")] }), signal()), "auth");
  await failsWith(engine({ apiKey: "wrong" }).generate(relayRequest(), signal()), "auth");
});

test("polling rides out 5xx, a read limit and kie.ai's 'recordInfo is null' right after create", async () => {
  for (const s of ["record_500:3", "record_unknown:2", "record_429"]) {
    fake.enqueue(s);
    const out = await engine().generate(relayRequest(), signal());
    assert.equal(out.format, "png", s);
  }
  fake.enqueue("record_500:9");
  await failsWith(engine({ maxPollErrors: 2 }).generate(relayRequest(), signal()), "server_error");
});

test("the caller's abort stops polling at once; the attempt timeout is a timeout (one more try at most)", async () => {
  fake.enqueue("hang");
  const ctl = new AbortController();
  const reason = new Error("deadline");
  const p = engine().generate(relayRequest(), ctl.signal);
  setTimeout(() => ctl.abort(reason), 50);
  await assert.rejects(p, (e) => e === reason);

  fake.enqueue("hang");
  const t = await failsWith(engine({ attemptTimeoutMs: 150 }).generate(relayRequest(), signal()), "timeout");
  assert.equal(t.retryOnce, true);
});

test("an unreachable upstream is a network failure", async () => {
  const dead = engine({ baseUrl: "http://127.0.0.1:9" });
  await failsWith(dead.generate(relayRequest(), signal()), "network");
});
