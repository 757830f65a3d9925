import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { ConfigError, loadConfig } from "../../src/config.js";
import { describeRoute } from "../../src/upstreams/config.js";

/** PEEL_UPSTREAMS: parsing, defaults, env: secrets, every problem at once, and the one-route shorthand. */

const ISSUE_EXAMPLE = {
  routes: [
    {
      name: "studio-a",
      kind: "gemini",
      apiKey: "env:GEMINI_KEY_A",
      models: ["nano-banana-pro", "nano-banana-2"],
      priority: 1,
      weight: 2,
      limits: { rpm: 20, rpd: 250, concurrency: 4 },
    },
    { name: "vertex-global", kind: "vertex", project: "my-project", location: "global", priority: 1 },
    { name: "kie", kind: "kie", baseUrl: "https://api.kie.ai", apiKey: "env:KIE_API_KEY", priority: 2 },
    { name: "fal", kind: "fal", apiKey: "env:FAL_KEY", priority: 3 },
    { name: "replicate", kind: "replicate", apiKey: "env:REPLICATE_API_TOKEN", priority: 3 },
  ],
};
const SECRETS = { GEMINI_KEY_A: "AIza-a", KIE_API_KEY: "kie-secret", FAL_KEY: "fal-secret", REPLICATE_API_TOKEN: "r8_secret" };

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.problems;
  }
  assert.fail("expected a ConfigError");
}

test("the issue's example parses: defaults filled in, env: secrets resolved from the env given", () => {
  const c = loadConfig({ ...SECRETS, PEEL_UPSTREAMS: JSON.stringify(ISSUE_EXAMPLE) });
  assert.equal(c.upstreams.source, "PEEL_UPSTREAMS");
  const [a, v, kie, fal, rep] = c.upstreams.routes;
  assert.deepEqual(
    c.upstreams.routes.map((r) => [r.name, r.kind, r.priority, r.weight]),
    [
      ["studio-a", "gemini", 1, 2],
      ["vertex-global", "vertex", 1, 1],
      ["kie", "kie", 2, 1],
      ["fal", "fal", 3, 1],
      ["replicate", "replicate", 3, 1],
    ],
  );
  assert.equal(a.apiKey, "AIza-a");
  assert.deepEqual(a.models, ["nano-banana-pro", "nano-banana-2"]);
  assert.deepEqual(a.modelIds, { "nano-banana-pro": "gemini-3-pro-image", "nano-banana-2": "gemini-3.1-flash-image" });
  assert.deepEqual(a.limits, { rpm: 20, rpd: 250, concurrency: 4 });
  assert.equal(a.baseUrl, null);
  // vertex: project, no key, every Google model
  assert.deepEqual(v.vertex, { project: "my-project", location: "global", accessToken: null });
  assert.equal(v.apiKey, null);
  assert.ok(v.models.includes("google/nano-banana-edit"));
  assert.deepEqual(v.limits, { rpm: null, rpd: null, concurrency: null });
  // kie: same model ids upstream; kie.ai's uploads are on their own origin
  assert.equal(kie.apiKey, "kie-secret");
  assert.equal(kie.modelIds["nano-banana-pro"], "nano-banana-pro");
  assert.equal(kie.uploadUrl, "https://kieai.redpandaai.co");
  // fal and replicate: their own ids for every model they carry
  assert.equal(fal.modelIds["nano-banana-pro"], "fal-ai/nano-banana-pro");
  assert.equal(fal.modelIds["google/nano-banana-edit"], "fal-ai/nano-banana");
  assert.equal(rep.modelIds["nano-banana-2"], "google/nano-banana-2");
  assert.equal(rep.apiKey, "r8_secret");
  assert.ok(Object.isFrozen(c.upstreams.routes[0].limits));
});

test("a file path works like inline JSON; a kie route on another peel uploads to that peel", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "peel-upstreams-"));
  try {
    const file = path.join(dir, "upstreams.json");
    writeFileSync(
      file,
      JSON.stringify({
        routes: [
          {
            name: "relay",
            kind: "kie",
            baseUrl: "http://10.0.0.5:8080/",
            apiKey: "literal-key",
            models: ["nano-banana-2"],
            cost: { "nano-banana-2": { "1K": 0.04, "4K": 0.12 } },
          },
        ],
      }),
    );
    const c = loadConfig({ PEEL_UPSTREAMS: file });
    const r = c.upstreams.routes[0];
    assert.equal(r.baseUrl, "http://10.0.0.5:8080");
    assert.equal(r.uploadUrl, "http://10.0.0.5:8080");
    assert.equal(r.apiKey, "literal-key");
    assert.deepEqual(r.cost, { "nano-banana-2": { "1K": 0.04, "4K": 0.12 } });
    assert.match(problemsOf({ PEEL_UPSTREAMS: path.join(dir, "missing.json") })[0], /cannot read .*missing\.json \(ENOENT\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("every problem is listed at once, naming the route and the field", () => {
  const problems = problemsOf({
    KIE_API_KEY: "x",
    PEEL_PORT_TYPO: "1",
    PORT: "eighty",
    PEEL_UPSTREAMS: JSON.stringify({
      routes: [
        { name: "a", kind: "gemini", apiKey: "env:MISSING_KEY", limits: { rpm: 0, burst: 3 } },
        { name: "a", kind: "kie", apiKey: "env:KIE_API_KEY", priority: -1, weight: 1.5 },
        { name: "bad name!", kind: "dall-e", baseUrl: "ftp://x", limit: {} },
        { name: "f", kind: "fal", models: ["nano-banana-pro", "midjourney"], modelIds: { "nano-banana-2": "x" } },
        { name: "v", kind: "vertex", uploadUrl: "https://x" },
        { name: "r", kind: "replicate", apiKey: "r8", cost: { "nano-banana-pro": { "1K": -1 } } },
      ],
      extra: true,
    }),
  });
  const text = problems.join("\n");
  for (const expected of [
    /PORT="eighty" is not a whole number/,
    /unknown field "extra"/,
    /routes\[0\] \(a\): "apiKey": environment variable MISSING_KEY is not set/,
    /routes\[0\] \(a\): limits.rpm must be a whole number ≥ 1/,
    /routes\[0\] \(a\): limits: unknown field "burst"/,
    /routes\[1\] \(a\): name "a" is already used by routes\[0\]/,
    /routes\[1\] \(a\): "priority" must be a whole number from 0 to 1000/,
    /routes\[1\] \(a\): "weight" must be a whole number from 1 to 1000/,
    /routes\[2\] \(bad name!\): "name" is required/,
    /routes\[2\] \(bad name!\): "kind" must be one of gemini, vertex, kie, fal, replicate, sandbox/,
    /routes\[2\] \(bad name!\): unknown field "limit"/,
    /routes\[2\] \(bad name!\): "baseUrl" must be an absolute http\(s\) URL/,
    /routes\[3\] \(f\): kind fal needs "apiKey"/,
    /routes\[3\] \(f\): models: "midjourney" is not a model peel serves/,
    /routes\[3\] \(f\): modelIds: "nano-banana-2" is not in this route's "models"/,
    /routes\[4\] \(v\): "uploadUrl" is only for kind kie/,
    /routes\[4\] \(v\): kind vertex needs "project"/,
    /routes\[5\] \(r\): cost.nano-banana-pro.1K must be a number ≥ 0/,
  ]) {
    assert.match(text, expected);
  }
  // secrets never appear in a problem
  assert.doesNotMatch(text, /r8"/);
});

test("malformed PEEL_UPSTREAMS: not JSON, not an object, empty routes", () => {
  assert.match(problemsOf({ PEEL_UPSTREAMS: "{routes: [" })[0], /PEEL_UPSTREAMS is not valid JSON/);
  assert.match(problemsOf({ PEEL_UPSTREAMS: "[1,2]" })[0], /must be an object \{"routes": \[\.\.\.\]\}/);
  assert.match(problemsOf({ PEEL_UPSTREAMS: '{"routes": []}' })[0], /"routes" must be a non-empty array/);
});

test("shorthand: the single-engine settings become one route", () => {
  const sandbox = loadConfig({}).upstreams;
  assert.equal(sandbox.source, "shorthand");
  assert.equal(sandbox.routes.length, 1);
  assert.deepEqual([sandbox.routes[0].name, sandbox.routes[0].kind, sandbox.routes[0].apiKey], ["sandbox", "sandbox", null]);
  assert.ok(sandbox.routes[0].models.includes("nano-banana-pro"));

  const gemini = loadConfig({
    GEMINI_API_KEY: "AIza-x",
    PEEL_GEMINI_BASE_URL: "http://127.0.0.1:9/",
    PEEL_GOOGLE_MODELS: '{"nano-banana-2":"gemini-3.1-flash-image-preview"}',
  }).upstreams.routes;
  assert.equal(gemini.length, 1);
  assert.deepEqual(
    [gemini[0].name, gemini[0].kind, gemini[0].apiKey, gemini[0].baseUrl],
    ["gemini", "gemini", "AIza-x", "http://127.0.0.1:9"],
  );
  assert.equal(gemini[0].modelIds["nano-banana-2"], "gemini-3.1-flash-image-preview");
  assert.deepEqual(gemini[0].limits, { rpm: null, rpd: null, concurrency: null });

  const vertex = loadConfig({ PEEL_ENGINE: "vertex", PEEL_VERTEX_PROJECT: "p", PEEL_VERTEX_LOCATION: "us" }).upstreams.routes[0];
  assert.equal(vertex.kind, "vertex");
  assert.deepEqual(vertex.vertex, { project: "p", location: "us", accessToken: null });
});

test("describeRoute shows everything but secrets", () => {
  const c = loadConfig({ ...SECRETS, PEEL_UPSTREAMS: JSON.stringify(ISSUE_EXAMPLE) });
  const text = JSON.stringify(c.upstreams.routes.map(describeRoute));
  for (const secret of Object.values(SECRETS)) assert.ok(!text.includes(secret), "no secret in the description");
  const d = describeRoute(c.upstreams.routes[0]);
  assert.equal(d.hasApiKey, true);
  assert.equal(d.name, "studio-a");
});
