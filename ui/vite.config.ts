// Vite builds the UI into ui/dist, which the Tauri shell embeds. No remote content: every
// asset is bundled; CSS goes to files so the strict CSP (style-src 'self') holds.
import { defineConfig } from "vite";
import { svelte } from "@sveltejs/vite-plugin-svelte";

export default defineConfig({
  plugins: [svelte()],
  clearScreen: false,
  server: { port: 5173, strictPort: true },
  build: { target: "es2022", outDir: "dist", emptyOutDir: true, assetsInlineLimit: 0 },
  test: { environment: "happy-dom", include: ["src/**/*.test.ts"] },
});
