// The benchmark's hand-written claims job (bench/jobs/handEnrich.ts) is only a
// fair reference if it does the job's work: the same records become dead
// letters (same kind), and every other record gets the same output bytes;
// and the baselines fetch with the sizes the job's source uses by default.
import { assert, describe, it } from "@effect/vitest"
import * as KafkaSource from "@sluice/kafka/KafkaSource"
import { BigDecimal, DateTime, Duration, Result } from "effect"
import * as fc from "fast-check"
import { fetchSizes } from "../../../bench/jobs/fetchSizes.ts"
import * as Hand from "../../../bench/jobs/handEnrich.ts"
import * as EnrichedPayment from "../src/jobs/claims/EnrichedPayment.ts"
import * as Enrichment from "../src/jobs/claims/Enrichment.ts"
import * as Generator from "../src/jobs/claims/Generator.ts"
import * as Money from "../src/jobs/claims/Money.ts"
import * as PaymentEvent from "../src/jobs/claims/PaymentEvent.ts"

const text = (b: Uint8Array) => new TextDecoder().decode(b)

// Claims 1..25 exist; the generator also draws ids beyond them (not found).
const claimRow = (id: string, n: number): Hand.ClaimRow => ({
  claim_id: id,
  member_id: `MBR-${n}`,
  claim_amount: `${n * 37}.${String(n % 100).padStart(2, "0")}`,
  claim_status: n % 3 === 0 ? null : "OPEN"
})

describe("bench hand-written claims job", () => {
  it("rejects the records the job rejects and writes the bytes the job writes", () => {
    const options = { seed: 11, claims: 50, validClaimRate: 0.5, invalidRate: 0.3 }
    const rows = new Map<string, Hand.ClaimRow>()
    for (let n = 1; n <= 25; n++) rows.set(Generator.claimId(n), claimRow(Generator.claimId(n), n))
    const nowMillis = 1_700_000_123_456
    const now = new Date(nowMillis).toISOString()
    const counts = { rejected: 0, enriched: 0, failed: 0 }
    for (let i = 0; i < 3000; i++) {
      const record = Generator.record(options, i, 1_700_000_000_000 + i * 997)
      const value = Buffer.from(record.value)
      const hand = Hand.decode(value)
      const sluice = PaymentEvent.decode(record.value)
      if (Result.isFailure(sluice)) {
        assert.isTrue(Hand.isRejected(hand), `record ${i} (${record.kind}) should be rejected`)
        const reason = sluice.failure.reason
        assert.strictEqual((hand as Hand.Rejected).kind, reason._tag === "InvalidEvent" ? reason.kind : "")
        counts.rejected++
        continue
      }
      assert.isFalse(Hand.isRejected(hand), `record ${i} (${record.kind}) should be accepted`)
      const payment = hand as Hand.Payment
      const row = rows.get(payment.claim_id)
      const answer =
        row === undefined
          ? Enrichment.notFound
          : Enrichment.found({
              member_id: row.member_id,
              claim_amount: BigDecimal.fromStringUnsafe(row.claim_amount),
              claim_status: row.claim_status
            })
      const expected = Enrichment.enrichmentResult(sluice.success, answer, DateTime.makeUnsafe(nowMillis))
      const got = Hand.enrich(payment, row, now)
      assert.strictEqual(got.output, expected.output)
      assert.strictEqual(got.value, text(EnrichedPayment.encode(expected.record)))
      counts[got.output]++
    }
    // Every path was taken.
    assert.isAbove(counts.rejected, 100)
    assert.isAbove(counts.enriched, 100)
    assert.isAbove(counts.failed, 100)
  })

  it("applies the amount rule exactly as Money does", () => {
    const decimal = fc
      .tuple(
        fc.constantFrom("", "-"),
        fc.oneof(fc.constant("0"), fc.stringMatching(/^[1-9]\d{0,12}$/)),
        fc.option(fc.stringMatching(/^\d{1,5}$/), { nil: undefined }),
        fc.option(fc.integer({ min: -4, max: 4 }), { nil: undefined })
      )
      .map(
        ([sign, int, frac, exp]) =>
          `${sign}${int}${frac === undefined ? "" : `.${frac}`}${exp === undefined ? "" : `e${exp}`}`
      )
    const texts = fc.oneof(
      decimal,
      fc.string({ maxLength: 8 }),
      fc.constantFrom("1.505", "9999999999.99", "1e10", "-0", "0.1000000000000000001")
    )
    fc.assert(
      fc.property(texts, (t) => {
        const money = Money.parse(t)
        const hand = Hand.amount(t)
        if ("error" in money) return "error" in hand
        return "text" in hand && hand.text === Money.format(money.amount)
      }),
      { numRuns: 5000 }
    )
  })

  // The baselines fetch as Sluice's source does by default, or the comparison measures a setting.
  it("fetches with the source's default sizes", () => {
    assert.deepStrictEqual(fetchSizes, {
      minBytes: KafkaSource.defaultFetchMinBytes,
      maxWaitTimeInMs: Duration.toMillis(Duration.fromInputUnsafe(KafkaSource.defaultFetchMaxWait)),
      idleMaxWaitTimeInMs: Duration.toMillis(Duration.fromInputUnsafe(KafkaSource.defaultFetchIdleWait))
    })
  })
})
