import { assert, describe, it } from "@effect/vitest"
import { Effect, Metric, Option } from "effect"
import { TestClock } from "effect/testing"
import * as LookupCache from "../src/LookupCache.ts"
import * as LookupMetrics from "../src/LookupMetrics.ts"

const counterValue = (counter: typeof LookupMetrics.cacheHits, attributes: Record<string, string>) =>
  Effect.map(Metric.value(Metric.withAttributes(counter, attributes)), (s) => Number(s.count))

describe("LookupCache", () => {
  it.effect("make - a put value is a hit until its ttl has passed", () =>
    Effect.gen(function* () {
      const cache = yield* LookupCache.make<string, number>("cache-ttl", { maxEntries: 10, ttl: "10 seconds" })
      assert.isTrue(Option.isNone(yield* cache.getIfPresent("a")))
      yield* cache.put("a", Option.some(1))
      yield* TestClock.adjust("9999 millis")
      assert.deepStrictEqual(yield* cache.getIfPresent("a"), Option.some(Option.some(1)))
      yield* TestClock.adjust("1 millis")
      assert.isTrue(Option.isNone(yield* cache.getIfPresent("a")))
      assert.strictEqual(yield* cache.size, 0)
      assert.strictEqual(yield* counterValue(LookupMetrics.cacheHits, { lookup: "cache-ttl" }), 1)
      assert.strictEqual(yield* counterValue(LookupMetrics.cacheMisses, { lookup: "cache-ttl" }), 2)
      assert.strictEqual(
        yield* counterValue(LookupMetrics.cacheEvictions, { lookup: "cache-ttl", cause: "expired" }),
        1
      )
    })
  )

  it.effect("make - not-found answers use their own shorter ttl", () =>
    Effect.gen(function* () {
      const cache = yield* LookupCache.make<string, number>("cache-negative", {
        maxEntries: 10,
        ttl: "1 minute",
        notFoundTtl: "2 seconds"
      })
      yield* cache.put("missing", Option.none())
      yield* cache.put("present", Option.some(7))
      yield* TestClock.adjust("1999 millis")
      assert.deepStrictEqual(yield* cache.getIfPresent("missing"), Option.some(Option.none()))
      yield* TestClock.adjust("1 millis")
      assert.isTrue(Option.isNone(yield* cache.getIfPresent("missing")))
      assert.deepStrictEqual(yield* cache.getIfPresent("present"), Option.some(Option.some(7)))
    })
  )

  it.effect("make - not-found answers are not kept when notFoundTtl is zero", () =>
    Effect.gen(function* () {
      const cache = yield* LookupCache.make<string, number>("cache-no-negative", { maxEntries: 10, ttl: "1 minute" })
      yield* cache.put("missing", Option.none())
      assert.isTrue(Option.isNone(yield* cache.getIfPresent("missing")))
      assert.strictEqual(yield* cache.size, 0)
    })
  )

  it.effect("make - evicts the least recently used entry at capacity", () =>
    Effect.gen(function* () {
      const cache = yield* LookupCache.make<string, number>("cache-lru", { maxEntries: 3, ttl: "1 minute" })
      yield* cache.put("a", Option.some(1))
      yield* cache.put("b", Option.some(2))
      yield* cache.put("c", Option.some(3))
      // touching "a" makes "b" the least recently used
      yield* cache.getIfPresent("a")
      yield* cache.put("d", Option.some(4))
      assert.strictEqual(yield* cache.size, 3)
      assert.isTrue(Option.isNone(yield* cache.getIfPresent("b")))
      assert.isTrue(Option.isSome(yield* cache.getIfPresent("a")))
      assert.isTrue(Option.isSome(yield* cache.getIfPresent("c")))
      assert.isTrue(Option.isSome(yield* cache.getIfPresent("d")))
      assert.strictEqual(
        yield* counterValue(LookupMetrics.cacheEvictions, { lookup: "cache-lru", cause: "capacity" }),
        1
      )
      const size = yield* Metric.value(Metric.withAttributes(LookupMetrics.cacheSize, { lookup: "cache-lru" }))
      assert.strictEqual(size.value, 3)
    })
  )

  it.effect("make - stays bounded under many distinct keys", () =>
    Effect.gen(function* () {
      const cache = yield* LookupCache.make<number, number>("cache-bounded", { maxEntries: 100, ttl: "1 minute" })
      for (let i = 0; i < 10_000; i++) yield* cache.put(i, Option.some(i))
      assert.strictEqual(yield* cache.size, 100)
      assert.isTrue(Option.isSome(yield* cache.getIfPresent(9_999)))
      assert.isTrue(Option.isNone(yield* cache.getIfPresent(9_899)))
    })
  )

  it.effect("make - invalidate removes one entry, invalidateAll every entry", () =>
    Effect.gen(function* () {
      const cache = yield* LookupCache.make<string, number>("cache-invalidate", { maxEntries: 10, ttl: "1 minute" })
      yield* cache.put("a", Option.some(1))
      yield* cache.put("b", Option.some(2))
      yield* cache.invalidate("a")
      assert.isTrue(Option.isNone(yield* cache.getIfPresent("a")))
      assert.strictEqual(yield* cache.size, 1)
      yield* cache.invalidateAll
      assert.strictEqual(yield* cache.size, 0)
    })
  )

  it.effect("getAllPresent - answers a chunk in order, undefined for misses and expired entries", () =>
    Effect.gen(function* () {
      const cache = yield* LookupCache.make<string, number>("cache-chunk", {
        maxEntries: 10,
        ttl: "10 seconds",
        notFoundTtl: "2 seconds"
      })
      yield* cache.putAll(["a", "gone", "b"], [Option.some(1), Option.none(), Option.some(2)])
      assert.deepStrictEqual(yield* cache.getAllPresent(["b", "x", "gone", "a"]), [
        Option.some(2),
        undefined,
        Option.none(),
        Option.some(1)
      ])
      yield* TestClock.adjust("2 seconds")
      assert.deepStrictEqual(yield* cache.getAllPresent(["gone", "a"]), [undefined, Option.some(1)])
      yield* TestClock.adjust("8 seconds")
      assert.deepStrictEqual(yield* cache.getAllPresent(["a", "b"]), [undefined, undefined])
      assert.strictEqual(yield* cache.size, 0)
      assert.strictEqual(yield* counterValue(LookupMetrics.cacheHits, { lookup: "cache-chunk" }), 4)
      assert.strictEqual(yield* counterValue(LookupMetrics.cacheMisses, { lookup: "cache-chunk" }), 4)
      assert.strictEqual(
        yield* counterValue(LookupMetrics.cacheEvictions, { lookup: "cache-chunk", cause: "expired" }),
        3
      )
    })
  )

  it.effect("putAll - keeps the cache bounded, dropping the least recently used entries", () =>
    Effect.gen(function* () {
      const cache = yield* LookupCache.make<string, number>("cache-chunk-lru", { maxEntries: 3, ttl: "1 minute" })
      yield* cache.putAll(["a", "b", "c"], [Option.some(1), Option.some(2), Option.some(3)])
      // touching "a" makes "b" the least recently used, then "c"
      yield* cache.getAllPresent(["a"])
      yield* cache.putAll(["d", "e"], [Option.some(4), Option.some(5)])
      assert.deepStrictEqual(yield* cache.getAllPresent(["a", "b", "c", "d", "e"]), [
        Option.some(1),
        undefined,
        undefined,
        Option.some(4),
        Option.some(5)
      ])
      assert.strictEqual(
        yield* counterValue(LookupMetrics.cacheEvictions, { lookup: "cache-chunk-lru", cause: "capacity" }),
        2
      )
      const size = yield* Metric.value(Metric.withAttributes(LookupMetrics.cacheSize, { lookup: "cache-chunk-lru" }))
      assert.strictEqual(size.value, 3)
    })
  )
})
