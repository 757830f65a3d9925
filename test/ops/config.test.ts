import assert from "node:assert/strict";
import { test } from "node:test";
import { ConfigError, loadConfig } from "../../src/config.js";

test("ops configuration: defaults", () => {
  const c = loadConfig({});
  assert.deepEqual(c.metrics, { port: 9464, host: "127.0.0.1" });
  assert.equal(c.shutdownGraceMs, 25_000);
  assert.equal(c.logFormat, "auto");
});

test("ops configuration: set, and PEEL_METRICS_PORT=0 turns metrics off", () => {
  const c = loadConfig({
    PEEL_METRICS_PORT: "0",
    PEEL_METRICS_HOST: "0.0.0.0",
    PEEL_SHUTDOWN_GRACE_MS: "1000",
    PEEL_LOG_FORMAT: "pretty",
  });
  assert.deepEqual(c.metrics, { port: 0, host: "0.0.0.0" });
  assert.equal(c.shutdownGraceMs, 1000);
  assert.equal(c.logFormat, "pretty");
  assert.equal(loadConfig({ PEEL_LOG_FORMAT: "json" }).logFormat, "json");
});

test("ops configuration: bad values are listed together, and metrics never share the API port", () => {
  assert.throws(
    () =>
      loadConfig({
        PORT: "9000",
        PEEL_METRICS_PORT: "9000",
        PEEL_LOG_FORMAT: "xml",
        PEEL_SHUTDOWN_GRACE_MS: "-1",
      }),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.deepEqual(e.problems, [
        "PEEL_METRICS_PORT=9000 must differ from PORT",
        'PEEL_LOG_FORMAT="xml" must be one of auto, json, pretty',
        "PEEL_SHUTDOWN_GRACE_MS=-1 is below the minimum 0",
      ]);
      return true;
    },
  );
  assert.throws(() => loadConfig({ PEEL_METRICS_PORT: "70000" }), /PEEL_METRICS_PORT=70000 is above the maximum 65535/);
});
