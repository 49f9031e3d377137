/**
 * Re-keying through an internal topic (Kafka Streams' repartition topics):
 * `through` writes each record to a topic keyed, and so partitioned, by a new
 * key, and reads that topic back in the same job, so state keyed by customer
 * works on input keyed by order id. An input record is acknowledged, and its
 * offset may commit, only once its write to the internal topic is
 * acknowledged; the records read back carry the internal topic's own
 * receipts.
 *
 * The topic is a small interface (`Topic`): `inMemory` implements it on the
 * in-memory broker, a Kafka implementation lives in `@sluice/kafka`.
 *
 * @since 0.2.0
 */
import { Effect, Queue, Schema, type Scope, Stream } from "effect"
import type * as Cause from "effect/Cause"
import * as Envelope from "./Envelope.ts"
import * as InMemory from "./InMemory.ts"
import { encodeUtf8 } from "./internal/utf8.ts"
import * as OffsetTracker from "./OffsetTracker.ts"
import * as Receipt from "./Receipt.ts"

/**
 * A record for the internal topic.
 *
 * @since 0.2.0
 * @category models
 */
export interface Record {
  readonly key: string
  readonly value: string
  readonly partition: number
  readonly timestamp: number
  /**
   * The input partition the record came from: an exactly-once topic writes
   * it in that partition's transaction, with the input offset it commits.
   */
  readonly origin?: { readonly topic: string; readonly partition: number } | undefined
}

/**
 * The internal topic a job writes to and reads back.
 *
 * @since 0.2.0
 * @category models
 */
export interface Topic<E> {
  readonly name: string
  readonly partitions: number
  /** Appends records; returns once they are durable. */
  readonly write: (records: ReadonlyArray<Record>) => Effect.Effect<void, E>
  /** The records as they are written, from the group's committed offsets, each with a receipt that commits it. */
  readonly read: Stream.Stream<Envelope.Envelope<Envelope.Payload>, E>
  /** No more writes: `read` ends once it has handed out every record (for bounded inputs and tests). */
  readonly end: Effect.Effect<void>
}

// FNV-1a, the same choice as the in-memory broker: a key always maps to one partition.
const partitionOf = (key: string, partitions: number): number => {
  let hash = 0x811c9dc5
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193)
  return (hash >>> 0) % partitions
}

/**
 * Options of `through`.
 *
 * @since 0.2.0
 * @category models
 */
export interface Options<A> {
  /** The new key. */
  readonly key: (value: A, envelope: Envelope.Envelope<A>) => string
  /**
   * How values are written to, and read from, the topic: a schema, or a
   * hand-written `TextCodec` where the schema's cost per record matters.
   */
  readonly schema: Schema.Codec<A, string> | TextCodec<A>
}

/**
 * A value's text form, written by hand: `decodeText` throws on text it
 * cannot read, like `Schema.decodeUnknownSync`.
 *
 * @since 0.3.0
 * @category models
 */
export interface TextCodec<A> {
  readonly encodeText: (value: A) => string
  readonly decodeText: (text: string) => A
}

const isTextCodec = <A>(codec: Schema.Codec<A, string> | TextCodec<A>): codec is TextCodec<A> =>
  "encodeText" in codec && "decodeText" in codec

const decoder = new TextDecoder()

/**
 * Re-keys a stream through `topic`; see the module notes. The output's
 * records come from the topic, so their origin (partition, offset, key) is
 * the internal topic's.
 *
 * @since 0.2.0
 * @category operators
 */
export const through =
  <A, E2>(topic: Topic<E2>, options: Options<A>) =>
  <E, R>(self: Stream.Stream<Envelope.Envelope<A>, E, R>): Stream.Stream<Envelope.Envelope<A>, E | E2, R> => {
    const codec = options.schema
    const encode = isTextCodec(codec) ? codec.encodeText : Schema.encodeSync(codec)
    const decode: (text: string) => A = isTextCodec(codec) ? codec.decodeText : Schema.decodeUnknownSync(codec)
    const writer = Stream.runForEachArray(self, (chunk) =>
      Effect.andThen(
        topic.write(
          chunk.map((e) => {
            const key = options.key(e.value, e)
            return {
              key,
              value: encode(e.value),
              partition: partitionOf(key, topic.partitions),
              timestamp: e.origin.timestamp,
              origin: e.origin
            }
          })
        ),
        // Only now may the input records' offsets commit.
        Receipt.ackAll(chunk.map((e) => e.receipt))
      )
    ).pipe(Effect.ensuring(topic.end))
    const reader = Stream.map(topic.read, (e) =>
      Envelope.make(
        e.origin,
        decode(typeof e.value === "string" ? e.value : decoder.decode(e.value ?? new Uint8Array())),
        e.receipt
      )
    )
    return Stream.merge(reader, Stream.fromEffectDrain(writer), { haltStrategy: "both" })
  }

/**
 * An internal topic on the in-memory broker, read by consumer group `group`.
 * Records left unread or unacknowledged by an earlier run (from the group's
 * last commit) are read again first.
 *
 * @since 0.2.0
 * @category constructors
 */
export const inMemory = (
  broker: InMemory.Broker,
  options: { readonly topic: string; readonly partitions: number; readonly group: string }
): Effect.Effect<Topic<InMemory.InMemoryError>, never, Scope.Scope> =>
  Effect.gen(function* () {
    const { topic, group, partitions } = options
    yield* InMemory.createTopic(broker, topic, partitions)
    const logs = broker.topics.get(topic)!
    const tracker = yield* OffsetTracker.make({ maxInFlight: 10_000 })
    yield* OffsetTracker.commitLoop(
      tracker,
      (offsets) =>
        Effect.sync(() => {
          const topics = broker.commits.get(group) ?? new Map<string, Map<number, bigint>>()
          broker.commits.set(group, topics)
          for (const o of offsets) {
            const byPartition = topics.get(o.topic) ?? new Map<number, bigint>()
            topics.set(o.topic, byPartition)
            byPartition.set(o.partition, o.offset)
          }
        }),
      { interval: "1 second", every: 100 }
    )
    const queue = yield* Queue.unbounded<Envelope.Origin & { readonly value: Envelope.Payload }, Cause.Done>()
    const committed = broker.commits.get(group)?.get(topic)
    logs.forEach((log, partition) => {
      for (let offset = Number(committed?.get(partition) ?? 0n); offset < log.length; offset++) {
        const m = log[offset]!
        Queue.offerUnsafe(queue, {
          topic,
          partition,
          offset: BigInt(offset),
          key: m.key,
          headers: m.headers,
          timestamp: m.timestamp,
          value: m.value
        })
      }
    })
    return {
      name: topic,
      partitions,
      write: (records) =>
        Effect.sync(() => {
          for (const r of records) {
            const log = logs[r.partition]!
            const key = encodeUtf8(r.key)
            log.push({ key, value: r.value, headers: [], timestamp: r.timestamp })
            Queue.offerUnsafe(queue, {
              topic,
              partition: r.partition,
              offset: BigInt(log.length - 1),
              key,
              headers: [],
              timestamp: r.timestamp,
              value: r.value
            })
          }
        }),
      read: Stream.fromQueue(queue).pipe(
        Stream.mapEffect(({ value, ...origin }) =>
          Effect.map(tracker.track(origin, origin.offset), (tracked) =>
            tracked ? [Envelope.make(origin, value, OffsetTracker.receipt(tracker, origin))] : []
          )
        ),
        Stream.flattenIterable
      ),
      end: Effect.asVoid(Queue.end(queue))
    }
  })
