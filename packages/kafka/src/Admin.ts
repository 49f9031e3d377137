/**
 * Cluster administration that jobs run before they start, through the admin
 * client of `KafkaClient`. `ensureTopics` is idempotent: it creates the
 * topics that are missing and leaves existing ones as they are, so every
 * instance of a job can call it at start-up. `resetOffsets` moves a stopped
 * consumer group to an offset or a timestamp, as `kafka-consumer-groups
 * --reset-offsets` does, so a job can replay without its source seeking.
 *
 * @since 0.1.0
 */
import { Duration, Effect, Schedule, Schema } from "effect"
import { KafkaClient } from "./KafkaClient.ts"
import * as KafkaError from "./KafkaError.ts"

/**
 * A topic a job needs.
 *
 * @since 0.1.0
 * @category models
 */
export interface TopicSpec {
  readonly topic: string
  readonly partitions: number
  /** Defaults to the broker's `default.replication.factor`. */
  readonly replicationFactor?: number
  /** Topic-level settings such as `retention.ms` or `cleanup.policy`. */
  readonly configs?: Readonly<Record<string, string>>
}

/**
 * Which topics `ensureTopics` created and which were there already.
 *
 * @since 0.1.0
 * @category models
 */
export interface EnsureTopicsResult {
  readonly created: ReadonlyArray<string>
  readonly existing: ReadonlyArray<string>
}

/**
 * Creates the topics of `specs` that do not exist yet and waits until their
 * partitions have leaders. Existing topics are not changed; one whose
 * partition count differs from the spec is reported in a warning, because
 * adding partitions would move keys to other partitions. Another process
 * creating the same topic at the same time is not an error.
 *
 * @since 0.1.0
 * @category combinators
 */
export const ensureTopics = Effect.fnUntraced(function* (
  specs: ReadonlyArray<TopicSpec>,
  options: { readonly timeout?: Duration.Input } = {}
): Effect.fn.Return<EnsureTopicsResult, KafkaError.KafkaError, KafkaClient> {
  const { admin } = yield* KafkaClient
  const wanted = new Map<string, TopicSpec>()
  for (const spec of specs) if (!wanted.has(spec.topic)) wanted.set(spec.topic, spec)
  if (wanted.size === 0) return { created: [], existing: [] }

  const present = new Set(yield* KafkaError.attempt("listTopics", () => admin.listTopics()))
  const missing = [...wanted.values()].filter((spec) => !present.has(spec.topic))
  const existing = [...wanted.keys()].filter((topic) => present.has(topic))

  if (existing.length > 0) {
    const metadata = yield* KafkaError.attempt("fetchTopicMetadata", () =>
      admin.fetchTopicMetadata({ topics: existing })
    )
    for (const topic of metadata.topics) {
      const expected = wanted.get(topic.name)?.partitions
      if (expected !== undefined && topic.partitions.length !== expected) {
        yield* Effect.logWarning("Kafka topic exists with a different partition count").pipe(
          Effect.annotateLogs({ topic: topic.name, expected, actual: topic.partitions.length })
        )
      }
    }
  }
  if (missing.length === 0) return { created: [], existing }

  const timeout = Duration.toMillis(Duration.fromInputUnsafe(options.timeout ?? "30 seconds"))
  // `false`: the broker answered that the topics already exist, because another
  // instance created them meanwhile; they exist either way.
  const created = yield* KafkaError.attempt("createTopics", () =>
    admin.createTopics({
      waitForLeaders: true,
      timeout,
      topics: missing.map((spec) => ({
        topic: spec.topic,
        numPartitions: spec.partitions,
        ...(spec.replicationFactor === undefined ? {} : { replicationFactor: spec.replicationFactor }),
        ...(spec.configs === undefined
          ? {}
          : { configEntries: Object.entries(spec.configs).map(([name, value]) => ({ name, value })) })
      }))
    })
  )
  const names = missing.map((spec) => spec.topic)
  if (!created) return { created: [], existing: [...existing, ...names] }
  yield* Effect.logInfo("Kafka topics created").pipe(Effect.annotateLogs({ topics: names.join(",") }))
  return { created: names, existing }
})

/**
 * Where `resetOffsets` moves a consumer group: one offset for every
 * partition, an offset per partition, or the first record at or after a
 * timestamp (epoch ms) in each partition.
 *
 * @since 0.1.0
 * @category models
 */
export type ResetTarget =
  | { readonly _tag: "Offset"; readonly offset: bigint }
  | { readonly _tag: "Offsets"; readonly offsets: ReadonlyMap<number, bigint> }
  | { readonly _tag: "Timestamp"; readonly timestamp: number }

/**
 * The offset `resetOffsets` committed for one partition.
 *
 * @since 0.1.0
 * @category models
 */
export interface PartitionOffset {
  readonly partition: number
  readonly offset: bigint
}

/**
 * The consumer group still has running members, so its offsets cannot be
 * reset: they would commit over the new position.
 *
 * @since 0.1.0
 * @category errors
 */
export class GroupActive extends Schema.TaggedError<GroupActive>()("GroupActive", {
  groupId: Schema.String,
  state: Schema.String,
  members: Schema.Number
}) {
  override get message(): string {
    return `consumer group ${this.groupId} has ${this.members} running member(s) (state ${this.state}); stop them before resetting its offsets`
  }
}

/**
 * A partition named in an `Offsets` target that the topic does not have.
 *
 * @since 0.1.0
 * @category errors
 */
export class UnknownPartition extends Schema.TaggedError<UnknownPartition>()("UnknownPartition", {
  topic: Schema.String,
  partition: Schema.Number,
  partitions: Schema.Number
}) {
  override get message(): string {
    return `topic ${this.topic} has no partition ${this.partition} (it has ${this.partitions})`
  }
}

const clamp = (offset: bigint, low: bigint, high: bigint): bigint =>
  offset < low ? low : offset > high ? high : offset

/**
 * Moves a consumer group's committed offsets on `topic`, as
 * `kafka-consumer-groups --reset-offsets --execute` does: run it before the
 * group's consumers start, and they resume from the new position. An offset
 * outside a partition's log is clamped to it (the log start or the end); a
 * timestamp after a partition's last record moves it to the end; an
 * `Offsets` target leaves the partitions it does not name as they are.
 * Fails with `GroupActive` while any member of the group is running.
 * Answers the offsets committed, by partition.
 *
 * @since 0.1.0
 * @category combinators
 */
export const resetOffsets = Effect.fnUntraced(function* (options: {
  readonly groupId: string
  readonly topic: string
  readonly to: ResetTarget
  /**
   * How long to wait for running members to leave before failing with
   * `GroupActive`; no wait by default. A member killed without leaving stays
   * until its session times out, so a restart right after a crash needs this.
   */
  readonly waitForEmpty?: Duration.Input | undefined
}): Effect.fn.Return<
  ReadonlyArray<PartitionOffset>,
  KafkaError.KafkaError | GroupActive | UnknownPartition,
  KafkaClient
> {
  const { admin } = yield* KafkaClient
  const { groupId, topic, to } = options
  const empty = Effect.flatMap(
    KafkaError.attempt("describeGroups", () => admin.describeGroups([groupId])),
    (described) => {
      const group = described.groups.find((g) => g.groupId === groupId)
      return group !== undefined && group.state !== "Empty" && group.state !== "Dead"
        ? Effect.fail(new GroupActive({ groupId, state: group.state, members: group.members.length }))
        : Effect.void
    }
  )
  const wait = options.waitForEmpty
  let waiting = false
  yield* empty.pipe(
    Effect.tapError((error) => {
      if (error._tag !== "GroupActive" || waiting || wait === undefined) return Effect.void
      waiting = true
      return Effect.logInfo("waiting for the consumer group's members to leave before resetting its offsets").pipe(
        Effect.annotateLogs({ group: groupId, members: error.members, state: error.state })
      )
    }),
    Effect.retry({
      schedule: Schedule.spaced("1 second").pipe(Schedule.upTo({ duration: wait ?? 0 })),
      while: (error) => error._tag === "GroupActive" && wait !== undefined
    })
  )
  const watermarks = yield* KafkaError.attempt("fetchTopicOffsets", () => admin.fetchTopicOffsets(topic))
  const bounds = new Map(watermarks.map((w) => [w.partition, { low: BigInt(w.low), high: BigInt(w.high) }]))
  let targets: Array<PartitionOffset>
  switch (to._tag) {
    case "Offset":
      targets = [...bounds].map(([partition, b]) => ({ partition, offset: clamp(to.offset, b.low, b.high) }))
      break
    case "Offsets": {
      targets = []
      for (const [partition, offset] of to.offsets) {
        const b = bounds.get(partition)
        if (b === undefined) return yield* new UnknownPartition({ topic, partition, partitions: bounds.size })
        targets.push({ partition, offset: clamp(offset, b.low, b.high) })
      }
      break
    }
    case "Timestamp": {
      const found = yield* KafkaError.attempt("fetchTopicOffsetsByTimestamp", () =>
        admin.fetchTopicOffsetsByTimestamp(topic, to.timestamp)
      )
      targets = found.map((f) => ({ partition: f.partition, offset: BigInt(f.offset) }))
      break
    }
  }
  targets.sort((a, b) => a.partition - b.partition)
  if (targets.length === 0) return targets
  yield* KafkaError.attempt("setOffsets", () =>
    admin.setOffsets({
      groupId,
      topic,
      partitions: targets.map((t) => ({ partition: t.partition, offset: t.offset.toString() }))
    })
  )
  yield* Effect.logInfo("consumer group offsets reset").pipe(
    Effect.annotateLogs({ group: groupId, topic, offsets: targets.map((t) => `${t.partition}:${t.offset}`).join(",") })
  )
  return targets
})
