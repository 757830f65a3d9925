import { rowMappers } from "../rows.js";

export { accountOf, type AccountColumns } from "../rows.js";

export type { AccountRow, ApiKeyRow, LedgerRow, TaskRow, DeliveryRow, DeliveryAttemptRow, FileRow } from "../rows.js";

// SQLite hands booleans back as 0/1 and keeps JSON as text.
export const { toAccount, toApiKey, toLedgerEntry, toTask, toDelivery, toDeliveryAttempt, toFile } = rowMappers({
  bool: (v) => v === 1 || v === true,
  json: <T>(v: unknown) => JSON.parse(v as string) as T,
});
