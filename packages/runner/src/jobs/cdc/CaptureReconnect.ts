/**
 * How `sluice cdc capture` comes back after it lost PostgreSQL (a server
 * restart, a failover, a network cut): the record stream is started again
 * from the replication slot, so nothing acknowledged is lost and nothing
 * unacknowledged is skipped. The waits grow exponentially from `initial` up
 * to `max`, so a server that is down for a while is not hammered and one
 * that is back is found quickly; after `giveUpAfter` of failures in a row the
 * capture stops with the last error. A run that delivers a record again
 * starts the schedule over (`Stream.retry` resets it).
 *
 * @since 0.1.0
 */
import { Duration, Effect, Schedule } from "effect"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The first wait; default 200 ms. */
  readonly initial?: Duration.Input
  /** The longest wait; default 5 seconds. */
  readonly max?: Duration.Input
  /** How long failures in a row are retried; default 5 minutes. */
  readonly giveUpAfter?: Duration.Input
}

/**
 * The reconnection schedule; each retry is logged with its error and wait.
 *
 * @since 0.1.0
 * @category schedules
 */
export const schedule = (options: Options = {}): Schedule.Schedule<Duration.Duration, unknown> =>
  Schedule.min([
    Schedule.exponential(options.initial ?? "200 millis"),
    Schedule.spaced(options.max ?? "5 seconds")
  ]).pipe(
    Schedule.upTo({ duration: options.giveUpAfter ?? "5 minutes" }),
    Schedule.tap((step) =>
      Effect.logWarning("cdc capture lost PostgreSQL, reconnecting").pipe(
        Effect.annotateLogs({
          attempt: step.attempt,
          wait: Duration.format(step.duration),
          error: step.input instanceof Error ? step.input.message : String(step.input)
        })
      )
    )
  )
