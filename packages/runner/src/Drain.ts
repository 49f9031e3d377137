/**
 * "Everything that was there when we started is done": the stop condition of
 * a one-shot consumer such as `sluice replay`. The end offsets of a topic
 * are captured once, then the group's committed offsets are polled until
 * every partition has committed up to its captured end. Polling the broker's
 * committed offsets (rather than counting records in the process) makes
 * "done" mean "committed", which is what the next run resumes from.
 *
 * A topic written in Kafka transactions never gets there by commits alone:
 * every transaction ends with a marker, which takes an offset but is never
 * handed to a consumer (nor are aborted records to a `read_committed` one),
 * so a group that has committed everything it was handed still sits one
 * offset (or more) below the end. Such a partition is drained when its
 * committed offset is at the start of a run of invisible offsets
 * (`KafkaSource`'s `onInvisible`) that reaches the captured end: there is
 * nothing left there that the consumer could ever be handed.
 *
 * @since 0.1.0
 */
import { KafkaError, type KafkaLike, type KafkaSource } from "@sluice/kafka"
import { type Duration, Effect, Schedule } from "effect"

/**
 * The admin calls a drain needs.
 *
 * @since 0.1.0
 * @category models
 */
export type Admin = Pick<KafkaLike.Admin, "fetchTopicOffsets" | "fetchOffsets">

/**
 * One partition's offsets at the start: the first offset still in the log
 * (`low`) and the offset the next record will get (`high`).
 *
 * @since 0.1.0
 * @category models
 */
export interface PartitionEnd {
  readonly partition: number
  readonly low: bigint
  readonly high: bigint
}

/**
 * The current low and high watermarks of every partition of `topic`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const endOffsets = (
  admin: Admin,
  topic: string
): Effect.Effect<ReadonlyArray<PartitionEnd>, KafkaError.KafkaError> =>
  Effect.map(
    KafkaError.attempt("fetchTopicOffsets", () => admin.fetchTopicOffsets(topic)),
    (partitions) => partitions.map((p) => ({ partition: p.partition, low: BigInt(p.low), high: BigInt(p.high) }))
  )

/**
 * The offsets `groupId` has committed on `topic`, by partition; a partition
 * without a commit is absent.
 *
 * @since 0.1.0
 * @category constructors
 */
export const committedOffsets = (
  admin: Admin,
  groupId: string,
  topic: string
): Effect.Effect<ReadonlyMap<number, bigint>, KafkaError.KafkaError> =>
  Effect.map(
    KafkaError.attempt("fetchOffsets", () => admin.fetchOffsets({ groupId, topics: [topic] })),
    (topics) => {
      const out = new Map<number, bigint>()
      for (const t of topics) {
        if (t.topic !== topic) continue
        // Kafka answers -1 for a partition the group never committed.
        for (const p of t.partitions) if (BigInt(p.offset) >= 0n) out.set(p.partition, BigInt(p.offset))
      }
      return out
    }
  )

/**
 * Offsets `from` (inclusive) to `to` (exclusive) of one partition in which a
 * consumer is handed nothing: transaction markers, aborted records.
 *
 * @since 0.1.0
 * @category models
 */
export interface Invisible {
  readonly from: bigint
  readonly to: bigint
}

/**
 * Per partition of one topic, the latest run of invisible offsets the
 * consumer moved past, adjacent runs joined: fed by a source's
 * `onInvisible`, read by the drain check.
 *
 * @since 0.1.0
 * @category models
 */
export interface InvisibleRuns {
  readonly record: (range: KafkaSource.InvisibleRange) => Effect.Effect<void>
  readonly get: Effect.Effect<ReadonlyMap<number, Invisible>>
}

/**
 * Invisible runs of `topic` (ranges of other topics are ignored).
 *
 * @since 0.1.0
 * @category constructors
 */
export const invisibleRuns = (topic: string): InvisibleRuns => {
  const runs = new Map<number, Invisible>()
  return {
    record: (range) =>
      Effect.sync(() => {
        if (range.topic !== topic) return
        const run = runs.get(range.partition)
        runs.set(range.partition, join(run, range))
      }),
    get: Effect.sync(() => new Map(runs))
  }
}

// Overlapping or touching runs are one; otherwise the later run wins (the
// consumer moves forward, and so does the committed offset compared with it).
const join = (run: Invisible | undefined, next: Invisible): Invisible => {
  if (run === undefined) return { from: next.from, to: next.to }
  if (next.from <= run.to && next.to >= run.from) {
    // bigint offsets: Math.min and Math.max do not take them.
    let from = run.from
    if (next.from < from) from = next.from
    let to = run.to
    if (next.to > to) to = next.to
    return { from, to }
  }
  return next.to > run.to ? { from: next.from, to: next.to } : run
}

/**
 * The partitions that still hold records below their captured end that the
 * group has not committed. An empty partition is never pending; a partition
 * the group never committed counts from its low watermark; one whose
 * committed offset starts a run of `invisible` offsets reaching its end is
 * not pending either.
 *
 * @since 0.1.0
 * @category predicates
 */
export const pending = (
  ends: ReadonlyArray<PartitionEnd>,
  committed: ReadonlyMap<number, bigint>,
  invisible: ReadonlyMap<number, Invisible> = new Map()
): ReadonlyArray<PartitionEnd> =>
  ends.filter((end) => {
    if (end.high <= end.low) return false
    const at = committed.get(end.partition) ?? end.low
    if (at >= end.high) return false
    const run = invisible.get(end.partition)
    return run === undefined || run.from > at || run.to < end.high
  })

/**
 * Completes once `groupId` has committed every partition of `topic` up to
 * `ends` (or up to a run of invisible offsets reaching them), checking every
 * `interval`.
 *
 * @since 0.1.0
 * @category running
 */
export const awaitCommitted = (
  admin: Admin,
  options: {
    readonly groupId: string
    readonly topic: string
    readonly ends: ReadonlyArray<PartitionEnd>
    readonly interval: Duration.Input
    /** Runs of invisible offsets of `topic` (a transactional topic's markers). */
    readonly invisible?: InvisibleRuns | undefined
  }
): Effect.Effect<void, KafkaError.KafkaError> =>
  Effect.all([
    committedOffsets(admin, options.groupId, options.topic),
    options.invisible === undefined ? Effect.succeed(new Map<number, Invisible>()) : options.invisible.get
  ]).pipe(
    Effect.map(([committed, invisible]) => pending(options.ends, committed, invisible).length === 0),
    Effect.repeat({ schedule: Schedule.spaced(options.interval), until: (done) => done }),
    Effect.asVoid
  )
