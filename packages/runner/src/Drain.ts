/**
 * "Everything that was there when we started is done": the stop condition of
 * a one-shot consumer such as `sluice replay`. The end offsets of a topic
 * are captured once, then the group's committed offsets are polled until
 * every partition has committed up to its captured end. Polling the broker's
 * committed offsets (rather than counting records in the process) makes
 * "done" mean "committed", which is what the next run resumes from.
 *
 * @since 0.1.0
 */
import { KafkaError, type KafkaLike } from "@sluice/kafka"
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
 * The partitions that still hold records below their captured end that the
 * group has not committed. An empty partition is never pending.
 *
 * @since 0.1.0
 * @category predicates
 */
export const pending = (
  ends: ReadonlyArray<PartitionEnd>,
  committed: ReadonlyMap<number, bigint>
): ReadonlyArray<PartitionEnd> =>
  ends.filter((end) => end.high > end.low && (committed.get(end.partition) ?? -1n) < end.high)

/**
 * Completes once `groupId` has committed every partition of `topic` up to
 * `ends`, checking every `interval`.
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
  }
): Effect.Effect<void, KafkaError.KafkaError> =>
  committedOffsets(admin, options.groupId, options.topic).pipe(
    Effect.map((committed) => pending(options.ends, committed).length === 0),
    Effect.repeat({ schedule: Schedule.spaced(options.interval), until: (done) => done }),
    Effect.asVoid
  )
