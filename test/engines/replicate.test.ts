import assert from "node:assert/strict";
import { after, before, beforeEach, test } from "node:test";
import { ReplicateRelayEngine, type ReplicateRelayOptions } from "../../src/engines/replicate.js";
import { failureOf, type UpstreamOutcome } from "../../src/errors.js";
import type { GuardedClient } from "../../src/net/guarded-fetch.js";
import { until } from "../helpers/polling.js";
import { startFakeReplicate, type FakeReplicate } from "../fakes/fake-replicate.js";
import { failsWith, formatOf, inputImage, relayRequest, testClient } from "./relay-helpers.js";

/** The Replicate relay against a fake of Replicate's API: Prefer: wait, polling, the Files API, failures. */

let fake: FakeReplicate;
let client: GuardedClient;
before(async () => {
  fake = await startFakeReplicate();
  client = testClient();
});
after(async () => {
  await client.close();
  await fake.close();
});
beforeEach(() => fake.reset());

const engine = (over: Partial<ReplicateRelayOptions> = {}) =>
  new ReplicateRelayEngine({
    baseUrl: fake.url,
    apiKey: "r8_test_token",
    client,
    attemptTimeoutMs: 10_000,
    attemptTimeout4kMs: 20_000,
    pollDelaysMs: [5, 5, 10],
    routeName: "replicate",
    ...over,
  });
const signal = () => new AbortController().signal;
const pro = (over: Parameters<typeof relayRequest>[0] = {}) => relayRequest({ upstreamModel: "google/nano-banana-pro", ...over });

test("Prefer: wait returns a finished prediction; its output is downloaded in the requested format", async () => {
  const out = await engine().generate(pro({ outputFormat: "jpeg" }), signal());
  assert.equal(await formatOf(out.bytes), "jpeg");
  const create = fake.requests[0];
  assert.equal(create.path, "/v1/models/google/nano-banana-pro/predictions");
  assert.equal(create.prefer, "wait=60");
  assert.equal(create.authorized, true);
  assert.deepEqual(create.body, {
    input: {
      prompt: "A paper-cut diorama of a lighthouse at dusk",
      output_format: "jpg",
      aspect_ratio: "16:9",
      resolution: "2K",
    },
  });
  assert.equal(fake.requests.length, 1, "no polling needed");
});

test("a slower prediction is polled on urls.get until it succeeds", async () => {
  fake.enqueue("async");
  const out = await engine().generate(pro(), signal());
  assert.equal(await formatOf(out.bytes), "png");
  assert.ok(fake.requests.filter((r) => r.method === "GET" && r.path.startsWith("/v1/predictions/")).length >= 2);
  fake.enqueue("data_url");
  assert.equal(await formatOf((await engine().generate(pro(), signal())).bytes), "png", "a data URL output works too");
});

test("inputs are uploaded with the Files API and passed as image_input; auto follows the inputs", async () => {
  const images = [await inputImage("https://client.example/a.png"), await inputImage("https://client.example/b.jpg", "jpeg")];
  await engine().generate(pro({ images, aspectRatio: "auto", resolution: "4K" }), signal());
  const uploads = fake.requests.filter((r) => r.path === "/v1/files");
  assert.equal(uploads.length, 2);
  assert.match(uploads[0].contentType!, /^multipart\/form-data; boundary=/);
  const [, second] = [...fake.files.values()];
  assert.deepEqual([second.name, second.type], ["0123456789abcdef0123456789abcdef-2.jpg", "image/jpeg"]);
  const create = fake.requests.find((r) => r.path.endsWith("/predictions"))!;
  assert.equal(create.body.input.image_input.length, 2);
  assert.equal(create.body.input.aspect_ratio, "match_input_image");
  // without inputs, auto leaves the ratio to the model; google/nano-banana has no resolution
  fake.reset();
  await engine().generate(
    relayRequest({ model: "google/nano-banana", upstreamModel: "google/nano-banana", aspectRatio: "auto", resolution: null }),
    signal(),
  );
  assert.deepEqual(Object.keys(fake.requests[0].body.input).sort(), ["output_format", "prompt"]);
  // google_search reaches nano-banana-2, which has it
  fake.reset();
  await engine().generate(relayRequest({ upstreamModel: "google/nano-banana-2", googleSearch: true }), signal());
  assert.equal(fake.requests[0].body.input.google_search, true);
});

test("every failure maps to its outcome class", async () => {
  const cases: Array<[string, UpstreamOutcome, string?]> = [
    ["http_402", "billing"],
    ["http_429", "rate_limited"],
    ["http_500", "server_error"],
    ["http_503", "overloaded"],
    ["fail_sensitive", "content_policy", "The generated image was blocked by the content policy"],
    ["fail_generic", "server_error"],
    ["fail_no_image", "no_image"],
    ["canceled", "server_error"],
    ["aborted", "overloaded"],
  ];
  for (const [scenario, outcome, failMsg] of cases) {
    fake.enqueue(scenario);
    const err = await failsWith(engine().generate(pro(), signal()), outcome);
    assert.ok(!err.message.includes("r8_test_token"));
    if (failMsg) assert.equal(failureOf(err).failMsg, failMsg, scenario);
  }
  fake.enqueue("http_429");
  assert.equal((await failsWith(engine().generate(pro(), signal()), "rate_limited")).retryAfterMs, 30_000, "resets in ~30s");
  await failsWith(engine({ apiKey: "r8_wrong" }).generate(pro(), signal()), "auth");
  await failsWith(engine().generate(pro({ upstreamModel: "google/nano-banana-9" }), signal()), "unknown_model");
  fake.enqueue("upload_413");
  const big = await failsWith(
    engine().generate(pro({ images: [await inputImage("https://client.example/huge.png")] }), signal()),
    "bad_input",
  );
  assert.equal(big.failMsg, "Invalid image_input: https://client.example/huge.png");
});

test("polling rides out 5xx; on abort or timeout the prediction is canceled upstream", async () => {
  fake.enqueue("poll_500:3");
  assert.equal((await engine().generate(pro(), signal())).format, "png");

  fake.enqueue("hang");
  const ctl = new AbortController();
  const reason = new Error("deadline");
  setTimeout(() => ctl.abort(reason), 50);
  await assert.rejects(engine().generate(pro(), ctl.signal), (e) => e === reason);
  await until("the cancel call", 5_000, async () => fake.requests.some((r) => r.path.endsWith("/cancel")));

  fake.reset();
  fake.enqueue("hang");
  assert.equal((await failsWith(engine({ attemptTimeoutMs: 150 }).generate(pro(), signal()), "timeout")).retryOnce, true);
  await until("the cancel call", 5_000, async () => fake.requests.some((r) => r.path.endsWith("/cancel")));
});
