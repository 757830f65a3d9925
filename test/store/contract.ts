import { afterEach, beforeEach, describe } from "node:test";
import type { Store } from "../../src/store/store.js";
import { accountContract } from "./contract-accounts.js";
import { creditContract } from "./contract-credits.js";
import { deliveryContract } from "./contract-deliveries.js";
import { fileAndSwitchContract } from "./contract-files.js";
import { queueContract } from "./contract-queue.js";
import { settlementContract } from "./contract-settlement.js";
import { viewsContract } from "./contract-views.js";

/**
 * The Store contract: every backend must pass all of it. It is the executable spec of
 * src/store/store.ts; backend-only behaviour (migration ledger, locking) lives in
 * `<backend>-only.test.ts`.
 */
export interface StoreFixture {
  store: Store;
  /** closes the store and removes its database. */
  cleanup: () => Promise<void>;
  /** closes the store and opens the same database again (durability test; skipped without it). */
  reopen?: () => Promise<Store>;
}

export type MakeStore = () => Promise<StoreFixture>;

/** What each section sees: the current test's store (fresh per test). */
export interface ContractContext {
  store(): Store;
  fixture(): StoreFixture;
}

export function runStoreContract(backendName: string, makeStore: MakeStore): void {
  describe(`Store contract (${backendName})`, () => {
    let fx: StoreFixture | null = null;
    beforeEach(async () => {
      fx = await makeStore();
    });
    afterEach(async () => {
      await fx?.cleanup();
      fx = null;
    });
    const ctx: ContractContext = {
      store: () => {
        if (!fx) throw new Error("no store: used outside a test");
        return fx.store;
      },
      fixture: () => {
        if (!fx) throw new Error("no store: used outside a test");
        return fx;
      },
    };
    accountContract(ctx);
    creditContract(ctx);
    queueContract(ctx);
    settlementContract(ctx);
    deliveryContract(ctx);
    fileAndSwitchContract(ctx);
    viewsContract(ctx);
  });
}
