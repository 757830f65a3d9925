/** One server-sent event. */
export interface SseMessage {
  id?: string;
  event: string;
  data: string;
}

/**
 * Reads a `text/event-stream` body as the EventSource spec does (fields, comments, dispatch on a
 * blank line), from a fetch Response body, in browsers and Node alike. Resolves when the stream
 * ends; rejects when it breaks.
 */
export async function readSse(body: ReadableStream<Uint8Array>, onMessage: (m: SseMessage) => void): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  let id: string | undefined;
  let event = "";
  let data: string[] = [];
  const line = (l: string) => {
    if (l === "") {
      if (data.length || event) onMessage({ id, event: event || "message", data: data.join("\n") });
      event = "";
      data = [];
      return;
    }
    if (l.startsWith(":")) return;
    const i = l.indexOf(":");
    const field = i < 0 ? l : l.slice(0, i);
    const value = i < 0 ? "" : l.slice(i + 1).replace(/^ /, "");
    if (field === "data") data.push(value);
    else if (field === "event") event = value;
    else if (field === "id") id = value;
  };
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let nl = buf.search(/\r\n|\n|\r/);
      while (nl >= 0) {
        // a "\r" that ends the chunk may be the first half of "\r\n": wait for the next chunk
        if (buf[nl] === "\r" && nl === buf.length - 1) break;
        const eol = buf[nl] === "\r" && buf[nl + 1] === "\n" ? 2 : 1;
        line(buf.slice(0, nl));
        buf = buf.slice(nl + eol);
        nl = buf.search(/\r\n|\n|\r/);
      }
    }
  } finally {
    reader.releaseLock();
  }
}
