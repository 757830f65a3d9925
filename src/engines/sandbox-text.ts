/**
 * Text helpers for the sandbox engine's SVG overlays: XML escaping and line wrapping measured in
 * monospace columns. The prompt is drawn in DejaVu Sans Mono, whose advance is a fixed 0.602 em,
 * so wrapping by column count cannot overflow the panel the way width guesses for a proportional
 * font would.
 */

/** Advance width of one DejaVu Sans Mono column, in em (1233/2048), with a little slack. */
export const MONO_ADVANCE_EM = 0.61;

/** Prompt characters considered for drawing; more could never fit even at the smallest size. */
const PROMPT_DRAW_MAX = 3000;

/**
 * Escapes text for an SVG text node or attribute, and drops what XML 1.0 forbids outright (C0
 * controls other than tab/newline/CR, lone surrogates, U+FFFE/U+FFFF): librsvg rejects the whole
 * document otherwise.
 */
export function xmlEscape(text: string): string {
  return text
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, "")
    .replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, "")
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&apos;");
}

/** Columns a code point takes in a monospace font: 2 for East Asian wide characters and emoji. */
function columnsOf(cp: number): number {
  const wide =
    (cp >= 0x1100 && cp <= 0x115f) ||
    (cp >= 0x2e80 && cp <= 0xa4cf) ||
    (cp >= 0xac00 && cp <= 0xd7a3) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xfe30 && cp <= 0xfe4f) ||
    (cp >= 0xff00 && cp <= 0xff60) ||
    (cp >= 0xffe0 && cp <= 0xffe6) ||
    (cp >= 0x1f300 && cp <= 0x1faff) ||
    (cp >= 0x20000 && cp <= 0x3fffd);
  return wide ? 2 : 1;
}

/** Display width of a string in monospace columns. */
export function textColumns(text: string): number {
  let n = 0;
  for (const ch of text) n += columnsOf(ch.codePointAt(0)!);
  return n;
}

/** Cuts `text` to at most `max` columns, ending in "…" when something was cut. */
export function truncateColumns(text: string, max: number): string {
  if (textColumns(text) <= max) return text;
  let out = "";
  let used = 0;
  for (const ch of text) {
    const w = columnsOf(ch.codePointAt(0)!);
    if (used + w > max - 1) break;
    out += ch;
    used += w;
  }
  return `${out}…`;
}

/**
 * Wraps a prompt into at most `maxLines` lines of at most `columns` columns. Newlines start a new
 * line; other whitespace runs collapse to one space; words longer than a line are split. When the
 * text does not fit, the last line ends with "…". Returns the lines and whether anything was cut.
 */
export function wrapText(text: string, columns: number, maxLines: number): { lines: string[]; truncated: boolean } {
  const cols = Math.max(1, Math.floor(columns));
  const limit = Math.max(1, Math.floor(maxLines));
  const source = text.length > PROMPT_DRAW_MAX ? text.slice(0, PROMPT_DRAW_MAX) : text;
  let truncated = source.length < text.length;

  const lines: string[] = [];
  for (const paragraph of source.split(/\r\n|\r|\n/)) {
    const words = paragraph.split(/\s+/).filter((w) => w.length > 0);
    let line = "";
    for (const word of words) {
      const candidate = line ? `${line} ${word}` : word;
      if (textColumns(candidate) <= cols) {
        line = candidate;
        continue;
      }
      if (line) lines.push(line);
      line = "";
      // A word wider than a whole line is split into line-sized pieces.
      let piece = "";
      let used = 0;
      for (const ch of word) {
        const w = columnsOf(ch.codePointAt(0)!);
        if (used + w > cols && piece) {
          lines.push(piece);
          piece = "";
          used = 0;
        }
        piece += ch;
        used += w;
      }
      line = piece;
    }
    // Blank paragraphs are kept as one empty line, but never at the very top.
    if (line || lines.length > 0) lines.push(line);
    if (lines.length > limit) break;
  }
  while (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();

  if (lines.length > limit) {
    lines.length = limit;
    truncated = true;
  }
  if (truncated && lines.length > 0) {
    const last = lines.length - 1;
    const marked = lines[last] ? `${lines[last]} …` : "…";
    lines[last] = textColumns(marked) <= cols ? marked : truncateColumns(marked, cols);
  }
  return { lines, truncated };
}
