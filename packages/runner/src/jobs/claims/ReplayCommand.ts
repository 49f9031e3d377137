/**
 * `sluice replay`: the way out of a database outage. Payments the enrich job
 * wrote to the failed topic as `DB_ERROR` or `DB_TIMEOUT` are enriched again
 * (see `ReplayJob`), with the same lookup, cache and policy flags as
 * `claims enrich`, into the same enriched and failed topics.
 *
 * The failed topic is read by a consumer group of its own (`--replay-group`,
 * `<group-id>-replay` by default) with the at-least-once commits of
 * `KafkaSource`: an offset is committed only once the record's output is
 * acknowledged, so a run resumes where the last one stopped and a crash
 * replays at most what was not committed.
 *
 * By default the command drains: it captures the failed topic's end offsets
 * at the start and exits 0 once its group has committed up to them (at once
 * when nothing is pending, without connecting to the database); on a failed
 * topic written in transactions (an exactly-once enrich job), trailing
 * transaction markers and aborted records count as drained once the consumer
 * has moved past them (`Drain`). `--follow`
 * keeps it running. The CLAIM_NOT_FOUND records a replay writes land on the
 * topic it reads, after the captured ends; they are skipped by status when
 * read, so a replay never feeds itself.
 *
 * While the database fails, records are held, never written back as
 * `DB_ERROR`; a replay started during the outage waits for the database,
 * trying once per `--breaker-cooldown`, rather than exiting.
 *
 * `--processing-guarantee exactly-once` (`PROCESSING_GUARANTEE`) writes the
 * outputs and commits the failed topic's offsets in Kafka transactions
 * (`KafkaOutputs`), as `claims enrich` does: a replay killed and run again
 * writes each replayed payment once, as a `read_committed` reader sees it.
 *
 * @since 0.1.0
 */
import { Admin, KafkaClient, KafkaSource } from "@sluice/kafka"
import { Effect, Metric, Option, Ref, Schedule } from "effect"
import { Command } from "effect/cli"
import * as BreakerStore from "../../BreakerStore.ts"
import * as Drain from "../../Drain.ts"
import * as Readiness from "../../http/Readiness.ts"
import * as KafkaOutputs from "../../KafkaOutputs.ts"
import * as ProcessingGuarantee from "../../ProcessingGuarantee.ts"
import * as Services from "../../Services.ts"
import { untilAcquired } from "../../UntilAcquired.ts"
import * as ClaimsAvro from "./ClaimsAvro.ts"
import * as ClaimsCommand from "./ClaimsCommand.ts"
import * as ClaimsConfig from "./ClaimsConfig.ts"
import * as ClaimsDashboard from "./ClaimsDashboard.ts"
import * as ClaimsDatabase from "./ClaimsDatabase.ts"
import * as ClaimsFlags from "./ClaimsFlags.ts"
import * as ClaimsLookup from "./ClaimsLookup.ts"
import * as ReplayJob from "./ReplayJob.ts"

/**
 * Options of the replay, as the flags give them: the enrich job's tuning
 * (without `--on-db-unavailable`, a replay always holds records while the
 * database fails), `--follow` and `--replay-group`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ReplayOptions extends Omit<ClaimsLookup.EnrichOptions, "onDbUnavailable">, ClaimsCommand.ScaleOut {
  readonly follow: boolean
  readonly replayGroup: Option.Option<string>
}

/**
 * The consumer group of the replay.
 *
 * @since 0.1.0
 * @category getters
 */
export const groupOf = (config: ClaimsConfig.ClaimsConfig, options: Pick<ReplayOptions, "replayGroup">): string =>
  Option.getOrElse(options.replayGroup, () => `${config.groupId}-replay`)

const counted = (metric: Metric.Counter<number>) => Effect.map(Metric.value(metric), (state) => state.count)

const summary = Effect.gen(function* () {
  const stats = yield* ClaimsDashboard.stats
  return {
    replayed: yield* counted(ReplayJob.selected),
    enriched: stats.outcomesByStatus.SUCCESS ?? 0,
    claim_not_found: stats.outcomesByStatus.CLAIM_NOT_FOUND ?? 0,
    skipped_claim_not_found: yield* counted(ReplayJob.skipped("CLAIM_NOT_FOUND")),
    skipped_success: yield* counted(ReplayJob.skipped("SUCCESS")),
    skipped_undecodable: yield* counted(ReplayJob.skipped("undecodable"))
  }
})

/**
 * Ensures the topics exist, then replays failed payments: until the failed
 * topic is drained up to its end offsets at the start, or until interrupted
 * with `follow`.
 *
 * @since 0.1.0
 * @category running
 */
export const runReplay = (
  config: ClaimsConfig.ClaimsConfig,
  options: ReplayOptions,
  readiness: Readiness.Readiness["Service"]
) =>
  Effect.gen(function* () {
    const client = yield* Services.kafka(config).pipe(Effect.provideService(Readiness.Readiness, readiness))
    const codec =
      config.valueFormat === "avro"
        ? yield* ClaimsAvro.replayCodec(config.topics, yield* ClaimsAvro.registryFromEnv)
        : undefined
    yield* Admin.ensureTopics(
      [config.topics.failed, config.topics.enriched, config.topics.deadLetter].map((topic) => ({
        topic,
        partitions: 6
      }))
    ).pipe(Effect.provideService(KafkaClient.KafkaClient, client))
    const groupId = groupOf(config, options)
    const topic = config.topics.failed
    const log = Effect.annotateLogs({ job: "replay", input: topic, group: groupId })

    // Captured before the consumer starts: what "drained" means for this run.
    const ends = options.follow ? [] : yield* Drain.endOffsets(client.admin, topic)
    if (!options.follow) {
      const left = Drain.pending(ends, yield* Drain.committedOffsets(client.admin, groupId, topic))
      if (left.length === 0) {
        yield* Effect.logInfo("nothing to replay: every failed record is committed").pipe(log)
        return
      }
    }

    // A replay is typically started while the database is still recovering:
    // it waits for it (once per breaker cooldown) instead of failing.
    const database = yield* untilAcquired(
      ClaimsDatabase.open(config, { statementTimeout: options.lookupTimeout }).pipe(
        Effect.provideService(Readiness.Readiness, readiness)
      ),
      {
        retryable: (error) => error._tag === "LookupError" && error.isRetryable,
        schedule: Schedule.spaced(options.breakerCooldown),
        onRetry: (error) =>
          Effect.logWarning("claims database not answering yet; waiting for it").pipe(
            Effect.annotateLogs({ reason: error.message }),
            log
          )
      }
    )
    // The replay shares the enrich job's circuit (same group prefix, same policy): one database.
    const store = options.breakerStore === undefined ? undefined : yield* BreakerStore.make(options.breakerStore)
    const lookup = yield* ClaimsLookup.claimsLookup(database, { ...options, onDbUnavailable: "pause" }, "chunk", store)
    const assigned = yield* Ref.make(0)
    yield* readiness.register(
      "partitions",
      Effect.flatMap(Ref.get(assigned), (n) => (n > 0 ? Effect.void : Effect.fail("no partitions assigned yet")))
    )
    const guarantee = options.guarantee ?? "at-least-once"
    const outputs = yield* KafkaOutputs.make(client, groupId, guarantee, { commitInterval: options.commitInterval })
    const invisible = Drain.invisibleRuns(topic)
    const records = yield* KafkaSource.make(client, {
      ...options.consumer,
      ...outputs.source,
      topics: [topic],
      groupId,
      onAssignment: (partitions) => Ref.set(assigned, partitions.length),
      onInvisible: invisible.record
    })
    yield* Effect.logInfo(options.follow ? "replay started, following" : "replay started, draining").pipe(
      Effect.annotateLogs({ guarantee }),
      log
    )
    const job = ReplayJob.run({
      records,
      sinks: {
        enriched: outputs.to(config.topics.enriched),
        failed: outputs.to(config.topics.failed),
        deadLetters: outputs.to(config.topics.deadLetter)
      },
      lookup,
      concurrency: options.concurrency,
      ordering: options.ordering,
      codec
    })
    if (options.follow) return yield* job
    // The job never ends on its own (a Kafka source does not); the drain
    // check interrupts it, and closing the scope makes the final commit.
    yield* Effect.raceFirst(
      job,
      Drain.awaitCommitted(client.admin, { groupId, topic, ends, interval: "500 millis", invisible })
    )
    yield* Effect.logInfo("replay drained").pipe(Effect.annotateLogs(yield* summary), log)
  })

/**
 * The `replay` command.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make(
  "replay",
  {
    ...ClaimsConfig.settingFlags,
    concurrency: ClaimsFlags.concurrency,
    ordering: ClaimsFlags.ordering,
    cacheSize: ClaimsFlags.cacheSize,
    cacheTtl: ClaimsFlags.cacheTtl,
    cacheMissTtl: ClaimsFlags.cacheMissTtl,
    lookupTimeout: ClaimsFlags.lookupTimeout,
    retryAttempts: ClaimsFlags.retryAttempts,
    retryBackoff: ClaimsFlags.retryBackoff,
    breakerThreshold: ClaimsFlags.breakerThreshold,
    breakerWindow: ClaimsFlags.breakerWindow,
    breakerCooldown: ClaimsFlags.breakerCooldown,
    follow: ClaimsFlags.follow,
    replayGroup: ClaimsFlags.replayGroup,
    ...ClaimsCommand.scaleOutFlags,
    ...ProcessingGuarantee.flags
  },
  (flags) =>
    Effect.gen(function* () {
      const config = yield* ClaimsConfig.load(flags)
      const scaleOut = yield* ClaimsCommand.loadScaleOut(flags, config.groupId)
      const processing = yield* ProcessingGuarantee.load(flags)
      yield* Effect.gen(function* () {
        const readiness = yield* Readiness.Readiness
        yield* Effect.scoped(runReplay(config, { ...flags, ...scaleOut, ...processing }, readiness))
      }).pipe(
        Effect.provide(Services.observabilityLayer(config.metricsPort, ClaimsDashboard.dashboard)),
        Effect.provide(Services.telemetryLayer("replay"))
      )
    })
).pipe(
  Command.withDescription(
    "Enrich again the failed payments whose status is DB_ERROR or DB_TIMEOUT (others are skipped); " +
      "reads the failed topic with its own group (--replay-group, default <group-id>-replay), holds records " +
      "while the database still fails, and exits once the records present at the start are committed " +
      "(--follow: keep running); --processing-guarantee exactly-once writes in Kafka transactions"
  )
)
