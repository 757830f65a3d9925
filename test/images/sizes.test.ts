import { test } from "node:test";
import assert from "node:assert/strict";
import { PRO_RATIOS, nearestRatio, outputSize, ratiosOf } from "../../src/images/sizes.js";

// docs/gemini.md#ratios-and-sizes, copied by hand so a typo in sizes.ts cannot hide behind shared data.
const PRO_TABLE: Record<string, [string, string, string]> = {
  "1:1": ["1024x1024", "2048x2048", "4096x4096"],
  "2:3": ["848x1264", "1696x2528", "3392x5056"],
  "3:2": ["1264x848", "2528x1696", "5056x3392"],
  "3:4": ["896x1200", "1792x2400", "3584x4800"],
  "4:3": ["1200x896", "2400x1792", "4800x3584"],
  "4:5": ["928x1152", "1856x2304", "3712x4608"],
  "5:4": ["1152x928", "2304x1856", "4608x3712"],
  "9:16": ["768x1376", "1536x2752", "3072x5504"],
  "16:9": ["1376x768", "2752x1536", "5504x3072"],
  "21:9": ["1584x672", "3168x1344", "6336x2688"],
};
const fmt = (s: { width: number; height: number }) => `${s.width}x${s.height}`;

test("PRO_RATIOS lists the 10 concrete pro ratios", () => {
  assert.deepEqual([...PRO_RATIOS].sort(), Object.keys(PRO_TABLE).sort());
  assert.ok(!PRO_RATIOS.includes("auto"));
});

test("nano-banana-pro sizes match docs/gemini.md#ratios-and-sizes for every ratio and resolution", () => {
  for (const [ratio, sizes] of Object.entries(PRO_TABLE)) {
    (["1K", "2K", "4K"] as const).forEach((res, i) => {
      assert.equal(fmt(outputSize("nano-banana-pro", ratio, res)), sizes[i], `${ratio} ${res}`);
    });
  }
});

test("google/nano-banana and -edit have one size per ratio: gemini-3.1-flash-image's 1K size", () => {
  for (const model of ["google/nano-banana", "google/nano-banana-edit"]) {
    assert.deepEqual([...ratiosOf(model)].sort(), Object.keys(PRO_TABLE).sort());
    for (const [ratio, sizes] of Object.entries(PRO_TABLE)) {
      assert.equal(fmt(outputSize(model, ratio, null)), sizes[0], `${model} ${ratio}`);
      assert.deepEqual(outputSize(model, ratio, null), outputSize("nano-banana-2", ratio, "1K"));
    }
    assert.throws(() => outputSize(model, "1:1", "1K"));
  }
});

test("nano-banana-2 shares the pro table and derives its extreme ratios", () => {
  assert.equal(ratiosOf("nano-banana-2").length, 14);
  for (const [ratio, sizes] of Object.entries(PRO_TABLE)) {
    assert.equal(fmt(outputSize("nano-banana-2", ratio, "2K")), sizes[1]);
  }
  assert.equal(fmt(outputSize("nano-banana-2", "1:4", "1K")), "512x2048");
  assert.equal(fmt(outputSize("nano-banana-2", "4:1", "1K")), "2048x512");
  assert.equal(fmt(outputSize("nano-banana-2", "1:8", "1K")), "368x2896");
  assert.equal(fmt(outputSize("nano-banana-2", "8:1", "1K")), "2896x368");
  for (const res of ["1K", "2K", "4K"] as const) {
    const square = outputSize("nano-banana-2", "1:1", res);
    for (const [ratio, want] of [
      ["1:4", 1 / 4],
      ["4:1", 4],
      ["1:8", 1 / 8],
      ["8:1", 8],
    ] as const) {
      const s = outputSize("nano-banana-2", ratio, res);
      assert.equal(s.width % 16, 0);
      assert.equal(s.height % 16, 0);
      assert.ok(Math.abs(s.width / s.height / want - 1) < 0.03, `${ratio} ${res} shape ${fmt(s)}`);
      const budget = (s.width * s.height) / (square.width * square.height);
      assert.ok(budget > 0.97 && budget < 1.03, `${ratio} ${res} budget ${budget}`);
    }
  }
});

test("outputSize rejects unknown combinations", () => {
  assert.throws(() => outputSize("nano-banana-pro", "auto", "1K"));
  assert.throws(() => outputSize("nano-banana-pro", "1:4", "1K"));
  assert.throws(() => outputSize("nano-banana-pro", "1:1", null));
  assert.throws(() => outputSize("nano-banana-pro", "1:1", "8K" as never));
  assert.throws(() => outputSize("dall-e", "1:1", "1K"));
  assert.throws(() => ratiosOf("dall-e"));
});

test("outputSize returns a fresh object", () => {
  const a = outputSize("nano-banana-pro", "1:1", "1K");
  a.width = 1;
  assert.equal(outputSize("nano-banana-pro", "1:1", "1K").width, 1024);
});

test("nearestRatio picks the closest ratio by log distance", () => {
  assert.equal(nearestRatio(1920, 1080, PRO_RATIOS), "16:9");
  assert.equal(nearestRatio(1080, 1920, PRO_RATIOS), "9:16");
  assert.equal(nearestRatio(500, 500, PRO_RATIOS), "1:1");
  assert.equal(nearestRatio(4000, 3000, PRO_RATIOS), "4:3");
  assert.equal(nearestRatio(3000, 1000, PRO_RATIOS), "21:9");
  assert.equal(nearestRatio(3000, 1000, ratiosOf("nano-banana-2")), "21:9");
  assert.equal(nearestRatio(4000, 1000, ratiosOf("nano-banana-2")), "4:1");
  assert.equal(nearestRatio(100, 5000, ratiosOf("nano-banana-2")), "1:8");
  assert.throws(() => nearestRatio(0, 10, PRO_RATIOS));
});

test("nano-banana-2-lite is nano-banana-2 at 1K, and nothing larger", () => {
  assert.deepEqual(ratiosOf("nano-banana-2-lite"), ratiosOf("nano-banana-2"));
  for (const ratio of ratiosOf("nano-banana-2")) {
    assert.deepEqual(outputSize("nano-banana-2-lite", ratio, "1K"), outputSize("nano-banana-2", ratio, "1K"), ratio);
    assert.deepEqual(outputSize("nano-banana-2-lite", ratio, null), outputSize("nano-banana-2", ratio, "1K"), ratio);
  }
  assert.equal(fmt(outputSize("nano-banana-2-lite", "1:1", "1K")), "1024x1024");
  assert.throws(() => outputSize("nano-banana-2-lite", "1:1", "2K"));
  assert.throws(() => outputSize("nano-banana-2-lite", "1:1", "4K"));
});
