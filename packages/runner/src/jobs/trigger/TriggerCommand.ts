/**
 * `sluice trigger run`: the event trigger of seed 004 wired to Kafka (a
 * consumer-group source keyed by user, dead-letter and failed-actions
 * topics), the Profile API (`HttpLookup` over Node's undici client: timeout,
 * retries, breaker, coalescing, rate limit), a state store (in memory, or
 * durable with `--state-dir`: local files plus a changelog topic, restored
 * after a restart), the filter file and the actions, with the observability
 * server on `--metrics-port`.
 *
 * @since 0.1.0
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Policy, StateStore } from "@sluice/core"
import { Admin, KafkaClient, KafkaSource } from "@sluice/kafka"
import { HttpLookup } from "@sluice/lookup"
import { ScriptFilter } from "@sluice/rules"
import { WebhookSink } from "@sluice/sinks"
import { DurableStateStore } from "@sluice/state"
import { Duration, Effect, Option, Ref, References } from "effect"
import { Command, Flag } from "effect/cli"
import { constTrue, identity } from "effect/Function"
import { HttpClient } from "effect/http"
import * as Readiness from "../../http/Readiness.ts"
import * as KafkaOutputs from "../../KafkaOutputs.ts"
import * as ProcessingGuarantee from "../../ProcessingGuarantee.ts"
import { RunnerError, Startup } from "../../RunnerError.ts"
import * as Services from "../../Services.ts"
import * as TelemetryConfig from "../../TelemetryConfig.ts"
import * as Actions from "./Actions.ts"
import * as Checkpoint from "./Checkpoint.ts"
import * as ReplayActions from "./ReplayActions.ts"
import * as ReplayFrom from "./ReplayFrom.ts"
import * as StateManager from "./StateManager.ts"
import * as TriggerConfig from "./TriggerConfig.ts"
import * as TriggerDashboard from "./TriggerDashboard.ts"
import * as TriggerFilter from "./TriggerFilter.ts"
import * as TriggerPipeline from "./TriggerPipeline.ts"

/** Partitions of topics the trigger creates; a durable store's changelogs must match the input's. */
const PARTITIONS = 6
/**
 * How often done records' offsets are committed while they change (the
 * source's default is 1 second). A record's actions are done before its
 * offset is committable; the commit then only waited for this tick, so the
 * group's committed offset trailed the work by up to a second, which is a
 * whole pass of a small backlog (the benchmark's warm pass took 2-3 s).
 * A commit with nothing new is skipped, so an idle job sends none.
 * At-least-once only: exactly-once, the source commits nothing itself and
 * offsets go with `Transactions`' cycle, whose interval `--commit-interval` sets.
 */
const COMMIT_INTERVAL = "100 millis"

/**
 * Options of `run` that are not configuration settings.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunOptions {
  /** Keep state in local files under this directory, with a changelog topic; in memory when absent. */
  readonly stateDir: Option.Option<string>
  /** Replay: reset the group's offsets on the input topic to this before consuming. */
  readonly replayFrom?: Option.Option<Admin.ResetTarget> | undefined
  /**
   * Exactly-once (needs `stateDir`): the checkpoints' changelog, the failed
   * actions, the dead letters and the input offsets commit in Kafka
   * transactions. The actions themselves (HTTP calls) stay at-least-once.
   */
  readonly guarantee?: ProcessingGuarantee.ProcessingGuarantee | undefined
  /** Exactly-once commit interval (`--commit-interval`); `Transactions`' default when absent. */
  readonly commitInterval?: Duration.Duration | undefined
}

/**
 * Runs the trigger until interrupted. It owns its resources: interrupting it
 * closes its consumer (which leaves the group), producer, store and HTTP
 * client. Were they in the caller's scope instead, an interrupted run would
 * leave its consumer in the group holding its partitions, and a run started
 * after it in the same process would not get them.
 *
 * @since 0.1.0
 * @category running
 */
export const run = (
  config: TriggerConfig.TriggerConfig,
  options: RunOptions,
  readiness: Readiness.Readiness["Service"]
) =>
  Effect.gen(function* () {
    const assigned = yield* Ref.make(0)
    yield* readiness.register(
      "partitions",
      Effect.flatMap(Ref.get(assigned), (n) => (n > 0 ? Effect.void : Effect.fail("no partitions assigned yet")))
    )
    // The filter first: an invalid file stops the job before anything connects.
    const filter = yield* ScriptFilter.make({
      source: config.filterScriptPath,
      environment: TriggerFilter.environment
    }).pipe(
      Effect.mapError(
        (error) =>
          new RunnerError({
            reason: new Startup({ detail: error.message, settings: "FILTER_SCRIPT_PATH or --filter-script-path" })
          })
      )
    )
    const guarantee = options.guarantee ?? "at-least-once"
    // Exactly-once needs durable state: checkpoints in memory start empty after
    // a restart while the offsets they came from stay committed.
    if (guarantee === "exactly-once" && Option.isNone(options.stateDir)) {
      return yield* new RunnerError({
        reason: new Startup({
          detail: "--processing-guarantee exactly-once needs durable state: state in memory is lost on a restart",
          settings: "--state-dir"
        })
      })
    }
    const client = yield* Services.kafka(config).pipe(Effect.provideService(Readiness.Readiness, readiness))
    yield* Admin.ensureTopics(
      [config.topics.input, config.topics.deadLetter, config.topics.actionsFailed].map((topic) => ({
        topic,
        partitions: PARTITIONS
      }))
    ).pipe(Effect.provideService(KafkaClient.KafkaClient, client))
    // Made before the source, so the source's last commit still has them.
    const outputs = yield* KafkaOutputs.make(client, config.groupId, guarantee, {
      commitInterval: options.commitInterval
    })
    const exactlyOnce =
      outputs.transactions === undefined
        ? undefined
        : { transactions: outputs.transactions, inputTopic: config.topics.input }
    const store = yield* Option.match(options.stateDir, {
      onNone: () => Effect.flatMap(StateStore.makeMemory(), (s) => s.open("trigger-checkpoints", Checkpoint.codec)),
      onSome: (directory) =>
        Effect.flatMap(
          DurableStateStore.make({ group: config.groupId, partitions: PARTITIONS, directory, exactlyOnce }),
          (s) => s.open("trigger-checkpoints", Checkpoint.codec)
        ).pipe(Effect.provideService(KafkaClient.KafkaClient, client))
    })
    const profilePolicy = yield* Policy.make({
      name: "profile-api",
      timeout: Duration.millis(config.profileApi.timeoutMs * 3 + 1000),
      retry: { base: "100 millis", maxAttempts: 3, maxElapsed: "10 seconds" },
      breaker: { trip: { _tag: "consecutive", failures: 5 }, openDuration: "10 seconds" }
    })
    const lookup = yield* HttpLookup.make({
      name: "profile-api",
      baseUrl: config.profileApi.baseUrl,
      schema: Checkpoint.ProfileRecord,
      timeout: Duration.millis(config.profileApi.timeoutMs),
      ratePerSecond: config.profileApi.ratePerSecond,
      policy: profilePolicy
    })
    const state = StateManager.make({ store, lookup, ttl: Duration.minutes(config.stateTtlMinutes) })
    const actions: Array<Actions.Action> = []
    if (config.actions.debug) actions.push(Actions.debug)
    if (Option.isSome(config.actions.webhook)) {
      const webhook = config.actions.webhook.value
      actions.push(
        Actions.webhook(
          yield* WebhookSink.makeClient({ url: webhook.url, timeout: Duration.millis(webhook.timeoutMs) })
        )
      )
    }
    if (options.replayFrom !== undefined && Option.isSome(options.replayFrom)) {
      yield* ReplayFrom.reset({
        groupId: config.groupId,
        topic: config.topics.input,
        target: options.replayFrom.value
      }).pipe(Effect.provideService(KafkaClient.KafkaClient, client))
    }
    const records = yield* KafkaSource.make(client, {
      topics: [config.topics.input],
      groupId: config.groupId,
      commitInterval: COMMIT_INTERVAL,
      ...outputs.source,
      onAssignment: (partitions) => Ref.set(assigned, partitions.length)
    })
    yield* Effect.logInfo("trigger job started").pipe(
      Effect.annotateLogs({
        job: "trigger",
        input: config.topics.input,
        group: config.groupId,
        actions: actions.map((a) => a.name).join(",") || "none"
      })
    )
    // Without an exporter, the HTTP client's span per request (and its trace headers) is work for
    // nobody: a span is built, annotated and ended for every webhook POST and Profile API call.
    const tracing = Option.isSome(yield* TelemetryConfig.load("trigger"))
    yield* TriggerPipeline.run({
      records,
      sinks: {
        failed: outputs.to(config.topics.actionsFailed),
        deadLetters: outputs.to(config.topics.deadLetter)
      },
      state,
      filter,
      actions
    }).pipe(
      tracing
        ? identity
        : (self) =>
            self.pipe(
              Effect.provideService(HttpClient.TracerDisabledWhen, constTrue),
              // The same for the job's own spans (a lookup batch, a sink write): nothing reads them.
              Effect.provideService(References.TracerEnabled, false)
            )
    )
  }).pipe(Effect.provide(NodeHttpClient.layerUndici), Effect.scoped)

/**
 * The `--config` flag: the YAML file of the seed's keys.
 *
 * @since 0.1.0
 * @category flags
 */
export const configFlag = Flag.String("config").pipe(
  Flag.withDescription("application.yml with the seed's keys (kafka.*, profile-api.*, filter.*, actions.*)"),
  Flag.optional
)

const stateDir = Flag.String("state-dir").pipe(
  Flag.withDescription(
    "Keep user checkpoints durable under this directory (with a changelog topic); in memory when absent"
  ),
  Flag.optional
)

const fromOffset = Flag.String("from-offset").pipe(
  Flag.withDescription(
    "Replay: reset the consumer group to this offset of every partition (120) or per partition (0:120,3:40) first"
  ),
  Flag.optional
)

const fromTimestamp = Flag.String("from-timestamp").pipe(
  Flag.withDescription(
    "Replay: reset the consumer group to the first record at or after this ISO 8601 time (2026-01-01T10:00:00Z) first"
  ),
  Flag.optional
)

const runCommand = Command.make(
  "run",
  {
    ...TriggerConfig.settingFlags,
    ...ProcessingGuarantee.flags,
    config: configFlag,
    stateDir,
    fromOffset,
    fromTimestamp
  },
  ({ config: configPath, stateDir, fromOffset, fromTimestamp, processingGuarantee, commitInterval, ...flags }) =>
    Effect.gen(function* () {
      // The replay flags first: a bad value stops the job before anything connects.
      const replayFrom = yield* ReplayFrom.fromFlags({ fromOffset, fromTimestamp })
      const processing = yield* ProcessingGuarantee.load({ processingGuarantee, commitInterval })
      const config = yield* TriggerConfig.load(flags, configPath)
      yield* Effect.scoped(
        Effect.flatMap(Services.observability(config.metricsPort, TriggerDashboard.dashboard), (readiness) =>
          run(config, { stateDir, replayFrom, ...processing }, readiness)
        )
      ).pipe(Services.withTelemetry("trigger"))
    })
).pipe(Command.withDescription("Enrich user events with profiles, filter them with a CEL script and run the actions"))

const replayActions = Command.make(
  "replay-actions",
  { ...TriggerConfig.settingFlags, config: configFlag },
  ({ config: configPath, ...flags }) =>
    Effect.flatMap(TriggerConfig.load(flags, configPath), (config) => Effect.scoped(ReplayActions.run(config)))
).pipe(Command.withDescription("Send the webhook actions in trigger-actions-failed again, with their idempotency keys"))

/**
 * The `trigger` command and its subcommands.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = (others: ReadonlyArray<Command.Command.Any>) =>
  Command.make("trigger").pipe(
    Command.withDescription("The event trigger of seed 004"),
    Command.withSubcommands([runCommand, replayActions, ...others])
  )
