/**
 * The input of the claims enrichment job: one payment made against an
 * insurance claim, as read from the payment events topic. JSON field names are
 * snake_case, as producers write them; the TypeScript fields use the same
 * names so there is no mapping to get wrong.
 *
 * Decoding goes from raw record bytes: a value larger than `maxBytes`,
 * invalid UTF-8, text that is not JSON and JSON that does not match the
 * schema are told apart, so dead letters say which one happened. The amount
 * rule is `Money`'s: a non-negative decimal below 10^10 with at most two
 * decimal places, so negative, absurd and over-precise amounts are rejected,
 * never rounded.
 *
 * @since 0.1.0
 */
import type { Result } from "effect"
import { Schema } from "effect"
import type { RunnerError } from "../../RunnerError.ts"
import * as Record from "../../records/RecordCodec.ts"
import { decimalFields, Money } from "./Money.ts"

const Id = Schema.String.check(Schema.isNonEmpty())

/**
 * A payment event. `payment_date` is ISO-8601; a timestamp without a zone
 * offset is read as UTC, and it is written back in UTC (`...Z`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const PaymentEvent = Schema.Struct({
  payment_id: Id,
  claim_id: Id,
  payment_amount: Money,
  payment_date: Schema.DateTimeUtcFromString,
  processor_id: Id,
  payment_method: Schema.optionalKey(Schema.String),
  payment_status: Schema.optionalKey(Schema.String)
})

/**
 * @since 0.1.0
 * @category models
 */
export type PaymentEvent = typeof PaymentEvent.Type

/**
 * The largest record value accepted as a payment event, in bytes. An event is
 * a few hundred bytes; anything far beyond that is not one, and is rejected
 * (`too-large`) before it is parsed.
 *
 * @since 0.1.0
 * @category constants
 */
export const maxBytes = 64 * 1024

/**
 * Decodes a record value into a payment event.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decode: (bytes: Uint8Array) => Result.Result<PaymentEvent, RunnerError> = Record.decoder(PaymentEvent, {
  maxBytes,
  decimalFields
})

/**
 * Encodes a payment event as JSON bytes, amounts written as exact JSON numbers.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encode: (event: PaymentEvent) => Uint8Array = Record.encoder(PaymentEvent, { decimalFields })
