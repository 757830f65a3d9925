import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.js";
import type { Store } from "../../src/store/store.js";
import { runStoreContract, type StoreFixture } from "./contract.js";

// The contract on a real SQLite file (WAL and all), a fresh temp directory per test.
runStoreContract("sqlite", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "peel-"));
  const file = path.join(dir, "peel.db");
  const open = async (): Promise<Store> => {
    const s = new SqliteStore(file);
    await s.migrate();
    return s;
  };
  const fx: StoreFixture = {
    store: await open(),
    cleanup: async () => {
      await fx.store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
    reopen: async () => {
      await fx.store.close();
      fx.store = await open();
      return fx.store;
    },
  };
  return fx;
});
