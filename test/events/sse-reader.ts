/**
 * A plain reader of a server-sent events response for tests: fetch, then parse the stream as the
 * EventSource spec says (fields, blank-line dispatch, comments). No client library in between, so
 * the tests see exactly the bytes peel sends.
 */
export interface SseEvent {
  id?: string;
  event: string;
  data: string;
}

export interface SseStream {
  status: number;
  headers: Headers;
  /** the whole body of a response that is not a stream (errors). */
  text?: string;
  events: SseEvent[];
  comments: string[];
  retry?: number;
  /** resolves when the server closes the stream. */
  closed: Promise<void>;
  /** resolves with the first event that matches. */
  next(match: (e: SseEvent) => boolean, timeoutMs?: number): Promise<SseEvent>;
  /** resolves when a comment arrives. */
  nextComment(timeoutMs?: number): Promise<string>;
  abort(): void;
}

export async function openSse(url: string, headers: Record<string, string> = {}): Promise<SseStream> {
  const ctrl = new AbortController();
  const res = await fetch(url, { headers: { accept: "text/event-stream", ...headers }, signal: ctrl.signal });
  const events: SseEvent[] = [];
  const comments: string[] = [];
  const waiters = new Set<() => void>();
  const notify = () => {
    for (const w of [...waiters]) w();
  };
  const stream: SseStream = {
    status: res.status,
    headers: res.headers,
    events,
    comments,
    closed: Promise.resolve(),
    abort: () => ctrl.abort(),
    next(match, timeoutMs = 20_000) {
      return waitFor(() => events.find(match), timeoutMs, `an event (have: ${JSON.stringify(events.map((e) => e.id))})`);
    },
    nextComment(timeoutMs = 20_000) {
      const seen = comments.length;
      return waitFor(() => comments[seen], timeoutMs, "a comment");
    },
  };
  function waitFor<T>(probe: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const v = probe();
        if (v !== undefined) {
          waiters.delete(check);
          clearTimeout(timer);
          resolve(v);
        } else if (finished) {
          waiters.delete(check);
          clearTimeout(timer);
          reject(new Error(`stream closed before ${what}`));
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`timed out waiting for ${what}`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });
  }
  let finished = false;
  if (!(res.headers.get("content-type") ?? "").startsWith("text/event-stream")) {
    stream.text = await res.text();
    finished = true;
    return stream;
  }
  stream.closed = (async () => {
    const decoder = new TextDecoder();
    let buf = "";
    let cur: { id?: string; event?: string; data: string[] } = { data: [] };
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buf += decoder.decode(chunk, { stream: true });
        let nl = buf.indexOf("\n");
        while (nl >= 0) {
          const line = buf.slice(0, nl).replace(/\r$/, "");
          buf = buf.slice(nl + 1);
          if (line === "") {
            if (cur.data.length || cur.event || cur.id !== undefined) {
              events.push({ id: cur.id, event: cur.event ?? "message", data: cur.data.join("\n") });
            }
            cur = { data: [] };
          } else if (line.startsWith(":")) {
            comments.push(line.slice(1).trim());
          } else {
            const i = line.indexOf(":");
            const field = i < 0 ? line : line.slice(0, i);
            const value = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
            if (field === "data") cur.data.push(value);
            else if (field === "event") cur.event = value;
            else if (field === "id") cur.id = value;
            else if (field === "retry") stream.retry = Number(value);
          }
          notify();
          nl = buf.indexOf("\n");
        }
      }
    } catch {
      /* aborted */
    } finally {
      finished = true;
      notify();
    }
  })();
  return stream;
}
