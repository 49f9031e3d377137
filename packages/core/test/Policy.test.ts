import { assert, describe, it } from "@effect/vitest"
import {
  Clock,
  ConfigProvider,
  Duration,
  Effect,
  Exit,
  Fiber,
  Layer,
  Logger,
  Metric,
  Random,
  References,
  Schema
} from "effect"
import { CircuitBreaker } from "effect/persistence"
import { TestClock } from "effect/testing"
import * as Metrics from "../src/Metrics.ts"
import * as Policy from "../src/Policy.ts"
import type { PolicyError } from "../src/PolicyError.ts"

class Flaky extends Schema.TaggedError<Flaky>()("Flaky", { retryable: Schema.Boolean }) {
  get isRetryable(): boolean {
    return this.retryable
  }
}

// An effect that records when each attempt ran and fails the first `failures` attempts.
const recorder = (failures: number, retryable = true) => {
  const times: Array<number> = []
  const effect = Effect.gen(function* () {
    times.push(yield* Clock.currentTimeMillis)
    if (times.length <= failures) return yield* new Flaky({ retryable })
    return "ok"
  })
  return { times, effect }
}

const reasonOf = (exit: Exit.Exit<unknown, PolicyError>) => {
  assert.isTrue(Exit.isFailure(exit))
  if (Exit.isSuccess(exit)) throw new Error("expected a failure")
  const fail = exit.cause.reasons.find((r) => r._tag === "Fail")
  if (fail === undefined || fail._tag !== "Fail") throw new Error("expected a typed failure")
  return fail.error.reason
}

const isolated = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  effect.pipe(Effect.provideService(Metric.MetricRegistry, new Map()))

describe("Policy", () => {
  it.effect("run - retry delays land exactly where the schedule says", () =>
    Effect.gen(function* () {
      const policy = yield* Policy.make({ name: "db", retry: { base: "100 millis", maxAttempts: 4, jitter: false } })
      const { times, effect } = recorder(3)
      const fiber = yield* Effect.forkChild(policy.run(effect))
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual(yield* Fiber.join(fiber), "ok")
      assert.deepStrictEqual(times, [0, 100, 300, 700])
    })
  )

  it.effect("run - jittered delays stay within 0.8x and 1.2x of the schedule and do vary", () =>
    Effect.gen(function* () {
      const policy = yield* Policy.make({ name: "db", retry: { base: "1 second", maxAttempts: 5, jitter: true } })
      for (const seed of ["a", "b", "c"]) {
        const { times, effect } = recorder(4)
        const fiber = yield* Effect.forkChild(policy.run(effect).pipe(Random.withSeed(seed)))
        yield* TestClock.adjust("1 minute")
        assert.strictEqual(yield* Fiber.join(fiber), "ok")
        const delays = times.slice(1).map((t, i) => t - times[i]!)
        assert.strictEqual(delays.length, 4)
        delays.forEach((delay, i) => {
          const nominal = 1000 * 2 ** i
          assert.isAtLeast(delay, nominal * 0.8)
          assert.isAtMost(delay, nominal * 1.2)
        })
        assert.isTrue(
          delays.some((delay, i) => delay !== 1000 * 2 ** i),
          "jitter moved no delay"
        )
      }
    })
  )

  it.effect("run - gives up after maxAttempts with Unavailable", () =>
    Effect.gen(function* () {
      const policy = yield* Policy.make({ name: "db", retry: { base: "10 millis", maxAttempts: 3, jitter: false } })
      const { times, effect } = recorder(10)
      const fiber = yield* Effect.forkChild(Effect.exit(policy.run(effect)))
      yield* TestClock.adjust("1 second")
      const reason = reasonOf(yield* Fiber.join(fiber))
      assert.strictEqual(reason._tag, "Unavailable")
      if (reason._tag === "Unavailable") {
        assert.strictEqual(reason.attempts, 3)
        assert.isTrue(reason.retryable)
      }
      assert.strictEqual(times.length, 3)
    })
  )

  it.effect("run - maxElapsed stops retrying before maxAttempts", () =>
    Effect.gen(function* () {
      const policy = yield* Policy.make({
        name: "db",
        retry: { base: "100 millis", maxAttempts: 100, maxElapsed: "1 second", jitter: false }
      })
      const { times, effect } = recorder(1000)
      const fiber = yield* Effect.forkChild(Effect.exit(policy.run(effect)))
      yield* TestClock.adjust("1 minute")
      assert.strictEqual(reasonOf(yield* Fiber.join(fiber))._tag, "Unavailable")
      // the next retry would start at 700 + 800 = 1500, past the 1 second budget
      assert.deepStrictEqual(times, [0, 100, 300, 700])
    })
  )

  it.effect("run - maxElapsed counts the time the first attempt took", () =>
    Effect.gen(function* () {
      const policy = yield* Policy.make({
        name: "db",
        retry: { base: "100 millis", maxAttempts: 100, maxElapsed: "1 second", jitter: false }
      })
      const times: Array<number> = []
      const slowFirst = Effect.gen(function* () {
        times.push(yield* Clock.currentTimeMillis)
        if (times.length === 1) yield* Effect.sleep("800 millis")
        return yield* new Flaky({ retryable: true })
      })
      const fiber = yield* Effect.forkChild(Effect.exit(policy.run(slowFirst)))
      yield* TestClock.adjust("1 minute")
      yield* Fiber.join(fiber)
      // Failed at 800, retries at 900 and 1100 would be next: only the first fits within 1 second.
      assert.deepStrictEqual(times, [0, 900])
    })
  )

  it.effect("run - a non-retryable error is not retried", () =>
    Effect.gen(function* () {
      const policy = yield* Policy.make({ name: "db", retry: { base: "10 millis", maxAttempts: 5 } })
      const { times, effect } = recorder(10, false)
      const reason = reasonOf(yield* Effect.exit(policy.run(effect)))
      assert.strictEqual(times.length, 1)
      assert.strictEqual(reason._tag, "Unavailable")
      if (reason._tag === "Unavailable") assert.isFalse(reason.retryable)
    })
  )

  it.effect("run - the timeout fires at exactly its duration", () =>
    Effect.gen(function* () {
      const policy = yield* Policy.make({ name: "db", timeout: "5 seconds" })
      const fiber = yield* Effect.forkChild(Effect.exit(policy.run(Effect.never)))
      yield* TestClock.adjust("4999 millis")
      assert.isUndefined(fiber.pollUnsafe())
      yield* TestClock.adjust("1 millis")
      const reason = reasonOf(yield* Fiber.join(fiber))
      assert.strictEqual(reason._tag, "Timeout")
    })
  )

  it.effect("run - the timeout bounds the retries too", () =>
    Effect.gen(function* () {
      const policy = yield* Policy.make({
        name: "db",
        timeout: "250 millis",
        retry: { base: "100 millis", maxAttempts: 10, jitter: false }
      })
      const { times, effect } = recorder(100)
      const fiber = yield* Effect.forkChild(Effect.exit(policy.run(effect)))
      yield* TestClock.adjust("1 minute")
      assert.strictEqual(reasonOf(yield* Fiber.join(fiber))._tag, "Timeout")
      assert.deepStrictEqual(times, [0, 100])
    })
  )

  it.effect("breaker - opens after 3 consecutive failures and rejects without running the effect", () =>
    isolated(
      Effect.gen(function* () {
        const policy = yield* Policy.make({
          name: "db",
          breaker: { trip: { _tag: "consecutive", failures: 3 }, openDuration: "10 seconds" }
        })
        const { times, effect } = recorder(1000)
        for (let i = 0; i < 2; i++)
          assert.strictEqual(reasonOf(yield* Effect.exit(policy.run(effect)))._tag, "Unavailable")
        assert.strictEqual(yield* policy.breakerState, "closed")
        assert.strictEqual(reasonOf(yield* Effect.exit(policy.run(effect)))._tag, "Unavailable")
        assert.strictEqual(yield* policy.breakerState, "open")
        const rejected = reasonOf(yield* Effect.exit(policy.run(effect)))
        assert.strictEqual(rejected._tag, "CircuitOpen")
        assert.strictEqual(times.length, 3)
      })
    )
  )

  it.effect("breaker - a probe after the cool-down closes it on success", () =>
    isolated(
      Effect.gen(function* () {
        const policy = yield* Policy.make({
          name: "db",
          breaker: { trip: { _tag: "consecutive", failures: 2 }, openDuration: "10 seconds" }
        })
        const { times, effect } = recorder(2)
        yield* Effect.exit(policy.run(effect))
        yield* Effect.exit(policy.run(effect))
        assert.strictEqual(reasonOf(yield* Effect.exit(policy.run(effect)))._tag, "CircuitOpen")
        yield* TestClock.adjust("9999 millis")
        assert.strictEqual(reasonOf(yield* Effect.exit(policy.run(effect)))._tag, "CircuitOpen")
        assert.strictEqual(times.length, 2)
        yield* TestClock.adjust("1 millis")
        assert.strictEqual(yield* policy.run(effect), "ok")
        assert.strictEqual(times.length, 3)
        assert.strictEqual(yield* policy.breakerState, "closed")
      })
    )
  )

  it.effect("breaker - a failed probe reopens it", () =>
    isolated(
      Effect.gen(function* () {
        const policy = yield* Policy.make({
          name: "db",
          breaker: { trip: { _tag: "consecutive", failures: 1 }, openDuration: "1 second" }
        })
        const { times, effect } = recorder(1000)
        yield* Effect.exit(policy.run(effect))
        yield* TestClock.adjust("1 second")
        assert.strictEqual(reasonOf(yield* Effect.exit(policy.run(effect)))._tag, "Unavailable")
        assert.strictEqual(times.length, 2)
        assert.strictEqual(yield* policy.breakerState, "open")
        assert.strictEqual(reasonOf(yield* Effect.exit(policy.run(effect)))._tag, "CircuitOpen")
        assert.strictEqual(times.length, 2)
      })
    )
  )

  it.effect("breaker - the rate policy opens at its threshold once minimumCalls are seen", () =>
    isolated(
      Effect.gen(function* () {
        const policy = yield* Policy.make({
          name: "db",
          breaker: { trip: { _tag: "rate", threshold: 0.5, minimumCalls: 4, size: 10 }, openDuration: "1 second" }
        })
        const ok = Effect.succeed("ok")
        const bad = new Flaky({ retryable: true })
        yield* policy.run(ok)
        yield* Effect.exit(policy.run(bad))
        yield* policy.run(ok)
        assert.strictEqual(yield* policy.breakerState, "closed")
        yield* Effect.exit(policy.run(bad))
        assert.strictEqual(yield* policy.breakerState, "open")
      })
    )
  )

  it.effect("breaker - timeouts count as failures", () =>
    isolated(
      Effect.gen(function* () {
        const policy = yield* Policy.make({
          name: "db",
          timeout: "1 second",
          breaker: { trip: { _tag: "consecutive", failures: 2 }, openDuration: "1 minute" }
        })
        for (let i = 0; i < 2; i++) {
          const fiber = yield* Effect.forkChild(Effect.exit(policy.run(Effect.never)))
          yield* TestClock.adjust("1 second")
          assert.strictEqual(reasonOf(yield* Fiber.join(fiber))._tag, "Timeout")
        }
        assert.strictEqual(yield* policy.breakerState, "open")
      })
    )
  )

  it.effect("breaker - every transition is a metric and a log line", () =>
    Effect.gen(function* () {
      const lines: Array<string> = []
      const annotations: Array<Record<string, unknown>> = []
      const capture = Logger.make(({ message, fiber }) => {
        const line = Array.isArray(message) ? message.join(" ") : String(message)
        lines.push(line)
        if (line.startsWith("circuit")) annotations.push({ ...fiber.getRef(References.CurrentLogAnnotations) })
      })
      yield* Effect.gen(function* () {
        const policy = yield* Policy.make({
          name: "claims",
          breaker: { trip: { _tag: "consecutive", failures: 1 }, openDuration: "1 second" }
        })
        yield* Effect.exit(policy.run(new Flaky({ retryable: true })))
        yield* TestClock.adjust("1 second")
        yield* policy.run(Effect.succeed(1))
        const transitions = (from: string, to: string) =>
          Effect.map(
            Metric.value(Metric.withAttributes(Metrics.breakerTransitions, { policy: "claims", from, to })),
            (s) => s.count
          )
        // Transitions are published to a subscriber fiber: give it a bounded number of turns.
        for (let i = 0; i < 100 && (yield* transitions("HalfOpen", "Closed")) === 0; i++) yield* Effect.yieldNow
        assert.strictEqual(yield* transitions("Closed", "Open"), 1)
        assert.strictEqual(yield* transitions("Open", "HalfOpen"), 1)
        assert.strictEqual(yield* transitions("HalfOpen", "Closed"), 1)
        const state = yield* Metric.value(Metric.withAttributes(Metrics.breakerState, { policy: "claims" }))
        assert.strictEqual(state.value, 0)
      }).pipe(Effect.scoped, Effect.provide(Logger.layer([capture])))
      assert.deepStrictEqual(
        lines.filter((l) => l.startsWith("circuit")),
        ["circuit Closed -> Open", "circuit Open -> HalfOpen", "circuit HalfOpen -> Closed"]
      )
      assert.deepStrictEqual(
        annotations.map((a) => [a.policy, a.key, a.from, a.to]),
        [
          ["claims", "claims", "Closed", "Open"],
          ["claims", "claims", "Open", "HalfOpen"],
          ["claims", "claims", "HalfOpen", "Closed"]
        ]
      )
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map()))
  )

  it.effect("run - outcomes are counted by kind", () =>
    isolated(
      Effect.gen(function* () {
        const policy = yield* Policy.make({ name: "api", retry: { base: "1 millis", maxAttempts: 2, jitter: false } })
        yield* policy.run(Effect.succeed(1))
        const fiber = yield* Effect.forkChild(Effect.exit(policy.run(new Flaky({ retryable: true }))))
        yield* TestClock.adjust("1 second")
        yield* Fiber.join(fiber)
        const calls = (outcome: string) =>
          Effect.map(
            Metric.value(Metric.withAttributes(Metrics.policyCalls, { policy: "api", outcome })),
            (s) => s.count
          )
        assert.strictEqual(yield* calls("success"), 1)
        assert.strictEqual(yield* calls("unavailable"), 1)
        const retries = yield* Metric.value(Metric.withAttributes(Metrics.policyRetries, { policy: "api" }))
        assert.strictEqual(retries.count, 1)
      })
    )
  )

  it.effect("breaker - the rate policy rejects without running the effect once open", () =>
    isolated(
      Effect.gen(function* () {
        const policy = yield* Policy.make({
          name: "db",
          breaker: { trip: { _tag: "rate", threshold: 0.5, minimumCalls: 4, size: 4 }, openDuration: "1 second" }
        })
        let executions = 0
        const call = (fail: boolean) =>
          policy.run(
            Effect.suspend(() => {
              executions++
              return fail ? Effect.fail(new Flaky({ retryable: true })) : Effect.succeed("ok")
            })
          )
        yield* Effect.exit(call(true))
        yield* Effect.exit(call(false))
        yield* Effect.exit(call(true))
        assert.strictEqual(yield* policy.breakerState, "closed")
        yield* Effect.exit(call(false))
        // 2 failures in 4 calls reach the 0.5 threshold
        assert.strictEqual(yield* policy.breakerState, "open")
        for (let i = 0; i < 5; i++) assert.strictEqual(reasonOf(yield* Effect.exit(call(false)))._tag, "CircuitOpen")
        assert.strictEqual(executions, 4)
      })
    )
  )

  it.effect("breaker - an open circuit rejects without starting the retries or the timeout", () =>
    isolated(
      Effect.gen(function* () {
        const policy = yield* Policy.make({
          name: "db",
          timeout: "1 second",
          retry: { base: "100 millis", maxAttempts: 3, jitter: false },
          breaker: { trip: { _tag: "consecutive", failures: 1 }, openDuration: "1 minute" }
        })
        const { times, effect } = recorder(1000)
        const first = yield* Effect.forkChild(Effect.exit(policy.run(new Flaky({ retryable: true }))))
        // attempts at 0, 100 and 300 ms: the third failure opens the circuit at 300 ms
        yield* TestClock.adjust("300 millis")
        assert.strictEqual(reasonOf(yield* Fiber.join(first))._tag, "Unavailable")
        const started = yield* Clock.currentTimeMillis
        const reason = reasonOf(yield* Effect.exit(policy.run(effect)))
        assert.strictEqual(reason._tag, "CircuitOpen")
        if (reason._tag === "CircuitOpen") assert.strictEqual(reason.retryAfterMillis, 60_000)
        assert.strictEqual(times.length, 0)
        assert.strictEqual((yield* Clock.currentTimeMillis) - started, 0)
      })
    )
  )

  it.effect("breaker - non-retryable errors do not count against the circuit", () =>
    isolated(
      Effect.gen(function* () {
        const policy = yield* Policy.make({
          name: "db",
          breaker: { trip: { _tag: "consecutive", failures: 2 }, openDuration: "1 minute" }
        })
        for (let i = 0; i < 5; i++) yield* Effect.exit(policy.run(new Flaky({ retryable: false })))
        assert.strictEqual(yield* policy.breakerState, "closed")
        yield* Effect.exit(policy.run(new Flaky({ retryable: true })))
        yield* Effect.exit(policy.run(new Flaky({ retryable: true })))
        assert.strictEqual(yield* policy.breakerState, "open")
      })
    )
  )

  it.effect("makeWithStore - policies sharing a store and a key share one circuit", () =>
    isolated(
      Effect.gen(function* () {
        const breaker = {
          trip: { _tag: "consecutive", failures: 1 },
          openDuration: "1 minute",
          key: "claims-db"
        } as const
        const a = yield* Policy.makeWithStore({ name: "a", breaker })
        const b = yield* Policy.makeWithStore({ name: "b", breaker })
        yield* Effect.exit(a.run(new Flaky({ retryable: true })))
        assert.strictEqual(yield* b.breakerState, "open")
        assert.strictEqual(reasonOf(yield* Effect.exit(b.run(Effect.succeed(1))))._tag, "CircuitOpen")
        // a policy made while the shared circuit is open starts its gauge at open
        yield* Policy.makeWithStore({ name: "c", breaker })
        const gauge = yield* Metric.value(Metric.withAttributes(Metrics.breakerState, { policy: "c" }))
        assert.strictEqual(gauge.value, 2)
      }).pipe(Effect.provide(Layer.fresh(CircuitBreaker.layerStoreMemory())))
    )
  )

  it.effect("run - is dual: data-first and pipeable", () =>
    Effect.gen(function* () {
      const policy = yield* Policy.make({ name: "db" })
      assert.strictEqual(yield* Policy.run(Effect.succeed(1), policy), 1)
      assert.strictEqual(yield* Effect.succeed(2).pipe(Policy.run(policy)), 2)
    })
  )

  it.effect("config - reads prefixed settings and fills the rest with defaults", () =>
    Effect.gen(function* () {
      const options = yield* Policy.config("CLAIMS_DB")
      assert.strictEqual(options.name, "claims_db")
      assert.isTrue(Duration.equals(Duration.fromInputUnsafe(options.timeout!), Duration.millis(750)))
      assert.strictEqual(options.retry?.maxAttempts, 7)
      assert.strictEqual(options.retry?.jitter, false)
      assert.strictEqual(options.retry?.factor, 2)
      assert.deepStrictEqual(options.breaker?.trip, { _tag: "rate", threshold: 0.25, minimumCalls: 20, size: 100 })
      assert.isTrue(Duration.equals(Duration.fromInputUnsafe(options.breaker!.openDuration), Duration.seconds(30)))
      // the configured policy behaves as configured: 7 attempts, 100 ms base without jitter
      const policy = yield* Policy.makeConfig("CLAIMS_DB")
      const { times, effect } = recorder(100)
      const fiber = yield* Effect.forkChild(Effect.exit(policy.run(effect)))
      yield* TestClock.adjust("750 millis")
      assert.strictEqual(reasonOf(yield* Fiber.join(fiber))._tag, "Timeout")
      assert.deepStrictEqual(times, [0, 100, 300, 700])
    }).pipe(
      Effect.provideService(
        ConfigProvider.ConfigProvider,
        ConfigProvider.fromEnv({
          env: {
            CLAIMS_DB_TIMEOUT: "750 millis",
            CLAIMS_DB_RETRY_ATTEMPTS: "7",
            CLAIMS_DB_RETRY_JITTER: "false",
            CLAIMS_DB_BREAKER_THRESHOLD: "0.25"
          }
        })
      )
    )
  )
  it.effect("breaker - sees one outcome per call, not per attempt", () =>
    isolated(
      Effect.gen(function* () {
        const policy = yield* Policy.make({
          name: "db",
          retry: { base: "10 millis", maxAttempts: 3, jitter: false },
          breaker: { trip: { _tag: "consecutive", failures: 2 }, openDuration: "1 minute" }
        })
        const { times, effect } = recorder(1000)
        const fiber = yield* Effect.forkChild(Effect.exit(policy.run(effect)))
        yield* TestClock.adjust("1 second")
        assert.strictEqual(reasonOf(yield* Fiber.join(fiber))._tag, "Unavailable")
        assert.strictEqual(times.length, 3)
        assert.strictEqual(yield* policy.breakerState, "closed")
      })
    )
  )

  it.effect("breaker - classifyIgnoringTimeouts keeps timeouts from opening it", () =>
    isolated(
      Effect.gen(function* () {
        const policy = yield* Policy.make({
          name: "db",
          timeout: "1 second",
          breaker: {
            trip: { _tag: "consecutive", failures: 1 },
            openDuration: "1 minute",
            classify: Policy.classifyIgnoringTimeouts
          }
        })
        const fiber = yield* Effect.forkChild(Effect.exit(policy.run(Effect.never)))
        yield* TestClock.adjust("1 second")
        assert.strictEqual(reasonOf(yield* Fiber.join(fiber))._tag, "Timeout")
        assert.strictEqual(yield* policy.breakerState, "closed")
        yield* Effect.exit(policy.run(new Flaky({ retryable: true })))
        assert.strictEqual(yield* policy.breakerState, "open")
      })
    )
  )

  it.effect("breaker - a rejected call is counted as circuit_open and records no latency", () =>
    isolated(
      Effect.gen(function* () {
        const policy = yield* Policy.make({
          name: "api",
          breaker: { trip: { _tag: "consecutive", failures: 1 }, openDuration: "1 minute" }
        })
        const { times, effect } = recorder(1000)
        yield* Effect.exit(policy.run(effect))
        for (let i = 0; i < 3; i++) yield* Effect.exit(policy.run(effect))
        assert.strictEqual(times.length, 1)
        const calls = (outcome: string) =>
          Effect.map(
            Metric.value(Metric.withAttributes(Metrics.policyCalls, { policy: "api", outcome })),
            (s) => s.count
          )
        assert.strictEqual(yield* calls("unavailable"), 1)
        assert.strictEqual(yield* calls("circuit_open"), 3)
        const latency = yield* Metric.value(Metric.withAttributes(Metrics.policyLatency, { policy: "api" }))
        assert.strictEqual(latency.count, 1)
      })
    )
  )

  it.effect("run - the isRetryable option decides what is retried", () =>
    Effect.gen(function* () {
      const policy = yield* Policy.make({
        name: "db",
        retry: { base: "10 millis", maxAttempts: 3, jitter: false },
        isRetryable: (error) => error === "ECONNRESET"
      })
      let calls = 0
      const fiber = yield* Effect.forkChild(
        Effect.exit(
          policy.run(
            Effect.suspend(() => {
              calls++
              return Effect.fail("ECONNRESET")
            })
          )
        )
      )
      yield* TestClock.adjust("1 second")
      const reason = reasonOf(yield* Fiber.join(fiber))
      assert.strictEqual(calls, 3)
      if (reason._tag === "Unavailable") {
        assert.isTrue(reason.retryable)
        assert.strictEqual(reason.cause, "ECONNRESET")
      } else assert.fail(`expected Unavailable, got ${reason._tag}`)
    })
  )

  it.effect("breaker - a defect counts against the dependency", () =>
    isolated(
      Effect.gen(function* () {
        const policy = yield* Policy.make({
          name: "db",
          breaker: { trip: { _tag: "consecutive", failures: 1 }, openDuration: "1 minute" }
        })
        yield* Effect.exit(policy.run(Effect.die("boom")))
        assert.strictEqual(yield* policy.breakerState, "open")
      })
    )
  )
})
