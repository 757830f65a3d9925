/**
 * Task lists and queue positions (the console and task events), and an account's own callback
 * destination rules. `callback_policy` is JSON text: {"allow": [...], "deny": [...]} or NULL.
 */
export const name = "lists_and_policies";

export const sql = `
ALTER TABLE accounts ADD COLUMN callback_policy TEXT;
-- the account's task list, newest first
CREATE INDEX tasks_account_created ON tasks (account_id, create_time, id);
-- a task's place in the line: open tasks not yet generating, by age
CREATE INDEX tasks_state_created ON tasks (state, create_time, id);
`;
