/**
 * `--processing-guarantee` (env `PROCESSING_GUARANTEE`) of the jobs that read
 * and write Kafka:
 *
 * - `at-least-once` (the default): the consumer commits offsets once outputs
 *   are acknowledged; a crash replays the records after the last commit, so
 *   an output may be written twice.
 * - `exactly-once`: outputs and input offsets commit together in Kafka
 *   transactions (`@sluice/kafka` `Transactions`), every 100 ms (every 50 ms
 *   for the jobs whose commit cycle is pipelined, `claims enrich` and
 *   `claims large`); a `read_committed` reader of the outputs sees each output
 *   once, whatever crashes. Readers that read uncommitted data still see
 *   aborted outputs.
 *
 * `--commit-interval` (env `COMMIT_INTERVAL`) sets that interval, as Kafka
 * Streams' `commit.interval.ms` does: each commit of each input partition
 * costs four or five broker requests, and a record waits on average half an
 * interval before a `read_committed` reader sees its outputs. Unset, each job
 * keeps its own default.
 *
 * @since 0.1.0
 */
import { Duration, Effect, Option } from "effect"
import * as Config from "./Config.ts"
import * as Flags from "./Flags.ts"
import * as Parse from "./Parse.ts"
import type { RunnerError } from "./RunnerError.ts"

/**
 * @since 0.1.0
 * @category models
 */
export type ProcessingGuarantee = "at-least-once" | "exactly-once"

// A transaction open longer than its timeout (60 s, `Transactions`' default)
// is aborted by the broker and the job stops; a cycle also needs time to
// commit after its tick, so the interval stays well below it.
const MAX_COMMIT_INTERVAL = Duration.seconds(30)

const commitInterval: Parse.Parser<Duration.Duration> = (text) => {
  const r = Parse.positiveDuration(text)
  return r.ok && Duration.isGreaterThan(r.value, MAX_COMMIT_INTERVAL)
    ? { ok: false, expected: "a duration above 0 and at most 30s, well below the 60s transaction timeout" }
    : r
}

/**
 * The settings, flags and variables.
 *
 * @since 0.1.0
 * @category settings
 */
export const settings = {
  processingGuarantee: Config.setting(
    "PROCESSING_GUARANTEE",
    "processing-guarantee",
    "at-least-once, or exactly-once (Kafka transactions; readers of the outputs must read read_committed)",
    Parse.oneOf(["at-least-once", "exactly-once"]),
    "at-least-once"
  ),
  commitInterval: Config.setting(
    "COMMIT_INTERVAL",
    "commit-interval",
    "Exactly-once only: how often transactions commit, 100ms by default (50ms for claims enrich and large, " +
      "whose cycle is pipelined); shorter makes outputs visible to read_committed readers sooner, " +
      "for more broker requests (4-5 per input partition per commit)",
    commitInterval
  )
} as const

/**
 * `--processing-guarantee` and `--commit-interval`.
 *
 * @since 0.1.0
 * @category flags
 */
export const flags = Flags.settingFlags(settings)

/**
 * How exactly-once transactions are scoped: one per input partition (each
 * with its own transactional producer, fenced by the partition's next owner;
 * Kafka Streams' first exactly-once), or one per member for all its
 * partitions (fenced by the consumer group's generation, KIP-447; Kafka
 * Streams' `exactly_once_v2`).
 *
 * @since 0.1.0
 * @category models
 */
export type TransactionScope = "partition" | "member"

/**
 * `--transaction-scope` (env `TRANSACTION_SCOPE`), of the jobs whose commit
 * cycle is pipelined (`claims enrich`).
 *
 * @since 0.1.0
 * @category settings
 */
export const scopeSettings = {
  transactionScope: Config.setting(
    "TRANSACTION_SCOPE",
    "transaction-scope",
    "Exactly-once only: partition (a transaction per input partition, the default) or member " +
      "(one transaction for all the member's partitions, fenced by the group generation, KIP-447: " +
      "fewer requests per commit)",
    Parse.oneOf(["partition", "member"]),
    "partition"
  )
} as const

/**
 * `--transaction-scope`.
 *
 * @since 0.1.0
 * @category flags
 */
export const scopeFlags = Flags.settingFlags(scopeSettings)

/**
 * The transaction scope from the flag, then the environment.
 *
 * @since 0.1.0
 * @category constructors
 */
export const loadScope = (
  overrides: Config.Overrides<typeof scopeSettings> = {}
): Effect.Effect<TransactionScope, RunnerError> =>
  Effect.map(Config.load(scopeSettings, overrides), (v) =>
    Option.getOrElse(v.transactionScope, (): TransactionScope => "partition")
  )

/**
 * The resolved settings.
 *
 * @since 0.1.0
 * @category models
 */
export interface Loaded {
  readonly guarantee: ProcessingGuarantee
  /** Exactly-once commit interval; `undefined` keeps the job's default (`Transactions`'). */
  readonly commitInterval: Duration.Duration | undefined
}

/**
 * The guarantee and the commit interval from the flags, then the environment;
 * a bad value fails with the setting's one-line error. An interval given with
 * at-least-once is not an error (a shared environment may set it for every
 * job), but it has no effect there, which is logged once.
 *
 * @since 0.1.0
 * @category constructors
 */
export const load = (overrides: Config.Overrides<typeof settings> = {}): Effect.Effect<Loaded, RunnerError> =>
  Effect.gen(function* () {
    const v = yield* Config.load(settings, overrides)
    const guarantee = Option.getOrElse(v.processingGuarantee, (): ProcessingGuarantee => "at-least-once")
    if (guarantee === "at-least-once" && Option.isSome(v.commitInterval))
      yield* Effect.logWarning(
        "the commit interval applies only to --processing-guarantee exactly-once; ignored under at-least-once"
      ).pipe(Effect.annotateLogs({ commitInterval: Duration.format(v.commitInterval.value) }))
    return { guarantee, commitInterval: Option.getOrUndefined(v.commitInterval) }
  })
