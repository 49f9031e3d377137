/**
 * The claims lookup as the enrich and replay jobs take it: the PostgreSQL
 * resolver of `ClaimsTable`, guarded by the `claims-db` policy, batched, then
 * cached. A failure stays the lookup's `LookupError`: the job retries it in
 * pause mode and maps it to an enrichment status once, in `Enrichment`.
 *
 * The job looks claims up a chunk of payments at a time (`Lookup.getMany`):
 * `--lookup-timeout` bounds it (retries included), `--retry-attempts` and
 * `--retry-backoff` retry what is retryable, and the breaker opens when the
 * failure rate over the last `--breaker-window` calls reaches
 * `--breaker-threshold`, staying open for `--breaker-cooldown`. With a shared
 * store (`--breaker-store redis`) the circuit is the job's, not the process's.
 *
 * @since 0.1.0
 */
import { Policy } from "@sluice/core"
import { Lookup } from "@sluice/lookup"
import { Array as Arr, type Duration, Effect, Result } from "effect"
import { CircuitBreaker } from "effect/persistence"
import * as BreakerStore from "../../BreakerStore.ts"
import * as ClaimsDatabase from "./ClaimsDatabase.ts"
import * as Claims from "./ClaimsTable.ts"
import * as EnrichJob from "./EnrichJob.ts"

/**
 * Options of the enrich job, as the flags give them.
 *
 * @since 0.1.0
 * @category models
 */
export interface EnrichOptions {
  readonly concurrency: number
  readonly ordering: "ordered" | "key" | "unordered"
  readonly cacheSize: number
  readonly cacheTtl: Duration.Duration
  readonly cacheMissTtl: Duration.Duration
  readonly lookupTimeout: Duration.Duration
  readonly retryAttempts: number
  readonly retryBackoff: Duration.Duration
  readonly breakerThreshold: number
  readonly breakerWindow: number
  readonly breakerCooldown: Duration.Duration
  readonly onDbUnavailable: "route" | "pause"
}

/**
 * A claims `Lookup` as the enrich job takes it, its failures left as
 * `LookupError`s for the job to retry (pause mode) and then map. `chunk`
 * (what the CLI uses) answers a chunk of claim ids with one `getMany`: cache
 * hits stay local, the misses go out in batch queries, and a failed query
 * fails the chunk. `record` looks each id up with its own `get`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const forJob = (
  lookup: Lookup.Lookup<string, Claims.Claim>,
  path: "chunk" | "record"
): EnrichJob.ClaimsLookup<never> =>
  path === "record"
    ? lookup.get
    : EnrichJob.perChunk((claimIds) => Effect.map(lookup.getMany(claimIds), Arr.map(Result.succeed)))

/**
 * The claims lookup as the enrich job wants it: the resolver of the claims
 * database (PostgreSQL or DuckDB), guarded by the policy, batched, then
 * cached; looked up per chunk unless `path` says `record`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const claimsLookup = (
  database: ClaimsDatabase.ClaimsDatabase,
  options: EnrichOptions,
  path: "chunk" | "record" = "chunk",
  store?: BreakerStore.Store
) =>
  Effect.gen(function* () {
    const policy = yield* Policy.makeWithStore({
      name: "claims-db",
      timeout: options.lookupTimeout,
      retry: { base: options.retryBackoff, maxAttempts: options.retryAttempts + 1, jitter: true },
      breaker: {
        trip: {
          _tag: "rate",
          threshold: options.breakerThreshold,
          minimumCalls: Math.min(options.breakerWindow, 5),
          size: options.breakerWindow
        },
        openDuration: options.breakerCooldown
      }
    }).pipe(
      store === undefined
        ? Effect.provide(Policy.layerStoreMemory)
        : Effect.provideService(CircuitBreaker.CircuitBreakerStore, store)
    )
    // A shared circuit may be opened by another replica: show it in this one's metrics too.
    if (store?.shared === true) yield* BreakerStore.mirrorState(policy)
    const resolver = yield* ClaimsDatabase.resolver(database)
    const guarded = Lookup.batched(Lookup.withPolicy(resolver, policy), Claims.batching)
    const lookup =
      options.cacheSize > 0
        ? yield* Lookup.cached(guarded, {
            maxEntries: options.cacheSize,
            ttl: options.cacheTtl,
            notFoundTtl: options.cacheMissTtl
          })
        : guarded
    return forJob(lookup, path)
  })
