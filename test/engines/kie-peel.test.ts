import assert from "node:assert/strict";
import { test } from "node:test";
import { priceOf } from "../../src/domain/prices.js";
import { KieRelayEngine } from "../../src/engines/kie.js";
import { startPeel } from "../helpers/harness.js";
import { failsWith, formatOf, inputImage, relayRequest, testClient } from "./relay-helpers.js";

/**
 * The kie relay against another real peel (sandbox engine): the "any kie-compatible API" case.
 * Inputs go through that peel's upload API, the task runs there and is charged to its account,
 * and the image comes back as bytes.
 */

test("a kie route on another peel: upload, createTask, recordInfo, download; the upstream charges its own account", async (t) => {
  const upstream = await startPeel({ env: { PEEL_ENGINE: "sandbox" }, credits: 100 });
  t.after(() => upstream.close());
  const client = testClient();
  t.after(() => client.close());
  const relay = new KieRelayEngine({
    baseUrl: upstream.url,
    apiKey: upstream.key,
    client,
    attemptTimeoutMs: 20_000,
    attemptTimeout4kMs: 20_000,
    pollDelaysMs: [20, 50],
    routeName: "relay",
  });

  const out = await relay.generate(
    relayRequest({
      model: "nano-banana-2",
      upstreamModel: "nano-banana-2",
      aspectRatio: "3:2",
      resolution: "1K",
      outputFormat: "jpeg",
      images: [await inputImage("http://only-this-peel.internal/files/u/x/ref.png")],
    }),
    new AbortController().signal,
  );
  assert.equal(await formatOf(out.bytes), "jpeg");
  // the sandbox draws nano-banana-2's real 1K size for 3:2
  assert.ok(out.width > out.height && out.width >= 1000, `${out.width}×${out.height}`);

  // the upstream peel ran one task for its own account and charged it its own price
  const price = priceOf(upstream.config.billing.prices, "nano-banana-2", "1K");
  assert.ok(price > 0);
  const credit = await upstream.api("GET", "/api/v1/chat/credit");
  assert.equal(credit.json.data, 100 - price);

  // a key the upstream does not know disables the route: auth
  const bad = new KieRelayEngine({
    ...{ baseUrl: upstream.url, client },
    apiKey: "not-a-key",
    attemptTimeoutMs: 5_000,
    attemptTimeout4kMs: 5_000,
  });
  await failsWith(bad.generate(relayRequest(), new AbortController().signal), "auth");
});
