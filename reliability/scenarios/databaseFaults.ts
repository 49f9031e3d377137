// Database faults: a FaultProxy in this process sits between the enrich job
// and PostgreSQL. For 10 seconds it either resets every connection (an
// outage) or delays every packet beyond the lookup timeout (a slow database).
// Payments processed during that window may fail with the fault's statuses
// and no others (an outage fails lookups at once: DB_ERROR only; a slow
// database gives DB_TIMEOUT, then DB_ERROR from the open breaker); the
// breaker opens and closes again (read from the job's /metrics); afterwards
// lookups succeed without a restart, and nothing is missing. The cache is off
// so every payment asks the database.
import { assert } from "@effect/vitest"
import { FaultProxy } from "@sluice/testkit"
import { Effect } from "effect"
import * as Jobs from "../support/jobs.ts"
import * as Processes from "../support/processes.ts"
import * as Scenario from "../support/scenario.ts"

const events = 30_000
const faultMillis = 10_000
const cooldownMillis = 2_000

interface Fault {
  readonly name: string
  readonly seed: number
  readonly lookupTimeoutMillis: number
  readonly mode: FaultProxy.FaultMode
  /** Delay the fault adds to bytes already on their way when it ends. */
  readonly latencyMillis: number
  /** The statuses a payment may get while the fault lasts. */
  readonly statuses: ReadonlyArray<string>
  /** The status the fault must produce at least once. */
  readonly expected: string
}

const outage: Fault = {
  name: "database outage",
  seed: 303,
  lookupTimeoutMillis: 1_000,
  mode: FaultProxy.FaultMode.reset,
  latencyMillis: 0,
  // A reset connection rejects what it holds, and a new one is reset at once:
  // no lookup of the outage waits for the lookup timeout.
  statuses: ["DB_ERROR"],
  expected: "DB_ERROR"
}

const slow: Fault = {
  name: "slow database",
  seed: 404,
  lookupTimeoutMillis: 1_000,
  mode: FaultProxy.FaultMode.latency("2 seconds"),
  latencyMillis: 2_000,
  statuses: ["DB_TIMEOUT", "DB_ERROR"],
  expected: "DB_TIMEOUT"
}

const breaker = (samples: ReadonlyArray<Jobs.Sample>) => ({
  state: samples.find((m) => m.name === "sluice_breaker_state" && m.labels.policy === "claims-db")?.value,
  transitionsTo: (to: string) =>
    samples
      .filter((m) => m.name.startsWith("sluice_breaker_transitions") && m.labels.to === to)
      .reduce((n, m) => n + m.value, 0)
})

const run = (fault: Fault) =>
  Effect.gen(function* () {
    const s = yield* Scenario.setup(fault.name)
    const target = new URL(s.db.url)
    const proxy = yield* FaultProxy.make({ target: { host: target.hostname, port: Number(target.port || 5432) } })
    const viaProxy = new URL(s.db.url)
    viaProxy.hostname = proxy.host
    viaProxy.port = String(proxy.port)
    const job = yield* Jobs.startEnrich("enrich", { ...s.env, DATABASE_URL: viaProxy.toString() }, [
      ...["--cache-size", "0", "--lookup-timeout", `${fault.lookupTimeoutMillis}ms`],
      ...["--retry-attempts", "2", "--retry-backoff", "50ms", "--breaker-cooldown", `${cooldownMillis}ms`]
    ])
    const generate = yield* Jobs.startGenerate(s.env, {
      count: events,
      eventsPerSecond: 1_000,
      seed: fault.seed,
      claims: Scenario.claims
    })
    yield* Scenario.progressed(s, 5_000, job)

    const faultStart = Date.now()
    yield* proxy.set(fault.mode)
    const opened = yield* Processes.eventually(
      "breaker open",
      Effect.flatMap(Jobs.metrics(job), (m) =>
        breaker(m).state === 2 ? Effect.succeed(Date.now()) : Effect.fail("closed")
      ),
      `${faultMillis} millis`,
      "100 millis"
    ).pipe(Effect.option)
    // The fault lasts its full length whenever the breaker opened.
    yield* Effect.sleep(`${Math.max(0, faultStart + faultMillis - Date.now())} millis`)
    yield* proxy.set(FaultProxy.FaultMode.passThrough)
    const faultEnd = Date.now()
    const closed = yield* Processes.eventually(
      "breaker closed again",
      Effect.flatMap(Jobs.metrics(job), (m) =>
        breaker(m).state === 0 ? Effect.succeed(Date.now()) : Effect.fail("open")
      ),
      "60 seconds",
      "100 millis"
    ).pipe(Effect.option)

    yield* Processes.awaitSuccess(generate, "5 minutes")
    yield* Scenario.drained(s, job)
    const finalMetrics = breaker(yield* Jobs.metrics(job))
    const exit = yield* Processes.stop(job)
    const r = yield* Scenario.reconcile(s)

    // The fault window: from the fault's start to its end plus the recovery
    // the design allows: bytes delayed by the fault still arrive late, the
    // breaker may have opened just before the end and stays open for its
    // cooldown, then its probe may take up to the lookup timeout. Database
    // failures must fall inside it (with a second of scheduling slack on a
    // busy machine), and lookups outside it must succeed.
    const windowEnd = faultEnd + fault.latencyMillis + cooldownMillis + fault.lookupTimeoutMillis
    const dbFailed = r.outcomes.filter((o) => o.status.startsWith("DB_"))
    const outsideWindow = dbFailed.filter((o) => o.enrichedAt < faultStart || o.enrichedAt > windowEnd + 1_000)
    const outside = r.outcomes.filter((o) => o.enrichedAt < faultStart || o.enrichedAt > windowEnd)
    const answered = outside.filter((o) => o.status === "SUCCESS" || o.status === "CLAIM_NOT_FOUND").length
    const successRate = answered / Math.max(outside.length, 1)
    const note = [
      `${dbFailed.length} ${[...new Set(dbFailed.map((o) => o.status))].sort().join("/")}`,
      `${(successRate * 100).toFixed(1)}% of ${outside.length} lookups outside the window answered`,
      `breaker open ${opened._tag === "Some" ? opened.value - faultStart : "-"} ms into the fault`,
      `closed ${closed._tag === "Some" ? closed.value - faultEnd : "-"} ms after it`
    ].join(", ")
    return {
      row: Scenario.row(fault.name, s, r, note),
      verify: () => {
        Scenario.assertComplete(r)
        assert.isTrue(opened._tag === "Some", "the breaker opened during the fault (sluice_breaker_state 2)")
        assert.isTrue(closed._tag === "Some", "the breaker closed after the fault (sluice_breaker_state 0)")
        assert.isAtLeast(finalMetrics.transitionsTo("Open"), 1, "an Open transition in /metrics")
        assert.isAtLeast(finalMetrics.transitionsTo("Closed"), 1, "a Closed transition in /metrics")
        assert.strictEqual(finalMetrics.state, 0, "the breaker is closed at the end")
        assert.isTrue(
          dbFailed.some((o) => o.status === fault.expected),
          `the fault produced ${fault.expected} outcomes`
        )
        assert.deepStrictEqual(
          dbFailed.filter((o) => !fault.statuses.includes(o.status)).map((o) => o.status),
          [],
          "database failures have the specified statuses"
        )
        assert.deepStrictEqual(
          outsideWindow.slice(0, 5).map((o) => `${o.paymentId} ${o.status} at ${o.enrichedAt}: ${o.reason}`),
          [],
          `database failures only during the fault window [${faultStart}, ${windowEnd}]`
        )
        assert.isAbove(successRate, 0.95, "lookup success rate outside the fault window")
        assert.strictEqual(exit.status, 0, "the enrich job recovers by itself and exits 0 on SIGTERM")
      }
    }
  })

export const databaseOutage = run(outage)
export const slowDatabase = run(slow)
