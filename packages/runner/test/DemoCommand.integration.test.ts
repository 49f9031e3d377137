// `sluice demo` as a user runs it: one process, no infrastructure besides the
// machine's PostgreSQL (through DATABASE_URL on a database made for the test).
// A database outage in the middle must open the breaker and route payments to
// failed-payments with DB_ERROR, a slow database must give DB_TIMEOUT, and
// each run must still account for every event.
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Generator from "../src/jobs/claims/Generator.ts"
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

  it.live(
    "demo --processing-guarantee exactly-once - the summary, read back read_committed, matches the generated events",
    () =>
      Effect.gen(function* () {
        const db = yield* freshDatabase("sluice_demo_eos")
        const options = { seed: 9, claims: 300, validClaimRate: 0.8, invalidRate: 0.02 }
        const count = 1_000
        const { status, stdout, stderr } = yield* run(
          [
            ...["demo", "claims", "--processing-guarantee", "exactly-once", "--count", String(count)],
            ...["--events-per-second", "500", "--seed", String(options.seed), "--claims", String(options.claims)],
            ...["--valid-claim-rate", String(options.validClaimRate), "--invalid-rate", String(options.invalidRate)]
          ],
          { DATABASE_URL: db.url, METRICS_PORT: "0" }
        )
        assert.strictEqual(status, 0, stderr)
        assert.include(stderr, "exactly-once")
        // The reference: the generator's own kinds for the same options.
        const kinds = Array.from({ length: count }, (_, i) => Generator.record(options, i, 0).kind)
        const valid = kinds.filter((k) => k === "valid").length
        const unknown = kinds.filter((k) => k === "unknown-claim").length
        assert.strictEqual(figure(stdout, "events in"), count)
        assert.strictEqual(figure(stdout, "enriched"), valid)
        assert.strictEqual(figure(stdout, "failed"), unknown)
        assert.match(stdout, new RegExp(`CLAIM_NOT_FOUND ${unknown}\\b`))
        assert.strictEqual(figure(stdout, "dead letters"), count - valid - unknown)
      }),
    180_000
  )
})
