import assert from "node:assert/strict";
import { test } from "node:test";
import { configWarnings, isLoopbackHost } from "../src/config-warnings.js";
import { ConfigError, loadConfig } from "../src/config.js";
import { MODELS } from "../src/domain/models.js";
import { DEFAULT_PRICES, priceOf, priceTableProblems } from "../src/domain/prices.js";

// Issue 9: prices, Google model ids, callback policy lists and the start-up warnings of the config.

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  return [];
}

test("default prices are kie's: nano-banana-2 8/12/18, lite 4, pro 18/18/24, the google/ models 4", () => {
  const { prices } = loadConfig({}).billing;
  const p = (model: string, res: string | null) => priceOf(prices, model, res);
  assert.deepEqual([p("nano-banana-2", "1K"), p("nano-banana-2", "2K"), p("nano-banana-2", "4K")], [8, 12, 18]);
  assert.equal(p("nano-banana-2-lite", "1K"), 4);
  assert.deepEqual([p("nano-banana-pro", "1K"), p("nano-banana-pro", "2K"), p("nano-banana-pro", "4K")], [18, 18, 24]);
  assert.equal(p("google/nano-banana", null), 4);
  assert.equal(p("google/nano-banana-edit", null), 4);
});

test("every model peel serves has a default price at every resolution it accepts", () => {
  assert.deepEqual(priceTableProblems(DEFAULT_PRICES), []);
  for (const m of MODELS)
    for (const r of m.resolutions ?? [null]) assert.ok(priceOf(DEFAULT_PRICES, m.id, r) > 0, `${m.id} ${r}`);
});

test("PEEL_PRICES overrides single entries and keeps the rest", () => {
  const { prices } = loadConfig({
    PEEL_PRICES: JSON.stringify({ "nano-banana-2": { "4K": 30 }, "google/nano-banana": { "*": 0 } }),
  }).billing;
  assert.deepEqual(prices["nano-banana-2"], { "1K": 8, "2K": 12, "4K": 30 });
  assert.equal(priceOf(prices, "google/nano-banana", null), 0);
  assert.equal(priceOf(prices, "nano-banana-2-lite", "1K"), 4);
});

test("a price for a model or resolution peel does not serve is a configuration error", () => {
  const problems = problemsOf({
    PEEL_PRICES: JSON.stringify({ "nano-banana2": { "1K": 5 }, "nano-banana-2-lite": { "2K": 6 } }),
  });
  assert.equal(problems.length, 2, problems.join("\n"));
  assert.ok(problems.some((p) => /PEEL_PRICES: nano-banana2 is not a model peel serves/.test(p)));
  assert.ok(problems.some((p) => /PEEL_PRICES: nano-banana-2-lite has no resolution 2K/.test(p)));
});

test("a model missing from the price table is reported, and priceOf never makes it free", () => {
  const { "nano-banana-2-lite": _lite, ...withoutLite } = DEFAULT_PRICES;
  assert.deepEqual(priceTableProblems(withoutLite), ["nano-banana-2-lite has no price for 1K"]);
  const { "4K": _4k, ...pro } = DEFAULT_PRICES["nano-banana-pro"];
  assert.deepEqual(priceTableProblems({ ...DEFAULT_PRICES, "nano-banana-pro": pro }), ["nano-banana-pro has no price for 4K"]);
  assert.throws(() => priceOf(withoutLite, "nano-banana-2-lite", "1K"), /no price for nano-banana-2-lite at 1K/);
});

test("Google models: the retired gemini-2.5-flash-image is replaced, lite has its own, overrides apply", () => {
  const models = loadConfig({}).gemini.models;
  assert.deepEqual(models, {
    "nano-banana-pro": "gemini-3-pro-image",
    "google/nano-banana": "gemini-3.1-flash-image",
    "google/nano-banana-edit": "gemini-3.1-flash-image",
    "nano-banana-2": "gemini-3.1-flash-image",
    "nano-banana-2-lite": "gemini-3.1-flash-lite-image",
  });
  const over = loadConfig({ PEEL_GOOGLE_MODELS: JSON.stringify({ "nano-banana-2-lite": "gemini-3.2-flash-lite-image" }) });
  assert.equal(over.gemini.models["nano-banana-2-lite"], "gemini-3.2-flash-lite-image");
  assert.match(
    problemsOf({ PEEL_GOOGLE_MODELS: '{"nano-banana-3":"x"}' }).join(),
    /nano-banana-3 is not a kie model peel serves/,
  );
});

test("callback policy lists: default deny *.kie.ai, `none` empties a list, bad entries are listed", () => {
  const c = loadConfig({});
  assert.deepEqual([c.callbacks.allow, c.callbacks.deny], [[], ["*.kie.ai"]]);
  const set = loadConfig({ PEEL_CALLBACK_DENY: "*", PEEL_CALLBACK_ALLOW: "hooks.example.com, 10.0.0.0/8,*.example.org,::1" });
  assert.deepEqual(set.callbacks.deny, ["*"]);
  assert.deepEqual(set.callbacks.allow, ["hooks.example.com", "10.0.0.0/8", "*.example.org", "::1"]);
  assert.deepEqual(loadConfig({ PEEL_CALLBACK_DENY: "none" }).callbacks.deny, []);
  const problems = problemsOf({ PEEL_CALLBACK_DENY: "10.0.0.0/33,ok.example", PEEL_CALLBACK_ALLOW: "https://x.example/,a b" });
  assert.equal(problems.length, 3, problems.join("\n"));
  assert.match(problems[0], /PEEL_CALLBACK_ALLOW: "https:\/\/x.example\/" is not a host name/);
  assert.match(problems[2], /PEEL_CALLBACK_DENY: "10.0.0.0\/33"/);
});

test("start-up warnings: a retired Google id names its replacement and date; public http off loopback", () => {
  assert.deepEqual(configWarnings(loadConfig({})), []);
  assert.deepEqual(configWarnings(loadConfig({ PEEL_PUBLIC_URL: "https://peel.example.com" })), []);
  assert.deepEqual(configWarnings(loadConfig({ PEEL_PUBLIC_URL: "http://127.0.0.1:8080" })), []);
  const w = configWarnings(
    loadConfig({
      PEEL_GEMINI_MODEL: "gemini-3-pro-image-preview",
      PEEL_GOOGLE_MODELS: JSON.stringify({ "google/nano-banana": "models/gemini-2.5-flash-image" }),
      PEEL_PUBLIC_URL: "http://peel.example.com:8080",
    }),
  );
  assert.equal(w.length, 3, w.join("\n"));
  assert.match(
    w[0],
    /nano-banana-pro is set to call gemini-3-pro-image-preview .* retired on 2026-06-25.*use gemini-3-pro-image /,
  );
  assert.match(
    w[1],
    /google\/nano-banana is set to call models\/gemini-2.5-flash-image .* 2026-10-02.*use gemini-3.1-flash-image/,
  );
  assert.match(w[2], /PEEL_PUBLIC_URL=http:\/\/peel.example.com:8080 is plain http.*docs\/deploy.md/);
  for (const h of ["localhost", "app.localhost", "127.0.0.1", "127.9.9.9", "[::1]"]) assert.ok(isLoopbackHost(h), h);
  for (const h of ["peel.example.com", "10.0.0.1", "0.0.0.0", "192.168.1.2"]) assert.ok(!isLoopbackHost(h), h);
});
