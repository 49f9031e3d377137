import { assert, describe, it } from "@effect/vitest"
import { Effect, Metric } from "effect"
import * as Stats from "../src/http/Stats.ts"
import * as ClaimsDashboard from "../src/jobs/claims/ClaimsDashboard.ts"

describe("Stats", () => {
  it("quantile - interpolates inside the bucket that holds the rank", () => {
    // 10 observations: 4 in (0, 10], 4 in (10, 20], 2 in (20, 40]
    const h: Stats.Histogram = {
      buckets: [
        [10, 4],
        [20, 8],
        [40, 10]
      ],
      count: 10,
      min: 1,
      max: 39
    }
    assert.strictEqual(Stats.quantile(h, 0.5), 12.5)
    assert.strictEqual(Stats.quantile(h, 0.2), 5)
    assert.strictEqual(Stats.quantile(h, 0.9), 30)
  })

  it("quantile - clamps to the observed range and handles empty and overflowing histograms", () => {
    assert.isNull(Stats.quantile({ buckets: [[10, 0]], count: 0, min: 0, max: 0 }, 0.5))
    // all observations at 7 ms in the (5, 10] bucket: the estimate cannot leave [min, max]
    assert.strictEqual(
      Stats.quantile(
        {
          buckets: [
            [5, 0],
            [10, 3]
          ],
          count: 3,
          min: 7,
          max: 7
        },
        0.99
      ),
      7
    )
    // the rank lies above the last finite bound: the maximum is returned
    assert.strictEqual(
      Stats.quantile(
        {
          buckets: [
            [5, 1],
            [10, 2]
          ],
          count: 4,
          min: 1,
          max: 250
        },
        0.95
      ),
      250
    )
    // empty buckets before the rank are skipped
    assert.strictEqual(
      Stats.quantile(
        {
          buckets: [
            [5, 0],
            [10, 0],
            [20, 2]
          ],
          count: 2,
          min: 10,
          max: 20
        },
        0.5
      ),
      15
    )
  })

  it.effect("fromSnapshot - reads the pipeline's metrics by name and attributes", () =>
    Effect.gen(function* () {
      const recordsIn = Metric.counter("sluice_records_in_total")
      const recordsOut = Metric.counter("sluice_records_out_total")
      const deadLetters = Metric.counter("sluice_dead_letters_total")
      const breaker = Metric.gauge("sluice_breaker_state")
      const lag = Metric.gauge("sluice_consumer_lag")
      const latency = Metric.histogram("sluice_lookup_latency_ms", { boundaries: [1, 2, 4, 8] })
      yield* Metric.update(Metric.withAttributes(recordsIn, { topic: "payment-events" }), 10)
      yield* Metric.update(Metric.withAttributes(recordsOut, { output: "enriched", status: "SUCCESS" }), 6)
      yield* Metric.update(Metric.withAttributes(recordsOut, { output: "failed", status: "CLAIM_NOT_FOUND" }), 2)
      yield* Metric.update(Metric.withAttributes(recordsOut, { output: "large", status: "LARGE" }), 4)
      yield* Metric.update(Metric.withAttributes(deadLetters, { reason: "invalid-json" }), 2)
      yield* Metric.update(Metric.withAttributes(breaker, { policy: "claims-db" }), 2)
      yield* Metric.update(Metric.withAttributes(lag, { topic: "payment-events", partition: "1" }), 5)
      yield* Metric.update(Metric.withAttributes(lag, { topic: "payment-events", partition: "0" }), 3)
      yield* Metric.update(Metric.counter("sluice_lookup_cache_hits_total"), 3)
      yield* Metric.update(Metric.counter("sluice_lookup_cache_misses_total"), 1)
      for (const v of [0.5, 1.5, 3, 3]) yield* Metric.update(latency, v)
      const stats = Stats.fromSnapshot(yield* Metric.snapshot, ClaimsDashboard.outcomes)
      assert.strictEqual(stats.recordsIn, 10)
      assert.strictEqual(stats.recordsOut, 12)
      assert.deepStrictEqual(stats.recordsOutByOutput, { enriched: 6, failed: 2, large: 4 })
      // Large-claims outputs are not enrichments: they count neither for nor against the success rate.
      assert.deepStrictEqual(stats.outcomesByStatus, { SUCCESS: 6, CLAIM_NOT_FOUND: 2 })
      assert.strictEqual(stats.successRate, 0.75)
      assert.deepStrictEqual(stats.deadLettersByReason, { "invalid-json": 2 })
      assert.deepStrictEqual(stats.breakers, { "claims-db": "OPEN" })
      assert.deepStrictEqual(
        stats.consumerLag.map((p) => [p.partition, p.lag]),
        [
          [0, 3],
          [1, 5]
        ]
      )
      assert.strictEqual(stats.cache.hitRatio, 0.75)
      assert.strictEqual(stats.lookupLatencyMs.count, 4)
      assert.strictEqual(stats.lookupLatencyMs.p50, 2)
      assert.isNull(stats.processingLatencyMs.p95)
    })
  )
})
