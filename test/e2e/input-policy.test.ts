import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import sharp from "sharp";
import { startFakeGemini, type FakeGemini } from "../fakes/fake-gemini.js";
import { startPeel, type TestPeel } from "../helpers/harness.js";
import { startServer, tryStartServer, type TestServer } from "../net/servers.js";

// Issue 3: a createTask whose image_input points at loopback, a private address, a metadata
// address, or redirects to one, is accepted (the URL is well-formed) but the task fails with
// docs/kie-contract.md §6.3's `422 Invalid image_input: <url>` — and nothing is fetched: the forbidden
// server sees no request and the fake Google sees no generateContent call.

const png = () =>
  sharp({ create: { width: 16, height: 16, channels: 3, background: "#336699" } })
    .png()
    .toBuffer();

async function rig(t: TestContext, allow: string): Promise<{ peel: TestPeel; fake: FakeGemini }> {
  const fake = await startFakeGemini({ imageMode: "tiny" });
  t.after(() => fake.close());
  const peel = await startPeel({
    env: {
      PEEL_ENGINE: "gemini",
      GEMINI_API_KEY: "test-key",
      PEEL_GEMINI_BASE_URL: fake.url,
      // The harness allows 127.0.0.1 by default; "" means "no exceptions", as in production.
      PEEL_OUTBOUND_ALLOW: allow,
      PEEL_WORKER_CONCURRENCY: "16",
      PEEL_MAX_RUNNING_PER_ACCOUNT: "16",
      // A connection attempt to an unroutable private address would hang this long; the refusals
      // below finish far sooner, which shows no socket was opened.
      PEEL_INPUT_CONNECT_TIMEOUT_MS: "10000",
    },
  });
  t.after(() => peel.close());
  return { peel, fake };
}

async function runWithInputs(peel: TestPeel, key: string, urls: string[]): Promise<any> {
  const created = await peel.api(
    "POST",
    "/api/v1/jobs/createTask",
    { model: "nano-banana-pro", input: { prompt: "edit this", image_input: urls } },
    { key },
  );
  assert.equal(created.json?.code, 200, created.text);
  return peel.waitForTask(created.json.data.taskId, { key, timeoutMs: 15_000 });
}

/** A server that records requests and would happily serve an image. */
async function imageServer(t: TestContext, host = "127.0.0.1"): Promise<TestServer | null> {
  const bytes = await png();
  const s = await tryStartServer((_req, res) => res.writeHead(200, { "content-type": "image/png" }).end(bytes), host);
  if (s) t.after(() => s.close());
  return s;
}

test("image_input at loopback, private, link-local and metadata addresses fails 422 without a fetch", async (t) => {
  const { peel, fake } = await rig(t, "");
  const { key } = await peel.newKey({ credits: 1000, limits: { createMax: 0, readMax: 0 } });
  const v4 = await imageServer(t, "127.0.0.1");
  const v6 = await imageServer(t, "::1");
  assert.ok(v4);

  const urls = [
    `${v4.origin}/x.png`,
    `http://127.0.0.1:${v4.port}/x.png?plus=query#frag`,
    // other spellings of 127.0.0.1: decimal, IPv4-mapped IPv6
    `http://2130706433:${v4.port}/x.png`,
    `http://[::ffff:127.0.0.1]:${v4.port}/x.png`,
    `http://localhost:${v4.port}/x.png`,
    v6 ? `${v6.origin}/x.png` : "http://[::1]/x.png",
    "http://10.0.0.1/x.png",
    "http://172.16.5.4/x.png",
    "http://192.168.0.1/x.png",
    "http://169.254.169.254/latest/meta-data/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://100.64.0.1/x.png",
    "http://[fd00::1]/x.png",
    "http://0.0.0.0/x.png",
  ];
  const started = Date.now();
  const recs = await Promise.all(urls.map((u) => runWithInputs(peel, key, [u])));
  const took = Date.now() - started;
  recs.forEach((rec, i) => {
    // the failMsg carries the URL as the client sent it
    const sent = JSON.parse(rec.param).input.image_input[0];
    assert.equal(rec.state, "fail", urls[i]);
    assert.equal(rec.failCode, "422", urls[i]);
    assert.equal(rec.failMsg, `Invalid image_input: ${sent}`, urls[i]);
    assert.equal(rec.consumeCredits, 0);
  });
  assert.deepEqual(v4.hits, [], "the loopback server was never contacted");
  assert.deepEqual(v6?.hits ?? [], [], "the ::1 server was never contacted");
  assert.equal(fake.requests.length, 0, "no task reached Google");
  assert.ok(took < 5000, `refusals took ${took} ms: something waited on a connection`);
  // held credits all released
  assert.equal((await peel.api("GET", "/api/v1/chat/credit", undefined, { key })).json.data, 1000);
});

test("a redirect from an allowed server to a forbidden one is refused before it is followed", async (t) => {
  // Allow only 127.0.0.1: the allowed server redirects to 127.0.0.2 (loopback, not allowed).
  const { peel, fake } = await rig(t, "127.0.0.1");
  const target = await imageServer(t, "127.0.0.2");
  if (!target) return t.skip("cannot bind 127.0.0.2 here");
  const good = await imageServer(t, "127.0.0.1");
  assert.ok(good);
  const redirector = await startServer((req, res) => {
    const to = req.url === "/hop" ? `${target.origin}/x.png` : "/hop"; // two hops: the second leaves
    res.writeHead(302, { location: to }).end();
  });
  t.after(() => redirector.close());

  const first = `${good.origin}/ok.png`;
  const bad = `${redirector.origin}/start`;
  const rec = await runWithInputs(peel, peel.key, [first, bad]);
  assert.equal(rec.state, "fail");
  assert.equal(rec.failCode, "422");
  assert.equal(rec.failMsg, `Invalid image_input: ${bad}`);
  assert.deepEqual(redirector.hits, ["GET /start", "GET /hop"]);
  assert.deepEqual(target.hits, [], "the forbidden redirect target saw nothing");
  assert.deepEqual(good.hits, ["GET /ok.png"], "inputs are fetched in order; the first was fine");
  assert.equal(fake.requests.length, 0);

  // control: the same allowed server without the redirect succeeds
  const ok = await runWithInputs(peel, peel.key, [first]);
  assert.equal(ok.state, "success", `${ok.failCode} ${ok.failMsg}`);
  assert.equal(fake.requests.length, 1);
  assert.equal(fake.requests[0].body.contents[0].parts[1].inlineData.mimeType, "image/png");
});
