/**
 * What the claims jobs show on the dashboard: their outcomes are the
 * enrichment's two outputs, `enriched` and `failed`, by enrichment status,
 * and SUCCESS is the success rate (large-claims outputs are not
 * enrichments and count neither way); their panels are the claims lookup's
 * latency, its cache and its breaker.
 *
 * @since 0.1.0
 */
import { Effect, Metric } from "effect"
import * as Dashboard from "../../http/Dashboard.ts"
import * as Stats from "../../http/Stats.ts"

/**
 * The enrichment's outputs and its success status.
 *
 * @since 0.1.0
 * @category constants
 */
export const outcomes: Stats.Outcomes = { outputs: ["enriched", "failed"], success: ["SUCCESS"] }

/**
 * The dashboard of the claims jobs.
 *
 * @since 0.1.0
 * @category constants
 */
export const dashboard: Dashboard.Spec = {
  outcomes,
  panels: [Dashboard.lookupLatency, Dashboard.cacheHitRatio, Dashboard.breakers]
}

/**
 * The process's stats as the claims dashboard reads them.
 *
 * @since 0.1.0
 * @category getters
 */
export const stats: Effect.Effect<Stats.Stats> = Effect.map(Metric.snapshot, (snapshot) =>
  Stats.fromSnapshot(snapshot, outcomes)
)
