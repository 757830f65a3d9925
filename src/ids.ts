import { randomFillSync } from "node:crypto";

/** Prefixes of peel's internal ids; wire-fixed ids (the kie taskId) have their own function. */
export type IdKind = "acc" | "key" | "led" | "dlv" | "att" | "msg" | "file" | "req" | "wrk";

const ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz";

/** `newId("dlv")` → `dlv_` + 20 base-36 characters (about 103 random bits). */
export function newId(kind: IdKind): string {
  return `${kind}_${randomString(20)}`;
}

/** kie taskId: 32 lower-case hex characters from 128 random bits (docs/kie-contract.md §4.4). */
export function newTaskId(): string {
  return take(16).toString("hex");
}

/** Random string over [0-9a-z]; rejection sampling keeps every character uniform. */
export function randomString(length: number): string {
  let out = "";
  while (out.length < length) {
    if (offset >= POOL.length) refill();
    const b = POOL[offset++];
    if (b < 252) out += ALPHABET[b % 36];
  }
  return out;
}

// Ids are made on the createTask hot path: one 4 KiB draw from the CSPRNG serves many of them
// instead of a system call per id. Bytes are handed out once and never reused.
const POOL = Buffer.allocUnsafe(4096);
let offset = POOL.length;

function refill(): void {
  randomFillSync(POOL);
  offset = 0;
}

function take(n: number): Buffer {
  if (offset + n > POOL.length) refill();
  const out = Buffer.from(POOL.subarray(offset, offset + n));
  offset += n;
  return out;
}
