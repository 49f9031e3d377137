import { defineConfig } from "vitest/config"

// The reliability suite (reliability/): long scenarios that start real
// processes, so one at a time, with long time limits. `pnpm test` leaves it out.
export default defineConfig({
  test: {
    include: ["reliability/**/*.test.ts"],
    testTimeout: 10 * 60_000,
    hookTimeout: 2 * 60_000,
    fileParallelism: false,
    sequence: { concurrent: false }
  }
})
