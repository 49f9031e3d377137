/**
 * The metrics every lookup records, tagged with `lookup` (the lookup's name):
 * cache hits, misses, evictions (with `cause`: capacity or expired) and size,
 * requests by `outcome` (found, not_found, error), batch sizes and latency.
 * Exported so dashboards and tests can read them with `Metric.value`.
 *
 * @since 0.1.0
 */
import { Metric } from "effect"

/**
 * Lookups answered from the cache (counter `sluice_lookup_cache_hits_total`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const cacheHits = Metric.counter("sluice_lookup_cache_hits_total", {
  description: "Lookups answered from the cache",
  incremental: true
})

/**
 * Lookups the cache could not answer (counter `sluice_lookup_cache_misses_total`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const cacheMisses = Metric.counter("sluice_lookup_cache_misses_total", {
  description: "Lookups the cache could not answer",
  incremental: true
})

/**
 * Cache entries dropped because the cache was full or the entry had expired (counter `sluice_lookup_cache_evictions_total`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const cacheEvictions = Metric.counter("sluice_lookup_cache_evictions_total", {
  description: "Cache entries dropped because the cache was full or the entry had expired",
  incremental: true
})

/**
 * Entries currently held by the cache (gauge `sluice_lookup_cache_size`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const cacheSize = Metric.gauge("sluice_lookup_cache_size", {
  description: "Entries currently held by the cache"
})

/**
 * Lookups by outcome: found, not_found or error (counter `sluice_lookup_requests_total`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const requests = Metric.counter("sluice_lookup_requests_total", {
  description: "Lookups by outcome: found, not_found or error",
  incremental: true
})

/**
 * Distinct keys per query sent to the store (histogram `sluice_lookup_batch_size`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const batchSize = Metric.histogram("sluice_lookup_batch_size", {
  description: "Distinct keys per query sent to the store",
  boundaries: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]
})

/**
 * Time one batch query took, from sending it to having every answer, in milliseconds (histogram `sluice_lookup_latency_ms`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const latencyMs = Metric.histogram("sluice_lookup_latency_ms", {
  description: "Time one batch query took, from sending it to having every answer, in milliseconds",
  boundaries: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000]
})
