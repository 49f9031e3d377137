/**
 * The metrics the rule engine records, on Effect's `Metric`, so any exporter
 * reads them:
 *
 * - `sluice_rules_matched_total{rules,rule}`: records whose `when` was true.
 * - `sluice_rules_routed_total{rules,rule,topic}`: outputs the router produced.
 * - `sluice_rules_errors_total{rules,rule}`: evaluations that failed; the record
 *   was rejected.
 * - `sluice_rules_unmatched_total{rules,outcome}`: records no rule matched,
 *   `outcome` `default` (sent to the default topic) or `dropped`.
 * - `sluice_rules_evaluation_micros{rules}` (histogram): time to route one
 *   record, all its rules included, in microseconds.
 * - `sluice_rules_reloads_total{source,outcome}`: file changes seen, `outcome`
 *   `applied` or `invalid` (the old rules or filter stayed in force).
 * - `sluice_filter_results_total{source,outcome}`: filter evaluations,
 *   `outcome` `pass`, `reject` or `error` (rejected fail-safe).
 *
 * `rules` is the rule file's name, so two routers in one process stay apart.
 *
 * @since 0.1.0
 */
import { Metric } from "effect"

/**
 * `sluice_rules_matched_total{rules,rule}`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const matched = Metric.counter("sluice_rules_matched_total", {
  description: "Records whose rule expression was true",
  incremental: true
})

/**
 * `sluice_rules_routed_total{rules,rule,topic}`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const routed = Metric.counter("sluice_rules_routed_total", {
  description: "Outputs produced by a rule",
  incremental: true
})

/**
 * `sluice_rules_errors_total{rules,rule}`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const errors = Metric.counter("sluice_rules_errors_total", {
  description: "Rule evaluations that failed (the record was rejected)",
  incremental: true
})

/**
 * `sluice_rules_unmatched_total{rules,outcome}`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const unmatched = Metric.counter("sluice_rules_unmatched_total", {
  description: "Records no rule matched, by outcome: default or dropped",
  incremental: true
})

const evaluationMicrosOptions = {
  description: "Time to route one record through every rule it reached, in microseconds",
  boundaries: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000, 20000]
}

/**
 * `sluice_rules_evaluation_micros{rules}`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const evaluationMicros = Metric.histogram("sluice_rules_evaluation_micros", evaluationMicrosOptions)

const evaluationMicrosBySource = new Map<string, typeof evaluationMicros>()

/**
 * `evaluationMicros` of one rule file: the same series as
 * `Metric.withAttributes(evaluationMicros, { rules: source })`, for an
 * update per record. The attributes are the metric's own, so an update finds
 * its series by a cached key; through `withAttributes` every update adds the
 * attributes to a copy of the fiber's context and serializes the series key
 * again, which cost about 1.3 µs a record in `sluice cdc route` (a CPU
 * profile of `cdc-route.bench.ts` at 400 B).
 *
 * @since 0.1.0
 * @category metrics
 */
export const evaluationMicrosOf = (source: string): typeof evaluationMicros => {
  let metric = evaluationMicrosBySource.get(source)
  if (metric === undefined) {
    metric = Metric.histogram("sluice_rules_evaluation_micros", {
      ...evaluationMicrosOptions,
      attributes: { rules: source }
    })
    evaluationMicrosBySource.set(source, metric)
  }
  return metric
}

/**
 * `sluice_rules_reloads_total{source,outcome}`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const reloads = Metric.counter("sluice_rules_reloads_total", {
  description: "Changes of a rule or filter file, by outcome: applied or invalid",
  incremental: true
})

/**
 * `sluice_filter_results_total{source,outcome}`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const filterResults = Metric.counter("sluice_filter_results_total", {
  description: "Filter evaluations, by outcome: pass, reject or error",
  incremental: true
})
