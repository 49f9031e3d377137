import { assert, describe, it } from "@effect/vitest"
import { Policy, PolicyError } from "@sluice/core"
import type { Array as Arr } from "effect"
import { Effect, Exit, Fiber, Metric, Option } from "effect"
import { TestClock } from "effect/testing"
import * as Lookup from "../src/Lookup.ts"
import { LookupError, Unavailable } from "../src/LookupError.ts"
import * as LookupMetrics from "../src/LookupMetrics.ts"

/** A store of even numbers; records every fetch it receives. */
const fakeStore = (options: { readonly fail?: () => LookupError | undefined } = {}) => {
  const fetches: Array<ReadonlyArray<number>> = []
  const fetch: Lookup.Fetch<number, string> = (keys: Arr.NonEmptyReadonlyArray<number>) =>
    Effect.suspend(() => {
      fetches.push(keys)
      const failure = options.fail?.()
      if (failure !== undefined) return Effect.fail(failure)
      return Effect.succeed(new Map(keys.filter((k) => k % 2 === 0).map((k) => [k, `v${k}`] as const)))
    })
  return { fetches, fetch }
}

const unavailable = (retryable: boolean) =>
  new LookupError({ reason: new Unavailable({ lookup: "test", retryable, detail: "down", cause: undefined }) })

/** A policy double that counts runs and can reject like an open breaker. */
const countingPolicy = (reject?: PolicyError.PolicyError) => {
  let runs = 0
  const policy: Lookup.LookupPolicy = {
    run: (effect) =>
      Effect.suspend(() => {
        runs++
        return reject === undefined
          ? Effect.mapError(
              effect,
              (cause) =>
                new PolicyError.PolicyError({
                  reason: new PolicyError.Unavailable({ operation: "test", attempts: 1, retryable: false, cause })
                })
            )
          : Effect.fail(reject)
      })
  }
  return { policy, runs: () => runs }
}

describe("Lookup", () => {
  it.effect("make - concurrent gets for distinct keys become one fetch per maxBatchSize keys", () =>
    Effect.gen(function* () {
      const store = fakeStore()
      const lookup = Lookup.make({ name: "unit-batch", fetch: store.fetch, maxBatchSize: 100 })
      const keys = Array.from({ length: 250 }, (_, i) => i)
      const results = yield* Effect.forEach(keys, lookup.get, { concurrency: "unbounded" })
      assert.strictEqual(store.fetches.length, 3)
      assert.isTrue(store.fetches.every((batch) => batch.length <= 100))
      assert.strictEqual(store.fetches.flat().length, 250)
      assert.deepStrictEqual(results[4], Option.some("v4"))
      assert.isTrue(Option.isNone(results[5]!))
    })
  )

  it.effect("make - concurrent gets for the same key share one slot of one fetch", () =>
    Effect.gen(function* () {
      const store = fakeStore()
      const lookup = Lookup.make({ name: "unit-dedup", fetch: store.fetch })
      const results = yield* Effect.forEach(
        Array.from({ length: 20 }, () => 8),
        lookup.get,
        {
          concurrency: "unbounded"
        }
      )
      assert.deepStrictEqual(store.fetches, [[8]])
      assert.isTrue(results.every((r) => Option.getOrUndefined(r) === "v8"))
    })
  )

  it.effect("make - a failed fetch fails every get of the batch with the same error", () =>
    Effect.gen(function* () {
      const error = unavailable(true)
      const store = fakeStore({ fail: () => error })
      const lookup = Lookup.make({ name: "unit-fail", fetch: store.fetch })
      const exits = yield* Effect.forEach([1, 2, 3], (k) => Effect.exit(lookup.get(k)), { concurrency: "unbounded" })
      assert.strictEqual(store.fetches.length, 1)
      // The error, not the whole cause: the batch span annotates the cause with its trace.
      for (const exit of exits) assert.deepStrictEqual(Exit.findErrorOption(exit), Option.some(error))
    })
  )

  it.effect("make - records request outcomes and batch sizes", () =>
    Effect.gen(function* () {
      const store = fakeStore({ fail: () => (store.fetches.length > 1 ? unavailable(true) : undefined) })
      const lookup = Lookup.make({ name: "unit-metrics", fetch: store.fetch })
      yield* Effect.forEach([2, 3], lookup.get, { concurrency: "unbounded" })
      yield* Effect.exit(lookup.get(4))
      const count = (outcome: string) =>
        Effect.map(
          Metric.value(Metric.withAttributes(LookupMetrics.requests, { lookup: "unit-metrics", outcome })),
          (s) => Number(s.count)
        )
      assert.strictEqual(yield* count("found"), 1)
      assert.strictEqual(yield* count("not_found"), 1)
      assert.strictEqual(yield* count("error"), 1)
      const sizes = yield* Metric.value(Metric.withAttributes(LookupMetrics.batchSize, { lookup: "unit-metrics" }))
      assert.strictEqual(sizes.count, 2)
      assert.strictEqual(sizes.sum, 3)
    })
  )

  it.effect("make - the first get waits batchWindow for others to join its batch", () =>
    Effect.gen(function* () {
      const store = fakeStore()
      const lookup = Lookup.make({ name: "unit-window", fetch: store.fetch, batchWindow: "10 millis" })
      const first = yield* Effect.forkChild(lookup.get(2))
      yield* Effect.yieldNow
      yield* TestClock.adjust("6 millis")
      const second = yield* Effect.forkChild(lookup.get(4))
      yield* Effect.yieldNow
      assert.strictEqual(store.fetches.length, 0)
      yield* TestClock.adjust("4 millis")
      assert.deepStrictEqual(yield* Fiber.join(first), Option.some("v2"))
      assert.deepStrictEqual(yield* Fiber.join(second), Option.some("v4"))
      assert.deepStrictEqual(store.fetches, [[2, 4]])
    })
  )

  it("types - the decorators compose only as resolver, withPolicy, batched, cached", () => {
    const store = fakeStore()
    const policy: Lookup.LookupPolicy = { run: (effect) => Effect.orDie(effect) }
    const resolver = Lookup.resolver({ name: "unit-order", fetch: store.fetch })
    const lookup = Lookup.batched(Lookup.withPolicy(resolver, policy))
    // @ts-expect-error a policy guards the resolver's fetch, not a batched lookup
    Lookup.withPolicy(lookup, policy)
    // @ts-expect-error one policy per resolver
    Lookup.withPolicy(Lookup.withPolicy(resolver, policy), policy)
    // @ts-expect-error batching takes a resolver, not a lookup
    Lookup.batched(lookup)
    // @ts-expect-error a cache goes in front of a batched lookup, not of a resolver
    Lookup.cached(resolver, { maxEntries: 1, ttl: "1 second" })
    assert.strictEqual(lookup._tag, "Lookup")
  })

  it.effect("withPolicy - runs the policy once per batch, not once per key", () =>
    Effect.gen(function* () {
      const store = fakeStore()
      const { policy, runs } = countingPolicy()
      const lookup = Lookup.batched(
        Lookup.withPolicy(Lookup.resolver({ name: "unit-policy", fetch: store.fetch }), policy),
        { maxBatchSize: 50 }
      )
      yield* Effect.forEach(
        Array.from({ length: 100 }, (_, i) => i),
        lookup.get,
        { concurrency: "unbounded" }
      )
      assert.strictEqual(store.fetches.length, 2)
      assert.strictEqual(runs(), 2)
    })
  )

  it.effect("withPolicy - an open circuit becomes LookupError CircuitOpen without fetching", () =>
    Effect.gen(function* () {
      const store = fakeStore()
      const { policy } = countingPolicy(
        new PolicyError.PolicyError({
          reason: new PolicyError.CircuitOpen({ operation: "test", retryAfterMillis: 1000 })
        })
      )
      const lookup = Lookup.batched(
        Lookup.withPolicy(Lookup.resolver({ name: "unit-open", fetch: store.fetch }), policy)
      )
      const error = yield* Effect.flip(lookup.get(2))
      assert.strictEqual(error.reason._tag, "CircuitOpen")
      assert.isTrue(error.isRetryable)
      assert.strictEqual(store.fetches.length, 0)
    })
  )

  it.effect("withPolicy - after an open-circuit answer, rejects at once until its retryAfter has passed", () =>
    Effect.gen(function* () {
      const store = fakeStore()
      const { policy, runs } = countingPolicy(
        new PolicyError.PolicyError({
          reason: new PolicyError.CircuitOpen({ operation: "test", retryAfterMillis: 1000 })
        })
      )
      const lookup = Lookup.batched(
        Lookup.withPolicy(Lookup.resolver({ name: "unit-open-fast", fetch: store.fetch }), policy)
      )
      yield* Effect.flip(lookup.get(2))
      assert.strictEqual(runs(), 1)
      yield* TestClock.adjust("999 millis")
      const error = yield* Effect.flip(lookup.get(4))
      assert.isTrue(error.reason._tag === "CircuitOpen" && error.reason.retryAfterMillis === 1)
      assert.strictEqual(runs(), 1)
      yield* TestClock.adjust("1 millis")
      yield* Effect.flip(lookup.get(4))
      assert.strictEqual(runs(), 2)
    })
  )

  it.effect("withPolicy - a get built before the circuit opened is rejected at once when run after", () =>
    Effect.gen(function* () {
      const store = fakeStore()
      const { policy, runs } = countingPolicy(
        new PolicyError.PolicyError({
          reason: new PolicyError.CircuitOpen({ operation: "test", retryAfterMillis: 1000 })
        })
      )
      const lookup = Lookup.batched(
        Lookup.withPolicy(Lookup.resolver({ name: "unit-open-late", fetch: store.fetch }), policy)
      )
      const later = lookup.get(4)
      yield* Effect.flip(lookup.get(2))
      assert.strictEqual(runs(), 1)
      const error = yield* Effect.flip(later)
      assert.strictEqual(error.reason._tag, "CircuitOpen")
      assert.strictEqual(runs(), 1)
    })
  )

  it.effect("withPolicy - keeps the lookup's own error when the policy gives up on it", () =>
    Effect.gen(function* () {
      const original = unavailable(false)
      const store = fakeStore({ fail: () => original })
      const { policy } = countingPolicy()
      const lookup = Lookup.batched(
        Lookup.withPolicy(Lookup.resolver({ name: "unit-keep", fetch: store.fetch }), policy)
      )
      const error = yield* Effect.flip(lookup.get(2))
      assert.strictEqual(error, original)
      assert.isFalse(error.isRetryable)
    })
  )

  it.effect("cached - a hit after the first load touches neither the policy nor the store", () =>
    Effect.gen(function* () {
      const store = fakeStore()
      const { policy, runs } = countingPolicy()
      const lookup = yield* Lookup.cached(
        Lookup.batched(Lookup.withPolicy(Lookup.resolver({ name: "unit-cached", fetch: store.fetch }), policy)),
        { maxEntries: 100, ttl: "1 minute" }
      )
      assert.deepStrictEqual(yield* lookup.get(2), Option.some("v2"))
      assert.deepStrictEqual(yield* lookup.get(2), Option.some("v2"))
      assert.strictEqual(store.fetches.length, 1)
      assert.strictEqual(runs(), 1)
    })
  )

  it.effect("cached - loads again once the ttl has passed", () =>
    Effect.gen(function* () {
      const store = fakeStore()
      const lookup = yield* Lookup.cached(Lookup.make({ name: "unit-ttl", fetch: store.fetch }), {
        maxEntries: 100,
        ttl: "30 seconds"
      })
      yield* lookup.get(2)
      yield* TestClock.adjust("29 seconds")
      yield* lookup.get(2)
      assert.strictEqual(store.fetches.length, 1)
      yield* TestClock.adjust("1 second")
      yield* lookup.get(2)
      assert.strictEqual(store.fetches.length, 2)
    })
  )

  it.effect("cached - not-found answers are kept for notFoundTtl only", () =>
    Effect.gen(function* () {
      const store = fakeStore()
      const lookup = yield* Lookup.cached(Lookup.make({ name: "unit-negative", fetch: store.fetch }), {
        maxEntries: 100,
        ttl: "1 minute",
        notFoundTtl: "5 seconds"
      })
      assert.isTrue(Option.isNone(yield* lookup.get(3)))
      yield* TestClock.adjust("4 seconds")
      assert.isTrue(Option.isNone(yield* lookup.get(3)))
      assert.strictEqual(store.fetches.length, 1)
      yield* TestClock.adjust("1 second")
      yield* lookup.get(3)
      assert.strictEqual(store.fetches.length, 2)
    })
  )

  it.effect("cached - errors are not cached", () =>
    Effect.gen(function* () {
      let down = true
      const store = fakeStore({ fail: () => (down ? unavailable(true) : undefined) })
      const lookup = yield* Lookup.cached(Lookup.make({ name: "unit-error", fetch: store.fetch }), {
        maxEntries: 100,
        ttl: "1 minute"
      })
      assert.isTrue(Exit.isFailure(yield* Effect.exit(lookup.get(2))))
      down = false
      assert.deepStrictEqual(yield* lookup.get(2), Option.some("v2"))
    })
  )

  it.effect("make - a get interrupted before its batch is sent is withdrawn from it", () =>
    Effect.gen(function* () {
      const store = fakeStore()
      const lookup = Lookup.make({ name: "unit-withdraw", fetch: store.fetch, batchWindow: "10 millis" })
      const gone = yield* Effect.forkChild(lookup.get(2))
      const kept = yield* Effect.forkChild(lookup.get(4))
      yield* Effect.yieldNow
      yield* Fiber.interrupt(gone)
      yield* TestClock.adjust("10 millis")
      assert.deepStrictEqual(yield* Fiber.join(kept), Option.some("v4"))
      assert.deepStrictEqual(store.fetches, [[4]])
    })
  )

  it.effect("make - a batch whose every get was interrupted costs no query", () =>
    Effect.gen(function* () {
      const store = fakeStore()
      const lookup = Lookup.make({ name: "unit-withdraw-all", fetch: store.fetch, batchWindow: "10 millis" })
      const gone = yield* Effect.forkChild(lookup.get(2))
      yield* Effect.yieldNow
      yield* Fiber.interrupt(gone)
      yield* TestClock.adjust("1 minute")
      assert.deepStrictEqual(store.fetches, [])
      // the lookup still batches afterwards
      const next = yield* Effect.forkChild(lookup.get(6))
      yield* Effect.yieldNow
      yield* TestClock.adjust("10 millis")
      assert.deepStrictEqual(yield* Fiber.join(next), Option.some("v6"))
      assert.deepStrictEqual(store.fetches, [[6]])
    })
  )

  it.effect("make - a full batch is sent at once, without waiting for the window", () =>
    Effect.gen(function* () {
      const store = fakeStore()
      const lookup = Lookup.make({ name: "unit-full", fetch: store.fetch, maxBatchSize: 2, batchWindow: "1 minute" })
      const results = yield* Effect.forEach([2, 4], lookup.get, { concurrency: "unbounded" })
      assert.deepStrictEqual(results, [Option.some("v2"), Option.some("v4")])
      assert.deepStrictEqual(store.fetches, [[2, 4]])
    })
  )

  it.effect("getMany - answers in input order, duplicates included, one fetch per maxBatchSize distinct keys", () =>
    Effect.gen(function* () {
      const store = fakeStore()
      const lookup = Lookup.make({ name: "unit-many", fetch: store.fetch, maxBatchSize: 100 })
      const keys = Array.from({ length: 300 }, (_, i) => (i * 7) % 250)
      const answers = yield* lookup.getMany(keys)
      assert.deepStrictEqual(
        answers,
        keys.map((k) => (k % 2 === 0 ? Option.some(`v${k}`) : Option.none()))
      )
      assert.deepStrictEqual(
        store.fetches.map((batch) => batch.length),
        [100, 100, 50]
      )
      assert.strictEqual(new Set(store.fetches.flat()).size, 250)
      assert.deepStrictEqual(yield* lookup.getMany([]), [])
      assert.strictEqual(store.fetches.length, 3)
    })
  )

  it.effect("getMany - records outcomes per key asked and one batch size per query", () =>
    Effect.gen(function* () {
      const store = fakeStore({ fail: () => (store.fetches.length > 1 ? unavailable(true) : undefined) })
      const lookup = Lookup.make({ name: "unit-many-metrics", fetch: store.fetch })
      yield* lookup.getMany([2, 3, 2])
      yield* Effect.exit(lookup.getMany([4, 5]))
      const count = (outcome: string) =>
        Effect.map(
          Metric.value(Metric.withAttributes(LookupMetrics.requests, { lookup: "unit-many-metrics", outcome })),
          (s) => Number(s.count)
        )
      assert.strictEqual(yield* count("found"), 2)
      assert.strictEqual(yield* count("not_found"), 1)
      assert.strictEqual(yield* count("error"), 2)
      const sizes = yield* Metric.value(Metric.withAttributes(LookupMetrics.batchSize, { lookup: "unit-many-metrics" }))
      assert.strictEqual(sizes.count, 2)
      assert.strictEqual(sizes.sum, 4)
    })
  )

  it.effect("getMany - a failed query fails the call with its LookupError", () =>
    Effect.gen(function* () {
      const error = unavailable(true)
      const store = fakeStore({ fail: () => (store.fetches.length === 2 ? error : undefined) })
      const lookup = Lookup.make({ name: "unit-many-fail", fetch: store.fetch, maxBatchSize: 2 })
      const exit = yield* Effect.exit(lookup.getMany([1, 2, 3, 4, 5]))
      // The cause also carries the batch span, so the error is compared alone.
      assert.deepStrictEqual(Exit.findErrorOption(exit), Option.some(error))
    })
  )

  it.effect("withPolicy - getMany runs the policy once per query", () =>
    Effect.gen(function* () {
      const store = fakeStore()
      const { policy, runs } = countingPolicy()
      const lookup = Lookup.batched(
        Lookup.withPolicy(Lookup.resolver({ name: "unit-many-policy", fetch: store.fetch }), policy),
        { maxBatchSize: 50 }
      )
      const keys = Array.from({ length: 120 }, (_, i) => 119 - i)
      const answers = yield* lookup.getMany(keys)
      assert.deepStrictEqual(
        answers,
        keys.map((k) => (k % 2 === 0 ? Option.some(`v${k}`) : Option.none()))
      )
      assert.strictEqual(store.fetches.length, 3)
      assert.strictEqual(runs(), 3)
    })
  )

  it.effect("withPolicy - getMany fails with Timeout when the policy's timeout passes", () =>
    Effect.gen(function* () {
      const policy = yield* Policy.make({ name: "unit-many-timeout", timeout: "2 seconds" })
      const lookup = Lookup.batched(
        Lookup.withPolicy(
          Lookup.resolver<number, string>({ name: "unit-many-timeout", fetch: () => Effect.never }),
          policy
        )
      )
      const fiber = yield* Effect.forkChild(Effect.flip(lookup.getMany([1, 2])))
      yield* TestClock.adjust("1999 millis")
      assert.isUndefined(fiber.pollUnsafe())
      yield* TestClock.adjust("1 millis")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error.reason._tag, "Timeout")
      assert.isTrue(error.isRetryable)
    })
  )

  it.effect("withPolicy - getMany is rejected as CircuitOpen until retryAfter has passed, without fetching", () =>
    Effect.gen(function* () {
      const store = fakeStore()
      const { policy, runs } = countingPolicy(
        new PolicyError.PolicyError({
          reason: new PolicyError.CircuitOpen({ operation: "test", retryAfterMillis: 1000 })
        })
      )
      const lookup = Lookup.batched(
        Lookup.withPolicy(Lookup.resolver({ name: "unit-many-open", fetch: store.fetch }), policy)
      )
      const first = yield* Effect.flip(lookup.getMany([2, 4]))
      assert.strictEqual(first.reason._tag, "CircuitOpen")
      yield* TestClock.adjust("400 millis")
      const second = yield* Effect.flip(lookup.getMany([2, 4]))
      assert.isTrue(second.reason._tag === "CircuitOpen" && second.reason.retryAfterMillis === 600)
      assert.strictEqual(runs(), 1)
      yield* TestClock.adjust("600 millis")
      yield* Effect.flip(lookup.getMany([2, 4]))
      assert.strictEqual(runs(), 2)
      assert.strictEqual(store.fetches.length, 0)
    })
  )

  it.effect("cached - getMany answers hits locally and fetches each distinct miss once", () =>
    Effect.gen(function* () {
      const store = fakeStore()
      const { policy, runs } = countingPolicy()
      const lookup = yield* Lookup.cached(
        Lookup.batched(Lookup.withPolicy(Lookup.resolver({ name: "unit-many-cached", fetch: store.fetch }), policy)),
        { maxEntries: 100, ttl: "1 minute", notFoundTtl: "1 minute" }
      )
      yield* lookup.get(2)
      const answers = yield* lookup.getMany([4, 2, 5, 4, 2])
      assert.deepStrictEqual(answers, [
        Option.some("v4"),
        Option.some("v2"),
        Option.none(),
        Option.some("v4"),
        Option.some("v2")
      ])
      assert.deepStrictEqual(store.fetches, [[2], [4, 5]])
      assert.deepStrictEqual(yield* lookup.getMany([5, 4, 2]), [Option.none(), Option.some("v4"), Option.some("v2")])
      assert.strictEqual(store.fetches.length, 2)
      assert.strictEqual(runs(), 2)
      const value = (counter: typeof LookupMetrics.cacheHits) =>
        Effect.map(Metric.value(Metric.withAttributes(counter, { lookup: "unit-many-cached" })), (s) => Number(s.count))
      assert.strictEqual(yield* value(LookupMetrics.cacheHits), 5)
      assert.strictEqual(yield* value(LookupMetrics.cacheMisses), 4)
    })
  )

  it.effect("cached - getMany loads a found value again once its ttl has passed", () =>
    Effect.gen(function* () {
      const store = fakeStore()
      const lookup = yield* Lookup.cached(Lookup.make({ name: "unit-many-ttl", fetch: store.fetch }), {
        maxEntries: 100,
        ttl: "30 seconds"
      })
      yield* lookup.getMany([2, 4])
      yield* TestClock.adjust("29 seconds")
      yield* lookup.getMany([2, 4])
      assert.strictEqual(store.fetches.length, 1)
      yield* TestClock.adjust("1 second")
      yield* lookup.getMany([4, 2])
      assert.deepStrictEqual(store.fetches, [
        [2, 4],
        [4, 2]
      ])
    })
  )

  it.effect("cached - getMany keeps not-found answers for notFoundTtl only", () =>
    Effect.gen(function* () {
      const store = fakeStore()
      const lookup = yield* Lookup.cached(Lookup.make({ name: "unit-many-negative", fetch: store.fetch }), {
        maxEntries: 100,
        ttl: "1 minute",
        notFoundTtl: "5 seconds"
      })
      yield* lookup.getMany([2, 3])
      yield* TestClock.adjust("4 seconds")
      yield* lookup.getMany([2, 3])
      assert.strictEqual(store.fetches.length, 1)
      yield* TestClock.adjust("1 second")
      yield* lookup.getMany([2, 3])
      assert.deepStrictEqual(store.fetches, [[2, 3], [3]])
    })
  )

  it.effect("cached - getMany evicts the least recently used entry at capacity", () =>
    Effect.gen(function* () {
      const store = fakeStore()
      const lookup = yield* Lookup.cached(Lookup.make({ name: "unit-many-lru", fetch: store.fetch }), {
        maxEntries: 2,
        ttl: "1 minute"
      })
      yield* lookup.getMany([2, 4])
      yield* lookup.getMany([2])
      yield* lookup.getMany([6])
      yield* lookup.getMany([2, 4])
      assert.deepStrictEqual(store.fetches, [[2, 4], [6], [4]])
    })
  )

  it.effect("cached - getMany caches nothing from a failed call and fails with its error", () =>
    Effect.gen(function* () {
      let down = true
      const error = unavailable(true)
      const store = fakeStore({ fail: () => (down ? error : undefined) })
      const lookup = yield* Lookup.cached(Lookup.make({ name: "unit-many-error", fetch: store.fetch }), {
        maxEntries: 100,
        ttl: "1 minute"
      })
      assert.deepStrictEqual(Exit.findErrorOption(yield* Effect.exit(lookup.getMany([2, 4]))), Option.some(error))
      down = false
      assert.deepStrictEqual(yield* lookup.getMany([2, 4]), [Option.some("v2"), Option.some("v4")])
      assert.strictEqual(store.fetches.length, 2)
    })
  )
})
