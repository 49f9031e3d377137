import { assert, describe, it } from "@effect/vitest"
import { BigDecimal, DateTime } from "effect"
import type { EnrichedPayment } from "../src/jobs/claims/EnrichedPayment.ts"
import * as LargeClaims from "../src/jobs/claims/LargeClaims.ts"

const at = DateTime.makeUnsafe(0)
const payment = (claimAmount: string | null, status: EnrichedPayment["enrichment_status"]): EnrichedPayment => ({
  payment_id: "PAY-1",
  claim_id: "CLM-000001",
  payment_amount: BigDecimal.fromStringUnsafe("10.00"),
  payment_date: at,
  processor_id: "PROC-1",
  member_id: claimAmount === null ? null : "MBR-1",
  claim_amount: claimAmount === null ? null : BigDecimal.fromStringUnsafe(claimAmount),
  claim_status: null,
  enrichment_status: status,
  enrichment_timestamp: at,
  error_reason: status === "SUCCESS" ? null : "x"
})

describe("LargeClaims", () => {
  it("isLarge - keeps found claims at or above the threshold, exactly", () => {
    const threshold = BigDecimal.fromStringUnsafe("10000.00")
    assert.isTrue(LargeClaims.isLarge(payment("10000.00", "SUCCESS"), threshold))
    assert.isTrue(LargeClaims.isLarge(payment("99999999.99", "SUCCESS"), threshold))
    assert.isFalse(LargeClaims.isLarge(payment("9999.99", "SUCCESS"), threshold))
    assert.isFalse(LargeClaims.isLarge(payment(null, "CLAIM_NOT_FOUND"), threshold))
  })
})
