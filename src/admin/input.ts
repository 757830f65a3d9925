import type { TSchema } from "@sinclair/typebox";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { type ValueError, type ValueErrorIterator, ValueErrorType } from "@sinclair/typebox/errors";
import { Value } from "@sinclair/typebox/value";
import { PeelError } from "../errors.js";

/**
 * Checks the parts of an admin request against the route's TypeBox schemas. The HTTP admin API
 * (as Fastify's validator) and the CLI's in-process mode run this same check, so both refuse the
 * same input with the same message: PeelError `invalid_request`, e.g. `query.limit: Expected integer`.
 */

export type InputPart = "params" | "query" | "body";

export type CheckResult = { value: unknown; error?: undefined } | { error: PeelError };

export function inputChecker(schema: TSchema, part: InputPart): (value: unknown) => CheckResult {
  const check = TypeCompiler.Compile(schema);
  return (value) => {
    // Path and query values arrive as text: "10" becomes 10 where the schema wants a number.
    // JSON bodies keep their types, so `{"amount":"5"}` is refused rather than guessed at.
    const v = part === "body" ? value : Value.Convert(schema, value);
    if (check.Check(v)) return { value: v };
    return { error: new PeelError("invalid_request", describe(part, check.Errors(v).First())) };
  };
}

/** `body.limits.createMax: Expected number`; for a union, its options or the branch that came closest. */
function describe(part: InputPart, e: ValueError | undefined): string {
  if (!e) return `${part}: invalid`;
  const at = (err: ValueError) => part + err.path.replaceAll("/", ".");
  if (e.type !== ValueErrorType.Union) return `${at(e)}: ${e.message}`;
  const options = literalsOf(e.schema);
  if (options) return `${at(e)}: Expected one of ${options.join(", ")}`;
  const inner = closestBranch(e.errors) ?? e;
  return `${at(inner)}: ${inner.message}`;
}

/** The values of an enum (a union of literals), else null. */
function literalsOf(schema: TSchema): string[] | null {
  const branches = (schema.anyOf ?? []) as TSchema[];
  return branches.length > 0 && branches.every((b) => "const" in b) ? branches.map((b) => JSON.stringify(b.const)) : null;
}

/** Nullable fields are unions with null; "Expected null" is never the useful half. */
function closestBranch(branches: ValueErrorIterator[]): ValueError | undefined {
  const firsts = branches.map((b) => b.First()).filter((x): x is ValueError => x !== undefined);
  return firsts.find((x) => x.type !== ValueErrorType.Null) ?? firsts[0];
}
