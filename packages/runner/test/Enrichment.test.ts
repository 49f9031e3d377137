import { assert, describe, it } from "@effect/vitest"
import { CircuitOpen, PolicyError, Timeout, Unavailable } from "@sluice/core/PolicyError"
import * as LookupError from "@sluice/lookup/LookupError"
import { BigDecimal, DateTime, Result } from "effect"
import * as EnrichedPayment from "../src/jobs/claims/EnrichedPayment.ts"
import * as Enrichment from "../src/jobs/claims/Enrichment.ts"
import * as PaymentEvent from "../src/jobs/claims/PaymentEvent.ts"
import * as LookupErrors from "./support/lookupErrors.ts"

const event = Result.getOrThrow(
  PaymentEvent.decode(
    new TextEncoder().encode(
      '{"payment_id":"PAY-1","claim_id":"CLM-000007","payment_amount":0.10,"payment_date":"2024-01-15T10:30:00Z","processor_id":"PROC-1"}'
    )
  )
)
const now = DateTime.makeUnsafe("2024-01-15T10:30:01.500Z")
const claim: Enrichment.Claim = {
  member_id: "MBR-789",
  claim_amount: BigDecimal.make(9999999999n, 2),
  claim_status: "APPROVED"
}

describe("Enrichment", () => {
  it("enrichmentResult - a found claim is SUCCESS on the enriched output", () => {
    const { output, record } = Enrichment.enrichmentResult(event, Enrichment.found(claim), now)
    assert.strictEqual(output, "enriched")
    assert.strictEqual(record.enrichment_status, "SUCCESS")
    assert.strictEqual(record.member_id, "MBR-789")
    assert.strictEqual(record.error_reason, null)
    const json = JSON.parse(new TextDecoder().decode(EnrichedPayment.encode(record)))
    assert.strictEqual(json.enrichment_timestamp, "2024-01-15T10:30:01.500Z")
    assert.include(new TextDecoder().decode(EnrichedPayment.encode(record)), '"claim_amount":99999999.99')
  })

  it("enrichmentResult - every failure goes to the failed output with its status and reason", () => {
    const cases: ReadonlyArray<readonly [Enrichment.Answer, string]> = [
      [Enrichment.notFound, "CLAIM_NOT_FOUND"],
      [Enrichment.failed(LookupErrors.unavailable("connection refused")), "DB_ERROR"],
      [Enrichment.failed(LookupErrors.unavailable("bad query", false)), "DB_ERROR"],
      [Enrichment.failed(LookupErrors.circuitOpen()), "DB_ERROR"],
      [Enrichment.failed(LookupErrors.timeout(5000)), "DB_TIMEOUT"]
    ]
    for (const [outcome, status] of cases) {
      const { output, record } = Enrichment.enrichmentResult(event, outcome, now)
      assert.strictEqual(output, "failed")
      assert.strictEqual(record.enrichment_status, status)
      assert.isNotNull(record.error_reason)
      assert.isNull(record.member_id)
      assert.isNull(record.claim_amount)
    }
    assert.include(Enrichment.enrichmentResult(event, Enrichment.notFound, now).record.error_reason!, "CLM-000007")
  })

  it("statusOf - timeout → DB_TIMEOUT, unavailable and circuit open → DB_ERROR", () => {
    const status = (reason: PolicyError["reason"]) =>
      Enrichment.enrichmentResult(
        event,
        Enrichment.failed(LookupError.fromPolicyError("claims", new PolicyError({ reason }))),
        now
      ).record.enrichment_status
    assert.strictEqual(status(new Timeout({ operation: "claims", timeoutMillis: 5000 })), "DB_TIMEOUT")
    assert.strictEqual(
      status(new Unavailable({ operation: "claims", attempts: 3, retryable: true, cause: "down" })),
      "DB_ERROR"
    )
    assert.strictEqual(status(new CircuitOpen({ operation: "claims", retryAfterMillis: 1000 })), "DB_ERROR")
  })

  it("EnrichedPayment - a failed record round-trips with null claim fields", () => {
    const { record } = Enrichment.enrichmentResult(event, Enrichment.notFound, now)
    const bytes = EnrichedPayment.encode(record)
    const text = new TextDecoder().decode(bytes)
    assert.include(text, '"claim_amount":null')
    assert.include(text, '"payment_amount":0.10')
    const back = Result.getOrThrow(EnrichedPayment.decode(bytes))
    assert.strictEqual(new TextDecoder().decode(EnrichedPayment.encode(back)), text)
  })
})
