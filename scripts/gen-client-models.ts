import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { MODELS } from "../src/domain/models.js";

/**
 * Writes src/client/model-info.ts: the model registry (src/domain/models.ts) as plain data that
 * the client bundle can carry without importing server code. The client's per-model input types
 * are derived from this data; test/client/model-info.test.ts fails when it no longer matches the
 * registry (run `npm run client:models` then).
 */
export function clientModelInfo() {
  return Object.fromEntries(
    MODELS.map((m) => [
      m.id,
      {
        summary: m.summary,
        promptMax: m.promptMax,
        imageField: m.imageField,
        imageRequired: m.imageRequired,
        imageMax: m.imageMax,
        ratioField: m.ratioField,
        ratios: [...m.ratios],
        ratioDefault: m.ratioDefault,
        resolutions: m.resolutions ? [...m.resolutions] : null,
        resolutionDefault: m.resolutionDefault,
        formats: [...m.formats],
        formatDefault: m.formatDefault,
        hasGoogleSearch: m.hasGoogleSearch,
      },
    ]),
  );
}

const OUT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../src/client/model-info.ts");

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const text = `/**
 * Every model peel serves, as data: generated from src/domain/models.ts by
 * \`npm run client:models\` (scripts/gen-client-models.ts). Do not edit by hand.
 */
export const MODEL_INFO = ${JSON.stringify(clientModelInfo(), null, 2)} as const;
`;
  writeFileSync(OUT, text);
  execFileSync(process.execPath, ["node_modules/@biomejs/biome/bin/biome", "format", "--write", OUT], { stdio: "inherit" });
  console.log(`wrote ${path.relative(process.cwd(), OUT)}`);
}
