/**
 * Task lists and queue positions (the console and task events), and an account's own callback
 * destination rules (JSONB {"allow": [...], "deny": [...]} or NULL). The SQLite twin is
 * migrations/sqlite/002_lists_and_policies.ts.
 */
export const name = "lists_and_policies";

export const sql = `
ALTER TABLE accounts ADD COLUMN callback_policy JSONB;
CREATE INDEX tasks_account_created ON tasks (account_id, create_time, id);
CREATE INDEX tasks_state_created ON tasks (state, create_time, id);
`;
