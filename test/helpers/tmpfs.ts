import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { open, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

/**
 * A real, small file system for full-disk and read-only tests: `mount -t tmpfs` on a fresh
 * directory. Needs root (or CAP_SYS_ADMIN); `mountTmpfs` returns a reason instead when the mount
 * is refused, and the caller skips with it.
 */
export interface Tmpfs {
  dir: string;
  /** Fills every free block with a filler file; returns the bytes written. */
  fill(): Promise<number>;
  /** Removes the filler: the space is back. */
  free(): Promise<void>;
  unmount(): void;
}

export function mountTmpfs(sizeBytes: number, opts: { readOnly?: boolean } = {}): Tmpfs | string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "peel-tmpfs-"));
  const options = `size=${sizeBytes}${opts.readOnly ? ",ro" : ""}`;
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", options, "tmpfs", dir], { stdio: "pipe" });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    const why = ((err as { stderr?: Buffer }).stderr?.toString() || (err as Error).message).trim();
    return `cannot mount a tmpfs here (${why.split("\n")[0]}); needs root or CAP_SYS_ADMIN`;
  }
  const filler = path.join(dir, "filler");
  let mounted = true;
  return {
    dir,
    async fill() {
      const fh = await open(filler, "a");
      let written = 0;
      try {
        for (const size of [1 << 20, 64 << 10, 4 << 10, 512]) {
          const block = Buffer.alloc(size, 1);
          for (;;) {
            try {
              await fh.write(block);
              written += size;
            } catch (err) {
              if ((err as NodeJS.ErrnoException).code !== "ENOSPC") throw err;
              break;
            }
          }
        }
      } finally {
        await fh.close();
      }
      return written;
    },
    async free() {
      await rm(filler, { force: true });
    },
    unmount() {
      if (!mounted) return;
      mounted = false;
      execFileSync("umount", ["-l", dir], { stdio: "pipe" });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
