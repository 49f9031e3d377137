/**
 * A `Lookup<K, V>` answers "what is the value for this key?" against an
 * external store, as a stream enrichment step needs it: `get(key)` gives
 * `Option.some(value)`, `Option.none()` when the key does not exist, or fails
 * with a `LookupError` when the store cannot answer.
 *
 * Four parts, each a decorator of the one before, as in Flink's lookup joins;
 * the types only compose them in this order:
 *
 * 1. the resolver (`resolver`) only fetches rows for a set of keys;
 * 2. the policy (`withPolicy`, on a resolver) guards each batch query once
 *    (timeout, retry, circuit breaker), not each key, so a batch of 100 keys
 *    is one attempt;
 * 3. the batching (`batched`, on a resolver, guarded or not) turns it into a
 *    `Lookup`: concurrent `get`s are collected into batches of at most
 *    `maxBatchSize` distinct keys within `batchWindow`, so many callers cost
 *    one query; callers asking for the same key share the answer. `getMany`
 *    takes a whole chunk of keys at once (what a stream stage has in hand) and
 *    skips the per-key machinery: its distinct keys go out in queries of
 *    `maxBatchSize`;
 * 4. the cache (`cached`, on a `Lookup`) answers repeated keys without
 *    touching the policy or the store.
 *
 * A policy around a batched lookup, or a cache under the batching, does not
 * type-check: `withPolicy` and `batched` take a `Resolver`, which a `Lookup`
 * is not, and `cached` takes a `Lookup`, which a `Resolver` is not.
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Lookup } from "@sluice/lookup"
 *
 * const program = Effect.gen(function* () {
 *   const fetched = Lookup.resolver({ name: "customers", fetch: fetchCustomers })
 *   const batched = Lookup.batched(Lookup.withPolicy(fetched, policy), { maxBatchSize: 100, batchWindow: "2 millis" })
 *   const customers = yield* Lookup.cached(batched, { maxEntries: 10_000, ttl: "1 minute" })
 *   const customer = yield* customers.get("C-1")
 *   const chunk = yield* customers.getMany(["C-1", "C-2"]) // [Option<Customer>, Option<Customer>]
 * })
 * ```
 *
 * @since 0.1.0
 */
import type { PolicyError } from "@sluice/core"
import type { Array as Arr } from "effect"
import { Clock, Duration, Effect, Exit, Metric, Option } from "effect"
import * as Batcher from "./internal/batcher.ts"
import * as LookupCache from "./LookupCache.ts"
import { CircuitOpen, fromPolicyError, LookupError } from "./LookupError.ts"
import * as Metrics from "./LookupMetrics.ts"

/**
 * Fetches the rows for a set of distinct keys in one round trip. Keys with no
 * row are simply absent from the returned map.
 *
 * @since 0.1.0
 * @category models
 */
export type Fetch<K, V> = (keys: Arr.NonEmptyReadonlyArray<K>) => Effect.Effect<ReadonlyMap<K, V>, LookupError>

/**
 * The first part of a lookup: a named `Fetch`, nothing else.
 *
 * @since 0.1.0
 * @category models
 */
export interface Resolver<K, V> {
  readonly _tag: "Resolver"
  readonly name: string
  readonly fetch: Fetch<K, V>
}

/**
 * A resolver whose every fetch runs under a policy; only `batched` takes it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Guarded<K, V> {
  readonly _tag: "Guarded"
  readonly name: string
  readonly fetch: Fetch<K, V>
  /** Rejects at once, before any batching, while the policy's breaker has said it is open. */
  readonly admit: <A>(effect: Effect.Effect<A, LookupError>) => Effect.Effect<A, LookupError>
}

/**
 * A keyed lookup. Keys are compared with `Map` semantics, so they should be
 * primitives (strings, numbers).
 *
 * @since 0.1.0
 * @category models
 */
export interface Lookup<K, V> {
  readonly _tag: "Lookup"
  readonly name: string
  /** Looks one key up; concurrent calls are batched. */
  readonly get: (key: K) => Effect.Effect<Option.Option<V>, LookupError>
  /**
   * Looks a whole chunk of keys up and answers in the same order (duplicates
   * included). Distinct keys are fetched in queries of at most `maxBatchSize`;
   * if one of them fails, the call fails with that query's `LookupError`.
   */
  readonly getMany: (keys: ReadonlyArray<K>) => Effect.Effect<Array<Option.Option<V>>, LookupError>
}

/**
 * The part of `@sluice/core`'s `Policy` a lookup needs: something that runs an
 * effect under a timeout, retries and a breaker and fails with `PolicyError`.
 *
 * @since 0.1.0
 * @category models
 */
export interface LookupPolicy {
  readonly run: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, PolicyError.PolicyError, R>
}

/**
 * Options of `make`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<K, V> {
  readonly name: string
  readonly fetch: Fetch<K, V>
  readonly maxBatchSize?: number | undefined
  readonly batchWindow?: Duration.Input | undefined
}

const chunksOf = <K>(keys: ReadonlyArray<K>, size: number): Array<Arr.NonEmptyReadonlyArray<K>> => {
  const chunks: Array<Arr.NonEmptyReadonlyArray<K>> = []
  for (let i = 0; i < keys.length; i += size) {
    chunks.push(keys.slice(i, i + size) as unknown as Arr.NonEmptyReadonlyArray<K>)
  }
  return chunks
}

const merge = <K, V>(maps: ReadonlyArray<ReadonlyMap<K, V>>): ReadonlyMap<K, V> => {
  const merged = new Map<K, V>()
  for (const map of maps) for (const [key, value] of map) merged.set(key, value)
  return merged
}

// The chunk-level path: no fiber, request or waiter per key. Distinct keys go
// out in queries of at most `maxBatchSize`, all of a call's queries at once
// (the pool bounds how many run), and the answers come back in input order.
const manyFor = <K, V>(fetch: Fetch<K, V>, maxBatchSize: number, metrics: Batcher.BatchMetrics) => {
  const query = (keys: Arr.NonEmptyReadonlyArray<K>) => Batcher.timedFetch(fetch, metrics, keys)
  return (keys: ReadonlyArray<K>): Effect.Effect<Array<Option.Option<V>>, LookupError> => {
    if (keys.length === 0) return Effect.succeed([])
    const distinct = new Set(keys)
    const unique = distinct.size === keys.length ? keys : Array.from(distinct)
    const rows: Effect.Effect<ReadonlyArray<ReadonlyMap<K, V>>, LookupError> = unique.length <= maxBatchSize
      ? Effect.map(query(unique as unknown as Arr.NonEmptyReadonlyArray<K>), (map) => [map])
      : Effect.forEach(chunksOf(unique, maxBatchSize), query, { concurrency: "unbounded" })
    return Effect.flatMap(Effect.exit(rows), (exit) => {
      if (Exit.isFailure(exit)) {
        return Effect.andThen(Batcher.countOutcomes(metrics, exit, keys.length, 0), Exit.failCause(exit.cause))
      }
      const maps = exit.value
      // Without duplicates the i-th key went out in query i / maxBatchSize, so
      // its answer is read there and the maps need no merging.
      const inOrder = unique === keys
      const merged = inOrder || maps.length === 1 ? undefined : merge(maps)
      const answers: Array<Option.Option<V>> = new Array(keys.length)
      const none = Option.none<V>()
      let hits = 0
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i]!
        const found = merged ?? maps[inOrder ? Math.floor(i / maxBatchSize) : 0]!
        if (found.has(key)) {
          hits++
          answers[i] = Option.some(found.get(key) as V)
        } else answers[i] = none
      }
      return Effect.as(Batcher.countOutcomes(metrics, exit, keys.length, hits), answers)
    })
  }
}

/**
 * A resolver: `fetch` under a name (the lookup's metrics are tagged with it).
 *
 * @since 0.1.0
 * @category constructors
 */
export const resolver = <K, V>(options: { readonly name: string; readonly fetch: Fetch<K, V> }): Resolver<K, V> => ({
  _tag: "Resolver",
  name: options.name,
  fetch: options.fetch
})

/**
 * Options of `batched`.
 *
 * @since 0.1.0
 * @category models
 */
export interface BatchOptions {
  /** Most distinct keys per query (default 100); a full batch is sent without waiting for the window. */
  readonly maxBatchSize?: number | undefined
  /** How long the first request of a batch waits for others to join it (default: one scheduler tick). */
  readonly batchWindow?: Duration.Input | undefined
}

/**
 * Batches the fetches of a resolver (guarded by a policy or not) into a
 * `Lookup`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const batched = <K, V>(source: Resolver<K, V> | Guarded<K, V>, options: BatchOptions = {}): Lookup<K, V> => {
  const maxBatchSize = options.maxBatchSize ?? 100
  if (!Number.isInteger(maxBatchSize) || maxBatchSize < 1) {
    throw new RangeError(`Lookup.batched: maxBatchSize must be a positive integer, got ${maxBatchSize}`)
  }
  const window = Duration.fromInputUnsafe(options.batchWindow ?? Duration.zero)
  const metrics = Batcher.batchMetrics(source.name)
  const get = Batcher.make({ fetch: source.fetch, maxBatchSize, window, metrics })
  const getMany = manyFor(source.fetch, maxBatchSize, metrics)
  if (source._tag === "Resolver") return { _tag: "Lookup", name: source.name, get, getMany }
  const admit = source.admit
  return {
    _tag: "Lookup",
    name: source.name,
    get: (key) => admit(get(key)),
    getMany: (keys) => admit(getMany(keys))
  }
}

/**
 * A resolver batched without a policy: `batched(resolver(options), options)`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <K, V>(options: Options<K, V>): Lookup<K, V> => batched(resolver(options), options)

/**
 * Guards every fetch of `resolver` with `policy`: once `batched`, one policy
 * run per batch, whatever its size. Policy failures become `LookupError`s.
 * While the policy's breaker has said it is open, the batched lookup rejects
 * further keys at once, without waiting for a batch to form.
 *
 * @since 0.1.0
 * @category combinators
 */
export const withPolicy = <K, V>(resolver: Resolver<K, V>, policy: LookupPolicy): Guarded<K, V> => {
  // The breaker's own answer, remembered until the instant it gave: a rejection then costs a clock read.
  // Zero once that instant has passed, so a closed breaker costs nothing per key.
  let openUntil = 0
  const fetch: Fetch<K, V> = (keys) =>
    Effect.mapError(policy.run(resolver.fetch(keys)), (error) => fromPolicyError(resolver.name, error)).pipe(
      Effect.tapError((error) =>
        error.reason._tag === "CircuitOpen"
          ? Effect.map(Clock.currentTimeMillis, (now) => {
              openUntil = now + (error.reason as CircuitOpen).retryAfterMillis
            })
          : Effect.void
      )
    )
  const rejectWhileOpen = <A>(effect: Effect.Effect<A, LookupError>): Effect.Effect<A, LookupError> =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      if (now >= openUntil) {
        openUntil = 0
        return effect
      }
      return Effect.fail(
        new LookupError({ reason: new CircuitOpen({ lookup: resolver.name, retryAfterMillis: openUntil - now }) })
      )
    })
  return {
    _tag: "Guarded",
    name: resolver.name,
    fetch,
    // Decided when the effect runs, not when it is built: a retried get sees the breaker's latest answer.
    admit: (effect) => Effect.suspend(() => (openUntil === 0 ? effect : rejectWhileOpen(effect)))
  }
}

/**
 * Puts an existing cache in front of `lookup`. Hits never reach the lookup
 * underneath; misses go through it (and are batched) and are stored.
 * `getMany` reads the cache for the whole chunk with one clock read, sends
 * only the misses on (deduplicated, in queries of `maxBatchSize`) and stores
 * their answers in one go.
 *
 * @since 0.1.0
 * @category combinators
 */
export const withCache = <K, V>(lookup: Lookup<K, V>, cache: LookupCache.LookupCache<K, V>): Lookup<K, V> => {
  const found = Metric.withAttributes(Metrics.requests, { lookup: lookup.name, outcome: "found" })
  const notFound = Metric.withAttributes(Metrics.requests, { lookup: lookup.name, outcome: "not_found" })
  const get = (key: K): Effect.Effect<Option.Option<V>, LookupError> =>
    Effect.flatMap(cache.getIfPresent(key), (hit) =>
      Option.isSome(hit)
        ? Effect.as(Metric.update(Option.isSome(hit.value) ? found : notFound, 1), hit.value)
        : Effect.tap(lookup.get(key), (value) => cache.put(key, value))
    )
  const countHits = (answers: ReadonlyArray<Option.Option<V> | undefined>, hits: number) => {
    let present = 0
    for (const answer of answers) if (answer !== undefined && Option.isSome(answer)) present++
    return Effect.andThen(Metric.update(found, present), Metric.update(notFound, hits - present))
  }
  const getMany = (keys: ReadonlyArray<K>): Effect.Effect<Array<Option.Option<V>>, LookupError> =>
    Effect.flatMap(cache.getAllPresent(keys), (cachedAnswers) => {
      const answers = cachedAnswers as Array<Option.Option<V> | undefined>
      const missing: Array<K> = []
      for (let i = 0; i < keys.length; i++) if (answers[i] === undefined) missing.push(keys[i]!)
      const recorded = countHits(answers, keys.length - missing.length)
      if (missing.length === 0) return Effect.as(recorded, answers as Array<Option.Option<V>>)
      return Effect.andThen(
        recorded,
        Effect.flatMap(lookup.getMany(missing), (loaded) =>
          Effect.as(cache.putAll(missing, loaded), fill(answers, loaded))
        )
      )
    })
  return { _tag: "Lookup", name: lookup.name, get, getMany }
}

// Puts the loaded answers into the holes the cache left, in order.
const fill = <V>(
  answers: Array<Option.Option<V> | undefined>,
  loaded: ReadonlyArray<Option.Option<V>>
): Array<Option.Option<V>> => {
  let next = 0
  for (let i = 0; i < answers.length; i++) if (answers[i] === undefined) answers[i] = loaded[next++]
  return answers as Array<Option.Option<V>>
}

/**
 * Creates an LRU cache with the given options (metrics tagged with the
 * lookup's name) and puts it in front of `lookup`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const cached = <K, V>(lookup: Lookup<K, V>, options: LookupCache.Options): Effect.Effect<Lookup<K, V>> =>
  Effect.map(LookupCache.make<K, V>(lookup.name, options), (cache) => withCache(lookup, cache))
