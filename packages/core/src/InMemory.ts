/**
 * An in-memory stand-in for a Kafka cluster, so pipelines can be tested and
 * shown without a broker: topics are lists of partitions, consumer groups
 * keep committed offsets, a `source` reads a topic from its group's last
 * commit and a `sink` appends to a topic.
 *
 * The source is the model the Kafka source follows: every record is tracked
 * by an `OffsetTracker`, its envelope's receipt marks it done, and only done
 * offsets are committed (every `commitInterval`, after `commitEvery` records
 * and when the consumer's scope closes). A failure at any point therefore loses nothing:
 * a restarted source reads again from the last commit (at-least-once).
 *
 * @since 0.1.0
 */
import { Array as Arr, Clock, type Duration, Effect, Schema, type Scope, Sink, Stream } from "effect"
import * as DeadLetter from "./DeadLetter.ts"
import * as Envelope from "./Envelope.ts"
import { encodeUtf8 } from "./internal/utf8.ts"
import * as Metrics from "./Metrics.ts"
import * as OffsetTracker from "./OffsetTracker.ts"

/**
 * A stored record.
 *
 * @since 0.1.0
 * @category models
 */
export interface Message {
  readonly key: Uint8Array | null
  readonly value: Envelope.Payload
  readonly headers: Envelope.Headers
  readonly timestamp: number
}

/**
 * The topics and committed offsets of one in-memory cluster.
 *
 * @since 0.1.0
 * @category models
 */
export interface Broker {
  /** topic -> partitions -> log; a message's offset is its index. */
  readonly topics: Map<string, Array<Array<Message>>>
  /** group -> topic -> partition -> committed offset. */
  readonly commits: Map<string, Map<string, Map<number, bigint>>>
}

/**
 * Why an in-memory operation failed.
 *
 * @since 0.1.0
 * @category errors
 */
export class InMemoryError extends Schema.TaggedError<InMemoryError>()("InMemoryError", {
  reason: Schema.Literals(["WriteFailed", "UnknownTopic"]),
  topic: Schema.String
}) {
  /** An injected write failure is transient; an unknown topic is not. */
  get isRetryable(): boolean {
    return this.reason === "WriteFailed"
  }
}

/**
 * An empty broker.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<Broker> = Effect.sync(() => ({ topics: new Map(), commits: new Map() }))

/**
 * Creates a topic with `partitions` empty partitions, if it does not exist.
 *
 * @since 0.1.0
 * @category topics
 */
export const createTopic = (broker: Broker, topic: string, partitions: number): Effect.Effect<void> =>
  Effect.sync(() => {
    if (!broker.topics.has(topic))
      broker.topics.set(
        topic,
        Arr.makeBy(Math.max(1, partitions), () => [])
      )
  })

/**
 * A record to append with `produce`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ProducerRecord {
  readonly value: Envelope.Payload
  readonly key?: Uint8Array | string | null | undefined
  readonly headers?: Envelope.Headers | undefined
  /** The partition; by default chosen from the key. */
  readonly partition?: number | undefined
}

// FNV-1a: the same key always lands on the same partition.
const partitionFor = (key: Uint8Array | null, partitions: number): number => {
  if (key === null) return 0
  let hash = 0x811c9dc5
  for (const byte of key) hash = Math.imul(hash ^ byte, 0x01000193)
  return (hash >>> 0) % partitions
}

const partitionsOf = (broker: Broker, topic: string): Effect.Effect<Array<Array<Message>>, InMemoryError> =>
  Effect.suspend(() => {
    const partitions = broker.topics.get(topic)
    return partitions === undefined
      ? Effect.fail(new InMemoryError({ reason: "UnknownTopic", topic }))
      : Effect.succeed(partitions)
  })

/**
 * Appends records to a topic, stamped with the current `Clock` time.
 *
 * @since 0.1.0
 * @category topics
 */
export const produce = (
  broker: Broker,
  topic: string,
  records: Iterable<ProducerRecord>
): Effect.Effect<void, InMemoryError> =>
  Effect.gen(function* () {
    const partitions = yield* partitionsOf(broker, topic)
    const timestamp = yield* Clock.currentTimeMillis
    for (const r of records) {
      const key = typeof r.key === "string" ? encodeUtf8(r.key) : (r.key ?? null)
      const partition = r.partition ?? partitionFor(key, partitions.length)
      partitions[partition]!.push({ key, value: r.value, headers: r.headers ?? [], timestamp })
    }
  })

/**
 * A stored record with its position.
 *
 * @since 0.1.0
 * @category models
 */
export interface Stored extends Message {
  readonly topic: string
  readonly partition: number
  readonly offset: bigint
}

/**
 * Every record of a topic, partition by partition.
 *
 * @since 0.1.0
 * @category topics
 */
export const messages = (broker: Broker, topic: string): Effect.Effect<ReadonlyArray<Stored>, InMemoryError> =>
  Effect.map(partitionsOf(broker, topic), (partitions) =>
    partitions.flatMap((log, partition) => log.map((m, i) => ({ ...m, topic, partition, offset: BigInt(i) })))
  )

/**
 * The offsets a consumer group committed for a topic, by partition.
 *
 * @since 0.1.0
 * @category consumer groups
 */
export const committed = (broker: Broker, group: string, topic: string): Effect.Effect<ReadonlyMap<number, bigint>> =>
  Effect.sync(() => new Map(broker.commits.get(group)?.get(topic) ?? []))

/**
 * Options of `source`.
 *
 * @since 0.1.0
 * @category models
 */
export interface SourceOptions {
  readonly topic: string
  readonly group: string
  /** Records in flight before the source waits; 1000 by default. */
  readonly maxInFlight?: number | undefined
  /** 1 second by default. */
  readonly commitInterval?: Duration.Input | undefined
  /** 500 by default. */
  readonly commitEvery?: number | undefined
}

const storeCommits = (broker: Broker, group: string, offsets: ReadonlyArray<OffsetTracker.CommittableOffset>): void => {
  const topics = broker.commits.get(group) ?? new Map<string, Map<number, bigint>>()
  broker.commits.set(group, topics)
  for (const o of offsets) {
    const partitions = topics.get(o.topic) ?? new Map<number, bigint>()
    topics.set(o.topic, partitions)
    partitions.set(o.partition, o.offset)
  }
}

/**
 * Opens a consumer of `topic` in `group` and returns its records: from the
 * group's committed offsets up to the end of each partition as it is now,
 * partitions interleaved in batches as a consumer's fetches would be.
 *
 * The consumer, and so its commit loop, lives in the surrounding scope
 * rather than in the stream: sinks often acknowledge the last records after
 * the stream itself has ended, and the final commit on scope close still
 * counts them.
 *
 * @since 0.1.0
 * @category source
 */
export const source = (
  broker: Broker,
  options: SourceOptions
): Effect.Effect<Stream.Stream<Envelope.Envelope<Envelope.Payload>>, InMemoryError, Scope.Scope> =>
  Effect.gen(function* () {
    const { topic, group } = options
    const partitions = yield* partitionsOf(broker, topic)
    const tracker = yield* OffsetTracker.make({ maxInFlight: options.maxInFlight ?? 1000 })
    yield* OffsetTracker.commitLoop(tracker, (offsets) => Effect.sync(() => storeCommits(broker, group, offsets)), {
      interval: options.commitInterval ?? "1 second",
      every: options.commitEvery ?? 500
    })
    const start = broker.commits.get(group)?.get(topic)
    const batches: Array<ReadonlyArray<Envelope.Origin & { readonly value: Envelope.Payload }>> = []
    const positions = partitions.map((_, p) => Number(start?.get(p) ?? 0n))
    const ends = partitions.map((log) => log.length)
    const batchSize = 64
    for (let more = true; more; ) {
      more = false
      partitions.forEach((log, partition) => {
        const from = positions[partition]!
        const to = Math.min(from + batchSize, ends[partition]!)
        if (from >= to) return
        more = true
        positions[partition] = to
        const batch = log.slice(from, to).map((m, i) => ({
          topic,
          partition,
          offset: BigInt(from + i),
          key: m.key,
          headers: m.headers,
          timestamp: m.timestamp,
          value: m.value
        }))
        batches.push(batch)
      })
    }
    // Track record by record: a record waiting for room must not hold back the
    // already-tracked records before it, or they could never complete.
    return Stream.fromIterable(batches).pipe(
      Stream.tap((batch) => Metrics.countIn(topic, batch.length)),
      Stream.flattenIterable,
      Stream.mapEffect(({ value, ...origin }) =>
        Effect.map(tracker.track(origin, origin.offset), (tracked) =>
          tracked ? [Envelope.make(origin, value, OffsetTracker.receipt(tracker, origin))] : []
        )
      ),
      Stream.flattenIterable
    )
  })

/**
 * Options of `sink`.
 *
 * @since 0.1.0
 * @category models
 */
export interface SinkOptions {
  /** Fail with a `WriteFailed` error instead of writing the record after this many writes. */
  readonly failAfter?: number | undefined
}

/**
 * Appends each envelope's value to `topic` (created with one partition if
 * missing) and acknowledges its receipt. A dead letter is written with its
 * original bytes and the `x-sluice-*` headers.
 *
 * @since 0.1.0
 * @category sink
 */
export const sink = (
  broker: Broker,
  topic: string,
  options?: SinkOptions
): Sink.Sink<void, Envelope.Envelope<Envelope.Payload | DeadLetter.DeadLetter>, never, InMemoryError> => {
  let written = 0
  return Sink.forEachArray((chunk) =>
    Effect.gen(function* () {
      yield* createTopic(broker, topic, 1)
      const partitions = yield* partitionsOf(broker, topic)
      const timestamp = yield* Clock.currentTimeMillis
      for (const e of chunk) {
        if (options?.failAfter !== undefined && written >= options.failAfter) {
          return yield* Effect.fail(new InMemoryError({ reason: "WriteFailed", topic }))
        }
        const key = e.origin.key
        const message: Message = DeadLetter.isDeadLetter(e.value)
          ? { key, value: e.value.value, headers: DeadLetter.headers(e.value), timestamp }
          : { key, value: e.value, headers: [], timestamp }
        partitions[partitionFor(key, partitions.length)]!.push(message)
        written++
        yield* e.receipt.ack
      }
    })
  )
}
