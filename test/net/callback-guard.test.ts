import { test } from "node:test";
import assert from "node:assert/strict";
import { KIE_ERRORS } from "../../src/errors.js";
import { startPeel } from "../helpers/harness.js";

// Issue 10 §3, as it will be checked: callBackUrl at each IPv6 detour round the address guard is
// refused with 422 at createTask, and nothing is stored or charged.

test("callBackUrl at IPv4-compatible, SIIT, 6to4, Teredo and NAT64 forms of loopback → 422 callback_forbidden", async (t) => {
  // No background loops: the accepted task below must not call a real public address.
  const peel = await startPeel({ env: { PEEL_OUTBOUND_ALLOW: "" }, background: false });
  t.after(() => peel.close());
  const urls = [
    "http://[::127.0.0.1]/hook",
    "http://[::ffff:0:127.0.0.1]/hook",
    "http://[2002:7f00:1::1]/hook",
    "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/hook", // Teredo, client 127.0.0.1
    "http://[64:ff9b::7f00:1]/hook",
    "http://[64:ff9b:1::7f00:1]/hook",
    "http://[::ffff:127.0.0.1]:8080/hook",
    "http://0x7f000001/hook",
    "http://0177.0.0.1/hook",
  ];
  for (const callBackUrl of urls) {
    const res = await peel.api("POST", "/api/v1/jobs/createTask", {
      model: "nano-banana-pro",
      callBackUrl,
      input: { prompt: "a cat" },
    });
    assert.equal(res.status, 200, callBackUrl);
    assert.deepEqual(res.json, { code: 422, msg: KIE_ERRORS.callback_forbidden.msg, data: null }, callBackUrl);
  }
  // a public address is accepted (the callback is only attempted once the task settles)
  const ok = await peel.api("POST", "/api/v1/jobs/createTask", {
    model: "nano-banana-pro",
    callBackUrl: "http://[2606:4700::1111]/hook",
    input: { prompt: "a cat" },
  });
  assert.equal(ok.json.code, 200, ok.text);
  // only that one task holds credits
  const credit = await peel.api("GET", "/api/v1/chat/credit");
  assert.equal(credit.json.data, 1000 - 18);
});
