import { startPeel, type TestPeel } from "../helpers/harness.js";
import type { FuzzContext } from "./fuzz.js";

/**
 * The server the fuzz runs against: a real peel (SQLite file, local files, real port) with the
 * admin API on, rate limits off (so requests reach the deep paths), and no background loops (the
 * tasks the fuzz creates need not render; the HTTP answers are what is judged).
 */
export async function startFuzzRig(): Promise<{ peel: TestPeel; port: number; ctx: FuzzContext }> {
  const adminToken = "fuzz-admin-token-0123456789";
  const peel = await startPeel({
    background: false,
    credits: 1_000_000,
    env: { PEEL_ADMIN_TOKEN: adminToken, PEEL_CREATE_LIMIT: "0", PEEL_READ_LIMIT: "0", PEEL_OUTBOUND_ALLOW: "" },
  });
  const other = await peel.newKey({ credits: 1_000_000 });
  const task = async (key: string) =>
    (await peel.api("POST", "/api/v1/jobs/createTask", { model: "nano-banana-pro", input: { prompt: "fuzz" } }, { key })).json
      .data.taskId as string;
  const ctx: FuzzContext = {
    key: peel.key,
    otherKey: other.key,
    adminToken,
    taskId: await task(peel.key),
    otherTaskId: await task(other.key),
    accountId: peel.account.id,
    publicUrl: peel.url,
  };
  return { peel, port: Number(new URL(peel.url).port), ctx };
}
