/**
 * Turns an unreachable database or broker into one line on stderr and exit
 * code 1. These are operator mistakes (wrong URL, server down), not bugs, so
 * a stack trace would only hide the line that matters.
 *
 * @since 0.1.0
 */
import type { KafkaError } from "@sluice/kafka/KafkaError"
import type { LookupError } from "@sluice/lookup/LookupError"
import { Effect } from "effect"
import type { RunnerError } from "./RunnerError.ts"

const report = (error: { readonly message: string }) =>
  Effect.sync(() => {
    process.stderr.write(`error: ${error.message}\n`)
    process.exitCode = 1
  })

/**
 * Reports `LookupError` and `KafkaError` failures as one line and a failing exit code.
 *
 * @since 0.1.0
 * @category combinators
 */
export const reportFailure = <R>(
  effect: Effect.Effect<void, RunnerError | LookupError | KafkaError, R>
): Effect.Effect<void, RunnerError, R> => effect.pipe(Effect.catchTags({ LookupError: report, KafkaError: report }))
