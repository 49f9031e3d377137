/**
 * The dashboard's numbers, computed on the server from the process's metric
 * registry so the page needs no Prometheus parser. Rates are left to the page
 * (it sees successive totals); percentiles are estimated here from histogram
 * buckets the way Prometheus' `histogram_quantile` does it: linear
 * interpolation inside the bucket that holds the rank, clamped to the
 * observed minimum and maximum.
 *
 * The metric names are those the pipeline packages publish:
 * `sluice_records_in_total{topic}`, `sluice_records_out_total{output,status}`,
 * `sluice_dead_letters_total{reason}`, `sluice_in_flight`,
 * `sluice_processing_latency_ms`, `sluice_policy_calls_total{policy,outcome}`,
 * `sluice_breaker_state{policy}` (0 closed, 1 half-open, 2 open),
 * `sluice_lookup_cache_hits_total`, `sluice_lookup_cache_misses_total`,
 * `sluice_lookup_latency_ms` and `sluice_consumer_lag{topic,partition}`.
 *
 * Which outputs are a job's outcomes, and which of their statuses count as
 * success, is what a job declares (`Outcomes`): the success rate is read from
 * those, and outputs of other jobs in the same process are left out of it.
 *
 * @since 0.1.0
 */
import type { Metric } from "effect"

/**
 * A histogram's state: cumulative `[upper bound, count]` buckets plus totals.
 *
 * @since 0.1.0
 * @category models
 */
export interface Histogram {
  readonly buckets: ReadonlyArray<readonly [number, number]>
  readonly count: number
  readonly min: number
  readonly max: number
}

/**
 * Estimates the `q` quantile (0..1) of a histogram; `null` when it is empty.
 *
 * @since 0.1.0
 * @category percentiles
 */
export const quantile = (histogram: Histogram, q: number): number | null => {
  const { buckets, count, min, max } = histogram
  if (count <= 0) return null
  const rank = Math.min(Math.max(q, 0), 1) * count
  let lowerBound = 0
  let lowerCount = 0
  for (const [upperBound, cumulative] of buckets) {
    if (cumulative >= rank && cumulative > lowerCount) {
      const estimate = lowerBound + ((upperBound - lowerBound) * (rank - lowerCount)) / (cumulative - lowerCount)
      return Math.min(Math.max(estimate, min), max)
    }
    lowerBound = upperBound
    lowerCount = cumulative
  }
  // The rank lies above the last finite bound: the largest observation is the best estimate.
  return max
}

/**
 * Percentiles of one latency histogram.
 *
 * @since 0.1.0
 * @category models
 */
export interface Latency {
  readonly count: number
  readonly p50: number | null
  readonly p95: number | null
  readonly p99: number | null
}

/**
 * Breaker states as the dashboard shows them.
 *
 * @since 0.1.0
 * @category models
 */
export type BreakerState = "CLOSED" | "HALF_OPEN" | "OPEN"

/**
 * The outputs whose statuses are a job's outcomes, and the statuses among
 * them that are a success (the claims job: outputs `enriched` and `failed`,
 * success `SUCCESS`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Outcomes {
  readonly outputs: ReadonlyArray<string>
  readonly success: ReadonlyArray<string>
}

/**
 * No outcomes declared: no success rate.
 *
 * @since 0.1.0
 * @category constructors
 */
export const noOutcomes: Outcomes = { outputs: [], success: [] }

/**
 * The JSON served at `/api/stats`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Stats {
  readonly recordsIn: number
  readonly recordsInByTopic: Record<string, number>
  readonly recordsOut: number
  readonly recordsOutByStatus: Record<string, number>
  readonly recordsOutByOutput: Record<string, number>
  /** The declared outcome outputs, by status. */
  readonly outcomesByStatus: Record<string, number>
  readonly deadLetters: number
  readonly deadLettersByReason: Record<string, number>
  /** Success statuses among the outcomes, 0..1; `null` before the first one. */
  readonly successRate: number | null
  readonly inFlight: number
  readonly processingLatencyMs: Latency
  readonly lookupLatencyMs: Latency
  readonly cache: { readonly hits: number; readonly misses: number; readonly hitRatio: number | null }
  readonly breakers: Record<string, BreakerState>
  readonly policyCalls: Record<string, Record<string, number>>
  readonly consumerLag: ReadonlyArray<{ readonly topic: string; readonly partition: number; readonly lag: number }>
}

const emptyHistogram: Histogram = { buckets: [], count: 0, min: 0, max: 0 }

const latency = (h: Histogram): Latency => ({
  count: h.count,
  p50: quantile(h, 0.5),
  p95: quantile(h, 0.95),
  p99: quantile(h, 0.99)
})

const numeric = (value: number | bigint): number => (typeof value === "bigint" ? Number(value) : value)

const breakerState = (value: number): BreakerState => (value >= 2 ? "OPEN" : value >= 1 ? "HALF_OPEN" : "CLOSED")

const add = (into: Record<string, number>, key: string | undefined, n: number) => {
  const k = key ?? "unknown"
  into[k] = (into[k] ?? 0) + n
}

/**
 * Computes the stats from a metric snapshot (`Metric.snapshot`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromSnapshot = (
  snapshot: ReadonlyArray<Metric.Metric.Snapshot>,
  outcomes: Outcomes = noOutcomes
): Stats => {
  const outcomeOutputs: ReadonlySet<string> = new Set(outcomes.outputs)
  const recordsInByTopic: Record<string, number> = {}
  const recordsOutByStatus: Record<string, number> = {}
  const recordsOutByOutput: Record<string, number> = {}
  const outcomesByStatus: Record<string, number> = {}
  const deadLettersByReason: Record<string, number> = {}
  const breakers: Record<string, BreakerState> = {}
  const policyCalls: Record<string, Record<string, number>> = {}
  const consumerLag: Array<{ topic: string; partition: number; lag: number }> = []
  let inFlight = 0
  let hits = 0
  let misses = 0
  let processing = emptyHistogram
  let lookup = emptyHistogram
  for (const m of snapshot) {
    const a: Record<string, string | undefined> = m.attributes ?? {}
    switch (m.type) {
      case "Counter": {
        const n = numeric(m.state.count)
        if (m.id === "sluice_records_in_total") add(recordsInByTopic, a.topic, n)
        else if (m.id === "sluice_records_out_total") {
          add(recordsOutByStatus, a.status, n)
          add(recordsOutByOutput, a.output, n)
          if (a.output !== undefined && outcomeOutputs.has(a.output)) add(outcomesByStatus, a.status, n)
        } else if (m.id === "sluice_dead_letters_total") add(deadLettersByReason, a.reason, n)
        else if (m.id === "sluice_lookup_cache_hits_total") hits += n
        else if (m.id === "sluice_lookup_cache_misses_total") misses += n
        else if (m.id === "sluice_policy_calls_total") {
          const policy = a.policy ?? "unknown"
          const outcomes = policyCalls[policy] ?? {}
          policyCalls[policy] = outcomes
          add(outcomes, a.outcome, n)
        }
        break
      }
      case "Gauge": {
        const v = numeric(m.state.value)
        if (m.id === "sluice_in_flight") inFlight += v
        else if (m.id === "sluice_breaker_state") breakers[a.policy ?? "unknown"] = breakerState(v)
        else if (m.id === "sluice_consumer_lag")
          consumerLag.push({ topic: a.topic ?? "unknown", partition: Number(a.partition ?? -1), lag: v })
        break
      }
      case "Histogram": {
        if (m.id === "sluice_processing_latency_ms") processing = m.state
        else if (m.id === "sluice_lookup_latency_ms") lookup = m.state
        break
      }
      default:
        break
    }
  }
  const sum = (r: Record<string, number>) => Object.values(r).reduce((x, y) => x + y, 0)
  const recordsOut = sum(recordsOutByStatus)
  const outcomeCount = sum(outcomesByStatus)
  let successes = 0
  for (const status of outcomes.success) successes += outcomesByStatus[status] ?? 0
  consumerLag.sort((x, y) => x.topic.localeCompare(y.topic) || x.partition - y.partition)
  return {
    recordsIn: sum(recordsInByTopic),
    recordsInByTopic,
    recordsOut,
    recordsOutByStatus,
    recordsOutByOutput,
    outcomesByStatus,
    deadLetters: sum(deadLettersByReason),
    deadLettersByReason,
    successRate: outcomeCount === 0 ? null : successes / outcomeCount,
    inFlight,
    processingLatencyMs: latency(processing),
    lookupLatencyMs: latency(lookup),
    cache: { hits, misses, hitRatio: hits + misses === 0 ? null : hits / (hits + misses) },
    breakers,
    policyCalls,
    consumerLag
  }
}
