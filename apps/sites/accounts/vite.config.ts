import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// Built into dist/, which the platform server serves on accounts.<domain> (public/ is the page it
// serves before a build, so it is not copied in). Everything is a file: the site's CSP allows no inline code.
export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  plugins: [react()],
  base: "/",
  publicDir: false,
  build: { outDir: "dist", emptyOutDir: true, sourcemap: true },
});
