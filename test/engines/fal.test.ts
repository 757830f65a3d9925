import assert from "node:assert/strict";
import { after, before, beforeEach, test } from "node:test";
import { FalRelayEngine, type FalRelayOptions } from "../../src/engines/fal.js";
import { failureOf, type UpstreamOutcome } from "../../src/errors.js";
import type { GuardedClient } from "../../src/net/guarded-fetch.js";
import { startFakeFal, type FakeFal } from "../fakes/fake-fal.js";
import { failsWith, formatOf, inputImage, relayRequest, testClient } from "./relay-helpers.js";

/** The fal relay against a fake of fal's queue API: submit, status, result, download, every failure class. */

let fake: FakeFal;
let client: GuardedClient;
before(async () => {
  fake = await startFakeFal();
  client = testClient();
});
after(async () => {
  await client.close();
  await fake.close();
});
beforeEach(() => fake.reset());

const engine = (over: Partial<FalRelayOptions> = {}) =>
  new FalRelayEngine({
    baseUrl: fake.url,
    apiKey: "fal-test-key",
    client,
    attemptTimeoutMs: 10_000,
    attemptTimeout4kMs: 20_000,
    pollDelaysMs: [5, 5, 10],
    routeName: "fal",
    ...over,
  });
const signal = () => new AbortController().signal;
const pro = (over: Parameters<typeof relayRequest>[0] = {}) => relayRequest({ upstreamModel: "fal-ai/nano-banana-pro", ...over });

test("text-to-image: submit to the app with Key auth, poll the status URL, fetch the result, download", async () => {
  const out = await engine().generate(pro({ outputFormat: "jpeg", resolution: "4K", aspectRatio: "21:9" }), signal());
  assert.equal(await formatOf(out.bytes), "jpeg");
  const [submit, ...rest] = fake.requests;
  assert.equal(submit.path, "/fal-ai/nano-banana-pro");
  assert.equal(submit.authorized, true);
  assert.deepEqual(submit.body, {
    prompt: "A paper-cut diorama of a lighthouse at dusk",
    num_images: 1,
    output_format: "jpeg",
    aspect_ratio: "21:9",
    resolution: "4K",
  });
  const statuses = rest.filter((r) => r.path.endsWith("/status"));
  assert.ok(statuses.length >= 2);
  assert.match(statuses[0].path, /^\/fal-ai\/nano-banana-pro\/requests\/[0-9a-f-]+\/status$/);
  assert.ok(rest.some((r) => /^\/fal-ai\/nano-banana-pro\/requests\/[0-9a-f-]+$/.test(r.path)));
});

test("edit: input images go to the /edit endpoint as data URIs; values an app lacks are left out", async () => {
  const images = [await inputImage("https://client.example/a.png"), await inputImage("https://client.example/b.jpg", "jpeg")];
  const out = await engine().generate(pro({ images, aspectRatio: "auto" }), signal());
  assert.equal(await formatOf(out.bytes), "png");
  const submit = fake.requests[0];
  assert.equal(submit.path, "/fal-ai/nano-banana-pro/edit");
  assert.equal(submit.body.image_urls.length, 2);
  assert.match(submit.body.image_urls[1], /^data:image\/jpeg;base64,/);
  assert.equal(submit.body.aspect_ratio, "auto");

  // google/nano-banana on fal: no resolution field, and no "auto" for text-to-image
  fake.reset();
  await engine().generate(
    relayRequest({ model: "google/nano-banana", upstreamModel: "fal-ai/nano-banana", aspectRatio: "auto", resolution: null }),
    signal(),
  );
  assert.deepEqual(Object.keys(fake.requests[0].body).sort(), ["num_images", "output_format", "prompt"]);
  // nano-banana-2 keeps its extreme ratios
  fake.reset();
  await engine().generate(
    relayRequest({ upstreamModel: "fal-ai/nano-banana-2", aspectRatio: "8:1", resolution: "1K", googleSearch: true }),
    signal(),
  );
  assert.deepEqual([fake.requests[0].body.aspect_ratio, fake.requests[0].body.enable_web_search], ["8:1", true]);
});

test("every failure maps to its outcome class", async () => {
  const cases: Array<[string, UpstreamOutcome, string?]> = [
    ["submit_401", "auth"],
    ["submit_403_locked", "billing"],
    ["submit_429", "rate_limited"],
    ["submit_500", "server_error"],
    ["submit_503", "overloaded"],
    ["submit_content", "content_policy", "The prompt was blocked by the content policy"],
    ["result_content", "content_policy", "The generated image was blocked by the content policy"],
    ["result_500", "server_error"],
    ["result_504", "timeout"],
    ["result_runner", "overloaded"],
    ["no_images", "no_image"],
  ];
  for (const [scenario, outcome, failMsg] of cases) {
    fake.enqueue(scenario);
    const err = await failsWith(engine().generate(pro(), signal()), outcome);
    assert.ok(!err.message.includes("fal-test-key"));
    if (failMsg) assert.equal(failureOf(err).failMsg, failMsg, scenario);
  }
  fake.enqueue("submit_429");
  assert.equal((await failsWith(engine().generate(pro(), signal()), "rate_limited")).retryAfterMs, 5_000);
  await failsWith(engine({ apiKey: "nope" }).generate(pro(), signal()), "auth");
  await failsWith(engine().generate(pro({ upstreamModel: "fal-ai/no-such-app" }), signal()), "unknown_model");
});

test("a rejected input image is named by the client's URL", async () => {
  fake.enqueue("result_image_error");
  const images = [await inputImage("https://client.example/a.png"), await inputImage("https://client.example/b.png")];
  const err = await failsWith(engine().generate(pro({ images }), signal()), "bad_input");
  assert.equal(err.reason, "invalid_input");
  assert.equal(err.failMsg, "Invalid image_input: https://client.example/b.png");
});

test("status polling rides out 5xx; abort and the attempt timeout stop it", async () => {
  fake.enqueue("status_500:3");
  assert.equal((await engine().generate(pro(), signal())).format, "png");
  fake.enqueue("status_500:9");
  await failsWith(engine({ maxPollErrors: 2 }).generate(pro(), signal()), "server_error");

  fake.enqueue("hang");
  const ctl = new AbortController();
  const reason = new Error("canceled by the client");
  setTimeout(() => ctl.abort(reason), 50);
  await assert.rejects(engine().generate(pro(), ctl.signal), (e) => e === reason);
  fake.enqueue("hang");
  assert.equal((await failsWith(engine({ attemptTimeoutMs: 150 }).generate(pro(), signal()), "timeout")).retryOnce, true);
});
