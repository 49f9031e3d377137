/**
 * A bounded, time-aware LRU cache for lookup results, kept apart from the
 * resolver and the policy (the split Flink's lookup joins use). Found values
 * live for `ttl`; "not found" answers can be kept for a separate, usually
 * shorter `notFoundTtl` (zero means they are not cached at all), so a key that
 * appears later in the store is seen soon.
 *
 * Every operation is O(1) per key: a `Map` keeps keys in insertion order, so moving a
 * key to the back on each hit makes the first key the least recently used.
 * Time comes from `Clock`, so expiry can be tested with `TestClock`.
 *
 * @since 0.1.0
 */
import { Clock, Duration, Effect, Metric, Option } from "effect"
import * as Metrics from "./LookupMetrics.ts"

/**
 * Cache settings.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Most entries kept; the least recently used one is dropped beyond it. */
  readonly maxEntries: number
  /** How long a found value stays valid after it was written. */
  readonly ttl: Duration.Input
  /** How long a "not found" answer stays valid; zero (the default) disables negative caching. */
  readonly notFoundTtl?: Duration.Input | undefined
}

/**
 * A cache of `Option<V>` answers: `Option.none()` records that the key does not
 * exist. `getIfPresent` returns `Option.none()` on a miss and
 * `Option.some(answer)` on a hit.
 *
 * @since 0.1.0
 * @category models
 */
export interface LookupCache<K, V> {
  readonly name: string
  readonly getIfPresent: (key: K) => Effect.Effect<Option.Option<Option.Option<V>>>
  readonly put: (key: K, value: Option.Option<V>) => Effect.Effect<void>
  /**
   * `getIfPresent` for a whole chunk with one clock read and one metric update
   * per kind: a fresh array with the answer of each key in order, `undefined`
   * where the cache has none.
   */
  readonly getAllPresent: (keys: ReadonlyArray<K>) => Effect.Effect<Array<Option.Option<V> | undefined>>
  /** `put` for a whole chunk: `values[i]` is the answer for `keys[i]`. */
  readonly putAll: (keys: ReadonlyArray<K>, values: ReadonlyArray<Option.Option<V>>) => Effect.Effect<void>
  readonly invalidate: (key: K) => Effect.Effect<void>
  readonly invalidateAll: Effect.Effect<void>
  readonly size: Effect.Effect<number>
}

interface Counts {
  hits: number
  misses: number
  expired: number
}

interface Entry<V> {
  readonly value: Option.Option<V>
  readonly expiresAt: number
}

/**
 * Creates an empty cache whose metrics carry the attribute `lookup: name`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <K, V>(name: string, options: Options): Effect.Effect<LookupCache<K, V>> =>
  Effect.sync(() => {
    if (!Number.isInteger(options.maxEntries) || options.maxEntries < 1) {
      throw new RangeError(`LookupCache.make: maxEntries must be a positive integer, got ${options.maxEntries}`)
    }
    const maxEntries = options.maxEntries
    const ttlMillis = Duration.toMillis(Duration.fromInputUnsafe(options.ttl))
    const notFoundTtlMillis =
      options.notFoundTtl === undefined ? 0 : Duration.toMillis(Duration.fromInputUnsafe(options.notFoundTtl))
    const attributes = { lookup: name }
    const hits = Metric.withAttributes(Metrics.cacheHits, attributes)
    const misses = Metric.withAttributes(Metrics.cacheMisses, attributes)
    const evictedFull = Metric.withAttributes(Metrics.cacheEvictions, { lookup: name, cause: "capacity" })
    const evictedExpired = Metric.withAttributes(Metrics.cacheEvictions, { lookup: name, cause: "expired" })
    const size = Metric.withAttributes(Metrics.cacheSize, attributes)
    const entries = new Map<K, Entry<V>>()

    // Both the single-key and the chunk operations go through these two, so
    // expiry, LRU order and eviction behave the same either way.
    const read = (key: K, now: number, counts: Counts): Option.Option<V> | undefined => {
      const entry = entries.get(key)
      if (entry === undefined) {
        counts.misses++
        return undefined
      }
      entries.delete(key)
      if (entry.expiresAt <= now) {
        counts.misses++
        counts.expired++
        return undefined
      }
      // Re-inserting moves the key to the back: the front is always the least recently used.
      entries.set(key, entry)
      counts.hits++
      return entry.value
    }
    const write = (key: K, value: Option.Option<V>, now: number): number => {
      const ttl = Option.isSome(value) ? ttlMillis : notFoundTtlMillis
      if (ttl <= 0) return 0
      entries.delete(key)
      entries.set(key, { value, expiresAt: now + ttl })
      let evicted = 0
      while (entries.size > maxEntries) {
        const oldest = entries.keys().next()
        if (oldest.done === true) break
        entries.delete(oldest.value)
        evicted++
      }
      return evicted
    }
    const recordReads = (counts: Counts): Effect.Effect<void> => {
      const updates: Array<Effect.Effect<void>> = []
      if (counts.hits > 0) updates.push(Metric.update(hits, counts.hits))
      if (counts.misses > 0) updates.push(Metric.update(misses, counts.misses))
      if (counts.expired > 0) {
        updates.push(Metric.update(evictedExpired, counts.expired), Metric.update(size, entries.size))
      }
      return updates.length === 1 ? updates[0]! : Effect.all(updates, { discard: true })
    }
    const recordWrites = (evicted: number): Effect.Effect<void> => {
      const setSize = Metric.update(size, entries.size)
      return evicted === 0 ? setSize : Effect.andThen(Metric.update(evictedFull, evicted), setSize)
    }

    // Reused by getIfPresent: read synchronously, so one shared tally is enough.
    const single: Counts = { hits: 0, misses: 0, expired: 0 }
    const getIfPresent = (key: K): Effect.Effect<Option.Option<Option.Option<V>>> =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        single.hits = single.misses = single.expired = 0
        const value = read(key, now, single)
        // The common outcomes cost one metric update, as before the chunk path existed.
        if (value !== undefined) return Effect.as(Metric.update(hits, 1), Option.some(value))
        if (single.expired === 0) return Effect.as(Metric.update(misses, 1), Option.none())
        return Effect.as(recordReads(single), Option.none())
      })

    const put = (key: K, value: Option.Option<V>): Effect.Effect<void> =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const ttl = Option.isSome(value) ? ttlMillis : notFoundTtlMillis
        return ttl <= 0 ? Effect.void : recordWrites(write(key, value, now))
      })

    const getAllPresent = (keys: ReadonlyArray<K>): Effect.Effect<Array<Option.Option<V> | undefined>> =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const counts = { hits: 0, misses: 0, expired: 0 }
        const answers: Array<Option.Option<V> | undefined> = new Array(keys.length)
        for (let i = 0; i < keys.length; i++) answers[i] = read(keys[i]!, now, counts)
        return keys.length === 0 ? Effect.succeed(answers) : Effect.as(recordReads(counts), answers)
      })

    const putAll = (keys: ReadonlyArray<K>, values: ReadonlyArray<Option.Option<V>>): Effect.Effect<void> =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        let evicted = 0
        for (let i = 0; i < keys.length; i++) evicted += write(keys[i]!, values[i]!, now)
        return recordWrites(evicted)
      })

    return {
      name,
      getIfPresent,
      put,
      getAllPresent,
      putAll,
      invalidate: (key) =>
        Effect.suspend(() => {
          entries.delete(key)
          return Metric.update(size, entries.size)
        }),
      invalidateAll: Effect.suspend(() => {
        entries.clear()
        return Metric.update(size, 0)
      }),
      size: Effect.sync(() => entries.size)
    }
  })
