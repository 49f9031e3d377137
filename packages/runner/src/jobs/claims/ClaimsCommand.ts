/**
 * `sluice claims enrich` and `sluice claims large`: the claims jobs of the
 * seed documents, wired to Kafka (consumer-group source, idempotent sinks)
 * and PostgreSQL (batched lookups behind a cache and a policy), with the
 * observability server on `--metrics-port`.
 *
 * The claims lookup is built by `ClaimsLookup` (resolver, policy, batching,
 * cache, in that order). With `--value-format avro` the topics are Avro
 * through the schema registry (`ClaimsAvro`); `registry` is the client to
 * use, the one `SCHEMA_REGISTRY_URL` names by default.
 *
 * `--processing-guarantee exactly-once` (`PROCESSING_GUARANTEE`) writes the
 * outputs and commits the input offsets in Kafka transactions (`KafkaOutputs`).
 *
 * @since 0.1.0
 */
import { Admin, KafkaClient, KafkaSource, type SchemaRegistry } from "@sluice/kafka"
import { type BigDecimal, type Duration, Effect, Ref } from "effect"
import { Command } from "effect/cli"
import * as BreakerStore from "../../BreakerStore.ts"
import * as Config from "../../Config.ts"
import * as ConsumerGroup from "../../ConsumerGroup.ts"
import * as Flags from "../../Flags.ts"
import * as Readiness from "../../http/Readiness.ts"
import * as KafkaOutputs from "../../KafkaOutputs.ts"
import * as ProcessingGuarantee from "../../ProcessingGuarantee.ts"
import * as Services from "../../Services.ts"
import * as ClaimsAvro from "./ClaimsAvro.ts"
import * as ClaimsConfig from "./ClaimsConfig.ts"
import * as ClaimsDashboard from "./ClaimsDashboard.ts"
import * as ClaimsDatabase from "./ClaimsDatabase.ts"
import * as ClaimsFlags from "./ClaimsFlags.ts"
import * as ClaimsLookup from "./ClaimsLookup.ts"
import * as EnrichJob from "./EnrichJob.ts"
import * as LargeClaimsJob from "./LargeClaimsJob.ts"

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
 * What a replica of a scaled-out job adds to its options: where its circuit
 * breakers live and its consumer-group timing. Absent (the demo), the breaker
 * is local and the timing the source's defaults.
 *
 * @since 0.1.0
 * @category models
 */
export interface ScaleOut {
  readonly breakerStore?: BreakerStore.Options
  readonly consumer?: ConsumerGroup.Timing
  /** At-least-once when absent. */
  readonly guarantee?: ProcessingGuarantee.ProcessingGuarantee
  /** Exactly-once commit interval (`--commit-interval`); the job's default when absent. */
  readonly commitInterval?: Duration.Duration | undefined
  /** Exactly-once transactions per input partition (the default) or per member (`--transaction-scope`). */
  readonly transactionScope?: ProcessingGuarantee.TransactionScope | undefined
}

/**
 * The flags of `ScaleOut`, shared by the enrich and replay commands.
 *
 * @since 0.1.0
 * @category flags
 */
export const scaleOutFlags = { ...Flags.settingFlags(Config.breakerStore), ...ConsumerGroup.flags }

/**
 * Resolves `ScaleOut` from its flags, then the environment; the breaker
 * circuits are scoped by the job's consumer group.
 *
 * @since 0.1.0
 * @category constructors
 */
export const loadScaleOut = (
  flags: Config.Overrides<typeof Config.breakerStore & typeof Config.consumerGroup>,
  group: string
) =>
  Effect.gen(function* () {
    const breakerStore = BreakerStore.fromConfig(yield* Config.load(Config.breakerStore, flags), group)
    const consumer = yield* ConsumerGroup.load(flags)
    return { breakerStore, consumer } satisfies ScaleOut
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
  options: ClaimsLookup.EnrichOptions & ScaleOut,
  readiness: Readiness.Readiness["Service"],
  registry?: SchemaRegistry.SchemaRegistry["Service"],
  // An open database to use instead of the configured one (the demo's in-memory DuckDB).
  opened?: ClaimsDatabase.ClaimsDatabase
) =>
  Effect.gen(function* () {
    const assigned = yield* partitionsCheck(readiness)
    // Both connections are checked before anything is created: a wrong
    // database URL must not leave new topics behind.
    const client = yield* Services.kafka(config).pipe(Effect.provideService(Readiness.Readiness, readiness))
    const database =
      opened ??
      (yield* ClaimsDatabase.openAtStart(config, { statementTimeout: options.lookupTimeout }).pipe(
        Effect.provideService(Readiness.Readiness, readiness)
      ))
    const codec =
      config.valueFormat === "avro"
        ? yield* ClaimsAvro.enrichCodec(config.topics, registry ?? (yield* ClaimsAvro.registryFromEnv))
        : undefined
    yield* Admin.ensureTopics(
      [config.topics.input, config.topics.enriched, config.topics.failed, config.topics.deadLetter].map((topic) => ({
        topic,
        partitions: 6
      }))
    ).pipe(Effect.provideService(KafkaClient.KafkaClient, client))
    const store = options.breakerStore === undefined ? undefined : yield* BreakerStore.make(options.breakerStore)
    const lookup = yield* ClaimsLookup.claimsLookup(database, options, "chunk", store)
    // Every output goes through `outputs.to` with its input offset: commits need not hold the source.
    const outputs = yield* KafkaOutputs.make(client, config.groupId, options.guarantee ?? "at-least-once", {
      pipelined: true,
      commitInterval: options.commitInterval,
      transactionScope: options.transactionScope,
      groupInstanceId: options.consumer?.groupInstanceId
    })
    const records = yield* KafkaSource.make(client, {
      ...options.consumer,
      ...outputs.source,
      topics: [config.topics.input],
      groupId: config.groupId,
      onAssignment: (partitions) => Ref.set(assigned, partitions.length)
    })
    yield* Effect.logInfo("enrich job started").pipe(
      Effect.annotateLogs({
        job: "enrich",
        input: config.topics.input,
        group: config.groupId,
        guarantee: options.guarantee ?? "at-least-once"
      })
    )
    yield* EnrichJob.run({
      records,
      sinks: {
        enriched: outputs.to(config.topics.enriched),
        failed: outputs.to(config.topics.failed),
        deadLetters: outputs.to(config.topics.deadLetter)
      },
      lookup,
      concurrency: options.concurrency,
      ordering: options.ordering,
      onDbUnavailable: options.onDbUnavailable,
      codec
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
  readiness: Readiness.Readiness["Service"],
  registry?: SchemaRegistry.SchemaRegistry["Service"],
  consumer: ConsumerGroup.Timing = {},
  guarantee: ProcessingGuarantee.ProcessingGuarantee = "at-least-once",
  commitInterval?: Duration.Duration
) =>
  Effect.gen(function* () {
    const assigned = yield* partitionsCheck(readiness)
    const client = yield* Services.kafka(config).pipe(Effect.provideService(Readiness.Readiness, readiness))
    const codec =
      config.valueFormat === "avro"
        ? yield* ClaimsAvro.largeCodec(config.topics, registry ?? (yield* ClaimsAvro.registryFromEnv))
        : undefined
    yield* Admin.ensureTopics(
      [config.topics.enriched, config.topics.largeClaims, config.topics.deadLetter].map((topic) => ({
        topic,
        partitions: 6
      }))
    ).pipe(Effect.provideService(KafkaClient.KafkaClient, client))
    const groupId = `${config.groupId}-large`
    const outputs = yield* KafkaOutputs.make(client, groupId, guarantee, { pipelined: true, commitInterval })
    const records = yield* KafkaSource.make(client, {
      ...consumer,
      ...outputs.source,
      topics: [config.topics.enriched],
      groupId,
      onAssignment: (partitions) => Ref.set(assigned, partitions.length)
    })
    yield* LargeClaimsJob.run({
      records,
      sinks: {
        large: outputs.to(config.topics.largeClaims),
        deadLetters: outputs.to(config.topics.deadLetter)
      },
      threshold,
      codec
    })
  })

const enrich = Command.make(
  "enrich",
  {
    ...ClaimsConfig.settingFlags,
    ...ClaimsFlags.enrichFlags,
    ...scaleOutFlags,
    ...ProcessingGuarantee.flags,
    ...ProcessingGuarantee.scopeFlags
  },
  (flags) =>
    Effect.gen(function* () {
      const config = yield* ClaimsConfig.load(flags)
      const scaleOut = yield* loadScaleOut(flags, config.groupId)
      const processing = yield* ProcessingGuarantee.load(flags)
      const transactionScope = yield* ProcessingGuarantee.loadScope(flags)
      yield* Effect.gen(function* () {
        const readiness = yield* Readiness.Readiness
        yield* Effect.scoped(runEnrich(config, { ...flags, ...scaleOut, ...processing, transactionScope }, readiness))
      }).pipe(
        Effect.provide(Services.observabilityLayer(config.metricsPort, ClaimsDashboard.dashboard)),
        Effect.provide(Services.telemetryLayer("enrich"))
      )
    })
).pipe(
  Command.withDescription("Enrich payment-events with claims from PostgreSQL or DuckDB into enriched/failed payments")
)

const large = Command.make(
  "large",
  {
    ...ClaimsConfig.settingFlags,
    threshold: ClaimsFlags.threshold,
    ...ConsumerGroup.flags,
    ...ProcessingGuarantee.flags
  },
  (flags) =>
    Effect.gen(function* () {
      const config = yield* ClaimsConfig.load(flags)
      const consumer = yield* ConsumerGroup.load(flags)
      const { guarantee, commitInterval } = yield* ProcessingGuarantee.load(flags)
      yield* Effect.gen(function* () {
        const readiness = yield* Readiness.Readiness
        yield* Effect.scoped(
          runLarge(config, flags.threshold, readiness, undefined, consumer, guarantee, commitInterval)
        )
      }).pipe(
        Effect.provide(Services.observabilityLayer(config.metricsPort, ClaimsDashboard.dashboard)),
        Effect.provide(Services.telemetryLayer("large"))
      )
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
