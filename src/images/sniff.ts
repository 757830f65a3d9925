/** Image formats peel accepts, judged from the bytes (never from a label or file name). */
export type SniffedFormat = "png" | "jpeg" | "webp";

export const MIME_OF: Record<SniffedFormat, "image/png" | "image/jpeg" | "image/webp"> = {
  png: "image/png",
  jpeg: "image/jpeg",
  webp: "image/webp",
};

export const EXT_OF: Record<SniffedFormat, string> = { png: "png", jpeg: "jpg", webp: "webp" };

/** Magic numbers (docs/gemini.md#image-formats). Needs at most the first 12 bytes. */
export function sniffImage(b: Uint8Array): SniffedFormat | null {
  if (
    b.length >= 8 &&
    b[0] === 0x89 &&
    b[1] === 0x50 &&
    b[2] === 0x4e &&
    b[3] === 0x47 &&
    b[4] === 0x0d &&
    b[5] === 0x0a &&
    b[6] === 0x1a &&
    b[7] === 0x0a
  )
    return "png";
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return "jpeg";
  if (
    b.length >= 12 &&
    b[0] === 0x52 &&
    b[1] === 0x49 &&
    b[2] === 0x46 &&
    b[3] === 0x46 &&
    b[8] === 0x57 &&
    b[9] === 0x45 &&
    b[10] === 0x42 &&
    b[11] === 0x50
  )
    return "webp";
  return null;
}
