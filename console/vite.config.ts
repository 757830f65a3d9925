import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

/**
 * The console's build: `npm run build` writes dist/console, which peel serves at /console
 * (src/http/routes/console.ts). Preact through the automatic JSX runtime; no CDN, no inline
 * script (the Content-Security-Policy forbids it), hashed file names.
 */
const root = fileURLToPath(new URL(".", import.meta.url));

export default defineConfig({
  root,
  base: "/console/",
  publicDir: false,
  logLevel: "warn",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: fileURLToPath(new URL("../dist/console", import.meta.url)),
    emptyOutDir: true,
    target: "es2022",
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    reportCompressedSize: false,
  },
});
