/**
 * The large-claims job's rule: keep an enriched payment when its claim was
 * found and the claim amount is at least the threshold. Payments that failed
 * enrichment have no claim amount and are never large.
 *
 * @since 0.1.0
 */
import { BigDecimal } from "effect"
import type { EnrichedPayment } from "./EnrichedPayment.ts"

/**
 * Whether a payment belongs on the large-claims topic.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isLarge = (payment: EnrichedPayment, threshold: BigDecimal.BigDecimal): boolean =>
  payment.enrichment_status === "SUCCESS" &&
  payment.claim_amount !== null &&
  BigDecimal.isGreaterThanOrEqualTo(payment.claim_amount, threshold)
