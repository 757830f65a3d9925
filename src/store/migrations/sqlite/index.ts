import * as m001 from "./001_init.js";
import * as m002 from "./002_lists_and_policies.js";

export interface Migration {
  /** position in the ledger; ids are consecutive from 1 and never reused. */
  id: number;
  name: string;
  sql: string;
}

/** Append-only: never edit a released migration, add the next number instead. */
export const SQLITE_MIGRATIONS: readonly Migration[] = [
  { id: 1, name: m001.name, sql: m001.sql },
  { id: 2, name: m002.name, sql: m002.sql },
];
