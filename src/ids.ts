import { randomBytes } from "node:crypto";

/** Prefixes of peel's internal ids; wire-fixed ids (the kie taskId) have their own function. */
export type IdKind = "acc" | "key" | "led" | "dlv" | "att" | "msg" | "file" | "req" | "wrk";

const ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz";

/** `newId("dlv")` → `dlv_` + 20 base-36 characters (about 103 random bits). */
export function newId(kind: IdKind): string {
  return `${kind}_${randomString(20)}`;
}

/** kie taskId: 32 lower-case hex characters from 128 random bits (kie-contract §4.4). */
export function newTaskId(): string {
  return randomBytes(16).toString("hex");
}

/** Random string over [0-9a-z]; rejection sampling keeps every character uniform. */
export function randomString(length: number): string {
  let out = "";
  while (out.length < length) {
    for (const b of randomBytes(length * 2)) {
      if (b < 252) out += ALPHABET[b % 36];
      if (out.length === length) break;
    }
  }
  return out;
}
