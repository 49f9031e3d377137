/**
 * The decision at the heart of the claims job: given a payment, what the
 * claims lookup answered and the current time, which record to write and to
 * which output. Pure, so every failure case of the seed documents is a plain
 * unit test: found → SUCCESS on the enriched output; not found →
 * CLAIM_NOT_FOUND; database unavailable or circuit open → DB_ERROR; lookup
 * timeout → DB_TIMEOUT, all on the failed output.
 *
 * @since 0.1.0
 */
import type { LookupError } from "@sluice/lookup/LookupError"
import type { DateTime } from "effect"
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
 * What the claims lookup answered for one claim id.
 *
 * @since 0.1.0
 * @category models
 */
export type LookupOutcome =
  | { readonly _tag: "Found"; readonly claim: Claim }
  | { readonly _tag: "NotFound" }
  | { readonly _tag: "Unavailable"; readonly reason: string }
  | { readonly _tag: "Timeout"; readonly reason: string }
  | { readonly _tag: "CircuitOpen"; readonly reason: string }

/**
 * @since 0.1.0
 * @category constructors
 */
export const found = (claim: Claim): LookupOutcome => ({ _tag: "Found", claim })

/**
 * @since 0.1.0
 * @category constructors
 */
export const notFound: LookupOutcome = { _tag: "NotFound" }

/**
 * @since 0.1.0
 * @category constructors
 */
export const unavailable = (reason: string): LookupOutcome => ({ _tag: "Unavailable", reason })

/**
 * @since 0.1.0
 * @category constructors
 */
export const timeout = (reason: string): LookupOutcome => ({ _tag: "Timeout", reason })

/**
 * @since 0.1.0
 * @category constructors
 */
export const circuitOpen = (reason: string): LookupOutcome => ({ _tag: "CircuitOpen", reason })

/**
 * The one mapping of a failed claims lookup: a lookup timeout becomes
 * `Timeout` (DB_TIMEOUT), an unavailable database or an open circuit
 * `Unavailable` / `CircuitOpen` (DB_ERROR), each with the error's message as
 * the reason. The policy's own failures reach here already as `LookupError`s.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromLookupError = (error: LookupError): LookupOutcome => {
  switch (error.reason._tag) {
    case "Timeout":
      return timeout(error.message)
    case "CircuitOpen":
      return circuitOpen(error.message)
    case "Unavailable":
      return unavailable(error.message)
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

const statusOf = (outcome: LookupOutcome): EnrichmentStatus => {
  switch (outcome._tag) {
    case "Found":
      return "SUCCESS"
    case "NotFound":
      return "CLAIM_NOT_FOUND"
    case "Timeout":
      return "DB_TIMEOUT"
    case "Unavailable":
    case "CircuitOpen":
      return "DB_ERROR"
  }
}

const reasonOf = (event: PaymentEvent, outcome: LookupOutcome): string | null => {
  switch (outcome._tag) {
    case "Found":
      return null
    case "NotFound":
      return `claim ${event.claim_id} not found`
    case "Timeout":
    case "Unavailable":
    case "CircuitOpen":
      return outcome.reason
  }
}

/**
 * Builds the output record for a payment and the lookup's outcome.
 *
 * @since 0.1.0
 * @category constructors
 */
export const enrichmentResult = (event: PaymentEvent, outcome: LookupOutcome, now: DateTime.Utc): EnrichmentResult => {
  const claim = outcome._tag === "Found" ? outcome.claim : undefined
  return {
    output: claim ? "enriched" : "failed",
    record: {
      ...event,
      member_id: claim?.member_id ?? null,
      claim_amount: claim?.claim_amount ?? null,
      claim_status: claim?.claim_status ?? null,
      enrichment_status: statusOf(outcome),
      enrichment_timestamp: now,
      error_reason: reasonOf(event, outcome)
    }
  }
}
