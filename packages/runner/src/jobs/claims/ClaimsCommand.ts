/**
 * `sluice claims enrich` and `sluice claims large`: the claims jobs of the
 * seed documents, wired to Kafka (consumer-group source, idempotent sinks)
 * and PostgreSQL (batched lookups behind a cache and a policy), with the
 * observability server on `--metrics-port`.
 *
 * The lookup is composed as cache → policy → batched query, so cache hits
 * never touch the breaker, and one policy call guards one batch query; the
 * job looks claims up a chunk of payments at a time (`Lookup.getMany`):
 * `--lookup-timeout` bounds it (retries included), `--retry-attempts` and
 * `--retry-backoff` retry what is retryable, and the breaker opens when the
 * failure rate over the last `--breaker-window` calls reaches
 * `--breaker-threshold`, staying open for `--breaker-cooldown`.
 *
 * @since 0.1.0
 */
import { Policy } from "@sluice/core"
import { Admin, KafkaClient, KafkaSink, KafkaSource } from "@sluice/kafka"
import { Lookup, type LookupError, PgLookup } from "@sluice/lookup"
import { type BigDecimal, type Duration, Effect, Option, Ref } from "effect"
import { Command } from "effect/cli"
import * as Readiness from "../../http/Readiness.ts"
import * as Services from "../../Services.ts"
import * as ClaimsConfig from "./ClaimsConfig.ts"
import * as ClaimsDashboard from "./ClaimsDashboard.ts"
import * as ClaimsFlags from "./ClaimsFlags.ts"
import * as Claims from "./ClaimsTable.ts"
import * as EnrichJob from "./EnrichJob.ts"
import * as Enrichment from "./Enrichment.ts"
import * as LargeClaimsJob from "./LargeClaimsJob.ts"

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

const outcomeOf = (error: LookupError.LookupError): Enrichment.LookupOutcome => {
  switch (error.reason._tag) {
    case "Timeout":
      return Enrichment.timeout(error.message)
    case "CircuitOpen":
      return Enrichment.circuitOpen(error.message)
    case "Unavailable":
      return Enrichment.unavailable(error.message)
  }
}

const claimOutcome = Option.match({
  onNone: () => Enrichment.notFound,
  onSome: (claim: Claims.Claim) =>
    Enrichment.found({
      member_id: claim.member_id,
      claim_amount: claim.claim_amount,
      claim_status: claim.claim_status
    })
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
          Effect.catch((error) => Effect.succeed(outcomeOf(error)))
        )
    : EnrichJob.perChunk((claimIds) =>
        lookup.getMany(claimIds).pipe(
          Effect.map((answers) => answers.map(claimOutcome)),
          Effect.catch((error) => {
            const outcome = outcomeOf(error)
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
  path: "chunk" | "record" = "chunk"
) =>
  Effect.gen(function* () {
    const policy = yield* Policy.make({
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
    })
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

// The job's readiness gate, registered before anything connects: a readiness
// with no checks yet answers ready, and a job still connecting, or still
// waiting for the group to hand it partitions, is not.
const partitionsCheck = (readiness: Readiness.Readiness["Service"]) =>
  Effect.gen(function* () {
    const assigned = yield* Ref.make(0)
    yield* readiness.register(
      "partitions",
      Effect.flatMap(Ref.get(assigned), (n) => (n > 0 ? Effect.void : Effect.fail("no partitions assigned yet")))
    )
    return assigned
  })

/**
 * Ensures the job's topics exist (6 partitions for new ones), then runs the
 * enrich job until interrupted.
 *
 * @since 0.1.0
 * @category running
 */
export const runEnrich = (
  config: ClaimsConfig.ClaimsConfig,
  options: EnrichOptions,
  readiness: Readiness.Readiness["Service"]
) =>
  Effect.gen(function* () {
    const assigned = yield* partitionsCheck(readiness)
    // Both connections are checked before anything is created: a wrong
    // database URL must not leave new topics behind.
    const client = yield* Services.kafka(config).pipe(Effect.provideService(Readiness.Readiness, readiness))
    const pg = yield* Services.databaseAtStart(config, { statementTimeout: options.lookupTimeout }).pipe(
      Effect.provideService(Readiness.Readiness, readiness)
    )
    yield* Admin.ensureTopics(
      [config.topics.input, config.topics.enriched, config.topics.failed, config.topics.deadLetter].map((topic) => ({
        topic,
        partitions: 6
      }))
    ).pipe(Effect.provideService(KafkaClient.KafkaClient, client))
    const lookup = yield* claimsLookup(pg, options)
    const producer = yield* KafkaSink.producer(client)
    const records = yield* KafkaSource.make(client, {
      topics: [config.topics.input],
      groupId: config.groupId,
      onAssignment: (partitions) => Ref.set(assigned, partitions.length)
    })
    yield* Effect.logInfo("enrich job started").pipe(
      Effect.annotateLogs({ job: "enrich", input: config.topics.input, group: config.groupId })
    )
    yield* EnrichJob.run({
      records,
      sinks: {
        enriched: KafkaSink.make(producer, config.topics.enriched),
        failed: KafkaSink.make(producer, config.topics.failed),
        deadLetters: KafkaSink.make(producer, config.topics.deadLetter)
      },
      lookup,
      concurrency: options.concurrency,
      ordering: options.ordering,
      onDbUnavailable: options.onDbUnavailable
    })
  })

/**
 * Runs the large-claims job until interrupted.
 *
 * @since 0.1.0
 * @category running
 */
export const runLarge = (
  config: ClaimsConfig.ClaimsConfig,
  threshold: BigDecimal.BigDecimal,
  readiness: Readiness.Readiness["Service"]
) =>
  Effect.gen(function* () {
    const assigned = yield* partitionsCheck(readiness)
    const client = yield* Services.kafka(config).pipe(Effect.provideService(Readiness.Readiness, readiness))
    yield* Admin.ensureTopics(
      [config.topics.enriched, config.topics.largeClaims, config.topics.deadLetter].map((topic) => ({
        topic,
        partitions: 6
      }))
    ).pipe(Effect.provideService(KafkaClient.KafkaClient, client))
    const producer = yield* KafkaSink.producer(client)
    const records = yield* KafkaSource.make(client, {
      topics: [config.topics.enriched],
      groupId: `${config.groupId}-large`,
      onAssignment: (partitions) => Ref.set(assigned, partitions.length)
    })
    yield* LargeClaimsJob.run({
      records,
      sinks: {
        large: KafkaSink.make(producer, config.topics.largeClaims),
        deadLetters: KafkaSink.make(producer, config.topics.deadLetter)
      },
      threshold
    })
  })

const enrich = Command.make(
  "enrich",
  {
    ...ClaimsConfig.settingFlags,
    ...ClaimsFlags.enrichFlags
  },
  (flags) =>
    Effect.gen(function* () {
      const config = yield* ClaimsConfig.load(flags)
      yield* Effect.scoped(
        Effect.flatMap(Services.observability(config.metricsPort, ClaimsDashboard.dashboard), (readiness) =>
          runEnrich(config, flags, readiness)
        )
      ).pipe(Services.withTelemetry("enrich"))
    })
).pipe(Command.withDescription("Enrich payment-events with claims from PostgreSQL into enriched/failed payments"))

const large = Command.make("large", { ...ClaimsConfig.settingFlags, threshold: ClaimsFlags.threshold }, (flags) =>
  Effect.gen(function* () {
    const config = yield* ClaimsConfig.load(flags)
    yield* Effect.scoped(
      Effect.flatMap(Services.observability(config.metricsPort, ClaimsDashboard.dashboard), (readiness) =>
        runLarge(config, flags.threshold, readiness)
      )
    ).pipe(Services.withTelemetry("large"))
  })
).pipe(Command.withDescription("Keep enriched payments whose claim amount is at least --threshold"))

/**
 * The `claims` command and its `enrich` and `large` subcommands.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("claims").pipe(
  Command.withDescription("The payment-claims jobs"),
  Command.withSubcommands([enrich, large])
)
