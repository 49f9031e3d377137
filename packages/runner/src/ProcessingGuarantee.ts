/**
 * `--processing-guarantee` (env `PROCESSING_GUARANTEE`) of the jobs that read
 * and write Kafka:
 *
 * - `at-least-once` (the default): the consumer commits offsets once outputs
 *   are acknowledged; a crash replays the records after the last commit, so
 *   an output may be written twice.
 * - `exactly-once`: outputs and input offsets commit together in Kafka
 *   transactions (`@sluice/kafka` `Transactions`), every 100 ms; a
 *   `read_committed` reader of the outputs sees each output once, whatever
 *   crashes. Readers that read uncommitted data still see aborted outputs.
 *
 * @since 0.1.0
 */
import { Duration, Effect, Option, Schedule } from "effect"
import * as Config from "./Config.ts"
import * as Flags from "./Flags.ts"
import * as Parse from "./Parse.ts"

/**
 * @since 0.1.0
 * @category models
 */
export type ProcessingGuarantee = "at-least-once" | "exactly-once"

/**
 * The setting, flag and variable.
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
  )
} as const

/**
 * `--processing-guarantee`.
 *
 * @since 0.1.0
 * @category flags
 */
export const flags = Flags.settingFlags(settings)

/**
 * The guarantee from the flag, then the environment; a bad value fails with
 * the setting's one-line error.
 *
 * @since 0.1.0
 * @category constructors
 */
export const load = (overrides: Config.Overrides<typeof settings> = {}) =>
  Effect.map(
    Config.load(settings, overrides),
    (v): ProcessingGuarantee => Option.getOrElse(v.processingGuarantee, () => "at-least-once" as const)
  )

const isKafkaError = (error: unknown): boolean =>
  typeof error === "object" && error !== null && "_tag" in error && error._tag === "KafkaError"

/**
 * How long a job under exactly-once waits before it runs again after a failed
 * transaction: 500 ms doubling up to 5 s, for at most `giveUpAfter` (5 minutes
 * by default) of failures in a row. Each restart is logged with its error.
 *
 * @since 0.1.0
 * @category schedules
 */
export const restartSchedule = (
  giveUpAfter: Duration.Input = "5 minutes"
): Schedule.Schedule<Duration.Duration, unknown> =>
  Schedule.min([Schedule.exponential("500 millis"), Schedule.spaced("5 seconds")]).pipe(
    Schedule.upTo({ duration: giveUpAfter }),
    Schedule.tap((step) =>
      Effect.logWarning("a transaction failed; the job runs again from the last commit").pipe(
        Effect.annotateLogs({
          attempt: step.attempt,
          wait: Duration.format(step.duration),
          error: step.input instanceof Error ? step.input.message : String(step.input)
        })
      )
    )
  )

/**
 * Runs a job that reads and writes Kafka under `guarantee`. Under exactly-once
 * a transaction that cannot be sent or committed (the broker restarted, the
 * coordinator moved, the broker timed the transaction out) ends the job's
 * stream, and nothing after the last commit is visible to `read_committed`
 * readers. Instead of exiting, the job then runs again, in the same process,
 * from the last committed offsets, as a supervisor restarting the process
 * would, but without a new consumer-group member joining. Only Kafka failures
 * restart it; a bad setting or an unreachable database still ends the command.
 * Under at-least-once the Kafka client and the sinks' policies ride out such
 * failures themselves, so the job runs once.
 *
 * @since 0.1.0
 * @category running
 */
export const supervised = <A, E, R>(
  guarantee: ProcessingGuarantee,
  job: Effect.Effect<A, E, R>,
  schedule: Schedule.Schedule<Duration.Duration, unknown> = restartSchedule()
): Effect.Effect<A, E, R> =>
  guarantee === "at-least-once" ? job : Effect.retry(job, { schedule, while: isKafkaError })
