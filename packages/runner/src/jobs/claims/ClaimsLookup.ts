/**
 * The claims lookup as the enrich and replay jobs take it: the PostgreSQL
 * resolver of `ClaimsTable`, guarded by the `claims-db` policy, batched, then
 * cached, with every failure turned into an outcome by
 * `Enrichment.fromLookupError`, the job's one mapping of a lookup failure.
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
import { Lookup, PgLookup } from "@sluice/lookup"
import { type Duration, Effect, Option } from "effect"
import { CircuitBreaker } from "effect/persistence"
import * as BreakerStore from "../../BreakerStore.ts"
import * as Claims from "./ClaimsTable.ts"
import * as EnrichJob from "./EnrichJob.ts"
import * as Enrichment from "./Enrichment.ts"

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

const claimOutcome = Option.match({
  onNone: () => Enrichment.notFound,
  onSome: (claim: Claims.Claim) => Enrichment.found(claim)
})

/**
 * A claims `Lookup` as the enrich job takes it, every failure turned into an
 * outcome. `chunk` (what the CLI uses) answers a chunk of claim ids with one
 * `getMany`: cache hits stay local, the misses go out in batch queries, and a
 * failed query answers its `DB_ERROR` / `DB_TIMEOUT` reason for every id of
 * the chunk. `record` looks each id up with its own `get`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const outcomes = (
  lookup: Lookup.Lookup<string, Claims.Claim>,
  path: "chunk" | "record"
): EnrichJob.ClaimsLookup<never> =>
  path === "record"
    ? (claimId) =>
        lookup.get(claimId).pipe(
          Effect.map(claimOutcome),
          Effect.catch((error) => Effect.succeed(Enrichment.fromLookupError(error)))
        )
    : EnrichJob.perChunk((claimIds) =>
        lookup.getMany(claimIds).pipe(
          Effect.map((answers) => answers.map(claimOutcome)),
          Effect.catch((error) => {
            const outcome = Enrichment.fromLookupError(error)
            return Effect.succeed(claimIds.map(() => outcome))
          })
        )
      )

/**
 * The claims lookup as the enrich job wants it: the PostgreSQL resolver,
 * guarded by the policy, batched, then cached, every failure turned into an outcome; looked up per chunk
 * unless `path` says `record`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const claimsLookup = (
  pg: PgLookup.PgClient["Service"],
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
    const resolver = yield* Claims.makeResolver.pipe(Effect.provideService(PgLookup.PgClient, pg))
    const guarded = Lookup.batched(Lookup.withPolicy(resolver, policy), Claims.batching)
    const lookup =
      options.cacheSize > 0
        ? yield* Lookup.cached(guarded, {
            maxEntries: options.cacheSize,
            ttl: options.cacheTtl,
            notFoundTtl: options.cacheMissTtl
          })
        : guarded
    return outcomes(lookup, path)
  })
