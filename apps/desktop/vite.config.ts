import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// Built into dist/, which the daemon serves at `/`. `npm run dev -w @opta/desktop` serves it on
// localhost:5173, which a daemon in dev mode (OPTA_DEV=1) grants CORS to; pass the daemon in the fragment:
// http://localhost:5173/#token=<token>&daemon=http://127.0.0.1:9999
export default defineConfig({
  plugins: [react()],
  base: "/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: true,
    // One app chunk is fine: it loads from loopback.
    chunkSizeWarningLimit: 1024,
  },
  server: { host: "localhost", port: 5173, strictPort: true },
});
