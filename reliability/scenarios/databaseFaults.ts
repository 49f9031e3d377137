// Database faults: a FaultProxy in this process sits between the enrich job
// and PostgreSQL. For 10 seconds it either resets every connection (an
// outage) or delays every packet beyond the lookup timeout (a slow database).
// Payments processed during that window may fail as DB_ERROR or DB_TIMEOUT and
// no others; the breaker opens and closes again (read from the job's
// /metrics); afterwards lookups succeed without a restart, and nothing is
// missing. The cache is off so every payment asks the database.
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
  statuses: ["DB_ERROR", "DB_TIMEOUT"],
  expected: "DB_ERROR"
}

const slow: Fault = {
  name: "slow database",
  seed: 404,
  lookupTimeoutMillis: 500,
  mode: FaultProxy.FaultMode.latency("1500 millis"),
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
    const job = yield* Jobs.startEnrich("enrich", { ...s.env, DATABASE_URL: viaProxy.toString(), NODE_OPTIONS: "--trace-warnings" }, [
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
      Effect.flatMap(Jobs.metrics(job), (m) => (breaker(m).state === 2 ? Effect.succeed(Date.now()) : Effect.fail("closed"))),
      `${faultMillis} millis`,
      "100 millis"
    ).pipe(Effect.option)
    // The fault lasts its full length whenever the breaker opened.
    yield* Effect.sleep(`${Math.max(0, faultStart + faultMillis - Date.now())} millis`)
    yield* proxy.set(FaultProxy.FaultMode.passThrough)
    const faultEnd = Date.now()
    const closed = yield* Processes.eventually(
      "breaker closed again",
      Effect.flatMap(Jobs.metrics(job), (m) => (breaker(m).state === 0 ? Effect.succeed(Date.now()) : Effect.fail("open"))),
      "60 seconds",
      "100 millis"
    ).pipe(Effect.option)

    yield* Processes.awaitSuccess(generate, "5 minutes")
    yield* Scenario.drained(s, job)
    const finalMetrics = breaker(yield* Jobs.metrics(job))
    const exit = yield* Processes.stop(job)
    const r = yield* Scenario.reconcile(s)

    // A payment may fail on the database side only while the fault lasts, or
    // just after: while the breaker stays open (the cooldown) and while a
    // lookup begun during the fault runs out its time limit.
    const graceMillis = cooldownMillis + fault.lookupTimeoutMillis + 5_000
    const dbFailed = r.outcomes.filter((o) => o.status.startsWith("DB_"))
    const outsideGrace = dbFailed.filter((o) => o.enrichedAt < faultStart || o.enrichedAt > faultEnd + graceMillis)
    const outside = r.outcomes.filter((o) => o.enrichedAt < faultStart || o.enrichedAt > faultEnd)
    const answered = outside.filter((o) => o.status === "SUCCESS" || o.status === "CLAIM_NOT_FOUND").length
    const successRate = answered / Math.max(outside.length, 1)
    if (process.env.RELIABILITY_DEBUG) {
      const late = outsideGrace
      console.log("fault", faultStart, faultEnd, "late", late.length)
      const counts = new Map<string, number>()
      for (const o of late) counts.set(`${o.status} ${o.reason}`.replace(/\d+ ms/, "N ms"), (counts.get(`${o.status} ${o.reason}`.replace(/\d+ ms/, "N ms")) ?? 0) + 1)
      console.log([...counts].slice(0, 20))
      console.log(late.slice(0, 3), late.slice(-3))
    }
    const note = [
      `${dbFailed.length} ${[...new Set(dbFailed.map((o) => o.status))].join("/")} in the window`,
      `lookups answered outside it ${(successRate * 100).toFixed(2)}%`,
      `breaker open after ${opened._tag === "Some" ? opened.value - faultStart : "-"} ms,`,
      `closed ${closed._tag === "Some" ? closed.value - faultEnd : "-"} ms after the fault`
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
          outsideGrace.slice(0, 5).map((o) => `${o.paymentId} ${o.status} at ${o.enrichedAt}`),
          [],
          `database failures only during the fault window [${faultStart}, ${faultEnd} + ${graceMillis} ms]`
        )
        assert.isAbove(successRate, 0.95, "lookup success rate outside the fault window")
        assert.strictEqual(exit.status, 0, "the enrich job recovers by itself and exits 0 on SIGTERM")
      }
    }
  })

export const databaseOutage = run(outage)
export const slowDatabase = run(slow)
