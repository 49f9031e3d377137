/**
 * The one error a lookup can fail with. A missing key is not an error (it is
 * `Option.none()`); a `LookupError` means the store could not answer: it was
 * unreachable or failed (`Unavailable`), it was too slow (`Timeout`), or the
 * circuit breaker in front of it was open (`CircuitOpen`).
 *
 * @since 0.1.0
 */
import type { PolicyError } from "@sluice/core"
import { Schema } from "effect"

/**
 * The store could not be reached or failed. `retryable` is `false` for
 * failures that will repeat on every attempt (a bad query, a row that does not
 * decode).
 *
 * @since 0.1.0
 * @category errors
 */
export class Unavailable extends Schema.TaggedClass<Unavailable>()("Unavailable", {
  lookup: Schema.String,
  retryable: Schema.Boolean,
  detail: Schema.String,
  cause: Schema.Defect()
}) {}

/**
 * The store did not answer in time: a server-side statement timeout or the
 * policy's timeout.
 *
 * @since 0.1.0
 * @category errors
 */
export class Timeout extends Schema.TaggedClass<Timeout>()("Timeout", {
  lookup: Schema.String,
  timeoutMillis: Schema.optionalKey(Schema.Number),
  cause: Schema.Defect()
}) {}

/**
 * The circuit breaker rejected the lookup without contacting the store.
 *
 * @since 0.1.0
 * @category errors
 */
export class CircuitOpen extends Schema.TaggedClass<CircuitOpen>()("CircuitOpen", {
  lookup: Schema.String,
  retryAfterMillis: Schema.Number
}) {}

/**
 * Why a lookup failed.
 *
 * @since 0.1.0
 * @category errors
 */
export type LookupErrorReason = Unavailable | Timeout | CircuitOpen

const describe = (r: LookupErrorReason): string => {
  switch (r._tag) {
    case "Unavailable":
      return `lookup ${r.lookup} unavailable: ${r.detail}`
    case "Timeout":
      return r.timeoutMillis === undefined
        ? `lookup ${r.lookup} timed out`
        : `lookup ${r.lookup} timed out after ${r.timeoutMillis} ms`
    case "CircuitOpen":
      return `lookup ${r.lookup} rejected: circuit open (retry after ${r.retryAfterMillis} ms)`
  }
}

/**
 * The single error type of `@sluice/lookup`.
 *
 * @since 0.1.0
 * @category errors
 */
export class LookupError extends Schema.TaggedError<LookupError>()("LookupError", {
  reason: Schema.Union([Unavailable, Timeout, CircuitOpen])
}) {
  override get message(): string {
    return describe(this.reason)
  }

  /**
   * Whether asking again later may succeed. Timeouts and an open circuit are
   * transient; `Unavailable` says so itself.
   */
  get isRetryable(): boolean {
    return this.reason._tag === "Unavailable" ? this.reason.retryable : true
  }
}

/**
 * Tests whether a value is a `LookupError`.
 *
 * @since 0.1.0
 * @category guards
 */
export const isLookupError = (u: unknown): u is LookupError =>
  typeof u === "object" && u !== null && "_tag" in u && u._tag === "LookupError" && u instanceof LookupError

/**
 * Translates a `PolicyError` into a `LookupError`. When the policy gave up
 * on an error that was already a `LookupError` (a statement timeout, say), that
 * error's reason is kept, so a server-side timeout still reads as `Timeout`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromPolicyError = (lookup: string, error: PolicyError.PolicyError): LookupError => {
  const reason = error.reason
  switch (reason._tag) {
    case "Timeout":
      return new LookupError({
        reason: new Timeout({ lookup, timeoutMillis: reason.timeoutMillis, cause: error })
      })
    case "CircuitOpen":
      return new LookupError({
        reason: new CircuitOpen({ lookup, retryAfterMillis: reason.retryAfterMillis })
      })
    case "Unavailable":
      if (isLookupError(reason.cause)) return reason.cause
      return new LookupError({
        reason: new Unavailable({
          lookup,
          retryable: reason.retryable,
          detail: `gave up after ${reason.attempts} attempt(s)`,
          cause: reason.cause
        })
      })
  }
}
