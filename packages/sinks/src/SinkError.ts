/**
 * The one error type of `@sluice/sinks`. Its `reason` says what went wrong
 * with a write (the target could not be reached, did not answer in time,
 * refused the write, left items unwritten, or a record could not be turned
 * into what the target stores), and `isRetryable` tells a `Policy` whether
 * trying the same write again may help.
 *
 * @since 0.1.0
 */
import type { PolicyError } from "@sluice/core"
import { Schema } from "effect"

/**
 * The target could not be reached, or answered that it cannot take writes
 * right now (a connection refused or reset, a server shutting down, an HTTP
 * 5xx). `retryable` is decided by the classifier of each sink.
 *
 * @since 0.1.0
 * @category errors
 */
export class Unavailable extends Schema.TaggedClass<Unavailable>()("Unavailable", {
  retryable: Schema.Boolean,
  detail: Schema.String,
  /** The HTTP status when the target answered one. */
  status: Schema.optionalKey(Schema.Number)
}) {}

/**
 * A write (one attempt) did not finish within its timeout.
 *
 * @since 0.1.0
 * @category errors
 */
export class Timeout extends Schema.TaggedClass<Timeout>()("Timeout", {
  timeoutMillis: Schema.Number
}) {}

/**
 * The target refused the write itself (a constraint, a type, an HTTP 4xx):
 * the same write would be refused again.
 *
 * @since 0.1.0
 * @category errors
 */
export class Rejected extends Schema.TaggedClass<Rejected>()("Rejected", {
  detail: Schema.String,
  status: Schema.optionalKey(Schema.Number)
}) {}

/**
 * A batch write returned items it did not write (DynamoDB's
 * `UnprocessedItems`) and they were still unwritten when the retries ran out.
 *
 * @since 0.1.0
 * @category errors
 */
export class Unprocessed extends Schema.TaggedClass<Unprocessed>()("Unprocessed", {
  items: Schema.Number
}) {}

/**
 * A record could not be turned into a row, item or request body, e.g. a
 * floating-point number for an exact decimal column.
 *
 * @since 0.1.0
 * @category errors
 */
export class Encode extends Schema.TaggedClass<Encode>()("Encode", {
  detail: Schema.String
}) {}

/**
 * Why a write failed.
 *
 * @since 0.1.0
 * @category errors
 */
export type SinkErrorReason = Unavailable | Timeout | Rejected | Unprocessed | Encode

const describe = (reason: SinkErrorReason): string => {
  switch (reason._tag) {
    case "Unavailable":
      return `unavailable: ${reason.detail}`
    case "Timeout":
      return `timed out after ${reason.timeoutMillis} ms`
    case "Rejected":
      return `rejected: ${reason.detail}`
    case "Unprocessed":
      return `${reason.items} item(s) left unprocessed`
    case "Encode":
      return `cannot encode: ${reason.detail}`
  }
}

const retryable = (reason: SinkErrorReason): boolean => {
  switch (reason._tag) {
    case "Unavailable":
      return reason.retryable
    case "Timeout":
    case "Unprocessed":
      return true
    case "Rejected":
    case "Encode":
      return false
  }
}

/**
 * A failed write to `sink` (the sink's name: a table, a URL's host).
 *
 * @since 0.1.0
 * @category errors
 */
export class SinkError
  extends Schema.TaggedError<SinkError>()("SinkError", {
    sink: Schema.String,
    reason: Schema.Union([Unavailable, Timeout, Rejected, Unprocessed, Encode]),
    cause: Schema.optionalKey(Schema.Defect())
  })
  implements PolicyError.Retryable
{
  /** Whether the same write may succeed if tried again. */
  get isRetryable(): boolean {
    return retryable(this.reason)
  }

  override get message(): string {
    return `${this.sink}: ${describe(this.reason)}`
  }
}

/**
 * An encode failure with a one-line reason.
 *
 * @since 0.1.0
 * @category constructors
 */
export const encode = (sink: string, detail: string): SinkError =>
  new SinkError({ sink, reason: new Encode({ detail }) })
