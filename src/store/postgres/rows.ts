import { rowMappers } from "../rows.js";

export { accountOf, type AccountColumns } from "../rows.js";

export type { AccountRow, ApiKeyRow, LedgerRow, TaskRow, DeliveryRow, DeliveryAttemptRow, FileRow } from "../rows.js";

// The pool's type parsers already turn BIGINT/NUMERIC into numbers; BOOLEAN and JSONB arrive decoded.
export const { toAccount, toApiKey, toLedgerEntry, toTask, toDelivery, toDeliveryAttempt, toFile } = rowMappers({
  bool: (v) => v === true,
  json: <T>(v: unknown) => v as T,
});
