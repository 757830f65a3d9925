import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { test } from "node:test";
import { signLink, verifyLink } from "../../src/files/signed-link.js";

const SECRET = "test-secret";
const PATH = "/files/r/3f9c2b7e8a614d0f9b1e5c7a2d4f6081/q7m2x9p4t8wz.png";

function parse(q: string): { exp: string; sig: string } {
  const p = new URLSearchParams(q.slice(1));
  return { exp: p.get("exp")!, sig: p.get("sig")! };
}

test("signLink: ?exp=<sec>&sig=<first 32 hex of HMAC-SHA256(secret, path \\n exp)>", () => {
  const q = signLink(SECRET, PATH, 1767226831);
  const expected = createHmac("sha256", SECRET).update(`${PATH}\n1767226831`).digest("hex").slice(0, 32);
  assert.equal(q, `?exp=1767226831&sig=${expected}`);
});

test("verifyLink: ok until exp (inclusive), expired after", () => {
  const { exp, sig } = parse(signLink(SECRET, PATH, 1000));
  assert.equal(verifyLink(SECRET, PATH, exp, sig, 999), "ok");
  assert.equal(verifyLink(SECRET, PATH, exp, sig, 1000), "ok");
  assert.equal(verifyLink(SECRET, PATH, exp, sig, 1001), "expired");
});

test("verifyLink: any alteration is invalid", () => {
  const { exp, sig } = parse(signLink(SECRET, PATH, 5000));
  const flipped = sig.slice(0, -1) + (sig.endsWith("0") ? "1" : "0");
  assert.equal(verifyLink(SECRET, PATH, exp, flipped, 1), "invalid", "signature changed");
  assert.equal(verifyLink(SECRET, PATH, "5001", sig, 1), "invalid", "expiry extended");
  assert.equal(verifyLink(SECRET, PATH, "4999", sig, 1), "invalid", "expiry shortened");
  assert.equal(verifyLink(SECRET, PATH, "05000", sig, 1), "invalid", "non-canonical expiry");
  assert.equal(verifyLink(SECRET, PATH.replace(".png", ".jpg"), exp, sig, 1), "invalid", "other path");
  assert.equal(verifyLink("other-secret", PATH, exp, sig, 1), "invalid", "other secret");
  assert.equal(verifyLink(SECRET, PATH, exp, sig.toUpperCase(), 1), "invalid", "upper-case hex");
  assert.equal(verifyLink(SECRET, PATH, exp, sig.slice(0, 31), 1), "invalid", "short signature");
  assert.equal(verifyLink(SECRET, PATH, exp, undefined, 1), "invalid", "no signature");
  assert.equal(verifyLink(SECRET, PATH, undefined, sig, 1), "invalid", "no expiry");
  assert.equal(verifyLink(SECRET, PATH, "1e9", sig, 1), "invalid", "exponent expiry");
});

test("verifyLink: a tampered expiry reads invalid even when it is in the past", () => {
  const { sig } = parse(signLink(SECRET, PATH, 5000));
  assert.equal(verifyLink(SECRET, PATH, "10", sig, 100), "invalid");
});

test("signLink: refuses a non-integer expiry", () => {
  assert.throws(() => signLink(SECRET, PATH, 1.5), RangeError);
  assert.throws(() => signLink(SECRET, PATH, -1), RangeError);
});
