import Database from "better-sqlite3";

/**
 * The connection plus a prepared-statement cache shared by the aggregate modules. Statements are
 * prepared on first use and kept (createTask and getTask are on the hot path, so preparing per
 * call would dominate their cost).
 */
export class SqliteDb {
  readonly db: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();
  private readonly runner: Database.Transaction<(fn: () => unknown) => unknown>;
  /** writes waiting for the next group commit (see `batch`). */
  private queue: { fn: () => unknown; resolve: (v: unknown) => void; reject: (e: unknown) => void }[] = [];

  constructor(filename: string) {
    this.db = new Database(filename);
    // busy_timeout first: switching to WAL needs a lock another process may hold.
    this.db.pragma("busy_timeout = 5000");
    this.db.pragma("journal_mode = WAL");
    // NORMAL in WAL mode: a commit survives a process crash; only an OS crash may lose the last ones.
    this.db.pragma("synchronous = NORMAL");
    this.db.pragma("foreign_keys = ON");
    // Reads of hot pages (recordInfo polls) come from the page cache without a read() per page.
    this.db.pragma("mmap_size = 268435456");
    // One wrapper reused for every transaction; the body comes in as its argument.
    this.runner = this.db.transaction((fn: () => unknown) => fn());
  }

  stmt(sql: string): Database.Statement {
    let s = this.statements.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  get<T>(sql: string, ...params: unknown[]): T | undefined {
    return this.stmt(sql).get(...params) as T | undefined;
  }

  all<T>(sql: string, ...params: unknown[]): T[] {
    return this.stmt(sql).all(...params) as T[];
  }

  /** Runs a write; returns the number of rows changed. */
  run(sql: string, ...params: unknown[]): number {
    return this.stmt(sql).run(...params).changes;
  }

  /**
   * Runs `fn` in a BEGIN IMMEDIATE transaction: the write lock is taken up front, so a
   * read-then-write inside cannot be interleaved by another connection. A throw rolls back.
   */
  immediate<T>(fn: () => T): T {
    return this.runner.immediate(fn) as T;
  }

  /**
   * Group commit: runs `fn` together with the other writes queued in the same turn of the event
   * loop, in one transaction (each in its own savepoint, so one failure undoes only its own
   * writes), and resolves once that transaction has committed. A commit costs far more than the
   * SQL of one createTask (WAL frames written per commit), so concurrent requests share it.
   * `fn` may throw a Rollback to undo its own writes and answer the Rollback's value.
   */
  batch<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      if (this.queue.length === 1) setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    if (this.queue.length === 0) return; // already flushed by close()
    const jobs = this.queue;
    this.queue = [];
    const results: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
    try {
      this.immediate(() => {
        for (const job of jobs) {
          try {
            // Nested call = SAVEPOINT: a throw rolls back this job only.
            results.push({ ok: true, value: this.immediate(job.fn) });
          } catch (error) {
            // A Rollback is a refusal, not a failure: its writes are undone, its value answered.
            results.push(error instanceof Rollback ? { ok: true, value: error.value } : { ok: false, error });
          }
        }
      });
    } catch (error) {
      // The commit itself failed (disk full, lock timeout): nothing of the batch is stored.
      for (const job of jobs) job.reject(error);
      return;
    }
    jobs.forEach((job, i) => {
      const r = results[i];
      if (r.ok) job.resolve(r.value);
      else job.reject(r.error);
    });
  }

  close(): void {
    // Commit what callers are already waiting for rather than failing it.
    if (this.queue.length && this.db.open) this.flush();
    this.statements.clear();
    if (this.db.open) this.db.close();
  }
}

/** Signals a refusal from inside a transaction: thrown to roll back, caught to return `value`. */
export class Rollback<T> {
  constructor(readonly value: T) {}
}

export const bool = (b: boolean): number => (b ? 1 : 0);
