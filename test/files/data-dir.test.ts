import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { dataDirProblem } from "../../src/files/data-dir.js";
import { mountTmpfs } from "../helpers/tmpfs.js";

// Issue 10 §5: `peel serve` on a data directory it cannot write prints one line naming the path
// and the fix, and exits with status 2 — instead of a SQLITE_CANTOPEN stack trace.

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

function serve(env: Record<string, string>): Promise<{ code: number | null; stderr: string; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", "src/cli.ts", "serve"], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: "0", HOST: "127.0.0.1", PEEL_ENGINE: "sandbox", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    let stdout = "";
    child.stderr.on("data", (c: Buffer) => (stderr += c));
    child.stdout.on("data", (c: Buffer) => (stdout += c));
    // a server that did start is a failure of this test: stop it
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, stdout });
    });
  });
}

function assertOneLine(res: { code: number | null; stderr: string; stdout: string }, dir: string, why: RegExp): void {
  assert.equal(res.code, 2, `exit ${res.code}\n${res.stderr}${res.stdout}`);
  const lines = res.stderr.trim().split("\n");
  assert.equal(lines.length, 1, res.stderr);
  assert.ok(lines[0].startsWith("peel: "), lines[0]);
  assert.ok(lines[0].includes(dir), `names ${dir}: ${lines[0]}`);
  assert.match(lines[0], why);
  assert.match(lines[0], /PEEL_DATA_DIR/, "says what to do");
  assert.doesNotMatch(res.stderr, /\n\s+at /, "no stack trace");
}

test("a data directory on a read-only file system: one line, exit 2", async (t) => {
  const fs = mountTmpfs(1024 * 1024, { readOnly: true });
  if (typeof fs === "string") return t.skip(fs);
  t.after(() => fs.unmount());
  const dir = path.join(fs.dir, "data");
  assertOneLine(await serve({ PEEL_DATA_DIR: dir }), dir, /read-only file system \(EROFS\)/);
  // the mount point itself, which exists
  assertOneLine(await serve({ PEEL_DATA_DIR: fs.dir }), fs.dir, /read-only/);
});

test("a SQLite database outside the data directory is checked too", async (t) => {
  const fs = mountTmpfs(1024 * 1024, { readOnly: true });
  if (typeof fs === "string") return t.skip(fs);
  t.after(() => fs.unmount());
  const data = mkdtempSync(path.join(os.tmpdir(), "peel-dd-"));
  t.after(() => rmSync(data, { recursive: true, force: true }));
  const res = await serve({ PEEL_DATA_DIR: data, PEEL_DATABASE_URL: `sqlite:${fs.dir}/db/peel.db` });
  assertOneLine(res, path.join(fs.dir, "db"), /EROFS/);
});

test("a data directory owned by someone else: one line, exit 2", async (t) => {
  if (process.getuid?.() === 0)
    return t.skip("running as root: permissions do not stop root (the read-only mount case covers it)");
  const parent = mkdtempSync(path.join(os.tmpdir(), "peel-dd-"));
  t.after(() => {
    chmodSync(parent, 0o755);
    rmSync(parent, { recursive: true, force: true });
  });
  const dir = path.join(parent, "data");
  mkdirSync(dir);
  chmodSync(dir, 0o555);
  assertOneLine(await serve({ PEEL_DATA_DIR: dir }), dir, /not writable by this user \(EACCES\)/);
});

test("a data directory that is a file: one line, exit 2 (any machine)", async (t) => {
  const parent = mkdtempSync(path.join(os.tmpdir(), "peel-dd-"));
  t.after(() => rmSync(parent, { recursive: true, force: true }));
  const file = path.join(parent, "not-a-dir");
  writeFileSync(file, "x");
  assertOneLine(await serve({ PEEL_DATA_DIR: file }), file, /not a directory/);
  // and the function itself says nothing for a good directory (creating it when missing)
  assert.equal(dataDirProblem({ dataDir: path.join(parent, "new", "data"), databaseUrl: "sqlite::memory:" }), null);
});
