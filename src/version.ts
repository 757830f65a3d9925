import { readFileSync } from "node:fs";

/** peel's version, from package.json (src/ and dist/ both sit one level below it); the one definition. */
export const PEEL_VERSION: string = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")).version;
