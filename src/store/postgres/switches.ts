import type { Switches } from "../../domain/types.js";
import type { Sql } from "./db.js";

// Runtime switches: one row per switch, so toggling one model never rewrites another's state.
// `maintenance` = "1" when on; `model_disabled:<model>` exists while that model is disabled.

const MAINTENANCE = "maintenance";
const MODEL_PREFIX = "model_disabled:";

export async function getSwitches(sql: Sql): Promise<Switches> {
  const rows = await sql.rows<{ name: string; value: string }>("SELECT name, value FROM switches ORDER BY name");
  const disabledModels: string[] = [];
  let maintenance = false;
  for (const r of rows) {
    if (r.name === MAINTENANCE) maintenance = r.value === "1";
    else if (r.name.startsWith(MODEL_PREFIX)) disabledModels.push(r.name.slice(MODEL_PREFIX.length));
  }
  return { maintenance, disabledModels };
}

export async function setMaintenance(sql: Sql, on: boolean): Promise<void> {
  await sql.run("INSERT INTO switches (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value", [
    MAINTENANCE,
    on ? "1" : "0",
  ]);
}

export async function setModelEnabled(sql: Sql, model: string, enabled: boolean): Promise<void> {
  if (enabled) await sql.run("DELETE FROM switches WHERE name = $1", [MODEL_PREFIX + model]);
  else await sql.run("INSERT INTO switches (name, value) VALUES ($1, '1') ON CONFLICT (name) DO NOTHING", [MODEL_PREFIX + model]);
}
