import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { validateCreateTask } from "../src/domain/validation.js";
import { THUMBNAIL_WIDTHS } from "../src/files/thumbnails.js";
import {
  FAIL_REASONS,
  FILE_ERRORS,
  KIE_ERRORS,
  PEEL_ERRORS,
  PROTOCOL_ERRORS,
  UPLOAD_ERRORS,
  type ErrorDef,
} from "../src/errors.js";

/**
 * Every error in the registry (src/errors.ts) has an entry in docs/errors.md, and every entry there
 * is in the registry, with the same HTTP status, code and msg; and no code outside the one error
 * helper (sendError, src/http/envelope.ts) writes an error body itself.
 */

const DOC = readFileSync(fileURLToPath(new URL("../docs/errors.md", import.meta.url)), "utf8");

/** The table rows (`| ... |`) of the section whose heading contains `marker`. */
function sectionRows(marker: string): string[][] {
  const lines = DOC.split("\n");
  const start = lines.findIndex((l) => /^#{2,3} /.test(l) && l.includes(marker));
  assert.ok(start >= 0, `docs/errors.md has a section for ${marker}`);
  const rows: string[][] = [];
  for (let i = start + 1; i < lines.length && !/^#{2,3} /.test(lines[i]); i++) {
    const l = lines[i].trim();
    if (!l.startsWith("|") || /^\|[-\s|]+\|$/.test(l)) continue;
    rows.push(
      l
        .slice(1, -1)
        .split(" | ")
        .map((c) => c.trim()),
    );
  }
  assert.ok(rows.length > 1, `rows under ${marker}`);
  return rows.slice(1); // drop the header row
}

const unquote = (cell: string): string => {
  const m = /^`([^`]*)`/.exec(cell);
  assert.ok(m, `a \`code\` cell: ${cell}`);
  return m[1];
};

function docErrors(marker: string): Map<string, { http: number; code: number; msg: string; when: string }> {
  const out = new Map<string, { http: number; code: number; msg: string; when: string }>();
  for (const [name, http, code, msg, when] of sectionRows(marker)) {
    const n = unquote(name);
    assert.ok(!out.has(n), `${marker}: ${n} documented twice`);
    out.set(n, { http: Number(http), code: Number(code), msg: unquote(msg), when: when ?? "" });
  }
  return out;
}

function checkBothWays(marker: string, registry: Record<string, ErrorDef>): void {
  const doc = docErrors(marker);
  for (const [name, def] of Object.entries(registry)) {
    const d = doc.get(name);
    assert.ok(d, `${marker}.${name} is missing from docs/errors.md`);
    assert.deepEqual(
      { http: d.http, code: d.code, msg: d.msg },
      { http: def.http, code: def.code, msg: def.msg },
      `${marker}.${name}`,
    );
    assert.ok(d.when.length > 10, `${marker}.${name} says when it happens`);
  }
  for (const name of doc.keys())
    assert.ok(name in registry, `docs/errors.md documents ${marker}.${name}, which is not in the registry`);
}

describe("docs/errors.md ⇄ src/errors.ts", () => {
  test("KIE_ERRORS", () => checkBothWays("KIE_ERRORS", KIE_ERRORS));
  test("UPLOAD_ERRORS", () => checkBothWays("UPLOAD_ERRORS", UPLOAD_ERRORS));
  test("FILE_ERRORS", () => checkBothWays("FILE_ERRORS", FILE_ERRORS));

  test("PEEL_ERRORS (the body's error.code is the entry's name)", () => {
    const doc = new Map<string, { http: number; msg: string; when: string }>();
    for (const [name, http, msg, when] of sectionRows("PEEL_ERRORS")) {
      const n = unquote(name);
      assert.ok(!doc.has(n), `PEEL_ERRORS: ${n} documented twice`);
      doc.set(n, { http: Number(http), msg: unquote(msg), when: when ?? "" });
    }
    for (const [name, def] of Object.entries(PEEL_ERRORS)) {
      const d = doc.get(name);
      assert.ok(d, `PEEL_ERRORS.${name} is missing from docs/errors.md`);
      assert.deepEqual({ http: d.http, msg: d.msg }, { http: def.http, msg: def.msg }, `PEEL_ERRORS.${name}`);
      assert.ok(d.when.length > 10, `PEEL_ERRORS.${name} says when it happens`);
    }
    for (const name of doc.keys())
      assert.ok(name in PEEL_ERRORS, `docs/errors.md documents PEEL_ERRORS.${name}, which is not in the registry`);
  });

  test("PROTOCOL_ERRORS", () => checkBothWays("PROTOCOL_ERRORS", PROTOCOL_ERRORS));

  test("FAIL_REASONS", () => {
    const doc = new Map<string, { failCode: string; failMsg: string; when: string }>();
    for (const [name, failCode, failMsg, when] of sectionRows("FAIL_REASONS")) {
      doc.set(unquote(name), { failCode: unquote(failCode), failMsg: unquote(failMsg), when });
    }
    for (const [name, r] of Object.entries(FAIL_REASONS)) {
      const d = doc.get(name);
      assert.ok(d, `FAIL_REASONS.${name} is missing from docs/errors.md`);
      assert.deepEqual(
        { failCode: d.failCode, failMsg: d.failMsg },
        { failCode: r.failCode, failMsg: r.failMsg },
        `FAIL_REASONS.${name}`,
      );
      assert.ok(d.when.length > 10);
    }
    for (const name of doc.keys())
      assert.ok(name in FAIL_REASONS, `docs/errors.md documents FAIL_REASONS.${name}, which is not in the registry`);
  });
});

describe("registry sanity", () => {
  test("HTTP status is 200 for business errors; only 404 route, 429 and 500 differ (docs/kie-contract.md §3)", () => {
    for (const [name, def] of [...Object.entries(KIE_ERRORS), ...Object.entries(UPLOAD_ERRORS)]) {
      if (def.http !== 200) assert.ok([404, 429, 500].includes(def.http) && def.http === def.code, name);
      assert.ok(def.msg.length > 0 && def.msg === def.msg.trim(), name);
    }
  });

  test("file URL errors carry their HTTP status as body code", () => {
    for (const [name, def] of Object.entries(FILE_ERRORS))
      assert.ok([400, 403, 404, 422].includes(def.http) && def.http === def.code, name);
    assert.equal(FILE_ERRORS.bad_width.msg, `w must be one of ${THUMBNAIL_WIDTHS.join(", ")}`);
  });

  test("admin errors: code is the entry's name, HTTP status is a 4xx or 5xx", () => {
    for (const [name, def] of Object.entries(PEEL_ERRORS)) {
      assert.equal(def.code, name);
      assert.ok(def.http >= 400 && def.http < 600, name);
      assert.ok(def.msg.length > 0 && def.msg === def.msg.trim(), name);
    }
  });

  test("failCodes are the §6.3 set (plus canceled)", () => {
    for (const r of Object.values(FAIL_REASONS)) assert.ok(["422", "500", "501", "canceled"].includes(r.failCode), r.failCode);
  });
});

describe("the validation messages listed in docs/errors.md are what validateCreateTask says", () => {
  // One body per §4.3 row that fails exactly at that row.
  const p = (input: Record<string, unknown>) => ({ model: "nano-banana-pro", input: { prompt: "p", ...input } });
  const BODIES: unknown[] = [
    {},
    { model: "nope" },
    { model: "nano-banana-pro", callBackUrl: "ftp://x" },
    { model: "nano-banana-pro" },
    { model: "nano-banana-pro", input: {} },
    { model: "nano-banana-pro", input: { prompt: 1 } },
    { model: "nano-banana-pro", input: { prompt: "a".repeat(10_001) } },
    p({ image_input: "x" }),
    p({ image_input: Array(9).fill("https://example.com/a.png") }),
    p({ image_input: ["x"] }),
    p({ aspect_ratio: "16x9" }),
    p({ resolution: "1k" }),
    p({ output_format: "PNG" }),
  ];

  test("row by row, in order", () => {
    const rows = sectionRows("validation messages");
    assert.equal(rows.length, 13);
    rows.forEach(([n, msg], i) => {
      assert.equal(Number(n), i + 1);
      const r = validateCreateTask(BODIES[i] as Record<string, unknown>);
      assert.equal(r.ok, false, `row ${n}`);
      assert.equal(!r.ok && r.msg, unquote(msg), `row ${n}`);
    });
  });
});

describe("error bodies are built in one place", () => {
  const SRC = fileURLToPath(new URL("../src", import.meta.url));
  const files = (dir: string): string[] =>
    readdirSync(dir).flatMap((e) => {
      const p = path.join(dir, e);
      return statSync(p).isDirectory() ? files(p) : p.endsWith(".ts") ? [p] : [];
    });

  test("only src/http/envelope.ts sends an object with error, code, msg or success keys", () => {
    const inline = /\.send\(\s*\{\s*(error|code|msg|success)\s*:/;
    const offenders = files(SRC)
      .filter((f) => !f.endsWith(path.join("http", "envelope.ts")))
      .filter((f) => inline.test(readFileSync(f, "utf8")))
      .map((f) => path.relative(SRC, f));
    assert.deepEqual(offenders, [], "build error bodies with sendError and a registry entry");
  });
});
