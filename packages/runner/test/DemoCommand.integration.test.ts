// `sluice demo` as a user runs it: one process, no infrastructure besides the
// machine's PostgreSQL (through DATABASE_URL on a database made for the test).
// A database outage in the middle must open the breaker and route payments to
// failed-payments with DB_ERROR, a slow database must give DB_TIMEOUT, and
// each run must still account for every event.
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
            "claims",
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
        // The outage resets the database's connections: a lookup fails at
        // once, so none of them waits for the lookup timeout.
        assert.notMatch(stdout, /DB_TIMEOUT/)
        assert.isAbove(enriched, 0)
      }),
    180_000
  )

  it.live(
    "demo - a slow database gives DB_TIMEOUT, and by default a few dead letters",
    () =>
      Effect.gen(function* () {
        const db = yield* freshDatabase("sluice_demo")
        const { status, stdout, stderr } = yield* run(
          [
            "demo",
            "claims",
            "--count",
            "800",
            "--events-per-second",
            "400",
            "--claims",
            "300",
            "--cache-size",
            "0",
            "--lookup-timeout",
            "500ms",
            "--retry-attempts",
            "0",
            "--breaker-cooldown",
            "500ms",
            "--db-slow-after",
            "500ms",
            "--db-slow-for",
            "1s"
          ],
          { DATABASE_URL: db.url, METRICS_PORT: "0" }
        )
        assert.strictEqual(status, 0, stderr)
        // The latency is twice the lookup timeout unless --db-slow-latency says otherwise.
        assert.include(stderr, "chaos: database slow (+1s each way) for 1s")
        assert.include(stderr, "chaos: database back")
        const enriched = figure(stdout, "enriched")
        const failed = figure(stdout, "failed")
        const dead = figure(stdout, "dead letters")
        assert.strictEqual(enriched + failed + dead, figure(stdout, "events in"))
        assert.match(stdout, /DB_TIMEOUT \d+/)
        assert.isAbove(enriched, 0)
        // --invalid-rate is 0.01 unless given.
        assert.isAbove(dead, 0)
        assert.match(stdout, /dead letters\s+\d+ \((invalid|too-large)/)
      }),
    120_000
  )
})
