/**
 * The README's `Policy`: a query that fails twice with a retryable error is
 * retried until it answers; then a dependency that keeps failing trips the
 * breaker, after which calls are rejected without running.
 * Run it with `node examples/policy.ts`; the last line is a JSON summary.
 */
// #region readme
import { Policy } from "@sluice/core"
// #endregion
import { Data, Effect } from "effect"

/** How many attempts of the query fail before it answers. */
export const failFirst = 2
/** What the query answers once it does. */
export const answer: ReadonlyArray<string> = ["CLM-000001", "CLM-000002"]
/** Consecutive failed calls that open the breaker. */
export const tripAfter = 5

// Carries `isRetryable`, which is how the policy tells a passing fault from a final one.
class QueryFailed extends Data.TaggedError("QueryFailed")<{ readonly attempt: number }> {
  get isRetryable(): boolean {
    return true
  }
}

const main = Effect.gen(function* () {
  let attempts = 0
  const query = Effect.suspend(() => {
    attempts += 1
    return attempts <= failFirst ? Effect.fail(new QueryFailed({ attempt: attempts })) : Effect.succeed(answer)
  })
  // #region readme
  const policy = yield* Policy.make({
    name: "claims-db",
    timeout: "5 seconds", // bounds the whole call, retries included
    retry: { base: "50 millis", maxAttempts: 4, jitter: true }, // only errors whose isRetryable is true
    breaker: { trip: { _tag: "consecutive", failures: tripAfter }, openDuration: "10 seconds" }
  })
  const rows = yield* policy.run(query) // fails only with PolicyError: Timeout | Unavailable | CircuitOpen
  // #endregion
  console.log(`query answered ${JSON.stringify(rows)} after ${attempts} attempts`)

  // The dependency now fails every time: each call gives up after its retries,
  // and once the breaker has seen enough failures it rejects calls at once.
  let downAttempts = 0
  const down = Effect.suspend(() => {
    downAttempts += 1
    return Effect.fail(new QueryFailed({ attempt: downAttempts }))
  })
  const calls: Array<{ readonly outcome: string; readonly ran: number }> = []
  while (calls.length < 2 * tripAfter && calls.at(-1)?.outcome !== "CircuitOpen") {
    const before = downAttempts
    const outcome = yield* policy
      .run(down)
      .pipe(Effect.match({ onFailure: (error) => error.reason._tag, onSuccess: () => "success" }))
    calls.push({ outcome, ran: downAttempts - before })
    console.log(`call ${calls.length}: ${outcome} (${downAttempts - before} attempts)`)
  }
  const breaker = yield* policy.breakerState
  console.log(`breaker: ${breaker}`)
  console.log(JSON.stringify({ rows, attempts, calls, breaker }))
}).pipe(Effect.scoped)

if (import.meta.main) Effect.runPromise(main)
