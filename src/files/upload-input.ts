import { randomBytes } from "node:crypto";
import { UploadError } from "../errors.js";
import { EXT_OF, type SniffedFormat } from "../images/sniff.js";

/**
 * Checks and decoding for the upload API's client fields (docs/kie-contract.md §10.1). Pure functions:
 * each returns the normalised value or throws the UploadError the route answers with.
 */

/** One path segment or file name: the URL-safe set, so URLs need no escaping and mean one thing. */
const SEGMENT = /^[A-Za-z0-9._-]+$/;
const MAX_SEGMENT = 255;
/** keeps storage keys and URLs well inside the limits of S3 (1024-byte keys) and local disks. */
const MAX_UPLOAD_PATH = 512;
export const DEFAULT_UPLOAD_PATH = "uploads";

/**
 * `uploadPath`: leading/trailing slashes stripped; segments of `[A-Za-z0-9._-]`, never `.` or `..`,
 * no empty segments (`a//b`). Absent, null or empty → `uploads`.
 */
export function normalizeUploadPath(raw: unknown): string {
  if (raw === undefined || raw === null) return DEFAULT_UPLOAD_PATH;
  if (typeof raw !== "string") throw new UploadError("bad_upload_path");
  const p = raw.replace(/^\/+|\/+$/g, "");
  if (p === "") return DEFAULT_UPLOAD_PATH;
  if (p.length > MAX_UPLOAD_PATH) throw new UploadError("bad_upload_path");
  for (const seg of p.split("/")) {
    if (!SEGMENT.test(seg) || seg === "." || seg === ".." || seg.length > MAX_SEGMENT) {
      throw new UploadError("bad_upload_path");
    }
  }
  return p;
}

/**
 * First half of the `fileName` check, done before the body is read: null when absent (a name is
 * generated after sniffing), else the name itself. A bare name of `[A-Za-z0-9._-]`, ≤ 255 chars,
 * without `..` anywhere (harmless inside one segment, but nobody needs it and some tools that
 * join paths do not agree on it).
 */
export function checkFileName(raw: unknown): string | null {
  if (raw === undefined || raw === null || raw === "") return null;
  if (typeof raw !== "string") throw new UploadError("bad_file_name");
  if (raw.length > MAX_SEGMENT || !SEGMENT.test(raw) || raw.includes("..") || raw === ".") {
    throw new UploadError("bad_file_name");
  }
  return raw;
}

/**
 * Second half, once the type is known: a generated name (16 hex + extension) when none was given,
 * the detected extension appended to a name without one. A name whose extension disagrees with the
 * bytes keeps it (kie does the same); the served Content-Type always comes from the bytes.
 */
export function finalFileName(checked: string | null, format: SniffedFormat): string {
  const ext = EXT_OF[format];
  if (checked === null) return `${randomBytes(8).toString("hex")}.${ext}`;
  if (hasExtension(checked)) return checked;
  const named = `${checked}.${ext}`;
  if (named.length > MAX_SEGMENT) throw new UploadError("bad_file_name");
  return named;
}

/**
 * The name a multipart `file` part carries (`filename=` in its Content-Disposition), made safe for
 * peel's URLs, for uploads without a `fileName` field (kie keeps the original name too):
 * only its last path segment (`C:\\fakepath\\a.png`, `dir/a.png` → `a.png`), accents dropped
 * (`café` → `cafe`), every run of other characters one `_`, no leading dots, no `..`, at most 255
 * characters with the extension kept. null when nothing usable is left.
 */
export function sanitizePartFileName(raw: unknown): string | null {
  if (typeof raw !== "string") return null;
  const base = (raw.split(/[\\/]/).pop() ?? "")
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .replace(/[^A-Za-z0-9._-]+/g, "_");
  const ext = /\.[A-Za-z0-9]{1,10}$/.exec(base)?.[0] ?? "";
  const stem = base
    .slice(0, base.length - ext.length)
    .replace(/\.{2,}/g, ".")
    .replace(/^[._-]+|[._-]+$/g, "")
    .slice(0, MAX_SEGMENT - ext.length)
    .replace(/[._-]+$/, "");
  // a name made only of replaced characters (`日本.png`) or a bare dot file says nothing
  return /[A-Za-z0-9]/.test(stem) ? stem + ext : null;
}

/** `photo.png` → `photo-2.png`: the n-th alternative for a name already taken in its folder. */
export function numberedFileName(name: string, n: number): string {
  const dot = hasExtension(name) ? name.lastIndexOf(".") : name.length;
  const suffix = `-${n}`;
  const stem = name.slice(0, Math.min(dot, MAX_SEGMENT - suffix.length - (name.length - dot)));
  return `${stem}${suffix}${name.slice(dot)}`;
}

/** `a.png`, `x.tar.gz` yes; `README`, `.env` (a dot file), `name.` no. */
function hasExtension(name: string): boolean {
  return /.\.[A-Za-z0-9]{1,10}$/.test(name);
}

const DATA_URL = /^data:([a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+)?((?:;[a-z0-9!#$&^_.+-]+=[^;,]*)*);base64,/i;

/**
 * `base64Data` (docs/kie-contract.md §10.1): bare Base64 or a `data:<mime>;base64,` URL. The declared mime
 * is ignored (the type comes from the bytes). Line breaks and spaces are dropped (MIME encoders wrap
 * lines); anything else outside the Base64 alphabet (standard or URL-safe), misplaced padding or an
 * impossible length is `bad_base64`. Missing, null or empty is `missing_base64`.
 */
export function decodeBase64Upload(base64Data: unknown): Buffer {
  if (base64Data === undefined || base64Data === null || base64Data === "") throw new UploadError("missing_base64");
  if (typeof base64Data !== "string") throw new UploadError("bad_base64");
  let text = base64Data;
  if (/^data:/i.test(text)) {
    const m = DATA_URL.exec(text.slice(0, 512));
    if (!m) throw new UploadError("bad_base64"); // a data URL, but not a Base64 one
    text = text.slice(m[0].length);
  }
  text = text.replace(/[\r\n\t ]+/g, "");
  if (text === "") throw new UploadError("bad_base64");
  // Node's decoder silently skips junk characters, so the alphabet is checked here first.
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) throw new UploadError("bad_base64");
  const padded = text.endsWith("=");
  if ((padded && text.length % 4 !== 0) || text.length % 4 === 1) throw new UploadError("bad_base64");
  return Buffer.from(text, "base64");
}
