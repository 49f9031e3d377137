/**
 * The metrics every Sluice pipeline reports, built on Effect's `Metric` so any
 * exporter (Prometheus text, OpenTelemetry) can read them.
 *
 * Pipeline metrics:
 *
 * - `sluice_records_in_total{topic}` (counter): records a source handed to the pipeline.
 * - `sluice_records_out_total{output,status}` (counter): outputs acknowledged by their sink;
 *   `status` is the label the routing function gave the output (`"ok"` when it gave none).
 * - `sluice_dead_letters_total{reason}` (counter): records sent to a dead-letter sink, by reason kind.
 * - `sluice_in_flight` (gauge): records tracked by an `OffsetTracker` whose offset is not yet committable.
 * - `sluice_processing_latency_ms` (histogram): milliseconds from a record's timestamp until all of
 *   its outputs were acknowledged.
 * - `sluice_commits_total` (counter): successful offset commits.
 * - `sluice_committed_offset{topic,partition}` (gauge): the last offset committed per partition.
 *
 * @since 0.1.0
 */
import { type Effect, Metric } from "effect"

/**
 * @since 0.1.0
 * @category metrics
 */
export const recordsIn: Metric.Counter<number> = Metric.counter("sluice_records_in_total", {
  description: "Records a source handed to the pipeline",
  incremental: true
})

/**
 * @since 0.1.0
 * @category metrics
 */
export const recordsOut: Metric.Counter<number> = Metric.counter("sluice_records_out_total", {
  description: "Outputs acknowledged by their sink",
  incremental: true
})

/**
 * @since 0.1.0
 * @category metrics
 */
export const deadLetters: Metric.Counter<number> = Metric.counter("sluice_dead_letters_total", {
  description: "Records sent to a dead-letter sink",
  incremental: true
})

/**
 * @since 0.1.0
 * @category metrics
 */
export const inFlight: Metric.Gauge<number> = Metric.gauge("sluice_in_flight", {
  description: "Tracked records whose offset is not yet committable"
})

/**
 * @since 0.1.0
 * @category metrics
 */
export const processingLatency: Metric.Histogram<number> = Metric.histogram("sluice_processing_latency_ms", {
  description: "Milliseconds from the record timestamp until all of its outputs were acknowledged",
  // 1 ms .. ~65 s
  boundaries: Metric.exponentialBoundaries({ start: 1, factor: 2, count: 17 })
})

/**
 * @since 0.1.0
 * @category metrics
 */
export const commits: Metric.Counter<number> = Metric.counter("sluice_commits_total", {
  description: "Successful offset commits",
  incremental: true
})

/**
 * @since 0.1.0
 * @category metrics
 */
export const committedOffset: Metric.Gauge<bigint> = Metric.gauge("sluice_committed_offset", {
  description: "Last committed offset per partition",
  bigint: true
})

/**
 * Counts `n` records read from `topic`.
 *
 * @since 0.1.0
 * @category updates
 */
export const countIn = (topic: string, n = 1): Effect.Effect<void> =>
  Metric.update(Metric.withAttributes(recordsIn, { topic }), n)

/**
 * Counts one acknowledged output.
 *
 * @since 0.1.0
 * @category updates
 */
export const countOut = (output: string, status: string): Effect.Effect<void> =>
  Metric.update(Metric.withAttributes(recordsOut, { output, status }), 1)

/**
 * Counts one dead letter.
 *
 * @since 0.1.0
 * @category updates
 */
export const countDeadLetter = (reason: string): Effect.Effect<void> =>
  Metric.update(Metric.withAttributes(deadLetters, { reason }), 1)
