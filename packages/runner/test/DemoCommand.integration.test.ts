// `sluice demo` as a user runs it: one process, no infrastructure besides the
// machine's PostgreSQL (through DATABASE_URL on a database made for the test).
// A database outage in the middle must open the breaker and route payments to
// failed-payments with DB_ERROR, and the run must still account for every event.
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { freshDatabase } from "./support/database.ts"
import { spawnSluice } from "./support/spawnSluice.ts"

const run = (args: ReadonlyArray<string>, env: Record<string, string>) =>
  Effect.promise(() => spawnSluice(args, env).done)

const figure = (summary: string, label: string): number => {
  const m = new RegExp(`${label}\\s+(\\d+)`).exec(summary)
  assert.isNotNull(m, `no "${label}" in the summary:\n${summary}`)
  return Number(m![1])
}

describe("sluice demo", () => {
  it.live(
    "demo - a database outage routes DB_ERROR, recovers, and every event is accounted for",
    () =>
      Effect.gen(function* () {
        const db = yield* freshDatabase("sluice_demo")
        const {
          status: code,
          stdout,
          stderr
        } = yield* run(
          [
            "demo",
            "--count",
            "1500",
            "--events-per-second",
            "300",
            "--claims",
            "300",
            "--invalid-rate",
            "0.02",
            "--cache-size",
            "0",
            "--retry-attempts",
            "1",
            "--breaker-cooldown",
            "1s",
            "--db-outage-after",
            "1500ms",
            "--db-outage-for",
            "1500ms"
          ],
          { DATABASE_URL: db.url, METRICS_PORT: "0" }
        )
        assert.strictEqual(code, 0, stderr)
        assert.include(stderr, "chaos: database unreachable")
        assert.include(stderr, "chaos: database back")
        const events = figure(stdout, "events in")
        const enriched = figure(stdout, "enriched")
        const failed = figure(stdout, "failed")
        const dead = figure(stdout, "dead letters")
        assert.strictEqual(events, 1500)
        assert.strictEqual(enriched + failed + dead, events)
        assert.match(stdout, /DB_ERROR \d+/)
        assert.isAbove(enriched, 0)
      }),
    180_000
  )
})
