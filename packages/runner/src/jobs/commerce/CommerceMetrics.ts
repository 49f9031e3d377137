/**
 * The commerce jobs' own counter, next to the core's records in/out and dead
 * letters: alerts raised by the anomaly job, by rule and severity. The core's
 * `sluice_records_out_total` already says what each job wrote (per output)
 * and, for the segment-changes output, the segment a customer moved to.
 *
 * @since 0.3.0
 */
import { type Effect, Metric } from "effect"

/**
 * Alerts raised by `sluice commerce anomalies`, by `rule` and `severity`.
 * A record replayed after a restart is judged again, so this counts what
 * this process raised, not distinct alerts.
 *
 * @since 0.3.0
 * @category metrics
 */
export const alerts = Metric.counter("sluice_commerce_alerts_total", {
  description: "Anomaly alerts raised by the commerce anomalies job, by rule and severity",
  incremental: true
})

/**
 * Counts one alert.
 *
 * @since 0.3.0
 * @category metrics
 */
export const countAlert = (rule: string, severity: string): Effect.Effect<void> =>
  Metric.update(Metric.withAttributes(alerts, { rule, severity }), 1)
