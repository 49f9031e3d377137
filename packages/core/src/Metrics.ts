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
 * - `sluice_consumer_lag{topic,partition}` (gauge): records in a partition the consumer group has not
 *   committed yet: the partition's high watermark minus the group's committed offset.
 *
 * Time, window and state metrics (see `Window`, `Keyed`, `StateStore`):
 *
 * - `sluice_watermark_lag_ms{operator,partition}` (gauge): processing time minus the partition's watermark.
 * - `sluice_open_windows{operator}` (gauge): windows (or sessions) with state, not yet closed.
 * - `sluice_late_events_total{operator}` (counter): records that arrived after their window closed.
 * - `sluice_state_entries{store}` (gauge): entries of an operator's state store.
 * - `sluice_timers_pending{operator}` (gauge): timers registered and not yet fired.
 *
 * Policy metrics (see `Policy`):
 *
 * - `sluice_policy_calls_total{policy,outcome}` (counter): guarded calls; `outcome` is `success`,
 *   `timeout`, `unavailable` or `circuit_open`.
 * - `sluice_policy_retries_total{policy}` (counter): attempts beyond the first.
 * - `sluice_policy_latency_ms{policy}` (histogram): guarded call duration, retries included.
 * - `sluice_breaker_state{policy}` (gauge): 0 closed, 1 half-open, 2 open.
 * - `sluice_breaker_transitions_total{policy,from,to}` (counter): circuit breaker state changes.
 *
 * @since 0.1.0
 */
import { type Effect, Metric } from "effect"

const recordsInOptions = { description: "Records a source handed to the pipeline", incremental: true }
const recordsOutOptions = { description: "Outputs acknowledged by their sink", incremental: true }
const deadLettersOptions = { description: "Records sent to a dead-letter sink", incremental: true }

/**
 * `sluice_records_in_total{topic}`: records a source handed to the pipeline.
 *
 * @since 0.1.0
 * @category metrics
 */
export const recordsIn: Metric.Counter<number> = Metric.counter("sluice_records_in_total", recordsInOptions)

/**
 * `sluice_records_out_total{output,status}`: outputs acknowledged by their sink.
 *
 * @since 0.1.0
 * @category metrics
 */
export const recordsOut: Metric.Counter<number> = Metric.counter("sluice_records_out_total", recordsOutOptions)

/**
 * `sluice_dead_letters_total{reason}`: records sent to a dead-letter sink.
 *
 * @since 0.1.0
 * @category metrics
 */
export const deadLetters: Metric.Counter<number> = Metric.counter("sluice_dead_letters_total", deadLettersOptions)

/**
 * `sluice_in_flight`: tracked records whose offset is not yet committable.
 *
 * @since 0.1.0
 * @category metrics
 */
export const inFlight: Metric.Gauge<number> = Metric.gauge("sluice_in_flight", {
  description: "Tracked records whose offset is not yet committable"
})

/**
 * `sluice_processing_latency_ms`: record timestamp to last output acknowledged, in ms.
 *
 * @since 0.1.0
 * @category metrics
 */
export const processingLatency: Metric.Histogram<number> = Metric.histogram("sluice_processing_latency_ms", {
  description: "Milliseconds from the record timestamp until all of its outputs were acknowledged",
  // 1 ms .. ~65 s
  boundaries: Metric.exponentialBoundaries({ start: 1, factor: 2, count: 17 })
})

/**
 * `sluice_commits_total`: successful offset commits.
 *
 * @since 0.1.0
 * @category metrics
 */
export const commits: Metric.Counter<number> = Metric.counter("sluice_commits_total", {
  description: "Successful offset commits",
  incremental: true
})

/**
 * `sluice_committed_offset{topic,partition}`: the last committed offset.
 *
 * @since 0.1.0
 * @category metrics
 */
export const committedOffset: Metric.Gauge<bigint> = Metric.gauge("sluice_committed_offset", {
  description: "Last committed offset per partition",
  bigint: true
})

const consumerLagOptions = {
  description: "Records in the partition not yet committed by the group: high watermark minus committed offset"
}

/**
 * `sluice_consumer_lag{topic,partition}`: the usual consumer-group lag, the
 * partition's high watermark (the offset the next produced record gets) minus
 * the offset the group committed, i.e. how many records are not yet
 * processed for good. A source sets it per partition it owns.
 *
 * @since 0.1.0
 * @category metrics
 */
export const consumerLag: Metric.Gauge<number> = Metric.gauge("sluice_consumer_lag", consumerLagOptions)

// Metric.withAttributes builds the series key on every update; a metric made
// with its attributes caches it. Labels have few distinct values, so one
// metric per label set is kept (up to a cap, past which updates still count).
const perLabels = <M extends Metric.Metric<number, unknown>>(
  make: (attributes: Record<string, string>) => M,
  base: M
) => {
  const cache = new Map<string, M>()
  return (attributes: Record<string, string>): M => {
    const key = Object.values(attributes).join("\u0000")
    let metric = cache.get(key)
    if (metric === undefined) {
      if (cache.size >= 1000) return Metric.withAttributes(base, attributes) as unknown as M
      metric = make(attributes)
      cache.set(key, metric)
    }
    return metric
  }
}

const recordsInFor = perLabels(
  (attributes) => Metric.counter("sluice_records_in_total", { ...recordsInOptions, attributes }),
  recordsIn
)
const recordsOutFor = perLabels(
  (attributes) => Metric.counter("sluice_records_out_total", { ...recordsOutOptions, attributes }),
  recordsOut
)
const deadLettersFor = perLabels(
  (attributes) => Metric.counter("sluice_dead_letters_total", { ...deadLettersOptions, attributes }),
  deadLetters
)

const consumerLagFor = perLabels(
  (attributes) => Metric.gauge("sluice_consumer_lag", { ...consumerLagOptions, attributes }),
  consumerLag
)

/**
 * Sets `sluice_consumer_lag` of one partition.
 *
 * @since 0.1.0
 * @category updates
 */
export const setConsumerLag = (topic: string, partition: number, lag: number): Effect.Effect<void> =>
  Metric.update(consumerLagFor({ topic, partition: String(partition) }), lag)

/**
 * Counts `n` records read from `topic`.
 *
 * @since 0.1.0
 * @category updates
 */
export const countIn = (topic: string, n = 1): Effect.Effect<void> => Metric.update(recordsInFor({ topic }), n)

/**
 * The `sluice_records_out_total` series of one output and status, for code
 * that counts outputs as plain code (`updateUnsafe`) where running
 * `countOut` per output would cost an effect each.
 *
 * @since 0.1.0
 * @category metrics
 */
export const recordsOutOf = (output: string, status: string): Metric.Counter<number> =>
  recordsOutFor({ output, status })

/**
 * Counts one acknowledged output.
 *
 * @since 0.1.0
 * @category updates
 */
export const countOut = (output: string, status: string): Effect.Effect<void> =>
  Metric.update(recordsOutFor({ output, status }), 1)

/**
 * Counts one dead letter.
 *
 * @since 0.1.0
 * @category updates
 */
export const countDeadLetter = (reason: string): Effect.Effect<void> => Metric.update(deadLettersFor({ reason }), 1)

// Policy and circuit breaker

/**
 * `sluice_policy_calls_total{policy,outcome}`: guarded calls by outcome
 * (`success`, `timeout`, `unavailable`, `circuit_open`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const policyCalls: Metric.Counter<number> = Metric.counter("sluice_policy_calls_total", {
  description: "Calls guarded by a policy, by outcome",
  incremental: true
})

/**
 * `sluice_policy_retries_total{policy}`: attempts beyond the first.
 *
 * @since 0.1.0
 * @category metrics
 */
export const policyRetries: Metric.Counter<number> = Metric.counter("sluice_policy_retries_total", {
  description: "Retried attempts of guarded calls",
  incremental: true
})

/**
 * `sluice_policy_latency_ms{policy}`: duration of guarded calls, retries included.
 *
 * @since 0.1.0
 * @category metrics
 */
export const policyLatency: Metric.Histogram<number> = Metric.histogram("sluice_policy_latency_ms", {
  description: "Milliseconds a guarded call took, retries included",
  boundaries: Metric.exponentialBoundaries({ start: 0.5, factor: 2, count: 17 })
})

/**
 * `sluice_breaker_state{policy}`: 0 closed, 1 half-open, 2 open.
 *
 * @since 0.1.0
 * @category metrics
 */
export const breakerState: Metric.Gauge<number> = Metric.gauge("sluice_breaker_state", {
  description: "Circuit breaker state: 0 closed, 1 half-open, 2 open"
})

/**
 * `sluice_breaker_transitions_total{policy,from,to}`: circuit breaker state changes.
 *
 * @since 0.1.0
 * @category metrics
 */
export const breakerTransitions: Metric.Counter<number> = Metric.counter("sluice_breaker_transitions_total", {
  description: "Circuit breaker state changes",
  incremental: true
})

// Time, windows and state

const watermarkLagOptions = { description: "Processing time minus the partition's watermark, in ms" }
const openWindowsOptions = { description: "Windows or sessions with state that are not yet closed" }
const lateEventsOptions = { description: "Records that arrived after their window closed", incremental: true }
const stateEntriesOptions = { description: "Entries of an operator's state store" }
const timersPendingOptions = { description: "Timers registered and not yet fired" }

/**
 * `sluice_watermark_lag_ms{operator,partition}`: processing time minus the partition's watermark.
 *
 * @since 0.2.0
 * @category metrics
 */
export const watermarkLag: Metric.Gauge<number> = Metric.gauge("sluice_watermark_lag_ms", watermarkLagOptions)

/**
 * `sluice_open_windows{operator}`: windows or sessions with state, not yet closed.
 *
 * @since 0.2.0
 * @category metrics
 */
export const openWindows: Metric.Gauge<number> = Metric.gauge("sluice_open_windows", openWindowsOptions)

/**
 * `sluice_late_events_total{operator}`: records that arrived after their window closed.
 *
 * @since 0.2.0
 * @category metrics
 */
export const lateEvents: Metric.Counter<number> = Metric.counter("sluice_late_events_total", lateEventsOptions)

/**
 * `sluice_state_entries{store}`: entries of an operator's state store.
 *
 * @since 0.2.0
 * @category metrics
 */
export const stateEntries: Metric.Gauge<number> = Metric.gauge("sluice_state_entries", stateEntriesOptions)

/**
 * `sluice_timers_pending{operator}`: timers registered and not yet fired.
 *
 * @since 0.2.0
 * @category metrics
 */
export const timersPending: Metric.Gauge<number> = Metric.gauge("sluice_timers_pending", timersPendingOptions)

const watermarkLagFor = perLabels(
  (attributes) => Metric.gauge("sluice_watermark_lag_ms", { ...watermarkLagOptions, attributes }),
  watermarkLag
)
const openWindowsFor = perLabels(
  (attributes) => Metric.gauge("sluice_open_windows", { ...openWindowsOptions, attributes }),
  openWindows
)
const lateEventsFor = perLabels(
  (attributes) => Metric.counter("sluice_late_events_total", { ...lateEventsOptions, attributes }),
  lateEvents
)
const stateEntriesFor = perLabels(
  (attributes) => Metric.gauge("sluice_state_entries", { ...stateEntriesOptions, attributes }),
  stateEntries
)
const timersPendingFor = perLabels(
  (attributes) => Metric.gauge("sluice_timers_pending", { ...timersPendingOptions, attributes }),
  timersPending
)

/**
 * Sets `sluice_watermark_lag_ms` of one operator's partition.
 *
 * @since 0.2.0
 * @category updates
 */
export const setWatermarkLag = (operator: string, partition: number, lagMillis: number): Effect.Effect<void> =>
  Metric.update(watermarkLagFor({ operator, partition: String(partition) }), lagMillis)

/**
 * Sets `sluice_open_windows` of one operator.
 *
 * @since 0.2.0
 * @category updates
 */
export const setOpenWindows = (operator: string, n: number): Effect.Effect<void> =>
  Metric.update(openWindowsFor({ operator }), n)

/**
 * Counts `n` late records of one operator.
 *
 * @since 0.2.0
 * @category updates
 */
export const countLate = (operator: string, n = 1): Effect.Effect<void> => Metric.update(lateEventsFor({ operator }), n)

/**
 * Sets `sluice_state_entries` of one store.
 *
 * @since 0.2.0
 * @category updates
 */
export const setStateEntries = (store: string, n: number): Effect.Effect<void> =>
  Metric.update(stateEntriesFor({ store }), n)

/**
 * Sets `sluice_timers_pending` of one operator.
 *
 * @since 0.2.0
 * @category updates
 */
export const setTimersPending = (operator: string, n: number): Effect.Effect<void> =>
  Metric.update(timersPendingFor({ operator }), n)
