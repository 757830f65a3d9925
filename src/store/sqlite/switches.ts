import type { Switches } from "../../domain/types.js";
import type { SqliteDb } from "./db.js";

// Runtime switches: one row per switch, so toggling one model never rewrites another's state.
// `maintenance` = "1" when on; `model_disabled:<model>` exists while that model is disabled.

const MAINTENANCE = "maintenance";
const MODEL_PREFIX = "model_disabled:";

export function getSwitches(db: SqliteDb): Switches {
  const rows = db.all<{ name: string; value: string }>("SELECT name, value FROM switches ORDER BY name");
  const disabledModels: string[] = [];
  let maintenance = false;
  for (const r of rows) {
    if (r.name === MAINTENANCE) maintenance = r.value === "1";
    else if (r.name.startsWith(MODEL_PREFIX)) disabledModels.push(r.name.slice(MODEL_PREFIX.length));
  }
  return { maintenance, disabledModels };
}

export function setMaintenance(db: SqliteDb, on: boolean): void {
  db.run(
    "INSERT INTO switches (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    MAINTENANCE,
    on ? "1" : "0",
  );
}

export function setModelEnabled(db: SqliteDb, model: string, enabled: boolean): void {
  if (enabled) db.run("DELETE FROM switches WHERE name = ?", MODEL_PREFIX + model);
  else db.run("INSERT INTO switches (name, value) VALUES (?, '1') ON CONFLICT (name) DO NOTHING", MODEL_PREFIX + model);
}
