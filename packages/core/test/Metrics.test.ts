import { assert, describe, it } from "@effect/vitest"
import { Effect, Metric } from "effect"
import { PrometheusMetrics } from "effect/observability"
import * as Metrics from "../src/Metrics.ts"

describe("Metrics", () => {
  it.effect("countOut - counts into the series of its labels", () =>
    Effect.gen(function* () {
      yield* Metrics.countOut("enriched", "ok")
      yield* Metrics.countOut("enriched", "ok")
      yield* Metrics.countOut("failed", "DB_TIMEOUT")
      const value = (output: string, status: string) =>
        Effect.map(Metric.value(Metric.withAttributes(Metrics.recordsOut, { output, status })), (s) => s.count)
      assert.strictEqual(yield* value("enriched", "ok"), 2)
      assert.strictEqual(yield* value("failed", "DB_TIMEOUT"), 1)
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map()))
  )

  it.effect("countIn and countDeadLetter - appear under their documented names", () =>
    Effect.gen(function* () {
      yield* Metrics.countIn("payments", 3)
      yield* Metrics.countDeadLetter("decode")
      const text = yield* PrometheusMetrics.format()
      assert.match(text, /sluice_records_in_total\{topic="payments"\} 3/)
      assert.match(text, /sluice_dead_letters_total\{reason="decode"\} 1/)
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map()))
  )

  it.effect("setConsumerLag - sets the gauge of its partition under the documented name", () =>
    Effect.gen(function* () {
      yield* Metrics.setConsumerLag("payments", 0, 12)
      yield* Metrics.setConsumerLag("payments", 1, 7)
      yield* Metrics.setConsumerLag("payments", 0, 3)
      const text = yield* PrometheusMetrics.format()
      assert.match(text, /sluice_consumer_lag\{topic="payments",partition="0"\} 3\b/)
      assert.match(text, /sluice_consumer_lag\{topic="payments",partition="1"\} 7\b/)
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map()))
  )
})
