import fc from "fast-check";
import type { FuzzContext } from "./fuzz.js";

/**
 * The values the fuzz puts into requests (test/proof/fuzz.ts): strings (plain, unicode, binary and
 * a list of known-nasty ones), any JSON (now and then thousands of levels deep or ten thousand
 * values wide), URLs aimed at private addresses, createTask bodies close to valid with junk in
 * their fields, and multipart bodies well-formed, cut short or without a boundary.
 */

export const nasty = fc.constantFrom(
  "",
  " ",
  "%zz",
  "%",
  "%00",
  "%E0%A4%A",
  "..",
  "../../etc/passwd",
  "..%2f..%2fetc%2fpasswd",
  "\u0000",
  "\uFFFD",
  "🙂",
  "a".repeat(300),
  "x".repeat(5000),
  "null",
  "undefined",
  "-1",
  "1e999",
  "0x10",
  "NaN",
  "[]",
  "{}",
  "<script>",
  "' OR 1=1 --",
  "\r\nX-Injected: 1",
);

/** A string for an id, a query value or a field: plain, random unicode or nasty. */
export const text = fc.oneof(
  { weight: 2, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: "grapheme", maxLength: 40 }) },
  { weight: 3, arbitrary: nasty },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 20 }) },
);

/** Any JSON value, now and then very deep or very wide. */
export const jsonish: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: fc.jsonValue({ maxDepth: 4 }) },
  { weight: 1, arbitrary: fc.integer({ min: 20, max: 6000 }).map((n) => deep(n)) },
  { weight: 1, arbitrary: fc.integer({ min: 9000, max: 12000 }).map((n) => Array(n).fill(0)) },
  { weight: 1, arbitrary: fc.constantFrom(null, true, 0, -1, 1e308, "", "x".repeat(20_000)) },
);

function deep(n: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < n; i++) v = i % 2 ? [v] : { a: v };
  return v;
}

export const models = fc.constantFrom(
  "nano-banana-pro",
  "nano-banana-2",
  "nano-banana-2-lite",
  "google/nano-banana",
  "google/nano-banana-edit",
  "NANO-BANANA-PRO",
  "gpt-image-1",
  "",
);

export function urlish(ctx: FuzzContext) {
  return fc.oneof(
    fc.constantFrom(
      `${ctx.publicUrl}/files/u/nope/uploads/a.png`,
      `${ctx.publicUrl}/files/r/${ctx.taskId}/x.png`,
      "http://127.0.0.1:1/x.png",
      "http://[::1]/x.png",
      "http://169.254.169.254/latest/meta-data/",
      "http://[::ffff:127.0.0.1]/",
      "http://0x7f000001/",
      "http://localhost./",
      "ftp://example.com/a.png",
      "javascript:alert(1)",
      "file:///etc/passwd",
      "data:image/png;base64,iVBORw0KGgo=",
      "http://user:pw@127.0.0.1/",
      "https://",
      "not a url",
    ),
    text,
  );
}

/** A createTask body: mostly close to valid, with one or more fields replaced by junk. */
export function createTaskBody(ctx: FuzzContext): fc.Arbitrary<unknown> {
  const input = fc.record(
    {
      prompt: fc.oneof(fc.string({ maxLength: 200 }), text, jsonish),
      image_input: fc.oneof(fc.array(urlish(ctx), { maxLength: 10 }), jsonish),
      image_urls: fc.oneof(fc.array(urlish(ctx), { maxLength: 15 }), jsonish),
      aspect_ratio: fc.oneof(fc.constantFrom("1:1", "16:9", "auto", "9:16", "21:9", "1:0", ""), text),
      resolution: fc.oneof(fc.constantFrom("1K", "2K", "4K", "8K", "1k"), text),
      output_format: fc.oneof(fc.constantFrom("png", "jpg", "jpeg", "webp"), text),
      google_search: fc.oneof(fc.boolean(), jsonish),
      extra: jsonish,
    },
    { requiredKeys: [] },
  );
  return fc.oneof(
    {
      weight: 5,
      arbitrary: fc.record({ model: models, input, callBackUrl: fc.option(urlish(ctx)) }, { requiredKeys: ["model"] }),
    },
    { weight: 1, arbitrary: fc.record({ model: fc.oneof(models, jsonish), input: jsonish, callBackUrl: jsonish }) },
    { weight: 1, arbitrary: jsonish },
  );
}

/** multipart/form-data bodies: well-formed, cut short, without a boundary, with junk parts. */
export function multipart(): fc.Arbitrary<{ contentType: string; body: Buffer }> {
  const png = Buffer.from("89504e470d0a1a0a0000000d4948445200000001000000010806000000", "hex");
  return fc
    .record({
      boundary: fc.oneof(fc.constantFrom("XyZ", "----b", "a".repeat(70)), fc.string({ minLength: 1, maxLength: 20 })),
      declared: fc.oneof(fc.constant("same"), fc.constant("none"), fc.constant("other"), text),
      parts: fc.array(
        fc.record({
          name: fc.oneof(fc.constantFrom("file", "uploadPath", "fileName", "file"), text),
          filename: fc.option(fc.oneof(fc.constantFrom("a.png", "../../x.png", "", "a b.png"), text)),
          content: fc.oneof(
            fc.constant(png),
            fc.uint8Array({ maxLength: 300 }).map(Buffer.from),
            text.map((s) => Buffer.from(s)),
          ),
        }),
        { maxLength: 4 },
      ),
      cut: fc.oneof(fc.constant(-1), fc.nat(400)),
    })
    .map(({ boundary, declared, parts, cut }) => {
      const chunks: Buffer[] = [];
      for (const p of parts) {
        const disp = `form-data; name="${p.name}"${p.filename === null ? "" : `; filename="${p.filename}"`}`;
        chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: ${disp}\r\n\r\n`, "utf8"), p.content, Buffer.from("\r\n"));
      }
      chunks.push(Buffer.from(`--${boundary}--\r\n`));
      let body = Buffer.concat(chunks);
      if (cut >= 0 && cut < body.length) body = body.subarray(0, cut);
      const declaredText = declared.replace(/[\r\n\u0000]/g, "");
      const b =
        declared === "same" ? boundary : declared === "other" ? `${boundary}x` : declared === "none" ? null : declaredText;
      const contentType = b === null ? "multipart/form-data" : `multipart/form-data; boundary=${b.replace(/[\r\n\u0000]/g, "")}`;
      return { contentType, body };
    });
}
