import { defineConfig } from "vitest/config";

// One runner for every package. Integration tests start real servers on port 0, so files run in
// separate processes and may take a few seconds each on a 2-core machine.
export default defineConfig({
  test: {
    include: ["packages/*/test/**/*.test.ts", "apps/*/test/**/*.test.{ts,tsx}"],
    pool: "forks",
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ["default", "./scripts/summary-reporter.ts"],
  },
});
