import { assert, describe, it } from "@effect/vitest"
import * as DeadLetter from "@sluice/core/DeadLetter"
import * as Envelope from "@sluice/core/Envelope"
import * as InMemory from "@sluice/core/InMemory"
import { BigDecimal, DateTime, Effect, Result } from "effect"
import * as EnrichedPayment from "../src/jobs/claims/EnrichedPayment.ts"
import * as Enrichment from "../src/jobs/claims/Enrichment.ts"
import * as LargeClaimsJob from "../src/jobs/claims/LargeClaimsJob.ts"
import type * as PaymentEvent from "../src/jobs/claims/PaymentEvent.ts"
import * as LookupErrors from "./support/lookupErrors.ts"

const text = new TextDecoder()
const now = DateTime.makeUnsafe("2024-03-01T12:00:00Z")
const threshold = BigDecimal.make(1_000_000n, 2) // 10000.00

// Claim amounts around the threshold, in cents; every fourth payment failed enrichment.
const cents = [999_999n, 1_000_000n, 1_000_001n, 5n, 9_999_999_999n, 1_000_000n, 250_000n, 12_345_678n]

const enrichedPayment = (i: number): EnrichedPayment.EnrichedPayment => {
  const event: PaymentEvent.PaymentEvent = {
    payment_id: `PAY-${i}`,
    claim_id: `CLM-${String(i).padStart(6, "0")}`,
    payment_amount: BigDecimal.make(BigInt(1000 + i), 2),
    payment_date: now,
    processor_id: "PROC-1"
  }
  const outcome =
    i % 4 === 3
      ? Enrichment.failed(LookupErrors.timeout(5000))
      : Enrichment.found({
          member_id: `MBR-${i}`,
          claim_amount: BigDecimal.make(cents[i % cents.length]!, 2),
          claim_status: "APPROVED"
        })
  return Enrichment.enrichmentResult(event, outcome, now).record
}

describe("LargeClaimsJob", () => {
  it.effect("run - keeps exactly the SUCCESS records at or above the threshold", () =>
    Effect.gen(function* () {
      const payments = Array.from({ length: 96 }, (_, i) => enrichedPayment(i))
      const broker = yield* InMemory.make
      yield* InMemory.createTopic(broker, "enriched-payments", 2)
      yield* InMemory.produce(broker, "enriched-payments", [
        ...payments.map((p) => ({ key: p.claim_id, value: EnrichedPayment.encode(p) })),
        { key: "CLM-bad", value: '{"payment_id":"PAY-bad"' },
        { key: "CLM-null", value: null }
      ])
      yield* Effect.gen(function* () {
        const records = yield* InMemory.source(broker, { topic: "enriched-payments", group: "large" })
        yield* LargeClaimsJob.run({
          records,
          threshold,
          sinks: {
            large: InMemory.sink(broker, "large-claims"),
            deadLetters: InMemory.sink(broker, "enriched-payments-dlq")
          }
        })
      }).pipe(Effect.scoped)

      const large = yield* InMemory.messages(broker, "large-claims")
      const expected = payments.filter((_, i) => i % 4 !== 3 && cents[i % cents.length]! >= 1_000_000n)
      assert.isAbove(expected.length, 0)
      assert.isBelow(expected.length, payments.length)
      assert.sameMembers(
        large.map((m) => Result.getOrThrow(EnrichedPayment.decode(m.value as Uint8Array)).payment_id),
        expected.map((p) => p.payment_id)
      )
      // The boundary amount is kept, one cent below is not; keys and exact decimals carry over.
      assert.isTrue(large.some((m) => text.decode(m.value as Uint8Array).includes('"claim_amount":10000.00')))
      assert.isFalse(large.some((m) => text.decode(m.value as Uint8Array).includes('"claim_amount":9999.99')))
      for (const m of large) {
        const payment = Result.getOrThrow(EnrichedPayment.decode(m.value as Uint8Array))
        assert.strictEqual(text.decode(m.key!), payment.claim_id)
      }

      const dlq = yield* InMemory.messages(broker, "enriched-payments-dlq")
      assert.sameMembers(
        dlq.map((m) => Envelope.header(m, DeadLetter.KindHeader)),
        ["invalid-json", "no-value"]
      )
      const committed = yield* InMemory.committed(broker, "large", "enriched-payments")
      const partitions = broker.topics.get("enriched-payments")!
      assert.isTrue(partitions.every((log, p) => committed.get(p) === BigInt(log.length)))
    })
  )
})
