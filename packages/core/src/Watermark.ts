/**
 * Event time and watermarks. A timestamp extractor reads a record's event
 * time (the Kafka record timestamp by default, or any field). Each input
 * partition has a watermark: the highest event time seen there minus the
 * allowed out-of-orderness. An operator's watermark is the minimum over its
 * assigned partitions, and it never goes back.
 *
 * Quiet streams must still close their windows, so:
 *
 * - a partition that has had no record for `idleTimeout` (processing time,
 *   from `Clock`) stops holding the watermark back until it has records again;
 * - with `advanceWhenIdle`, when every partition is idle the watermark moves
 *   on with the clock: to the highest partition watermark plus the time since
 *   the last record arrived.
 *
 * A newly assigned partition holds the watermark where it is (it cannot
 * lower it) until it has records or goes idle; a revoked one no longer counts.
 *
 * @since 0.2.0
 */
import { Duration } from "effect"
import type * as Envelope from "./Envelope.ts"

/**
 * Reads the event time, in epoch ms, of a record.
 *
 * @since 0.2.0
 * @category models
 */
export type TimestampExtractor<A> = (value: A, envelope: Envelope.Envelope<A>) => number

/**
 * The record timestamp set by the producer or the broker.
 *
 * @since 0.2.0
 * @category extractors
 */
export const recordTimestamp: TimestampExtractor<unknown> = (_, envelope) => envelope.origin.timestamp

/**
 * The event time from a field of the value, in epoch ms.
 *
 * @since 0.2.0
 * @category extractors
 */
export const field =
  <A>(f: (value: A) => number): TimestampExtractor<A> =>
  (value) =>
    f(value)

/**
 * How an operator's watermark advances.
 *
 * @since 0.2.0
 * @category models
 */
export interface Options {
  /** How far behind the highest event time of a partition records may still arrive; 0 by default. */
  readonly outOfOrderness?: Duration.Input | undefined
  /** A partition without records for this long stops holding the watermark back; never by default. */
  readonly idleTimeout?: Duration.Input | undefined
  /** When every partition is idle, advance the watermark with the clock. `false` by default. */
  readonly advanceWhenIdle?: boolean | undefined
}

interface PartitionState {
  /** Highest event time seen, -Infinity before the first record. */
  maxEventTime: number
  /** Processing time of the last record, or of the assignment. */
  lastActivity: number
}

/**
 * The per-partition watermarks of one operator. Plain mutable state driven
 * by explicit times, so an operator owns one and feeds it `Clock` readings.
 *
 * @since 0.2.0
 * @category models
 */
export class Tracker {
  private readonly partitions = new Map<number, PartitionState>()
  private readonly outOfOrderness: number
  private readonly idleTimeout: number
  private readonly advanceWhenIdle: boolean
  private watermark = Number.NEGATIVE_INFINITY
  private lastRecord = Number.NEGATIVE_INFINITY

  constructor(options?: Options) {
    this.outOfOrderness = Duration.toMillis(Duration.fromInputUnsafe(options?.outOfOrderness ?? 0))
    this.idleTimeout =
      options?.idleTimeout === undefined
        ? Number.POSITIVE_INFINITY
        : Duration.toMillis(Duration.fromInputUnsafe(options.idleTimeout))
    this.advanceWhenIdle = options?.advanceWhenIdle === true
  }

  /** The operator's watermark: -Infinity until every partition has one. */
  get current(): number {
    return this.watermark
  }

  /** The partitions counted. */
  get assigned(): ReadonlyArray<number> {
    return [...this.partitions.keys()]
  }

  /** Whether `partition` is assigned. */
  has(partition: number): boolean {
    return this.partitions.has(partition)
  }

  /** Starts counting partitions, optionally with a restored highest event time. */
  assign(partitions: Iterable<number>, now: number, maxEventTime = Number.NEGATIVE_INFINITY): void {
    for (const p of partitions) {
      if (!this.partitions.has(p)) this.partitions.set(p, { maxEventTime, lastActivity: now })
    }
    // A restored partition counts as having had a record now, for the clock-driven advance.
    if (maxEventTime > Number.NEGATIVE_INFINITY && now > this.lastRecord) this.lastRecord = now
  }

  /** Stops counting partitions. */
  revoke(partitions: Iterable<number>): void {
    for (const p of partitions) this.partitions.delete(p)
  }

  /** Raises the watermark to at least `watermark` (e.g. one restored from state). */
  restore(watermark: number): void {
    if (watermark > this.watermark) this.watermark = watermark
  }

  /** Records an event time seen on `partition` (assigning it if needed) at processing time `now`. */
  observe(partition: number, eventTime: number, now: number): void {
    let state = this.partitions.get(partition)
    if (state === undefined) {
      state = { maxEventTime: eventTime, lastActivity: now }
      this.partitions.set(partition, state)
    } else {
      if (eventTime > state.maxEventTime) state.maxEventTime = eventTime
      state.lastActivity = now
    }
    this.lastRecord = now
  }

  /** The highest event time seen on `partition`. */
  maxEventTime(partition: number): number {
    return this.partitions.get(partition)?.maxEventTime ?? Number.NEGATIVE_INFINITY
  }

  /** The watermark of one partition. */
  partitionWatermark(partition: number): number {
    return this.maxEventTime(partition) - this.outOfOrderness
  }

  /** Recomputes the operator's watermark at processing time `now` and returns it. */
  advance(now: number): number {
    let low = Number.POSITIVE_INFINITY
    let high = Number.NEGATIVE_INFINITY
    let active = 0
    for (const state of this.partitions.values()) {
      const w = state.maxEventTime - this.outOfOrderness
      if (w > high) high = w
      if (now - state.lastActivity >= this.idleTimeout) continue
      active++
      if (w < low) low = w
    }
    let next = this.watermark
    if (active > 0) next = low
    else if (this.advanceWhenIdle && high > Number.NEGATIVE_INFINITY) {
      next = high + (now - this.lastRecord)
    }
    if (next > this.watermark) this.watermark = next
    return this.watermark
  }

  /** Processing time minus each partition's watermark, for the lag metric. */
  lags(now: number): ReadonlyArray<readonly [partition: number, lagMillis: number]> {
    return [...this.partitions.entries()].map(([p, s]) => [p, now - (s.maxEventTime - this.outOfOrderness)] as const)
  }
}

/**
 * A tracker for one operator.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (options?: Options): Tracker => new Tracker(options)
