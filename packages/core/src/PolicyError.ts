/**
 * The typed failures a `Policy` can produce. Following Effect's own errors
 * (`CircuitBreakerError`, `SqlError`), there is one error class whose `reason`
 * says what happened, so callers can match on `error.reason._tag`.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * The guarded effect did not finish within the policy's timeout.
 *
 * @since 0.1.0
 * @category errors
 */
export class Timeout extends Schema.TaggedClass<Timeout>()("Timeout", {
  operation: Schema.String,
  timeoutMillis: Schema.Number
}) {}

/**
 * The guarded effect kept failing with retryable errors until the retry
 * schedule gave up, or failed with an error that is not retryable.
 *
 * @since 0.1.0
 * @category errors
 */
export class Unavailable extends Schema.TaggedClass<Unavailable>()("Unavailable", {
  operation: Schema.String,
  attempts: Schema.Number,
  retryable: Schema.Boolean,
  cause: Schema.Defect()
}) {}

/**
 * The circuit breaker rejected the call without running it.
 *
 * @since 0.1.0
 * @category errors
 */
export class CircuitOpen extends Schema.TaggedClass<CircuitOpen>()("CircuitOpen", {
  operation: Schema.String,
  retryAfterMillis: Schema.Number
}) {}

/**
 * Why a guarded call failed.
 *
 * @since 0.1.0
 * @category errors
 */
export type PolicyErrorReason = Timeout | Unavailable | CircuitOpen

const describe = (r: PolicyErrorReason): string =>
  r._tag === "Timeout"
    ? `${r.operation} timed out after ${r.timeoutMillis} ms`
    : r._tag === "Unavailable"
      ? `${r.operation} unavailable after ${r.attempts} attempt(s)`
      : `${r.operation} rejected: circuit open (retry after ${r.retryAfterMillis} ms)`

/**
 * The single error type that comes out of `Policy.run`.
 *
 * @since 0.1.0
 * @category errors
 */
export class PolicyError extends Schema.TaggedError<PolicyError>()("PolicyError", {
  reason: Schema.Union([Timeout, Unavailable, CircuitOpen])
}) {
  override get message(): string {
    return describe(this.reason)
  }

  /**
   * Whether trying again later may help: a timeout or an open circuit may
   * clear, an `Unavailable` says so itself. Lets an outer policy nest this one.
   */
  get isRetryable(): boolean {
    return this.reason._tag === "Unavailable" ? this.reason.retryable : true
  }
}

/**
 * Errors that know whether trying again may help. Kafka, PostgreSQL and HTTP
 * errors in Sluice implement it; the policy retries only when it is `true`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Retryable {
  readonly isRetryable: boolean
}

/**
 * Reads `isRetryable` from any error; errors that do not say are not retried.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isRetryable = (error: unknown): boolean =>
  typeof error === "object" && error !== null && "isRetryable" in error && error.isRetryable === true
