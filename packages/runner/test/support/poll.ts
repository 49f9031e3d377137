import { Effect } from "effect"

/**
 * Re-runs `check` every `intervalMs` until `done` holds for its answer, which
 * it returns; dies naming `what` and the last answer when `timeoutMs` passes
 * first. Waiting for a condition, never for a fixed time.
 */
export const pollUntil = <A, E, R>(
  what: string,
  check: Effect.Effect<A, E, R>,
  done: (a: A) => boolean,
  options: { readonly timeoutMs?: number; readonly intervalMs?: number } = {}
): Effect.Effect<A, E, R> =>
  Effect.gen(function* () {
    const deadline = Date.now() + (options.timeoutMs ?? 30_000)
    for (;;) {
      const a = yield* check
      if (done(a)) return a
      if (Date.now() > deadline) {
        return yield* Effect.die(new Error(`timed out waiting for ${what}; last seen: ${JSON.stringify(a)}`))
      }
      yield* Effect.sleep(options.intervalMs ?? 100)
    }
  })
