import { assert, describe, it } from "@effect/vitest"
import { BigDecimal, DateTime, Result } from "effect"
import * as EnrichedPayment from "../src/jobs/claims/EnrichedPayment.ts"
import * as Enrichment from "../src/jobs/claims/Enrichment.ts"
import * as Generator from "../src/jobs/claims/Generator.ts"
import * as Money from "../src/jobs/claims/Money.ts"
import * as PaymentEvent from "../src/jobs/claims/PaymentEvent.ts"
import * as Record from "../src/records/RecordCodec.ts"
import * as LookupErrors from "./support/lookupErrors.ts"

const text = (b: Uint8Array) => new TextDecoder().decode(b)
const viaSchema = Record.encoder(EnrichedPayment.EnrichedPayment, { decimalFields: Money.decimalFields })

const events = Array.from({ length: 200 }, (_, i) =>
  Generator.record({ seed: 7, claims: 50, validClaimRate: 0.9, invalidRate: 0 }, i, 1_700_000_000_000 + i * 997)
).map((r) => Result.getOrThrow(PaymentEvent.decode(r.value)))

const outcomes: ReadonlyArray<Enrichment.Answer> = [
  Enrichment.found({ member_id: "MBR-1", claim_amount: BigDecimal.fromStringUnsafe("1500"), claim_status: "OPEN" }),
  Enrichment.found({ member_id: "MBR-2", claim_amount: BigDecimal.fromStringUnsafe("0.1"), claim_status: null }),
  Enrichment.notFound,
  Enrichment.failed(LookupErrors.timeout(5000)),
  Enrichment.failed(LookupErrors.unavailable('connection refused: "db"\n')),
  Enrichment.failed(LookupErrors.circuitOpen())
]

describe("EnrichedPayment", () => {
  it("encode - writes the bytes the schema's encoding writes", () => {
    const { payment_method: _, payment_status: __, ...bare } = events[0]!
    let compared = 0
    for (const [i, event] of [bare, ...events].entries()) {
      for (const [j, outcome] of outcomes.entries()) {
        // Timestamps that repeat and timestamps that change, as within and across chunks.
        const now = DateTime.makeUnsafe(1_700_000_000_000 + Math.floor((i * outcomes.length + j) / 4))
        const record = Enrichment.enrichmentResult(event, outcome, now).record
        assert.strictEqual(text(EnrichedPayment.encode(record)), text(viaSchema(record)))
        compared++
      }
    }
    assert.strictEqual(compared, (events.length + 1) * outcomes.length)
  })

  it("encode - amounts stay exact two-decimal numbers and the record reads back the same", () => {
    const event = { ...events[0]!, payment_amount: BigDecimal.fromStringUnsafe("99999999.99") }
    const claim = { member_id: "MBR-1", claim_amount: BigDecimal.fromStringUnsafe("12345678.9"), claim_status: null }
    const record = Enrichment.enrichmentResult(event, Enrichment.found(claim), DateTime.makeUnsafe(0)).record
    const written = text(EnrichedPayment.encode(record))
    assert.include(written, '"payment_amount":99999999.99')
    assert.include(written, '"claim_amount":12345678.90')
    assert.include(written, '"enrichment_timestamp":"1970-01-01T00:00:00.000Z"')
    const back = Result.getOrThrow(EnrichedPayment.decode(EnrichedPayment.encode(record)))
    assert.strictEqual(text(EnrichedPayment.encode(back)), written)
  })
})
