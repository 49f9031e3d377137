/**
 * Metrics of the durable state store, labelled by `store` (and `partition`
 * where it applies): how long a partition's restore took and how many
 * changelog records it applied, how many changes wait for the changelog's
 * acknowledgement (the changelog lag), how many entries a partition holds,
 * and how reads went (`outcome` is `hit` or `miss`). Counts of the hot path
 * are kept as plain numbers and published at each flush, so a read costs no
 * metric update.
 *
 * @since 0.1.0
 */
import { Metric } from "effect"

/**
 * Milliseconds the last restore of a partition took.
 *
 * @since 0.1.0
 * @category metrics
 */
export const restoreMillis: Metric.Gauge<number> = Metric.gauge("sluice_state_restore_ms", {
  description: "Milliseconds the last restore of a state partition from its changelog took"
})

/**
 * Changelog records applied by restores.
 *
 * @since 0.1.0
 * @category metrics
 */
export const restoredRecords: Metric.Counter<number> = Metric.counter("sluice_state_restored_records_total", {
  description: "Changelog records applied to local state stores by restores"
})

/**
 * Changes made but not yet acknowledged by the changelog.
 *
 * @since 0.1.0
 * @category metrics
 */
export const changelogLag: Metric.Gauge<number> = Metric.gauge("sluice_state_changelog_lag", {
  description: "State changes not yet acknowledged by the changelog topic"
})

/**
 * Entries of a partition's local store, as of its last flush.
 *
 * @since 0.1.0
 * @category metrics
 */
export const entries: Metric.Gauge<number> = Metric.gauge("sluice_state_entries", {
  description: "Entries in a local state store partition"
})

/**
 * Reads, by `outcome`: `hit` (the key was found) or `miss`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const reads: Metric.Counter<number> = Metric.counter("sluice_state_reads_total", {
  description: "State store reads by outcome (hit: the key was found in the local store)"
})
