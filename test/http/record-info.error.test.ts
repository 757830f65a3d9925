import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startPeel, type TestPeel } from "../helpers/harness.js";
import { assertKieError } from "./kie-endpoints.js";

/** recordInfo refusals (docs/kie-contract.md §5.3, §14.5): all HTTP 200 except the rate limit. */

let peel: TestPeel;
before(async () => {
  peel = await startPeel({ background: false, env: { PEEL_READ_LIMIT: "0" } });
});
after(() => peel.close());

for (const prefix of ["/api/v1/jobs", "/api/v1/playground"]) {
  describe(`${prefix}/recordInfo`, () => {
    for (const [what, query] of [
      ["no query string", ""],
      ["no taskId", "?other=1"],
      ["empty taskId", "?taskId="],
      ["taskId without a value", "?taskId"],
    ] as const) {
      test(`${what} → 400 taskId parameter is required`, async () => {
        assertKieError(await peel.api("GET", `${prefix}/recordInfo${query}`), 400, "taskId parameter is required");
      });
    }

    for (const [what, id] of [
      ["unknown 32-hex id", "0123456789abcdef0123456789abcdef"],
      ["not hex", "task_nano-banana-pro_1767225600000"],
      ["very long", "f".repeat(5000)],
      ["SQL-looking", "' OR '1'='1"],
      ["upper-case copy of a real id", ""],
    ] as const) {
      test(`${what} → 422 recordInfo is null`, async () => {
        let taskId: string = id;
        if (!taskId) {
          const res = await peel.api("POST", "/api/v1/jobs/createTask", { model: "nano-banana-pro", input: { prompt: "p" } });
          taskId = String(res.json.data.taskId).toUpperCase();
        }
        assertKieError(
          await peel.api("GET", `${prefix}/recordInfo?taskId=${encodeURIComponent(taskId)}`),
          422,
          "recordInfo is null",
        );
      });
    }
  });
}

describe("rate limit (§12: 10 per rolling second per key, both paths together)", () => {
  test("the 11th read within a second is HTTP 429 with Retry-After", async () => {
    const limited = await startPeel({ background: false });
    try {
      const id = "0123456789abcdef0123456789abcdef";
      for (let i = 0; i < 10; i++) {
        const prefix = i % 2 ? "/api/v1/playground" : "/api/v1/jobs";
        assertKieError(await limited.api("GET", `${prefix}/recordInfo?taskId=${id}`), 422, "recordInfo is null");
      }
      const res = await limited.api("GET", `/api/v1/jobs/recordInfo?taskId=${id}`);
      assertKieError(res, 429, "Rate limit exceeded", 429);
      assert.equal(res.headers.get("retry-after"), "1");
      // createTask has its own window
      assert.equal(
        (await limited.api("POST", "/api/v1/jobs/createTask", { model: "nano-banana-pro", input: { prompt: "p" } })).json.code,
        200,
      );
    } finally {
      await limited.close();
    }
  });
});
