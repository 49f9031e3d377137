// A look-up of the broker bounded in time and tried again. kafkajs' admin can
// leave a promise unsettled (seen with fetchTopicOffsets while other stores
// of the same client assign partitions concurrently); a store that awaited
// it while holding its lock would stop its operator, and with it the
// partition's commits, for good. A look-up is a read, so trying it again is safe.
import { type Duration, Effect, Schedule } from "effect"

export const bounded = <A, E>(
  lookup: Effect.Effect<A, E>,
  options: { readonly timeout: Duration.Input; readonly attempts: number; readonly onTimeout: () => E }
): Effect.Effect<A, E> =>
  lookup.pipe(
    Effect.timeoutOrElse({
      duration: options.timeout,
      orElse: () => {
        const error = options.onTimeout()
        return Effect.andThen(
          Effect.logWarning("a look-up of the broker did not answer in time", error),
          Effect.fail(error)
        )
      }
    }),
    Effect.retry({ schedule: Schedule.spaced("100 millis"), times: Math.max(0, options.attempts - 1) })
  )
