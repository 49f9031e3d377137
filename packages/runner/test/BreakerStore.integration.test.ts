import { randomUUID } from "node:crypto"
import { assert, describe, it } from "@effect/vitest"
import { Metrics, Policy } from "@sluice/core"
import { FaultProxy } from "@sluice/testkit"
import { Context, Effect, Layer, Logger, Metric, Redacted } from "effect"
import { CircuitBreaker } from "effect/persistence"
import { TestClock } from "effect/testing"
import * as BreakerStore from "../src/BreakerStore.ts"
import { freePort } from "./support/metrics.ts"
import { pollUntil } from "./support/poll.ts"

// The machine's Redis (started by `.ci/run` when it is not running).
const redisUrl = Redacted.make("redis://127.0.0.1:6379")

const policyWith = (store: BreakerStore.Store, name: string) =>
  Policy.makeWithStore({
    name,
    breaker: { trip: { _tag: "consecutive", failures: 3 }, openDuration: "30 seconds" }
  }).pipe(Effect.provideService(CircuitBreaker.CircuitBreakerStore, store))

// Retryable, as a lost connection is: the breaker counts it as a failure.
const failing = Effect.fail({ message: "connection refused", isRetryable: true })

describe("BreakerStore", () => {
  it.live("redis - two processes' policies of one group share one circuit; another group has its own", () =>
    Effect.gen(function* () {
      const group = `test-${randomUUID()}`
      const a = yield* BreakerStore.make({ store: "redis", redisUrl, group })
      const b = yield* BreakerStore.make({ store: "redis", redisUrl, group })
      const other = yield* BreakerStore.make({ store: "redis", redisUrl, group: `${group}-other` })
      assert.isTrue(a.shared && b.shared && other.shared)
      const pa = yield* policyWith(a, "claims-db")
      const pb = yield* policyWith(b, "claims-db")
      const po = yield* policyWith(other, "claims-db")
      for (let i = 0; i < 3; i++) yield* Effect.exit(pa.run(failing))
      assert.strictEqual(yield* pa.breakerState, "open")
      // B never ran a call, yet its circuit is open and its call is rejected without running.
      assert.strictEqual(yield* pb.breakerState, "open")
      let ran = false
      const rejected = yield* Effect.flip(pb.run(Effect.sync(() => (ran = true))))
      assert.strictEqual(rejected.reason._tag, "CircuitOpen")
      assert.isFalse(ran)
      assert.strictEqual(yield* po.breakerState, "closed")
      assert.strictEqual(yield* po.run(Effect.succeed(1)), 1)
    }).pipe(Effect.scoped)
  )

  it.live("redis - unreachable at start: a local breaker, said once, and calls still run", () =>
    Effect.gen(function* () {
      const lines: Array<string> = []
      const capture = Logger.make(({ message }) => {
        lines.push(Array.isArray(message) ? message.join(" ") : String(message))
      })
      // Nothing listens on a port that was free a moment ago.
      const port = yield* freePort()
      const store = yield* BreakerStore.make({
        store: "redis",
        redisUrl: Redacted.make(`redis://127.0.0.1:${port}`),
        group: `test-${randomUUID()}`
      }).pipe(Effect.provide(Logger.layer([capture])))
      assert.isFalse(store.shared)
      assert.deepStrictEqual(
        lines.filter((l) => l.includes("Redis")),
        ["Redis unreachable: circuit breakers are local to this process"]
      )
      const policy = yield* policyWith(store, "claims-db")
      assert.strictEqual(yield* policy.run(Effect.succeed("ok")), "ok")
      for (let i = 0; i < 3; i++) yield* Effect.exit(policy.run(failing))
      assert.strictEqual(yield* policy.breakerState, "open")
    }).pipe(Effect.scoped)
  )

  it.live(
    "redis - lost after start: calls keep running on the local breaker, and the circuit is shared again after",
    () =>
      Effect.gen(function* () {
        const lines: Array<string> = []
        const capture = Logger.make(({ message }) => {
          lines.push(Array.isArray(message) ? message.join(" ") : String(message))
        })
        const proxy = yield* FaultProxy.make({ target: { host: "127.0.0.1", port: 6379 } })
        const store = yield* BreakerStore.make({
          store: "redis",
          redisUrl: Redacted.make(`redis://${proxy.host}:${proxy.port}`),
          group: `test-${randomUUID()}`
        })
        assert.isTrue(store.shared)
        const policy = yield* policyWith(store, "claims-db")
        const call = (n: number) =>
          policy.run(Effect.succeed(n)).pipe(
            // A call that waits on a lost Redis would stall the job: bounded here so the test says so.
            Effect.timeoutOrElse({
              duration: "5 seconds",
              orElse: () => Effect.die(new Error("a call waited on Redis"))
            }),
            Effect.provide(Logger.layer([capture]))
          )
        assert.strictEqual(yield* call(1), 1)
        yield* proxy.set(FaultProxy.FaultMode.reset)
        for (let i = 2; i < 6; i++) assert.strictEqual(yield* call(i), i)
        yield* proxy.set(FaultProxy.FaultMode.passThrough)
        yield* pollUntil(
          "the circuit to be shared again",
          Effect.andThen(
            call(7),
            Effect.sync(() => lines.filter((l) => l.includes("Redis")))
          ),
          (said) => said.length === 2,
          { timeoutMs: 20_000, intervalMs: 200 }
        )
        assert.deepStrictEqual(
          lines.filter((l) => l.includes("Redis")),
          [
            "Redis unreachable: circuit breakers are local to this process until it answers",
            "Redis answers again: circuit breakers are shared"
          ]
        )
      }).pipe(Effect.scoped),
    40_000
  )

  it.effect("withFallback - a shared store that stops answering hands over to the local one, said once each way", () =>
    Effect.gen(function* () {
      const memory = () =>
        Effect.map(Layer.build(Policy.layerStoreMemory), (c) => Context.get(c, CircuitBreaker.CircuitBreakerStore))
      const sharedInner = yield* memory()
      const local = yield* memory()
      let down = false
      const storeError = new CircuitBreaker.CircuitBreakerError({
        reason: new CircuitBreaker.CircuitBreakerStoreError({ message: "connection lost" })
      })
      const guard = <A, R>(
        effect: Effect.Effect<A, CircuitBreaker.CircuitBreakerError, R>
      ): Effect.Effect<A, CircuitBreaker.CircuitBreakerError, R> =>
        Effect.suspend(() => (down ? Effect.fail(storeError) : effect))
      const flaky: CircuitBreaker.CircuitBreakerStore["Service"] = {
        admit: (key) => guard(sharedInner.admit(key)),
        record: (options) => guard(sharedInner.record(options)),
        state: (key) => guard(sharedInner.state(key))
      }
      const switches: Array<string> = []
      const store = BreakerStore.withFallback(flaky, local, (to) => Effect.sync(() => switches.push(to)))
      const policy = yield* policyWith({ ...store, shared: true }, "claims-db")
      assert.strictEqual(yield* policy.run(Effect.succeed(1)), 1)
      down = true
      // Still guarded while the shared store is away: three failures open the local circuit.
      for (let i = 0; i < 3; i++) yield* Effect.exit(policy.run(failing))
      assert.strictEqual((yield* local.state("claims-db"))._tag, "Open")
      assert.strictEqual((yield* sharedInner.state("claims-db"))._tag, "Closed")
      assert.strictEqual((yield* Effect.flip(policy.run(Effect.succeed(1)))).reason._tag, "CircuitOpen")
      down = false
      assert.strictEqual(yield* policy.run(Effect.succeed(2)), 2)
      assert.deepStrictEqual(switches, ["local", "shared"])
    }).pipe(Effect.scoped)
  )

  it.effect("mirrorState - the gauge follows a circuit another process changed, within one poll", () =>
    Effect.gen(function* () {
      let shared: Policy.BreakerState = "closed"
      const name = `mirrored-${randomUUID()}`
      const policy: Policy.Policy = { ...Policy.none(name), breakerState: Effect.sync(() => shared) }
      const gauge = Metric.withAttributes(Metrics.breakerState, { policy: name })
      const value = Effect.map(Metric.value(gauge), (s) => s.value)
      yield* BreakerStore.mirrorState(policy, "500 millis")
      yield* Effect.yieldNow
      assert.strictEqual(yield* value, 0)
      shared = "open"
      yield* TestClock.adjust("499 millis")
      assert.strictEqual(yield* value, 0)
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(yield* value, 2)
      shared = "half-open"
      yield* TestClock.adjust("500 millis")
      assert.strictEqual(yield* value, 1)
    }).pipe(Effect.scoped)
  )

  it.effect("memory - a local store, and no Redis is contacted", () =>
    Effect.gen(function* () {
      const store = yield* BreakerStore.make({
        store: "memory",
        redisUrl: Redacted.make("redis://127.0.0.1:1"),
        group: "g"
      })
      assert.isFalse(store.shared)
      const policy = yield* policyWith(store, "claims-db")
      assert.strictEqual(yield* policy.breakerState, "closed")
    }).pipe(Effect.scoped)
  )
})
