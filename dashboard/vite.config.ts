/**
 * The admin dashboard's build: Preact + uPlot, bundled into dist/dashboard/
 * and served by chatport at /dashboard/. No CDN, no web fonts: the page works
 * offline. `npm run dev:dashboard` serves it with hot reload and proxies the
 * API to a chatport on CHATPORT_URL (default http://127.0.0.1:8000).
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

const here = path.dirname(fileURLToPath(import.meta.url));
const target = process.env.CHATPORT_URL ?? "http://127.0.0.1:8000";

export default defineConfig({
  root: here,
  base: "/dashboard/",
  publicDir: false,
  clearScreen: false,
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: path.resolve(here, "../dist/dashboard"),
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
    reportCompressedSize: false,
    chunkSizeWarningLimit: 300,
  },
  server: {
    proxy: { "/admin": target, "/v1": target, "/health": target },
  },
  preview: {
    proxy: { "/admin": target, "/v1": target, "/health": target },
  },
});
