import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { startPeel } from "../helpers/harness.js";

/**
 * /docs in a real headless Chromium: Swagger UI loads (its assets, our CSP) and renders the
 * createTask operation from /openapi.json. Skipped, with the reason printed, when Chromium is not
 * installed at /usr/bin/chromium (`apt-get install -y chromium`).
 */

const CHROMIUM = "/usr/bin/chromium";
const SCREENSHOT = "/tmp/peel-docs.png";

test("Swagger UI at /docs shows the createTask operation", async (t) => {
  if (!existsSync(CHROMIUM)) {
    const reason = `${CHROMIUM} not found; install it with: apt-get install -y chromium`;
    console.log(`# skipping the /docs browser test: ${reason}`);
    t.skip(reason);
    return;
  }
  const { chromium } = await import("playwright-core");
  const peel = await startPeel({ background: false });
  t.after(() => peel.close());
  const browser = await chromium.launch({
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
      // a non-loopback name for the same server: plain-http deployments are reached this way
      "--host-resolver-rules=MAP peel.test 127.0.0.1",
    ],
  });
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  const problems: string[] = [];
  page.on("pageerror", (err) => problems.push(`pageerror: ${err.message}`));
  page.on("console", (msg) => {
    if (msg.type() === "error") problems.push(`console: ${msg.text()}`);
  });
  page.on("requestfailed", (req) => problems.push(`requestfailed: ${req.url()} ${req.failure()?.errorText}`));

  const res = await page.goto(`${peel.url}/docs`, { waitUntil: "load" });
  assert.ok(res, "navigation response");
  // /docs may redirect to /docs/ or /docs/static/index.html; the final page must be a 200
  assert.equal(res.status(), 200);

  const op = page.locator(".opblock-summary-path", { hasText: "/api/v1/jobs/createTask" }).first();
  await op.waitFor({ state: "visible", timeout: 20_000 });
  assert.ok(await op.isVisible());
  const summary = page.locator(".opblock-post", { hasText: "/api/v1/jobs/createTask" }).first();
  assert.match(await summary.innerText(), /POST[\s\S]*\/api\/v1\/jobs\/createTask[\s\S]*Create an image task/);
  // the other kie operations are listed too
  for (const p of ["/api/v1/jobs/recordInfo", "/api/v1/chat/credit", "/api/v1/common/download-url", "/api/file-base64-upload"]) {
    assert.ok(await page.locator(".opblock-summary-path", { hasText: p }).first().isVisible(), `${p} visible`);
  }
  // the title comes from our OpenAPI info
  assert.match(await page.locator(".info .title").first().innerText(), /peel/);

  await page.screenshot({ path: SCREENSHOT, fullPage: false });
  console.log(`# /docs screenshot: ${SCREENSHOT}`);
  assert.deepEqual(problems, [], "no script errors, console errors or failed requests");

  // The same page over plain http at a host name that is not loopback: a CSP with
  // `upgrade-insecure-requests` would send every asset to https and leave the page blank.
  const csp = (await fetch(`${peel.url}/docs/`)).headers.get("content-security-policy") ?? "";
  assert.ok(!csp.includes("upgrade-insecure-requests"), csp);
  const remote = `http://peel.test:${new URL(peel.url).port}/docs`;
  await page.goto(remote, { waitUntil: "load" });
  await page
    .locator(".opblock-summary-path", { hasText: "/api/v1/jobs/createTask" })
    .first()
    .waitFor({ state: "visible", timeout: 20_000 });
  assert.deepEqual(problems, [], `no errors at ${remote}`);
});
