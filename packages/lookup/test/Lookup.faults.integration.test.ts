import { assert, describe, it } from "@effect/vitest"
import { Policy } from "@sluice/core"
import { FaultProxy } from "@sluice/testkit"
import { Clock, Effect, Layer, Option, Schedule } from "effect"
import * as Lookup from "../src/Lookup.ts"
import * as PgLookup from "../src/PgLookup.ts"
import * as Claims from "./utils/Claims.ts"
import { TestDatabase } from "./utils/TestDatabase.ts"

/**
 * The claims lookup through a fault proxy in front of the real server, with
 * its batch queries counted, guarded by `policy`.
 */
const setup = (policyOptions: Policy.Options) =>
  Effect.gen(function* () {
    const db = yield* TestDatabase
    const proxy = yield* FaultProxy.make({ target: { host: "127.0.0.1", port: 5432 } })
    const client = yield* PgLookup.makeClient({
      url: db.url({ host: proxy.host, port: proxy.port }),
      poolSize: 2,
      connectTimeout: "1 second"
    })
    const base = yield* Claims.makeResolver.pipe(Effect.provideService(PgLookup.PgClient, client))
    let queries = 0
    const counted = Lookup.resolver<string, Claims.Claim>({
      name: "claims-faults",
      fetch: (keys) =>
        Effect.suspend(() => {
          queries++
          return base.fetch(keys)
        })
    })
    const policy = yield* Policy.make(policyOptions)
    const lookup = Lookup.batched(Lookup.withPolicy(counted, policy), { batchWindow: "1 millis" })
    // Warm the pool so the faults hit established connections too.
    assert.isTrue(Option.isSome(yield* lookup.get("CLM-000001")))
    return { proxy, policy, lookup, queries: () => queries }
  })

/** Kills the pool's open connections and refuses new ones. */
const goDown = (proxy: FaultProxy.FaultProxy["Service"]) =>
  Effect.andThen(proxy.set(FaultProxy.FaultMode.reset), proxy.set(FaultProxy.FaultMode.refuse))

const Env = Layer.fresh(TestDatabase.layer)

describe("Lookup faults", { timeout: 60_000 }, () => {
  it.live("withPolicy - refused connections fail as retryable Unavailable after every attempt", () =>
    Effect.gen(function* () {
      const { proxy, lookup, queries } = yield* setup({
        name: "faults-refuse",
        retry: { base: "20 millis", maxAttempts: 3 },
        timeout: "5 seconds"
      })
      yield* goDown(proxy)
      const before = queries()
      const error = yield* Effect.flip(lookup.get("CLM-000002"))
      assert.strictEqual(error.reason._tag, "Unavailable")
      assert.isTrue(error.isRetryable)
      assert.strictEqual(queries() - before, 3)
    }).pipe(Effect.provide(Env))
  )

  it.live("withPolicy - the breaker opens at its threshold, then rejects without a query, then recovers", () =>
    Effect.gen(function* () {
      const { proxy, policy, lookup, queries } = yield* setup({
        name: "faults-breaker",
        timeout: "2 seconds",
        breaker: { trip: { _tag: "consecutive", failures: 3 }, openDuration: "300 millis" }
      })
      yield* goDown(proxy)
      for (let i = 0; i < 3; i++) {
        const error = yield* Effect.flip(lookup.get(`CLM-00010${i}`))
        assert.strictEqual(error.reason._tag, "Unavailable")
      }
      assert.strictEqual(yield* policy.breakerState, "open")

      const before = queries()
      const start = yield* Clock.currentTimeNanos
      const rejections = 200
      for (let i = 0; i < rejections; i++) {
        const error = yield* Effect.flip(lookup.get(`CLM-0002${String(i).padStart(2, "0")}`))
        assert.strictEqual(error.reason._tag, "CircuitOpen")
      }
      const meanMicros = Number((yield* Clock.currentTimeNanos) - start) / rejections / 1_000
      // The proof is that nothing reached the resolver; the figure is only reported.
      assert.strictEqual(queries(), before)
      yield* Effect.logInfo(`open-circuit rejection: ${meanMicros.toFixed(1)} µs per lookup (mean of ${rejections})`)

      yield* proxy.set(FaultProxy.FaultMode.passThrough)
      // After openDuration the breaker lets a probe through (half-open); its success closes it.
      const recovered = yield* lookup
        .get("CLM-000300")
        .pipe(Effect.retry({ schedule: Schedule.spaced("50 millis"), times: 60 }))
      assert.isTrue(Option.isSome(recovered))
      assert.strictEqual(yield* policy.breakerState, "closed")
      const again = yield* Effect.forEach(["CLM-000301", "CLM-000302", "NOPE"], lookup.get, { concurrency: 3 })
      assert.deepStrictEqual(again.map(Option.isSome), [true, true, false])
    }).pipe(Effect.provide(Env))
  )

  it.live("withPolicy - a response slower than the timeout fails as Timeout at the timeout", () =>
    Effect.gen(function* () {
      const { proxy, lookup } = yield* setup({ name: "faults-timeout", timeout: "200 millis" })
      yield* proxy.set(FaultProxy.FaultMode.latency("1500 millis"))
      const start = yield* Clock.currentTimeMillis
      const error = yield* Effect.flip(lookup.get("CLM-000400"))
      const elapsed = (yield* Clock.currentTimeMillis) - start
      assert.strictEqual(error.reason._tag, "Timeout")
      assert.isTrue(error.reason._tag === "Timeout" && error.reason.timeoutMillis === 200)
      // Bounds that hold on any machine: not before the timeout, and without waiting for the slow answer.
      assert.isAtLeast(elapsed, 200)
      assert.isBelow(elapsed, 1500)
      yield* proxy.set(FaultProxy.FaultMode.passThrough)
    }).pipe(Effect.provide(Env))
  )

  it.live("makeClient - the pool reconnects within a second of the server returning, however long the outage", () =>
    Effect.gen(function* () {
      const { proxy, lookup } = yield* setup({ name: "faults-reconnect", timeout: "500 millis" })
      // A long outage during which every connection attempt is reset: each
      // failed attempt lengthens postgres.js's own reconnect delay, which by
      // default grows to 20 seconds and would hold the pool back long after
      // the server is reachable again.
      yield* proxy.set(FaultProxy.FaultMode.reset)
      let failures = 0
      const outageEnds = (yield* Clock.currentTimeMillis) + 6_000
      while ((yield* Clock.currentTimeMillis) < outageEnds) {
        yield* Effect.flip(lookup.get(`CLM-0005${String(failures % 100).padStart(2, "0")}`))
        failures++
        yield* Effect.sleep("20 millis")
      }
      yield* proxy.set(FaultProxy.FaultMode.passThrough)
      const back = yield* Clock.currentTimeMillis
      const found = yield* lookup
        .get("CLM-000600")
        .pipe(Effect.retry(Schedule.spaced("50 millis")), Effect.timeoutOption("2500 millis"))
      assert.isTrue(Option.isSome(found) && Option.isSome(found.value), "answers again within the bound")
      yield* Effect.logInfo(
        `reconnected ${(yield* Clock.currentTimeMillis) - back} ms after the outage (${failures} failed lookups during it)`
      )
    }).pipe(Effect.provide(Env))
  )
})
