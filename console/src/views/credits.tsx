import { useEffect, useState } from "preact/hooks";
import type { LedgerEntry, PeelClient } from "../../../src/client/index.js";
import { credits, dateTime, errorText } from "../format.js";
import { Empty, ErrorNote, PageHead, Spinner } from "../ui.js";

const KIND_LABEL: Record<string, string> = {
  grant: "Grant",
  hold: "Held for a task",
  capture: "Charged",
  release: "Released",
};

/** The balance and the credit ledger. */
export function Credits({ client }: { client: PeelClient }) {
  const [balance, setBalance] = useState<number | null>(null);
  const [ledger, setLedger] = useState<LedgerEntry[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    Promise.all([client.credits(), client.ledger({ limit: 100 })]).then(
      ([b, l]) => {
        setBalance(b);
        setLedger(l);
      },
      (e) => setError(errorText(e)),
    );
  }, [client]);
  return (
    <div>
      <PageHead title="Credits" />
      <ErrorNote error={error} />
      <section class="card balance-card">
        <span class="muted">Available</span>
        <span class="balance-big">{balance === null ? "…" : credits(balance)}</span>
        <span class="muted small">
          Credits held by unfinished tasks are not counted; a failed or canceled task gets its hold back.
        </span>
      </section>
      <h2>Ledger</h2>
      {ledger === null && !error ? (
        <Spinner label="Loading the ledger" />
      ) : ledger && ledger.length === 0 ? (
        <Empty title="No credit movements yet" />
      ) : ledger ? (
        <table class="table ledger">
          <thead>
            <tr>
              <th>When</th>
              <th>What</th>
              <th>Task</th>
              <th class="num">Amount</th>
            </tr>
          </thead>
          <tbody>
            {ledger.map((e) => (
              <tr key={e.id}>
                <td data-label="When">{dateTime(e.createdAt)}</td>
                <td data-label="What">
                  {KIND_LABEL[e.kind] ?? e.kind}
                  {e.note ? <span class="muted"> · {e.note}</span> : null}
                </td>
                <td data-label="Task">
                  {e.taskId ? (
                    <a class="mono" href={`#/task/${e.taskId}`}>
                      {e.taskId.slice(0, 10)}…
                    </a>
                  ) : (
                    <span class="muted">—</span>
                  )}
                </td>
                <td data-label="Amount" class={`num ${e.amount > 0 ? "good" : e.amount < 0 ? "bad" : "muted"}`}>
                  {e.kind === "capture"
                    ? "held → charged"
                    : `${e.amount > 0 ? "+" : e.amount < 0 ? "−" : ""}${credits(Math.abs(e.amount))}`}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </div>
  );
}
