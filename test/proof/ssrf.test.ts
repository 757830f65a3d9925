import { test } from "node:test";
import assert from "node:assert/strict";
import { runSsrfCorpus } from "./ssrf.js";

// Issue 10, the proof suite in `npm test`: the whole SSRF corpus (test/proof/ssrf.ts) against a
// real peel with a listener on every local address. `npm run proof` prints the same figures.

test("SSRF corpus: every spelling of every local address, direct and redirected, at all three entry points → 0 hits", async (t) => {
  const r = await runSsrfCorpus({ log: (line) => t.diagnostic(line) });
  t.diagnostic(
    `${r.targets} targets, ${r.attempts} attempts, ${r.hits} hits; tunnel-form addresses made local: ${r.tunnelAddresses}`,
  );
  assert.ok(r.attempts > 500, `corpus too small: ${r.attempts}`);
  assert.equal(r.hits, 0, `connections reached the trap on ${r.hitAddresses.join(", ")}`);
  for (const [entry, e] of Object.entries(r.byEntry)) {
    assert.deepEqual(e.leaked, [], entry);
    assert.equal(e.refused, e.attempts, `${entry}: every attempt refused`);
  }
});

test("control: the same harness sees a hit as soon as the trap's address is allowed", async () => {
  const r = await runSsrfCorpus({ allow: ["127.0.0.1"], only: (t) => t.form === "127.0.0.1 dotted" });
  assert.ok(r.hits > 0, "the trap counted the allowed fetches");
  // the direct URL and its redirect: both fetched, both reported
  assert.equal(r.byEntry["file-url-upload"].leaked.length, 2);
  assert.equal(r.byEntry.image_input.leaked.length, 2);
  assert.equal(r.byEntry.callBackUrl.leaked.length, 1, "the direct callback (redirects are not followed)");
});
