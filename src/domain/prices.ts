import { MODELS, modelSpec } from "./models.js";

/**
 * Credits per task, per model and resolution (`*` for a model without resolutions). Defaults are
 * kie's published prices (docs/kie-contract.md §13 and Appendix A); PEEL_PRICES overrides single
 * entries. Every model peel serves must have a price for every resolution it accepts: a missing
 * price is a configuration error at start, never a free task.
 */
export interface PriceTable {
  /** model → resolution (or "*") → credits */
  [model: string]: Record<string, number>;
}

export const DEFAULT_PRICES: PriceTable = {
  "nano-banana-pro": { "1K": 18, "2K": 18, "4K": 24 },
  "google/nano-banana": { "*": 4 },
  "google/nano-banana-edit": { "*": 4 },
  // kie's list prices of 2026-08-17
  "nano-banana-2": { "1K": 8, "2K": 12, "4K": 18 },
  "nano-banana-2-lite": { "1K": 4 },
};

/** The defaults with each override entry replacing one model's price at one resolution. */
export function mergePrices(defaults: PriceTable, override: PriceTable): PriceTable {
  const out: PriceTable = {};
  for (const [model, table] of Object.entries(defaults)) out[model] = { ...table };
  for (const [model, table] of Object.entries(override)) out[model] = { ...out[model], ...table };
  return out;
}

/** What is wrong with a price table: unknown models or resolutions, and every missing price. */
export function priceTableProblems(prices: PriceTable): string[] {
  const problems: string[] = [];
  for (const [model, table] of Object.entries(prices)) {
    const spec = modelSpec(model);
    if (!spec) {
      problems.push(`${model} is not a model peel serves (${MODELS.map((m) => m.id).join(", ")})`);
      continue;
    }
    const keys = ["*", ...(spec.resolutions ?? [])];
    for (const res of Object.keys(table)) {
      if (!keys.includes(res)) problems.push(`${model} has no resolution ${res} (use ${keys.join(", ")})`);
    }
  }
  for (const spec of MODELS) {
    for (const res of spec.resolutions ?? [null]) {
      if (lookup(prices, spec.id, res) === undefined) problems.push(`${spec.id} has no price for ${res ?? "*"}`);
    }
  }
  return problems;
}

function lookup(prices: PriceTable, model: string, resolution: string | null): number | undefined {
  const t = prices[model];
  return t ? (t[resolution ?? "*"] ?? t["*"]) : undefined;
}

/**
 * The credits a task costs. The table was checked at start (priceTableProblems), so a missing
 * price is a bug: it throws rather than hand out a free task.
 */
export function priceOf(prices: PriceTable, model: string, resolution: string | null): number {
  const p = lookup(prices, model, resolution);
  if (p === undefined) throw new Error(`no price for ${model} at ${resolution ?? "*"}`);
  return p;
}
