/**
 * The one error of `@sluice/cdc`. A change event that cannot be read is a
 * value for the dead-letter topic, not a crash: every decoding failure is a
 * `CdcError` with a `reason` saying what was wrong, and `toDeadLetter` turns
 * it into the pipeline's `DeadLetter`.
 *
 * - `Malformed`: the bytes are not JSON, or the JSON is not a Debezium record.
 * - `Invalid`: the record is a Debezium record but a field does not have the
 *   declared type (a decimal that is not base64, a row missing a column...).
 * - `Unencodable`: a value cannot be written in the requested form (a decimal
 *   with more digits than its column's scale, a truncate in unwrapped form).
 * - `MissingEventTime`: the event-time field chosen for a job is absent.
 * - `Unavailable`: capture could not talk to PostgreSQL (connection lost,
 *   slot busy, replication refused); `retryable` says whether trying again
 *   may help.
 *
 * Only `Unavailable` can be retryable: the same bytes fail the same way every
 * time.
 *
 * @since 0.1.0
 */
import { DeadLetter, type Envelope } from "@sluice/core"
import { Schema } from "effect"

/**
 * The bytes are not JSON, or not shaped like a Debezium record.
 *
 * @since 0.1.0
 * @category errors
 */
export class Malformed extends Schema.TaggedClass<Malformed>()("Malformed", {
  detail: Schema.String
}) {}

/**
 * A field of the record does not decode to its declared type. `path` is where
 * (`after.amount`), `detail` why.
 *
 * @since 0.1.0
 * @category errors
 */
export class Invalid extends Schema.TaggedClass<Invalid>()("Invalid", {
  path: Schema.String,
  detail: Schema.String
}) {}

/**
 * A value cannot be written in the requested form.
 *
 * @since 0.1.0
 * @category errors
 */
export class Unencodable extends Schema.TaggedClass<Unencodable>()("Unencodable", {
  detail: Schema.String
}) {}

/**
 * The event has no value for the chosen event-time field.
 *
 * @since 0.1.0
 * @category errors
 */
export class MissingEventTime extends Schema.TaggedClass<MissingEventTime>()("MissingEventTime", {
  field: Schema.String
}) {}

/**
 * Capture could not talk to PostgreSQL.
 *
 * @since 0.1.0
 * @category errors
 */
export class Unavailable extends Schema.TaggedClass<Unavailable>()("Unavailable", {
  detail: Schema.String,
  retryable: Schema.Boolean,
  cause: Schema.Defect()
}) {}

/**
 * Why a change event could not be read or written.
 *
 * @since 0.1.0
 * @category errors
 */
export type CdcErrorReason = Malformed | Invalid | Unencodable | MissingEventTime | Unavailable

const describe = (r: CdcErrorReason): string => {
  switch (r._tag) {
    case "Malformed":
      return `malformed change event: ${r.detail}`
    case "Invalid":
      return r.path === "" ? `invalid change event: ${r.detail}` : `invalid change event at ${r.path}: ${r.detail}`
    case "Unencodable":
      return `cannot encode change event: ${r.detail}`
    case "MissingEventTime":
      return `change event has no event time in ${r.field}`
    case "Unavailable":
      return `change capture unavailable: ${r.detail}`
  }
}

/**
 * The single error type of `@sluice/cdc`.
 *
 * @since 0.1.0
 * @category errors
 */
export class CdcError extends Schema.TaggedError<CdcError>()("CdcError", {
  reason: Schema.Union([Malformed, Invalid, Unencodable, MissingEventTime, Unavailable])
}) {
  override get message(): string {
    return describe(this.reason)
  }

  /** Decoding and encoding are deterministic: only an unavailable database may answer later. */
  get isRetryable(): boolean {
    return this.reason._tag === "Unavailable" && this.reason.retryable
  }

  /** A short, stable category for dead-letter headers and metric labels. */
  get kind(): string {
    const tag = this.reason._tag
    if (tag === "Malformed" || tag === "Invalid") return "decode"
    return tag === "Unencodable" ? "encode" : tag === "Unavailable" ? "unavailable" : "event-time"
  }
}

/**
 * Builds a `CdcError` from a reason.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (reason: CdcErrorReason): CdcError => new CdcError({ reason })

/**
 * Tests whether a value is a `CdcError`.
 *
 * @since 0.1.0
 * @category guards
 */
export const isCdcError = (u: unknown): u is CdcError => u instanceof CdcError

/**
 * The dead letter for a record that failed with this error, keeping the
 * original bytes so it can be inspected and replayed.
 *
 * @since 0.1.0
 * @category conversions
 */
export const toDeadLetter = (
  error: CdcError,
  origin: Envelope.Origin,
  value: Envelope.Payload
): DeadLetter.DeadLetter => DeadLetter.make(origin, value, error.kind, error.message)
