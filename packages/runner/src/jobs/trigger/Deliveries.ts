/**
 * Runs the actions of passing events with a bound on deliveries in flight
 * across all users, while each user's actions run one after the other, in
 * the order of the user's events, across chunks too.
 *
 * A chunk's deliveries are started (`submit`) and awaited separately, so the
 * next chunk can be enriched and filtered, and its deliveries started, while
 * the previous chunk's slowest requests are still out: with a barrier per
 * chunk the job spends the tail of every chunk with few requests in flight.
 * An event waiting for its user's previous delivery holds no slot, so a
 * user with many events never keeps the others waiting.
 *
 * @since 0.1.0
 */
import { Deferred, Effect, Fiber, type Scope, Semaphore } from "effect"

/**
 * One passing event's work: its user and what to run.
 *
 * @since 0.1.0
 * @category models
 */
export interface Work<A> {
  readonly user: string
  readonly run: Effect.Effect<A>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Deliveries {
  /**
   * Starts a chunk's work and answers an effect awaiting its results, in
   * the order given. Work of a user submitted earlier finishes before this
   * chunk's work of the same user starts.
   */
  readonly submit: <A>(work: ReadonlyArray<Work<A>>) => Effect.Effect<Effect.Effect<Array<A>>>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Deliveries in flight at once, over all users; 64 by default. */
  readonly concurrency?: number | undefined
}

/**
 * A scheduler whose work runs in the enclosing scope (closing it interrupts
 * what is still running).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<Deliveries, never, Scope.Scope> =>
  Effect.gen(function* () {
    const scope = yield* Effect.scope
    const slots = yield* Semaphore.make(Math.max(1, options.concurrency ?? 64))
    // The completion of each user's latest submitted work; removed once it is done and still the latest,
    // so the map holds only users with work outstanding.
    const tails = new Map<string, Deferred.Deferred<void>>()

    const submit = <A>(work: ReadonlyArray<Work<A>>): Effect.Effect<Effect.Effect<Array<A>>> =>
      Effect.gen(function* () {
        const results: Array<A> = new Array(work.length)
        if (work.length === 0) return Effect.succeed(results)
        // The chunk's work by user, each user's in order.
        const byUser = new Map<string, Array<number>>()
        for (let i = 0; i < work.length; i++) {
          const user = work[i]!.user
          const indices = byUser.get(user)
          if (indices === undefined) byUser.set(user, [i])
          else indices.push(i)
        }
        const runs: Array<Effect.Effect<void>> = []
        for (const [user, indices] of byUser) {
          const previous = tails.get(user)
          const done = Deferred.makeUnsafe<void>()
          tails.set(user, done)
          const own = Effect.forEach(
            indices,
            (i) =>
              slots.withPermit(
                Effect.map(work[i]!.run, (a) => {
                  results[i] = a
                })
              ),
            { discard: true }
          )
          runs.push(
            (previous === undefined ? own : Effect.andThen(Deferred.await(previous), own)).pipe(
              Effect.ensuring(
                Effect.sync(() => {
                  Deferred.doneUnsafe(done, Effect.void)
                  if (tails.get(user) === done) tails.delete(user)
                })
              )
            )
          )
        }
        const fiber = yield* Effect.forkIn(
          Effect.forEach(runs, (run) => run, { concurrency: "unbounded", discard: true }),
          scope
        )
        return Effect.as(Fiber.join(fiber), results)
      })

    return { submit }
  })
