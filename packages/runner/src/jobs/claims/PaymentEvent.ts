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
import { DateTime, Option, Result, Schema } from "effect"
import type { RunnerError } from "../../RunnerError.ts"
import { parseKeepingNumberText } from "../../records/Json.ts"
import * as Record from "../../records/RecordCodec.ts"
import { decimalFields, Money, parse } from "./Money.ts"

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

// The schema's decoder: every check, and the failure detail of a dead letter.
const decodeWithSchema = Record.decoder(PaymentEvent, { maxBytes, decimalFields })

const utf8 = new TextDecoder("utf-8", { fatal: true })

// The decimal field of a payment; `claim_amount` is not one of its fields, so
// the parse need not look for it.
const paymentDecimals: ReadonlySet<string> = new Set(["payment_amount"])

const nonEmpty = (value: unknown): value is string => typeof value === "string" && value.length > 0

// A well-formed payment decoded in plain code: the value the schema decodes,
// built field for field, or `undefined` for anything the schema might reject
// (which then goes through the schema for its verdict and its message). A
// schema pass per record costs more than parsing the record.
const decodeValid = (bytes: Uint8Array): PaymentEvent | undefined => {
  if (bytes.length > maxBytes) return undefined
  let json: unknown
  try {
    json = parseKeepingNumberText(utf8.decode(bytes), paymentDecimals)
  } catch {
    return undefined
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) return undefined
  const fields = json as { readonly [field: string]: unknown }
  const { payment_id, claim_id, payment_amount, payment_date, processor_id } = fields
  if (!nonEmpty(payment_id) || !nonEmpty(claim_id) || !nonEmpty(processor_id)) return undefined
  if (typeof payment_amount !== "string" && !(typeof payment_amount === "number" && Number.isFinite(payment_amount))) {
    return undefined
  }
  const amount = parse(typeof payment_amount === "number" ? String(payment_amount) : payment_amount)
  if (!("amount" in amount) || typeof payment_date !== "string") return undefined
  // What `Schema.DateTimeUtcFromString` does with the text.
  const date = DateTime.make(payment_date)
  if (Option.isNone(date)) return undefined
  const event: {
    -readonly [K in keyof PaymentEvent]: PaymentEvent[K]
  } = {
    payment_id,
    claim_id,
    payment_amount: amount.amount,
    payment_date: DateTime.toUtc(date.value),
    processor_id
  }
  if (Object.hasOwn(fields, "payment_method")) {
    if (typeof fields.payment_method !== "string") return undefined
    event.payment_method = fields.payment_method
  }
  if (Object.hasOwn(fields, "payment_status")) {
    if (typeof fields.payment_status !== "string") return undefined
    event.payment_status = fields.payment_status
  }
  return event
}

/**
 * Decodes a record value into a payment event. A well-formed event is read
 * in plain code; anything else goes through the schema, which says why it
 * is not one (the tests hold both paths to the same answers).
 *
 * @since 0.1.0
 * @category decoding
 */
export const decode = (bytes: Uint8Array): Result.Result<PaymentEvent, RunnerError> => {
  const event = decodeValid(bytes)
  return event === undefined ? decodeWithSchema(bytes) : Result.succeed(event)
}

/**
 * Decodes a record value through the schema alone; `decode` answers the same.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeSchema: (bytes: Uint8Array) => Result.Result<PaymentEvent, RunnerError> = decodeWithSchema

/**
 * Encodes a payment event as JSON bytes, amounts written as exact JSON numbers.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encode: (event: PaymentEvent) => Uint8Array = Record.encoder(PaymentEvent, { decimalFields })
