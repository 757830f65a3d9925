import { useEffect, useState } from "preact/hooks";
import { MODEL_INFO, type PeelClient, resultUrlsOf, type TaskPage, type TaskState } from "../../../src/client/index.js";
import { errorText, promptOf, thumb, timeAgo } from "../format.js";
import { Empty, ErrorNote, PageHead, Spinner, StateBadge } from "../ui.js";

const PAGE_SIZE = 24;
const STATES: TaskState[] = ["success", "fail", "generating", "queuing", "waiting"];

/** The account's tasks, newest first, with thumbnails; filters by state and model. */
export function History({ client }: { client: PeelClient }) {
  const [state, setState] = useState<TaskState | "">("");
  const [model, setModel] = useState("");
  const [pageNum, setPageNum] = useState(1);
  const [page, setPage] = useState<TaskPage | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);

  useEffect(() => {
    let live = true;
    setLoading(true);
    setError(null);
    client.listTasks({ pageNum, pageSize: PAGE_SIZE, state: state || undefined, model: model || undefined }).then(
      (p) => live && (setPage(p), setLoading(false)),
      (e) => live && (setError(errorText(e)), setLoading(false)),
    );
    return () => {
      live = false;
    };
  }, [client, state, model, pageNum]);

  const pages = page ? Math.max(1, Math.ceil(page.total / PAGE_SIZE)) : 1;
  return (
    <div>
      <PageHead title="History">
        <label class="field inline">
          <span class="label">State</span>
          <select
            value={state}
            onChange={(e) => {
              setState((e.target as HTMLSelectElement).value as TaskState | "");
              setPageNum(1);
            }}
          >
            <option value="">All states</option>
            {STATES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label class="field inline">
          <span class="label">Model</span>
          <select
            value={model}
            onChange={(e) => {
              setModel((e.target as HTMLSelectElement).value);
              setPageNum(1);
            }}
          >
            <option value="">All models</option>
            {Object.keys(MODEL_INFO).map((m) => (
              <option key={m} value={m}>
                {m}
              </option>
            ))}
          </select>
        </label>
      </PageHead>
      <ErrorNote error={error} />
      {loading && !page ? (
        <div class="center">
          <Spinner label="Loading tasks" />
        </div>
      ) : page && page.list.length === 0 ? (
        <Empty title={state || model ? "No tasks match these filters" : "No tasks yet"}>
          {state || model ? (
            "Try another state or model."
          ) : (
            <a href="#/playground">Generate your first image in the playground.</a>
          )}
        </Empty>
      ) : page ? (
        <>
          <p class="muted small">
            {page.total.toLocaleString()} task{page.total === 1 ? "" : "s"}
          </p>
          <ul class="gallery">
            {page.list.map((t) => {
              const url = resultUrlsOf(t)[0];
              const prompt = promptOf(t.param);
              return (
                <li key={t.taskId} class="tile">
                  <a href={`#/task/${t.taskId}`} class="tile-link">
                    <span class="tile-image">
                      {url ? (
                        <img src={thumb(url, 256)} alt={prompt || t.taskId} />
                      ) : (
                        <span class={`tile-placeholder tile-${t.state}`}>
                          <StateBadge state={t.state} />
                        </span>
                      )}
                    </span>
                    <span class="tile-body">
                      <span class="tile-prompt">{prompt || "(no prompt)"}</span>
                      <span class="tile-meta">
                        {url ? <StateBadge state={t.state} /> : null}
                        <span class="muted">{timeAgo(t.createTime)}</span>
                        <span class="muted tile-model">{t.model}</span>
                      </span>
                    </span>
                  </a>
                </li>
              );
            })}
          </ul>
          {pages > 1 ? (
            <nav class="pager" aria-label="Pages">
              <button type="button" class="btn btn-small" disabled={pageNum <= 1} onClick={() => setPageNum(pageNum - 1)}>
                Newer
              </button>
              <span class="muted small">
                Page {pageNum} of {pages}
              </span>
              <button type="button" class="btn btn-small" disabled={pageNum >= pages} onClick={() => setPageNum(pageNum + 1)}>
                Older
              </button>
            </nav>
          ) : null}
        </>
      ) : null}
    </div>
  );
}
