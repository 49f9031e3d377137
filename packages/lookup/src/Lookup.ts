/**
 * A `Lookup<K, V>` answers "what is the value for this key?" against an
 * external store, as a stream enrichment step needs it: `get(key)` gives
 * `Option.some(value)`, `Option.none()` when the key does not exist, or fails
 * with a `LookupError` when the store cannot answer.
 *
 * Three concerns are kept apart, as in Flink's lookup joins:
 *
 * - the resolver (`make`) only fetches rows for a set of keys. Concurrent
 *   `get`s are collected by a `RequestResolver` into batches of at most
 *   `maxBatchSize` distinct keys within `batchWindow`, so many callers cost one
 *   query; callers asking for the same key share the answer.
 * - the policy (`withPolicy`) guards each batch query once (timeout, retry,
 *   circuit breaker), not each key, so a batch of 100 keys is one attempt.
 * - the cache (`cached`) answers repeated keys without touching the policy or
 *   the store.
 *
 * Compose them in that order, the cache outermost:
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Lookup } from "@sluice/lookup"
 *
 * const program = Effect.gen(function* () {
 *   const base = Lookup.make({ name: "claims", fetch: fetchClaims, maxBatchSize: 100, batchWindow: "2 millis" })
 *   const claims = yield* Lookup.cached(Lookup.withPolicy(base, policy), { maxEntries: 10_000, ttl: "1 minute" })
 *   const claim = yield* claims.get("CLM-000001")
 * })
 * ```
 *
 * @since 0.1.0
 */
import type { PolicyError } from "@sluice/core"
import type { Array as Arr } from "effect"
import { Clock, Duration, Effect, Exit, Metric, Option, Request, RequestResolver } from "effect"
import * as LookupCache from "./LookupCache.ts"
import { CircuitOpen, fromPolicyError, LookupError } from "./LookupError.ts"
import * as Metrics from "./LookupMetrics.ts"

/**
 * How concurrent `get`s are grouped into queries.
 *
 * @since 0.1.0
 * @category models
 */
export interface Batching {
  /** Most requests per query (default 100). */
  readonly maxBatchSize: number
  /** How long the first request of a batch waits for others to join it (default: one scheduler tick). */
  readonly batchWindow: Duration.Duration
}

/**
 * Fetches the rows for a set of distinct keys in one round trip. Keys with no
 * row are simply absent from the returned map.
 *
 * @since 0.1.0
 * @category models
 */
export type Fetch<K, V> = (keys: Arr.NonEmptyReadonlyArray<K>) => Effect.Effect<ReadonlyMap<K, V>, LookupError>

/**
 * A keyed lookup. Keys are compared with `Map` semantics, so they should be
 * primitives (strings, numbers).
 *
 * @since 0.1.0
 * @category models
 */
export interface Lookup<K, V> {
  readonly name: string
  /** Looks one key up; concurrent calls are batched. */
  readonly get: (key: K) => Effect.Effect<Option.Option<V>, LookupError>
  /** One query for a set of distinct keys, used to build batches. */
  readonly fetch: Fetch<K, V>
  readonly batching: Batching
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

interface KeyRequest<K, V> extends Request.Request<Option.Option<V>, LookupError> {
  readonly key: K
}

// Request metrics are recorded once per batch (one update per outcome), not per
// key: with thousands of keys per second, per-key clock reads and metric
// updates would cost as much as the query itself.
const resolverFor = <K, V>(name: string, fetch: Fetch<K, V>, batching: Batching) => {
  const sizes = Metric.withAttributes(Metrics.batchSize, { lookup: name })
  const latency = Metric.withAttributes(Metrics.latencyMs, { lookup: name })
  const found = Metric.withAttributes(Metrics.requests, { lookup: name, outcome: "found" })
  const notFound = Metric.withAttributes(Metrics.requests, { lookup: name, outcome: "not_found" })
  const failed = Metric.withAttributes(Metrics.requests, { lookup: name, outcome: "error" })
  const base = RequestResolver.make<KeyRequest<K, V>>((entries) => {
    // Entries for the same key share one slot of the query and one answer.
    const byKey = new Map<K, Array<Request.Entry<KeyRequest<K, V>>>>()
    for (const entry of entries) {
      const waiting = byKey.get(entry.request.key)
      if (waiting === undefined) byKey.set(entry.request.key, [entry])
      else waiting.push(entry)
    }
    const keys = Array.from(byKey.keys()) as unknown as Arr.NonEmptyReadonlyArray<K>
    return Effect.flatMap(Clock.currentTimeNanos, (start) =>
      fetch(keys).pipe(
        // One span per query, for the same reason. It ends before the callers
        // are answered: completing them inside the span added 4-14% CPU time
        // in the runner's in-memory telemetry benchmark; around the query
        // alone the span's cost is below that benchmark's noise.
        Effect.tap((rows) =>
          Effect.annotateCurrentSpan({ "sluice.lookup.found": rows.size, "sluice.lookup.outcome": "ok" })
        ),
        Effect.tapError((error) => Effect.annotateCurrentSpan("sluice.lookup.outcome", error.reason._tag)),
        Effect.withSpan(
          "sluice.lookup.batch",
          {
            attributes: {
              "sluice.lookup.name": name,
              "sluice.lookup.keys": keys.length,
              "sluice.lookup.requests": entries.length
            }
          },
          { captureStackTrace: false }
        ),
        Effect.map((rows) => {
          let hits = 0
          for (const [key, waiting] of byKey) {
            const present = rows.has(key)
            const answer = Exit.succeed(present ? Option.some(rows.get(key) as V) : Option.none<V>())
            if (present) hits += waiting.length
            for (const entry of waiting) entry.completeUnsafe(answer)
          }
          return hits
        }),
        Effect.onExit((exit) =>
          Effect.flatMap(Clock.currentTimeNanos, (end) =>
            Effect.all(
              [
                Metric.update(sizes, keys.length),
                Metric.update(latency, Number(end - start) / 1_000_000),
                ...(Exit.isSuccess(exit)
                  ? [Metric.update(found, exit.value), Metric.update(notFound, entries.length - exit.value)]
                  : [Metric.update(failed, entries.length)])
              ],
              { discard: true }
            )
          )
        ),
        Effect.asVoid
      )
    )
  })
  const delayed = Duration.isZero(batching.batchWindow) ? base : RequestResolver.setDelay(base, batching.batchWindow)
  return RequestResolver.batchN(delayed, batching.maxBatchSize)
}

/**
 * Builds a batching lookup from a function that fetches many keys at once.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <K, V>(options: Options<K, V>): Lookup<K, V> => {
  const maxBatchSize = options.maxBatchSize ?? 100
  if (!Number.isInteger(maxBatchSize) || maxBatchSize < 1) {
    throw new RangeError(`Lookup.make: maxBatchSize must be a positive integer, got ${maxBatchSize}`)
  }
  const batching: Batching = {
    maxBatchSize,
    batchWindow: Duration.fromInputUnsafe(options.batchWindow ?? Duration.zero)
  }
  const resolver = resolverFor(options.name, options.fetch, batching)
  const makeRequest = Request.of<KeyRequest<K, V>>()
  const get = (key: K) => Effect.request(makeRequest({ key }), resolver)
  return { name: options.name, get, fetch: options.fetch, batching }
}

/**
 * Guards every batch query of `lookup` with `policy`: one policy run per
 * batch, whatever its size. Policy failures become `LookupError`s. While the
 * policy's breaker has said it is open, further keys are rejected at once,
 * without waiting for a batch to form.
 *
 * @since 0.1.0
 * @category combinators
 */
export const withPolicy = <K, V>(lookup: Lookup<K, V>, policy: LookupPolicy): Lookup<K, V> => {
  // The breaker's own answer, remembered until the instant it gave: a rejection then costs a clock read.
  let openUntil = 0
  const fetch: Fetch<K, V> = (keys) =>
    Effect.mapError(policy.run(lookup.fetch(keys)), (error) => fromPolicyError(lookup.name, error)).pipe(
      Effect.tapError((error) =>
        error.reason._tag === "CircuitOpen"
          ? Effect.map(Clock.currentTimeMillis, (now) => {
              openUntil = now + (error.reason as CircuitOpen).retryAfterMillis
            })
          : Effect.void
      )
    )
  const batched = make({
    name: lookup.name,
    fetch,
    maxBatchSize: lookup.batching.maxBatchSize,
    batchWindow: lookup.batching.batchWindow
  })
  const get = (key: K): Effect.Effect<Option.Option<V>, LookupError> =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      now < openUntil
        ? Effect.fail(
            new LookupError({ reason: new CircuitOpen({ lookup: lookup.name, retryAfterMillis: openUntil - now }) })
          )
        : batched.get(key)
    )
  return { name: lookup.name, get, fetch, batching: lookup.batching }
}

/**
 * Puts an existing cache in front of `lookup`. Hits never reach the lookup
 * underneath; misses go through it (and are batched) and are stored.
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
  const fetch: Fetch<K, V> = (keys) =>
    Effect.gen(function* () {
      const result = new Map<K, V>()
      const missing: Array<K> = []
      for (const key of keys) {
        const hit = yield* cache.getIfPresent(key)
        if (Option.isNone(hit)) missing.push(key)
        else if (Option.isSome(hit.value)) result.set(key, hit.value.value)
      }
      if (missing.length === 0) return result
      const rows = yield* lookup.fetch(missing as unknown as Arr.NonEmptyReadonlyArray<K>)
      for (const key of missing) {
        const row = rows.has(key) ? Option.some(rows.get(key) as V) : Option.none<V>()
        yield* cache.put(key, row)
        if (Option.isSome(row)) result.set(key, row.value)
      }
      return result
    })
  return { name: lookup.name, get, fetch, batching: lookup.batching }
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
