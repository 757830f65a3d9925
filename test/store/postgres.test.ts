import { after, test } from "node:test";
import { PostgresStore } from "../../src/store/postgres/postgres-store.js";
import type { Store } from "../../src/store/store.js";
import { runStoreContract, type StoreFixture } from "./contract.js";
import { PG_SKIP, PG_URL, createSchema, dropSchema, endAdmin } from "./postgres-fixture.js";

// The contract on a real PostgreSQL server: a fresh schema per test (search_path set through the
// pool's connection options), dropped afterwards. The default pool of 10 connections gives the
// concurrent-create tests real parallelism.
if (!PG_URL) {
  test("Store contract (postgres)", { skip: PG_SKIP }, () => {});
} else {
  const url = PG_URL;
  after(endAdmin);
  runStoreContract("postgres", async () => {
    const schema = await createSchema();
    const open = async (): Promise<Store> => {
      const s = new PostgresStore({ connectionString: url, schema });
      await s.migrate();
      return s;
    };
    const fx: StoreFixture = {
      store: await open(),
      cleanup: async () => {
        await fx.store.close();
        await dropSchema(schema);
      },
      reopen: async () => {
        await fx.store.close();
        fx.store = await open();
        return fx.store;
      },
    };
    return fx;
  });
}
