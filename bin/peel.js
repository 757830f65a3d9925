#!/usr/bin/env node
// The `peel` command: runs the compiled CLI (npm run build makes dist/).
import { existsSync } from "node:fs";

const cli = new URL("../dist/cli.js", import.meta.url);
if (!existsSync(cli)) {
  console.error("peel is not built yet: run `npm run build` first (npm start does it for you).");
  process.exit(1);
}
await import(cli.href);
