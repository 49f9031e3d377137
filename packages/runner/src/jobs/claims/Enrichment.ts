/**
 * The decision at the heart of the claims job: given a payment, what the
 * claims lookup answered and the current time, which record to write and to
 * which output. Pure, so every failure case of the seed documents is a plain
 * unit test: found → SUCCESS on the enriched output; not found →
 * CLAIM_NOT_FOUND; database unavailable or circuit open → DB_ERROR; lookup
 * timeout → DB_TIMEOUT, all on the failed output. A lookup failure reaches
 * here as the lookup's `LookupError`, after pause mode decided not to retry
 * it, and is mapped to a status here only.
 *
 * @since 0.1.0
 */
import type { LookupError } from "@sluice/lookup/LookupError"
import { type DateTime, Option, Result } from "effect"
import type * as ClaimsTable from "./ClaimsTable.ts"
import type { EnrichedPayment, EnrichmentStatus } from "./EnrichedPayment.ts"
import type { PaymentEvent } from "./PaymentEvent.ts"

/**
 * The claim metadata the job copies into its output: the columns of a claims
 * row (`ClaimsTable.Claim`) that an enriched payment carries, so a looked-up
 * row is passed as it is.
 *
 * @since 0.1.0
 * @category models
 */
export type Claim = Pick<ClaimsTable.Claim, "member_id" | "claim_amount" | "claim_status">

/**
 * What the claims lookup answered for one claim id, once pause mode (if any)
 * has stopped retrying: the claim row or none, or the lookup's own
 * `LookupError`, kept as it is so that `enrichmentResult` is the one place a
 * failure becomes an enrichment status.
 *
 * @since 0.1.0
 * @category models
 */
export type Answer = Result.Result<Option.Option<Claim>, LookupError>

/**
 * @since 0.1.0
 * @category constructors
 */
export const found = (claim: Claim): Answer => Result.succeed(Option.some(claim))

/**
 * @since 0.1.0
 * @category constructors
 */
export const notFound: Answer = Result.succeed(Option.none())

/**
 * @since 0.1.0
 * @category constructors
 */
export const failed = (error: LookupError): Answer => Result.fail(error)

/**
 * The one mapping of a failed claims lookup to an enrichment status: a lookup
 * timeout is DB_TIMEOUT; an unavailable database or an open circuit is
 * DB_ERROR. The policy's own failures reach here already as `LookupError`s.
 *
 * @since 0.1.0
 * @category mapping
 */
export const statusOf = (error: LookupError): Extract<EnrichmentStatus, "DB_ERROR" | "DB_TIMEOUT"> => {
  switch (error.reason._tag) {
    case "Timeout":
      return "DB_TIMEOUT"
    case "CircuitOpen":
    case "Unavailable":
      return "DB_ERROR"
  }
}

/**
 * The output a record goes to; `Config.topics[output]` names its topic.
 *
 * @since 0.1.0
 * @category models
 */
export type Output = "enriched" | "failed"

/**
 * A record to write and the output it belongs to.
 *
 * @since 0.1.0
 * @category models
 */
export interface EnrichmentResult {
  readonly output: Output
  readonly record: EnrichedPayment
}

/**
 * Builds the output record for a payment and the lookup's answer; a failed
 * lookup carries its status (`statusOf`) and the error's message as the reason.
 *
 * @since 0.1.0
 * @category constructors
 */
export const enrichmentResult = (event: PaymentEvent, answer: Answer, now: DateTime.Utc): EnrichmentResult => {
  if (Result.isFailure(answer)) {
    return {
      output: "failed",
      record: failedRecord(event, statusOf(answer.failure), answer.failure.message, now)
    }
  }
  const claim = answer.success
  if (Option.isNone(claim)) {
    return {
      output: "failed",
      record: failedRecord(event, "CLAIM_NOT_FOUND", `claim ${event.claim_id} not found`, now)
    }
  }
  return {
    output: "enriched",
    record: {
      ...event,
      member_id: claim.value.member_id,
      claim_amount: claim.value.claim_amount,
      claim_status: claim.value.claim_status,
      enrichment_status: "SUCCESS",
      enrichment_timestamp: now,
      error_reason: null
    }
  }
}

const failedRecord = (
  event: PaymentEvent,
  status: EnrichmentStatus,
  reason: string,
  now: DateTime.Utc
): EnrichedPayment => ({
  ...event,
  member_id: null,
  claim_amount: null,
  claim_status: null,
  enrichment_status: status,
  enrichment_timestamp: now,
  error_reason: reason
})
