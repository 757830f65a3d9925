import { useEffect, useRef, useState } from "preact/hooks";
import { MODEL_INFO, type PeelClient, resultUrlsOf, type TaskRecord } from "../../../src/client/index.js";
import { apiBase } from "../api.js";
import { errorText, seconds, thumb } from "../format.js";
import { ErrorNote, StateBadge } from "../ui.js";

type ModelId = keyof typeof MODEL_INFO;
type Info = (typeof MODEL_INFO)[ModelId];
const MODEL_IDS = Object.keys(MODEL_INFO) as ModelId[];
const info = (m: ModelId): Info => MODEL_INFO[m];

interface Ref {
  id: number;
  /** the URL the task gets (set once an upload finished). */
  url: string | null;
  /** what is shown: a blob: preview while uploading, a thumbnail after. */
  preview: string | null;
  name: string;
  error?: string;
}

interface Run {
  taskId: string | null;
  record: TaskRecord | null;
  startedAt: number;
  error: string | null;
}

const isPeelFile = (url: string) => url.startsWith(`${apiBase}/files/`) || url.startsWith(`${location.origin}/files/`);
let refSeq = 0;

/** Try a prompt: model and options, reference images, Generate → live state → the image. */
export function Playground({ client, onSettled }: { client: PeelClient; onSettled: () => void }) {
  const [model, setModel] = useState<ModelId>("nano-banana-pro");
  const m = info(model);
  const [prompt, setPrompt] = useState("");
  const [ratio, setRatio] = useState<string>(m.ratioDefault);
  const [resolution, setResolution] = useState<string>(m.resolutionDefault ?? "1K");
  const [format, setFormat] = useState<string>(m.formatDefault);
  const [refs, setRefs] = useState<Ref[]>([]);
  const [refUrl, setRefUrl] = useState("");
  const [run, setRun] = useState<Run | null>(null);
  const [now, setNow] = useState(Date.now());
  const abort = useRef<AbortController | null>(null);
  const stage = useRef<HTMLElement>(null);

  useEffect(() => () => abort.current?.abort(), []);
  const running = run !== null && !run.error && (!run.record || !["success", "fail"].includes(run.record.state));
  useEffect(() => {
    if (!running) return;
    const t = setInterval(() => setNow(Date.now()), 200);
    return () => clearInterval(t);
  }, [running]);

  const chooseModel = (id: ModelId) => {
    const n = info(id);
    setModel(id);
    if (!(n.ratios as readonly string[]).includes(ratio)) setRatio(n.ratioDefault);
    if (n.resolutions && !(n.resolutions as readonly string[]).includes(resolution)) setResolution(n.resolutionDefault ?? "1K");
    if (n.formats.length && !(n.formats as readonly string[]).includes(format)) setFormat(n.formatDefault);
  };

  const addFiles = (files: FileList | File[]) => {
    for (const file of Array.from(files)) {
      if (!/^image\/(png|jpeg|webp)$/.test(file.type)) continue;
      const id = ++refSeq;
      const preview = URL.createObjectURL(file);
      setRefs((r) => [...r, { id, url: null, preview, name: file.name }]);
      client.uploadFile(file, { uploadPath: "console", fileName: `${Date.now().toString(36)}-${safeName(file.name)}` }).then(
        (up) => setRefs((r) => r.map((x) => (x.id === id ? { ...x, url: up.fileUrl, preview: thumb(up.fileUrl, 128) } : x))),
        (err) => setRefs((r) => r.map((x) => (x.id === id ? { ...x, error: errorText(err) } : x))),
      );
    }
  };
  const addUrl = (url: string) => {
    const u = url.trim();
    if (!/^https?:\/\/\S+$/i.test(u)) return;
    setRefs((r) => [...r, { id: ++refSeq, url: u, preview: isPeelFile(u) ? thumb(u, 128) : null, name: u }]);
    setRefUrl("");
  };
  const removeRef = (id: number) => setRefs((r) => r.filter((x) => x.id !== id));

  const uploading = refs.some((r) => !r.url && !r.error);
  const canGenerate = prompt.trim().length > 0 && !running && !uploading && (!m.imageRequired || refs.some((r) => r.url));

  const generate = async (e: Event) => {
    e.preventDefault();
    if (!canGenerate) return;
    abort.current?.abort();
    const ctrl = new AbortController();
    abort.current = ctrl;
    const startedAt = Date.now();
    setNow(startedAt);
    setRun({ taskId: null, record: null, startedAt, error: null });
    // on a phone the result is below the form: bring it into view
    if (matchMedia("(max-width: 760px)").matches) stage.current?.scrollIntoView({ behavior: "smooth", block: "start" });
    const input: Record<string, unknown> = { prompt: prompt.trim(), [m.ratioField]: ratio };
    if (m.formats.length) input.output_format = format;
    if (m.resolutions) input.resolution = resolution;
    const urls = refs.flatMap((r) => (r.url ? [r.url] : []));
    if (m.imageField && urls.length) input[m.imageField] = urls;
    try {
      const taskId = await client.createTask({ model, input });
      setRun((r) => r && { ...r, taskId });
      const record = await client.waitForTask(taskId, {
        signal: ctrl.signal,
        onUpdate: (rec) => setRun((r) => (r && r.taskId === taskId ? { ...r, record: rec } : r)),
      });
      setRun((r) => (r && r.taskId === taskId ? { ...r, record } : r));
      onSettled();
    } catch (err) {
      if (!ctrl.signal.aborted) setRun((r) => r && { ...r, error: errorText(err) });
    }
  };

  const result = run?.record?.state === "success" ? resultUrlsOf(run.record)[0] : null;
  const useAsInput = (url: string) => {
    let target = model;
    if (!m.imageField) {
      target = "nano-banana-pro";
      chooseModel(target);
    }
    if (refs.length < info(target).imageMax) addUrl(url);
  };

  return (
    <div class="playground">
      <form class="card controls" onSubmit={generate}>
        <label class="field">
          <span class="label">Prompt</span>
          <textarea
            name="prompt"
            rows={5}
            maxLength={m.promptMax}
            placeholder="A paper-cut diorama of a lighthouse at dusk"
            value={prompt}
            onInput={(e) => setPrompt((e.target as HTMLTextAreaElement).value)}
            onKeyDown={(e) => {
              if (e.key === "Enter" && (e.metaKey || e.ctrlKey)) generate(e);
            }}
          />
          <span class="hint">
            {prompt.length.toLocaleString()} / {m.promptMax.toLocaleString()}
          </span>
        </label>
        <label class="field">
          <span class="label">Model</span>
          <select value={model} onChange={(e) => chooseModel((e.target as HTMLSelectElement).value as ModelId)}>
            {MODEL_IDS.map((id) => (
              <option key={id} value={id}>
                {id}
              </option>
            ))}
          </select>
          <span class="hint">{m.summary}</span>
        </label>
        <div class="row">
          <label class="field">
            <span class="label">Aspect ratio</span>
            <select value={ratio} onChange={(e) => setRatio((e.target as HTMLSelectElement).value)}>
              {m.ratios.map((r) => (
                <option key={r} value={r}>
                  {r}
                </option>
              ))}
            </select>
          </label>
          {m.resolutions ? (
            <label class="field">
              <span class="label">Resolution</span>
              <select value={resolution} onChange={(e) => setResolution((e.target as HTMLSelectElement).value)}>
                {m.resolutions.map((r) => (
                  <option key={r} value={r}>
                    {r}
                  </option>
                ))}
              </select>
            </label>
          ) : null}
          {m.formats.length ? (
            <label class="field">
              <span class="label">Format</span>
              <select value={format} onChange={(e) => setFormat((e.target as HTMLSelectElement).value)}>
                {m.formats.map((f) => (
                  <option key={f} value={f}>
                    {f.toUpperCase()}
                  </option>
                ))}
              </select>
            </label>
          ) : null}
        </div>
        {m.imageField ? (
          <References
            refs={refs}
            max={m.imageMax}
            required={m.imageRequired}
            refUrl={refUrl}
            setRefUrl={setRefUrl}
            addFiles={addFiles}
            addUrl={addUrl}
            removeRef={removeRef}
          />
        ) : null}
        <button type="submit" class="btn btn-primary btn-block btn-large" disabled={!canGenerate}>
          {running ? "Generating…" : "Generate"}
        </button>
      </form>
      <section class="card stage" aria-label="Result" aria-live="polite" ref={stage}>
        <Stage run={run} ratio={ratio} now={now} result={result} prompt={prompt} client={client} onUseAsInput={useAsInput} />
      </section>
    </div>
  );
}

function References(p: {
  refs: Ref[];
  max: number;
  required: boolean;
  refUrl: string;
  setRefUrl: (v: string) => void;
  addFiles: (f: FileList | File[]) => void;
  addUrl: (u: string) => void;
  removeRef: (id: number) => void;
}) {
  const [over, setOver] = useState(false);
  const full = p.refs.length >= p.max;
  return (
    <fieldset class="field refs">
      <legend class="label">
        Reference images{" "}
        <span class="muted">
          ({p.refs.length}/{p.max}
          {p.required ? ", at least one" : ", optional"})
        </span>
      </legend>
      {p.refs.length ? (
        <ul class="ref-list">
          {p.refs.map((r) => (
            <li key={r.id} class={r.error ? "ref ref-error" : "ref"} title={r.error ?? r.name}>
              {r.preview ? <img src={r.preview} alt={r.name} /> : <span class="ref-url">{hostOf(r.name)}</span>}
              {!r.url && !r.error ? <span class="ref-busy" role="status" aria-label="Uploading" /> : null}
              <button type="button" class="ref-remove" aria-label={`Remove ${r.name}`} onClick={() => p.removeRef(r.id)}>
                ×
              </button>
            </li>
          ))}
        </ul>
      ) : null}
      {!full ? (
        <label
          class={over ? "dropzone over" : "dropzone"}
          onDragOver={(e) => {
            e.preventDefault();
            setOver(true);
          }}
          onDragLeave={() => setOver(false)}
          onDrop={(e) => {
            e.preventDefault();
            setOver(false);
            if (e.dataTransfer?.files.length) p.addFiles(e.dataTransfer.files);
          }}
        >
          <input
            type="file"
            accept="image/png,image/jpeg,image/webp"
            multiple
            class="visually-hidden"
            onChange={(e) => {
              const input = e.target as HTMLInputElement;
              if (input.files) p.addFiles(input.files);
              input.value = "";
            }}
          />
          <span>
            <strong>Drop images here</strong> or click to choose
          </span>
          <span class="hint">PNG, JPEG or WebP, up to 30 MB each</span>
        </label>
      ) : null}
      {!full ? (
        <div class="url-add">
          <input
            type="url"
            aria-label="Image URL"
            placeholder="or paste an image URL"
            value={p.refUrl}
            onInput={(e) => p.setRefUrl((e.target as HTMLInputElement).value)}
            onKeyDown={(e) => {
              if (e.key === "Enter") {
                e.preventDefault();
                p.addUrl(p.refUrl);
              }
            }}
          />
          <button type="button" class="btn btn-small" onClick={() => p.addUrl(p.refUrl)} disabled={!p.refUrl.trim()}>
            Add
          </button>
        </div>
      ) : null}
    </fieldset>
  );
}

const STEPS = [
  { key: "queued", label: "Queued", states: ["waiting", "queuing"] },
  { key: "generating", label: "Generating", states: ["generating"] },
  { key: "done", label: "Done", states: ["success", "fail"] },
];

/** the placeholder takes the shape of the image being made (CSSOM, so the CSP allows it). */
function ratioStyle(ratio: string): { aspectRatio: string } | undefined {
  const m = /^(\d+):(\d+)$/.exec(ratio);
  return m ? { aspectRatio: `${m[1]} / ${m[2]}` } : undefined;
}

function Stage(p: {
  run: Run | null;
  ratio: string;
  now: number;
  result: string | null;
  prompt: string;
  client: PeelClient;
  onUseAsInput: (url: string) => void;
}) {
  const { run } = p;
  const [downloading, setDownloading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  if (!run) {
    return (
      <div class="stage-empty">
        <div class="stage-art" aria-hidden="true" />
        <p class="empty-title">Your image appears here</p>
        <p class="muted">Write a prompt, pick a ratio and size, and press Generate. Progress shows live.</p>
      </div>
    );
  }
  const rec = run.record;
  const state = rec?.state ?? "waiting";
  const stepIndex = STEPS.findIndex((s) => s.states.includes(state));
  const elapsed = (rec && (rec.state === "success" || rec.state === "fail") ? rec.updateTime : p.now) - run.startedAt;
  const download = async () => {
    if (!p.result) return;
    setDownloading(true);
    setError(null);
    try {
      location.assign(await p.client.downloadUrl(p.result));
    } catch (err) {
      setError(errorText(err));
    } finally {
      setDownloading(false);
    }
  };
  return (
    <div class="stage-run">
      <div class="stage-status">
        <StateBadge state={run.error ? "fail" : state} />
        <ol class="steps" aria-label="Progress">
          {STEPS.map((s, i) => (
            <li key={s.key} class={i < stepIndex ? "step done" : i === stepIndex ? "step current" : "step"}>
              {s.label}
            </li>
          ))}
        </ol>
        <span class="muted elapsed">{seconds(Math.max(0, elapsed))}</span>
      </div>
      {rec?.queuePosition !== undefined ? (
        <p class="muted small">
          {rec.queuePosition === 0 ? "Next in line" : `${rec.queuePosition} ahead in the queue`}
          {rec.etaMs !== undefined ? ` · about ${seconds(rec.etaMs)}` : ""}
        </p>
      ) : null}
      <ErrorNote
        error={run.error ?? (rec?.state === "fail" ? `${rec.failMsg || "The task failed"} (failCode ${rec.failCode})` : null)}
      />
      <ErrorNote error={error} />
      {p.result ? (
        <figure class="result">
          <a href={p.result} target="_blank" rel="noreferrer">
            <img src={p.result} alt={`Generated image: ${p.prompt}`} />
          </a>
          <figcaption class="result-actions">
            <button type="button" class="btn" onClick={download} disabled={downloading}>
              {downloading ? "Preparing…" : "Download"}
            </button>
            <button type="button" class="btn" onClick={() => p.onUseAsInput(p.result!)}>
              Use as input
            </button>
            {rec ? (
              <a class="btn btn-ghost" href={`#/task/${rec.taskId}`}>
                Details
              </a>
            ) : null}
          </figcaption>
        </figure>
      ) : !run.error && rec?.state !== "fail" ? (
        <div
          class={ratioStyle(p.ratio) ? "placeholder placeholder-shaped shimmer" : "placeholder shimmer"}
          aria-hidden="true"
          style={ratioStyle(p.ratio)}
        />
      ) : null}
    </div>
  );
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

/** upload names are bare file names of safe characters (the upload API refuses others). */
function safeName(name: string): string {
  const cleaned = name.replace(/[^A-Za-z0-9._-]+/g, "-").replace(/^[-.]+/, "");
  return cleaned.slice(-100) || "image";
}
