import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { ManualClock } from "../../src/clock.js";
import { signLink } from "../../src/files/signed-link.js";
import { loadSecret } from "../../src/runtime.js";
import { startPeel, type TestPeel } from "../helpers/harness.js";
import { assertKieError, TINY_PNG_B64 } from "./kie-endpoints.js";

/**
 * download-url refusals and signed-link tampering (docs/kie-contract.md §9). A ManualClock drives link
 * and file expiry, so nothing here waits for real time to pass.
 */

const MIN = 60_000;
let peel: TestPeel;
let clock: ManualClock;
let fileUrl: string;
before(async () => {
  clock = new ManualClock(Date.UTC(2026, 0, 1));
  peel = await startPeel({ clock, background: false });
  const up = await peel.api("POST", "/api/file-base64-upload", { base64Data: TINY_PNG_B64, uploadPath: "in", fileName: "a.png" });
  assert.equal(up.json.success, true, JSON.stringify(up.json));
  fileUrl = up.json.data.downloadUrl;
});
after(() => peel.close());

const PATH = "/api/v1/common/download-url";

async function signedLink(url = fileUrl): Promise<URL> {
  const res = await peel.api("POST", PATH, { url });
  assert.equal(res.json.code, 200, JSON.stringify(res.json));
  return new URL(res.json.data);
}

describe("url is required", () => {
  for (const [what, body] of [
    ["no url", {}],
    ["url null", { url: null }],
    ['url ""', { url: "" }],
    ["url a number", { url: 42 }],
    ["url an array", { url: [fileUrl] }],
    ["url an object", { url: { href: "x" } }],
    ["a JSON array body", [{ url: "x" }]],
  ] as const) {
    test(`${what} → 422 url is required`, async () => {
      assertKieError(await peel.api("POST", PATH, body), 422, "url is required");
    });
  }
  test("a body that is not JSON → 422 url is required", async () => {
    assertKieError(
      await peel.api("POST", PATH, undefined, { raw: "url=x", headers: { "content-type": "text/plain" } }),
      422,
      "url is required",
    );
  });
  test("no body → 422 url is required", async () => {
    assertKieError(await peel.api("POST", PATH), 422, "url is required");
  });
});

describe("External file URLs are not supported", () => {
  test("external and unknown URLs", async () => {
    const u = new URL(fileUrl);
    for (const url of [
      "https://example.com/a.png",
      "not a url",
      u.pathname, // relative
      `https://evil.example${u.pathname}`, // right path, wrong origin
      `${peel.url}/files/r/0123456789abcdef0123456789abcdef/nope.png`, // our shape, no such file
      `${peel.url}/files/u/${peel.account.token}/in/missing.png`,
      `${peel.url}/api/v1/chat/credit`,
      `${peel.url}/files/u/${peel.account.token}/in/../in/a.png`.replace("/in/../", "/%2e%2e/"),
    ]) {
      assertKieError(await peel.api("POST", PATH, { url }), 422, "External file URLs are not supported");
    }
  });
});

describe("signed links refuse tampering (§9)", () => {
  test("the untouched link works (control)", async () => {
    const u = await signedLink();
    const res = await fetch(u);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-disposition") ?? "", /^attachment/);
  });

  test("an altered sig is refused", async () => {
    const u = await signedLink();
    const sig = u.searchParams.get("sig")!;
    u.searchParams.set("sig", (sig[0] === "0" ? "1" : "0") + sig.slice(1));
    const res = await fetch(u);
    assert.notEqual(res.status, 200);
    assert.equal(res.status, 403);
    assert.equal(res.headers.get("content-disposition"), null);
  });

  test("an altered exp (extended by a day) is refused", async () => {
    const u = await signedLink();
    u.searchParams.set("exp", String(Number(u.searchParams.get("exp")) + 86_400));
    const res = await fetch(u);
    assert.equal(res.status, 403);
  });

  test("exp without sig, sig without exp, or a sig for another file are refused", async () => {
    const u = await signedLink();
    const noSig = new URL(u);
    noSig.searchParams.delete("sig");
    assert.equal((await fetch(noSig)).status, 403);
    const noExp = new URL(u);
    noExp.searchParams.delete("exp");
    assert.equal((await fetch(noExp)).status, 403);

    const up = await peel.api("POST", "/api/file-base64-upload", {
      base64Data: TINY_PNG_B64,
      uploadPath: "in",
      fileName: "b.png",
    });
    const other = new URL(up.json.data.downloadUrl);
    other.search = u.search; // a's signature on b's path
    assert.equal((await fetch(other)).status, 403);
  });

  test("a link past its 20 minutes is refused (clock moved 21 min)", async () => {
    const u = await signedLink();
    assert.equal((await fetch(u)).status, 200);
    clock.advance(19 * MIN);
    assert.equal((await fetch(u)).status, 200, "still good at 19 min");
    clock.advance(2 * MIN);
    const res = await fetch(u);
    assert.equal(res.status, 403);
    // the file itself is still served without the link
    assert.equal((await fetch(fileUrl)).status, 200);
  });

  test("a link built with an exp in the past is refused even with a valid signature", async () => {
    const u = new URL(fileUrl);
    const secret = loadSecret(peel.config);
    const past = Math.floor(clock.now() / 1000) - 1;
    const expired = new URL(u.pathname + signLink(secret, u.pathname, past), peel.url);
    assert.equal((await fetch(expired)).status, 403);
    // control: the same construction with a future exp is accepted, so the secret is right
    const future = new URL(u.pathname + signLink(secret, u.pathname, past + 600), peel.url);
    assert.equal((await fetch(future)).status, 200);
  });
});

describe("File not found (§9: peel URL whose file is gone)", () => {
  test("an upload past its 3 days → 404 File not found", async () => {
    const up = await peel.api("POST", "/api/file-base64-upload", {
      base64Data: TINY_PNG_B64,
      uploadPath: "old",
      fileName: "c.png",
    });
    const url = up.json.data.downloadUrl;
    const linkBefore = await signedLink(url);
    // a link never outlives its file: 1 minute before expiry the link is capped at 1 minute
    clock.advance(3 * 24 * 60 * MIN - MIN);
    const late = await signedLink(url);
    const exp = Number(late.searchParams.get("exp"));
    assert.ok(exp <= Math.floor(clock.now() / 1000) + 60, "link capped at the file's expiry");
    clock.advance(MIN + 1000);
    assertKieError(await peel.api("POST", PATH, { url }), 404, "File not found");
    // the file URL is gone too (§11)
    assert.equal((await fetch(url)).status, 404);
    assert.equal((await fetch(linkBefore)).status, 404);
  });
});
