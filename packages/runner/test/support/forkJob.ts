import { Cause, Effect, Exit, type Fiber, type Scope } from "effect"

/**
 * Forks a job that runs until interrupted into the test's scope, and returns
 * its fiber with `running`: a check that dies with the job's own exit once the
 * job has ended. Put in front of a poll, it turns a job that failed in its
 * fiber (which nobody joins) into the test's error at once, not a poll timing
 * out on a table that stopped changing.
 */
export const forkJob = <E, R>(
  job: Effect.Effect<void, E, R>
): Effect.Effect<
  { readonly fiber: Fiber.Fiber<void, E>; readonly running: Effect.Effect<void> },
  never,
  R | Scope.Scope
> =>
  Effect.map(Effect.forkScoped(job), (fiber) => ({
    fiber,
    running: Effect.suspend(() => {
      const exit = fiber.pollUnsafe()
      if (exit === undefined) return Effect.void
      return Effect.die(
        new Error(
          Exit.isFailure(exit)
            ? `the job failed while the test waited for it: ${Cause.pretty(exit.cause)}`
            : "the job ended while the test waited for it"
        )
      )
    })
  }))
