import type { Static, TObject } from "@sinclair/typebox";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { KieError, type KieErrorName } from "../errors.js";

/**
 * Query-string validation for kie-envelope routes: a TypeBox schema (the same one the OpenAPI
 * document shows) and, per parameter, the registry error a bad value answers with — a client's
 * mistake is a kie 422, never a framework 400 or a 500. Unknown parameters are ignored; the first
 * bad parameter (in schema order) is reported.
 */
export function queryParser<T extends TObject>(
  schema: T,
  errors: { [K in keyof Static<T>]-?: KieErrorName },
): (query: unknown) => Static<T> {
  const check = TypeCompiler.Compile(schema);
  const names = Object.keys(schema.properties) as (keyof Static<T> & string)[];
  return (query) => {
    const q = (query ?? {}) as Record<string, unknown>;
    if (check.Check(q)) return q as Static<T>;
    const bad = new Set([...check.Errors(q)].map((e) => e.path.split("/")[1]));
    const first = names.find((n) => bad.has(n)) ?? names[0];
    throw new KieError(errors[first]);
  };
}
