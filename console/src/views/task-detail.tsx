import { useEffect, useState } from "preact/hooks";
import { type Delivery, isTerminalState, type PeelClient, resultUrlsOf, type TaskRecord } from "../../../src/client/index.js";
import { credits, dateTime, errorText, prettyJson, promptOf, seconds } from "../format.js";
import { ErrorNote, PageHead, Spinner, StateBadge } from "../ui.js";

/** One task: image, prompt, param, failure, credits, times and its callback deliveries; live while unfinished. */
export function TaskDetail({ client, id }: { client: PeelClient; id: string }) {
  const [rec, setRec] = useState<TaskRecord | null>(null);
  const [deliveries, setDeliveries] = useState<Delivery[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    const ctrl = new AbortController();
    setRec(null);
    setError(null);
    (async () => {
      try {
        const first = await client.getTask(id, { signal: ctrl.signal });
        setRec(first);
        const final = isTerminalState(first.state)
          ? first
          : await client.waitForTask(id, { signal: ctrl.signal, onUpdate: setRec });
        setRec(final);
        setDeliveries(await client.taskDeliveries(id));
      } catch (e) {
        if (!ctrl.signal.aborted) setError(errorText(e));
      }
    })();
    return () => ctrl.abort();
  }, [client, id]);

  if (error) {
    return (
      <div>
        <PageHead title="Task" />
        <ErrorNote error={error === "recordInfo is null" ? "No such task in this account." : error} />
        <a href="#/history">Back to history</a>
      </div>
    );
  }
  if (!rec) {
    return (
      <div class="center">
        <Spinner label="Loading the task" />
      </div>
    );
  }
  const url = resultUrlsOf(rec)[0];
  const prompt = promptOf(rec.param);
  return (
    <div class="detail">
      <p class="crumbs">
        <a href="#/history">History</a> <span class="muted">/</span> <span class="mono">{rec.taskId}</span>
      </p>
      <div class="detail-grid">
        <section class="card detail-image">
          {url ? (
            <a href={url} target="_blank" rel="noreferrer">
              <img src={url} alt={prompt || rec.taskId} />
            </a>
          ) : (
            <div class={`placeholder ${isTerminalState(rec.state) ? "" : "shimmer"}`}>
              <StateBadge state={rec.state} />
            </div>
          )}
        </section>
        <section class="card detail-facts">
          <h1 class="detail-title">{prompt || "(no prompt)"}</h1>
          <dl class="facts">
            <dt>State</dt>
            <dd>
              <StateBadge state={rec.state} />
            </dd>
            <dt>Model</dt>
            <dd>{rec.model}</dd>
            {rec.state === "fail" ? (
              <>
                <dt>Failure</dt>
                <dd class="bad">
                  {rec.failMsg} <span class="muted">(failCode {rec.failCode})</span>
                </dd>
              </>
            ) : null}
            <dt>Credits</dt>
            <dd>{credits(rec.consumeCredits)}</dd>
            <dt>Created</dt>
            <dd>{dateTime(rec.createTime)}</dd>
            <dt>Finished</dt>
            <dd>{dateTime(rec.completeTime)}</dd>
            <dt>Generation</dt>
            <dd>{rec.costTime ? seconds(rec.costTime) : "—"}</dd>
          </dl>
          <h2>Request</h2>
          <pre class="code">{prettyJson(rec.param)}</pre>
          <h2>Callbacks</h2>
          {deliveries === null ? (
            isTerminalState(rec.state) ? (
              <Spinner label="Loading callbacks" />
            ) : (
              <p class="muted">Sent once the task finishes.</p>
            )
          ) : deliveries.length === 0 ? (
            <p class="muted">No callback: the task had no callBackUrl.</p>
          ) : (
            <ul class="deliveries">
              {deliveries.map((d) => (
                <li key={d.id} class="delivery">
                  <div class="delivery-head">
                    <span
                      class={`badge badge-${d.state === "delivered" ? "success" : d.state === "pending" ? "queuing" : "fail"}`}
                    >
                      {d.state}
                    </span>
                    <span class="mono small ellipsis">{d.url}</span>
                  </div>
                  <ol class="attempts">
                    {d.attempts.map((a) => (
                      <li key={a.attemptedAt}>
                        <span class="muted">{dateTime(a.attemptedAt)}</span> ·{" "}
                        {a.statusCode !== null ? `HTTP ${a.statusCode}` : (a.error ?? "no response")} ·{" "}
                        <span class="muted">{a.latencyMs} ms</span>
                      </li>
                    ))}
                  </ol>
                  {d.nextAttemptAt ? <p class="muted small">Next attempt {dateTime(d.nextAttemptAt)}</p> : null}
                </li>
              ))}
            </ul>
          )}
        </section>
      </div>
    </div>
  );
}
