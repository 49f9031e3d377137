/**
 * Acquires a scoped resource, trying again on `schedule` while the failure is
 * one `retryable` accepts. Each attempt gets a scope of its own, closed as
 * soon as the attempt fails, so a long wait does not pile up the finalizers of
 * failed attempts; the successful attempt's scope closes with the caller's.
 *
 * @since 0.1.0
 */
import { Effect, Exit, type Schedule, Scope } from "effect"

/**
 * Acquires a scoped resource, trying again on `schedule` while `retryable` accepts the failure.
 *
 * @since 0.1.0
 * @category combinators
 */
export const untilAcquired = <A, E, R>(
  acquire: Effect.Effect<A, E, R | Scope.Scope>,
  options: {
    readonly retryable: (error: E) => boolean
    readonly schedule: Schedule.Schedule<unknown, unknown>
    readonly onRetry?: ((error: E) => Effect.Effect<void>) | undefined
  }
): Effect.Effect<A, E, Exclude<R, Scope.Scope> | Scope.Scope> =>
  Effect.gen(function* () {
    const outer = yield* Scope.Scope
    const attempt = Effect.gen(function* () {
      const scope = yield* Scope.fork(outer)
      return yield* acquire.pipe(
        Scope.provide(scope),
        Effect.onError((cause) => Scope.close(scope, Exit.failCause(cause)))
      )
    })
    return yield* attempt.pipe(
      Effect.tapError((error) =>
        options.onRetry !== undefined && options.retryable(error) ? options.onRetry(error) : Effect.void
      ),
      Effect.retry({ schedule: options.schedule, while: options.retryable })
    )
  })
