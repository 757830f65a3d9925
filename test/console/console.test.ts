import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { gzipSync } from "node:zlib";
import sharp from "sharp";
import { startPeel, type TestPeel } from "../helpers/harness.js";

/**
 * The console in a real headless Chromium, built by Vite exactly as `npm run build` does (into a
 * temp folder). It asserts what a person sees — sign in, generate from the Prompt field and see the
 * image, History with thumbnails, credits, operator mode — with no page or console errors, and
 * saves screenshots (desktop and 375 px) to .tmp/console-screenshots. Skipped, with the reason,
 * when /usr/bin/chromium is missing.
 */

const CHROMIUM = "/usr/bin/chromium";
const ROOT = path.resolve(import.meta.dirname, "../..");
const SHOTS = path.join(ROOT, ".tmp", "console-screenshots");
const ADMIN_TOKEN = "console-test-admin-token";
const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} not found; install it with: apt-get install -y chromium`;
if (skip) console.log(`# skipping the console browser tests: ${skip}`);

let buildDir = "";
let peel: TestPeel;
let browser: import("playwright-core").Browser;

before(async () => {
  buildDir = mkdtempSync(path.join(os.tmpdir(), "peel-console-"));
  const res = spawnSync(
    process.execPath,
    ["node_modules/vite/bin/vite.js", "build", "--config", "console/vite.config.ts", "--outDir", buildDir],
    { cwd: ROOT, encoding: "utf8" },
  );
  assert.equal(res.status, 0, `vite build failed:\n${res.stdout}\n${res.stderr}`);
  peel = await startPeel({
    env: { PEEL_CONSOLE_DIR: buildDir, PEEL_SANDBOX_DELAY_MS: "600", PEEL_ADMIN_TOKEN: ADMIN_TOKEN, PEEL_READ_LIMIT: "0" },
  });
  if (!skip) {
    const { chromium } = await import("playwright-core");
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
  }
  mkdirSync(SHOTS, { recursive: true });
});

after(async () => {
  await browser?.close();
  await peel?.close();
  rmSync(buildDir, { recursive: true, force: true });
});

test("the built console is small, and /console is served with a strict CSP", async () => {
  const assets = readdirSync(path.join(buildDir, "assets"));
  const gz = assets.reduce((n, f) => n + gzipSync(readFileSync(path.join(buildDir, "assets", f))).length, 0);
  console.log(`# console bundle: ${assets.join(", ")}: ${(gz / 1024).toFixed(1)} KiB gzipped`);
  assert.ok(gz < 60 * 1024, `bundle ${gz} bytes gzipped`);

  for (const p of ["/console", "/console/"]) {
    const res = await fetch(peel.url + p);
    assert.equal(res.status, 200, p);
    assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
    const csp = res.headers.get("content-security-policy") ?? "";
    for (const d of [
      "default-src 'none'",
      "script-src 'self'",
      "connect-src 'self'",
      "img-src 'self' data: blob:",
      "frame-ancestors 'none'",
    ]) {
      assert.ok(csp.includes(d), `${d} in ${csp}`);
    }
    assert.ok(!csp.includes("unsafe-inline") && !csp.includes("unsafe-eval"), csp);
    const html = await res.text();
    assert.ok(!/<script(?![^>]*\bsrc=)[^>]*>/.test(html), "no inline script");
    assert.ok(!/https?:\/\//.test(html.replace(/<!doctype[^>]*>/i, "")), "no CDN or other origin in the page");
  }
  const js = assets.find((f) => f.endsWith(".js"))!;
  const asset = await fetch(`${peel.url}/console/assets/${js}`);
  assert.equal(asset.status, 200);
  assert.match(asset.headers.get("content-type") ?? "", /^text\/javascript/);
  assert.match(asset.headers.get("cache-control") ?? "", /immutable/);
  assert.ok(asset.headers.get("content-security-policy"));
  for (const bad of ["nope.js", "..%2Fpeel.db", "x.exe"]) {
    assert.equal((await fetch(`${peel.url}/console/assets/${bad}`)).status, 404, bad);
  }
});

function watch(page: import("playwright-core").Page): string[] {
  const problems: string[] = [];
  page.on("pageerror", (err) => problems.push(`pageerror: ${err.message}`));
  page.on("console", (msg) => {
    if (msg.type() === "error") problems.push(`console: ${msg.text()}`);
  });
  page.on("requestfailed", (req) => {
    // a stream the page closed itself (leaving a view) is not a failure
    if (!req.url().includes("/api/v1/jobs/events")) problems.push(`requestfailed: ${req.url()} ${req.failure()?.errorText}`);
  });
  return problems;
}

async function imageLoaded(img: import("playwright-core").Locator): Promise<boolean> {
  return img.evaluate((el: any) => el.complete && el.naturalWidth > 0);
}

async function signIn(page: import("playwright-core").Page, key: string) {
  await page.goto(`${peel.url}/console`, { waitUntil: "load" });
  await page.getByLabel("API key").fill(key);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByLabel("Prompt").waitFor({ state: "visible" });
}

async function generate(page: import("playwright-core").Page, prompt: string) {
  await page.getByLabel("Prompt").fill(prompt);
  await page.getByRole("button", { name: "Generate" }).click();
  const img = page.getByRole("img", { name: `Generated image: ${prompt}` });
  await img.waitFor({ state: "visible", timeout: 30_000 });
  await page.waitForFunction((el: any) => el.complete && el.naturalWidth > 0, await img.elementHandle());
  return img;
}

test("desktop: sign in, generate with live progress, reference upload, history, task, credits", { skip }, async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  const problems = watch(page);
  const res = await page.goto(`${peel.url}/console`, { waitUntil: "load" });
  assert.equal(res?.status(), 200);
  await page.screenshot({ path: path.join(SHOTS, "desktop-sign-in.png") });

  // a wrong key is refused and says so
  await page.getByLabel("API key").fill("peel_not_a_key");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("alert").waitFor();
  assert.match(await page.getByRole("alert").innerText(), /not accepted/);
  problems.length = 0; // the refused credit read is the browser's only complaint, and it is expected

  await page.getByLabel("API key").fill(peel.key);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByLabel("Prompt").waitFor({ state: "visible" });
  assert.equal(
    await page.evaluate(() => (globalThis as any).location.href.includes("peel_")),
    false,
    "the key is never in the URL",
  );
  assert.equal(await page.evaluate(() => (globalThis as any).sessionStorage.getItem("peel.apiKey")), peel.key);

  // live progress while it runs, then the image
  await page.getByLabel("Prompt").fill("A paper-cut diorama of a lighthouse at dusk");
  await page.getByRole("button", { name: "Generate" }).click();
  await page.getByRole("list", { name: "Progress" }).waitFor();
  await page.screenshot({ path: path.join(SHOTS, "desktop-playground-running.png") });
  const first = page.getByRole("img", { name: "Generated image: A paper-cut diorama of a lighthouse at dusk" });
  await first.waitFor({ state: "visible", timeout: 30_000 });
  await page.waitForFunction((el: any) => el.naturalWidth > 0, await first.elementHandle());
  assert.ok(await imageLoaded(first));
  await page.screenshot({ path: path.join(SHOTS, "desktop-playground.png") });

  // "Use as input", plus an uploaded reference image, then a 16:9 generation with both
  await page.getByRole("button", { name: "Use as input" }).click();
  const png = await sharp({ create: { width: 320, height: 200, channels: 3, background: "#3a7" } })
    .png()
    .toBuffer();
  await page.locator('input[type="file"]').setInputFiles({ name: "sketch.png", mimeType: "image/png", buffer: png });
  await page.getByRole("img", { name: "sketch.png" }).waitFor();
  await page.waitForFunction(() => (globalThis as any).document.querySelectorAll(".ref-busy").length === 0);
  assert.equal(await page.locator(".ref").count(), 2);
  await page.getByLabel("Aspect ratio").selectOption("16:9");
  await generate(page, "The same lighthouse in a snowstorm");
  const param = await peel.api("GET", "/api/v1/jobs/list?pageSize=1");
  const input = JSON.parse(param.json.data.list[0].param).input;
  assert.equal(input.aspect_ratio, "16:9");
  assert.equal(input.image_input.length, 2);
  assert.match(input.image_input[1], /\/files\/u\/[^/]+\/console\/.*sketch\.png$/);
  await page.screenshot({ path: path.join(SHOTS, "desktop-playground-refs.png") });

  // History shows both, as loaded thumbnails
  await page.getByRole("link", { name: "History" }).click();
  const thumbs = page.locator(".gallery img");
  await page.waitForFunction(
    () =>
      [...(globalThis as any).document.querySelectorAll(".gallery img")].filter((i: any) => i.complete && i.naturalWidth > 0)
        .length >= 2,
  );
  assert.ok((await thumbs.count()) >= 2);
  for (const src of await thumbs.evaluateAll((els: any[]) => els.map((e) => e.src))) assert.match(src, /\?w=256$/);
  await page.screenshot({ path: path.join(SHOTS, "desktop-history.png") });

  // filters
  await page.getByLabel("State").selectOption("fail");
  await page.getByText("No tasks match these filters").waitFor();
  await page.getByLabel("State").selectOption("");
  await thumbs.first().waitFor();

  // a task's detail: the request and the credits it took
  await thumbs.first().click();
  await page.getByRole("heading", { name: "Request" }).waitFor();
  assert.match(await page.locator(".facts").innerText(), /Credits\s+18/);
  await page.screenshot({ path: path.join(SHOTS, "desktop-task.png") });

  await page.getByRole("link", { name: "Credits", exact: true }).click();
  await page.locator(".ledger tbody tr").first().waitFor();
  assert.equal((await page.locator(".balance-big").innerText()).replace(/\D/g, ""), String(1000 - 2 * 18));
  await page.screenshot({ path: path.join(SHOTS, "desktop-credits.png") });
  assert.deepEqual(problems, [], "no page errors, console errors or failed requests");
  await page.close();
});

test("operator mode: accounts, grants, switches, deliveries", { skip }, async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  const problems = watch(page);
  await page.goto(`${peel.url}/console#/operator`, { waitUntil: "load" });
  await page.getByLabel("Admin token").fill(ADMIN_TOKEN);
  await page.getByRole("button", { name: "Open operator mode" }).click();
  await page.getByLabel("New account").fill("Design team");
  await page.getByRole("button", { name: "Create" }).click();
  await page.getByRole("button", { name: /Design team/ }).waitFor();
  await page.getByLabel("Grant credits").fill("250");
  await page.getByRole("button", { name: "Grant", exact: true }).click();
  await page.getByText("Balance: 1,250").waitFor();
  await page.screenshot({ path: path.join(SHOTS, "desktop-operator-accounts.png") });

  await page.getByRole("link", { name: "Switches" }).click();
  const maintenance = page.getByRole("switch", { name: /Maintenance mode/ });
  await maintenance.check();
  assert.equal((await peel.runtime.store.getSwitches()).maintenance, true);
  await maintenance.uncheck();
  await page.waitForFunction(() => !(globalThis as any).document.querySelector('[role="switch"]')?.checked);
  assert.equal((await peel.runtime.store.getSwitches()).maintenance, false);
  await page.screenshot({ path: path.join(SHOTS, "desktop-operator-switches.png") });

  await page.getByRole("link", { name: "Deliveries" }).click();
  await page.getByText("No deliveries").waitFor();
  assert.deepEqual(problems, []);
  await page.close();
});

test("phone width (375 px): usable, nothing wider than the screen", { skip }, async () => {
  const ctx = await browser.newContext({
    viewport: { width: 375, height: 812 },
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
  });
  const page = await ctx.newPage();
  const problems = watch(page);
  await signIn(page, peel.key);
  await page.screenshot({ path: path.join(SHOTS, "phone-playground-empty.png") });
  await generate(page, "A tiny robot watering a bonsai");
  await page.screenshot({ path: path.join(SHOTS, "phone-playground.png"), fullPage: true });
  assert.ok(
    (await page.evaluate(() => (globalThis as any).document.documentElement.scrollWidth)) <= 375,
    "no horizontal scrolling",
  );
  await page.getByRole("link", { name: "History" }).click();
  await page.waitForFunction(() => {
    const imgs = [...(globalThis as any).document.querySelectorAll(".gallery img")];
    return imgs.length >= 2 && imgs.every((i: any) => i.complete && i.naturalWidth > 0);
  });
  await page.screenshot({ path: path.join(SHOTS, "phone-history.png") });
  assert.ok((await page.evaluate(() => (globalThis as any).document.documentElement.scrollWidth)) <= 375);
  await page.getByRole("link", { name: "Credits", exact: true }).click();
  await page.locator(".ledger tbody tr").first().waitFor();
  await page.screenshot({ path: path.join(SHOTS, "phone-credits.png") });
  assert.ok((await page.evaluate(() => (globalThis as any).document.documentElement.scrollWidth)) <= 375);
  console.log(`# console screenshots: ${SHOTS}`);
  assert.deepEqual(problems, []);
  await ctx.close();
});
