/**
 * The output of the claims enrichment job: the payment's own fields, the
 * claim's metadata when the lookup found it, and how the enrichment went.
 * Successful records go to the enriched topic; the others go to the failed
 * topic with a non-SUCCESS `enrichment_status` and an `error_reason`.
 *
 * Claim fields are always present and `null` when unknown, so consumers with
 * a fixed schema see one shape. Amounts are written as JSON numbers with
 * exactly two decimals, copied from the decimal text (see `Money`).
 *
 * @since 0.1.0
 */
import type { BigDecimal, DateTime, Result } from "effect"
import { Schema } from "effect"
import type { RunnerError } from "../../RunnerError.ts"
import { isoTimestamp } from "../../records/IsoTimestamp.ts"
import * as Record from "../../records/RecordCodec.ts"
import { decimalFields, format, Money } from "./Money.ts"
import { PaymentEvent } from "./PaymentEvent.ts"

/**
 * How an enrichment ended. `DB_ERROR` covers an unavailable database and an
 * open circuit breaker; `DB_TIMEOUT` a lookup that did not answer in time.
 *
 * @since 0.1.0
 * @category schemas
 */
export const EnrichmentStatus = Schema.Literals(["SUCCESS", "CLAIM_NOT_FOUND", "DB_ERROR", "DB_TIMEOUT"])

/**
 * @since 0.1.0
 * @category models
 */
export type EnrichmentStatus = typeof EnrichmentStatus.Type

/**
 * An enriched (or failed) payment.
 *
 * @since 0.1.0
 * @category schemas
 */
export const EnrichedPayment = Schema.Struct({
  ...PaymentEvent.fields,
  member_id: Schema.NullOr(Schema.String),
  claim_amount: Schema.NullOr(Money),
  claim_status: Schema.NullOr(Schema.String),
  enrichment_status: EnrichmentStatus,
  enrichment_timestamp: Schema.DateTimeUtcFromString,
  error_reason: Schema.NullOr(Schema.String)
})

/**
 * @since 0.1.0
 * @category models
 */
export type EnrichedPayment = typeof EnrichedPayment.Type

const amount = (value: BigDecimal.BigDecimal): unknown => Record.decimal(format(value))

const iso = (value: DateTime.Utc): string => isoTimestamp(value.epochMilliseconds)

/**
 * Encodes an enriched payment as JSON bytes: the bytes the schema's encoding
 * writes, field for field and in the schema's order, but without a schema
 * pass. A typed value already meets the schema, and the pass costs more than
 * writing the record (the tests compare both encodings).
 *
 * @since 0.1.0
 * @category encoding
 */
export const encode = (payment: EnrichedPayment): Uint8Array => {
  const encoded: { [field: string]: unknown } = {
    payment_id: payment.payment_id,
    claim_id: payment.claim_id,
    payment_amount: amount(payment.payment_amount),
    payment_date: iso(payment.payment_date),
    processor_id: payment.processor_id
  }
  if (payment.payment_method !== undefined) encoded.payment_method = payment.payment_method
  if (payment.payment_status !== undefined) encoded.payment_status = payment.payment_status
  encoded.member_id = payment.member_id
  encoded.claim_amount = payment.claim_amount === null ? null : amount(payment.claim_amount)
  encoded.claim_status = payment.claim_status
  encoded.enrichment_status = payment.enrichment_status
  encoded.enrichment_timestamp = iso(payment.enrichment_timestamp)
  encoded.error_reason = payment.error_reason
  return Record.writeJson(encoded)
}

/**
 * Decodes an enriched payment (the large-claims job reads them back).
 *
 * @since 0.1.0
 * @category decoding
 */
export const decode: (bytes: Uint8Array) => Result.Result<EnrichedPayment, RunnerError> = Record.decoder(
  EnrichedPayment,
  { decimalFields }
)
