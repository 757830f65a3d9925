import { randomBytes } from "node:crypto";
import { mkdir, open, rm } from "node:fs/promises";
import path from "node:path";
import { storageErrorLine } from "./storage-full.js";

/**
 * Whether peel's storage (database, file store, data directory) currently accepts writes, as
 * last observed. Writers report what happened (`reportFull` from the error handler, uploads and
 * the result-saving retry; `reportWritten` when a write that had failed goes through); /readyz
 * reads it through `readinessCheck()` (src/ops/readiness.ts, check `storage`).
 *
 * A full state clears itself: the first successful reported write clears it, and `check()` probes
 * the data directory (a small file written, flushed and removed, at most once per PROBE_EVERY_MS)
 * so the status recovers even when no task or upload happens to write meanwhile.
 */
export interface StorageSnapshot {
  ok: boolean;
  /** ISO time of the first failure of the current full period. */
  fullSince?: string;
  /** where the last failure happened: `createTask`, `upload`, `result`, … */
  where?: string;
  /** one line, e.g. `SQLITE_FULL: database or disk is full` */
  error?: string;
}

const PROBE_EVERY_MS = 1000;
/** About what a small write (a task row, a WAL frame batch) needs. */
const PROBE_BYTES = 64 * 1024;

export class StorageStatus {
  private fullSince: number | null = null;
  private where: string | null = null;
  private error: string | null = null;
  private lastProbe = 0;
  private probing: Promise<void> | null = null;

  /** @param probeDir a directory on the data disk (created when missing); null: no probe. */
  constructor(
    private readonly probeDir: string | null,
    private readonly now: () => number = Date.now,
  ) {}

  get full(): boolean {
    return this.fullSince !== null;
  }

  reportFull(where: string, err: unknown): void {
    this.fullSince ??= this.now();
    this.where = where;
    this.error = storageErrorLine(err);
  }

  reportWritten(): void {
    this.fullSince = null;
    this.where = null;
    this.error = null;
  }

  snapshot(): StorageSnapshot {
    if (this.fullSince === null) return { ok: true };
    return {
      ok: false,
      fullSince: new Date(this.fullSince).toISOString(),
      where: this.where ?? undefined,
      error: this.error ?? undefined,
    };
  }

  /** The snapshot, after probing the data directory when storage was last seen full. */
  async check(): Promise<StorageSnapshot> {
    if (this.fullSince !== null && this.probeDir && this.now() - this.lastProbe >= PROBE_EVERY_MS) {
      this.probing ??= this.probe(this.probeDir).finally(() => {
        this.probing = null;
      });
      await this.probing;
    }
    return this.snapshot();
  }

  /** The snapshot as a /readyz check: `{ ok }`, or `{ ok: false, error, fullSince, where }`. */
  async readinessCheck(): Promise<{ ok: boolean; error?: string; fullSince?: string; where?: string }> {
    const s = await this.check();
    if (s.ok) return { ok: true };
    return { ok: false, error: `storage is full (${s.error ?? "no detail"})`, fullSince: s.fullSince, where: s.where };
  }

  private async probe(dir: string): Promise<void> {
    this.lastProbe = this.now();
    const file = path.join(dir, `.peel-probe-${randomBytes(6).toString("hex")}`);
    try {
      await mkdir(dir, { recursive: true });
      const fh = await open(file, "wx", 0o600);
      try {
        await fh.write(Buffer.alloc(PROBE_BYTES));
        await fh.sync();
      } finally {
        await fh.close();
      }
      this.reportWritten();
    } catch {
      // still full (or unwritable): keep the reported failure
    } finally {
      await rm(file, { force: true }).catch(() => undefined);
    }
  }
}
