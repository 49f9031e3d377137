/**
 * The trigger's own counters, next to the core's records in/out and dead
 * letters: how the state answered, how the Profile API answered, what the
 * filter decided and what became of each action.
 *
 * @since 0.1.0
 */
import { Metric } from "effect"

/**
 * Events enriched, by `outcome`: `hit` (a live checkpoint), `miss` (first
 * event or expired: the API was asked), `retry` (an empty checkpoint asked
 * again).
 *
 * @since 0.1.0
 * @category metrics
 */
export const stateLookups = Metric.counter("sluice_trigger_state_total", {
  description: "Events enriched by the trigger's state manager, by outcome (hit, miss, retry)",
  incremental: true
})

/**
 * Profile API answers by `outcome`: `ok`, `not_found` or `failed`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const profileCalls = Metric.counter("sluice_trigger_profile_calls_total", {
  description: "Profile API answers used by the trigger, by outcome (ok, not_found, failed)",
  incremental: true
})

/**
 * Filter decisions by `outcome`: `pass`, `reject` or `error`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const filterDecisions = Metric.counter("sluice_trigger_filter_total", {
  description: "Filter decisions of the trigger, by outcome (pass, reject, error)",
  incremental: true
})

/**
 * Actions by `action` and `outcome`: `delivered` or `failed`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const actions = Metric.counter("sluice_trigger_actions_total", {
  description: "Trigger actions by action and outcome (delivered, failed)",
  incremental: true
})

// Each (counter, attributes) built once: a counter with attributes caches its series key, so updating
// the same instance skips re-encoding the attributes on every event.
const attributed = new WeakMap<Metric.Counter<number>, Map<string, Metric.Counter<number>>>()

const withAttributes = (counter: Metric.Counter<number>, attributes: Readonly<Record<string, string>>) => {
  let byKey = attributed.get(counter)
  if (byKey === undefined) {
    byKey = new Map()
    attributed.set(counter, byKey)
  }
  const key = JSON.stringify(attributes)
  let series = byKey.get(key)
  if (series === undefined) {
    series = Metric.withAttributes(counter, attributes)
    byKey.set(key, series)
  }
  return series
}

/**
 * Adds `n` to `counter` under the given attributes.
 *
 * @since 0.1.0
 * @category metrics
 */
export const count = (counter: Metric.Counter<number>, attributes: Readonly<Record<string, string>>, n = 1) =>
  Metric.update(withAttributes(counter, attributes), n)
