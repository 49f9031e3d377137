/**
 * Writes records whose topic is chosen per record (the capture's
 * `<prefix>.<schema>.<table>`, the router's consumer topics) and
 * acknowledges their receipts once Kafka has them: each chunk is written
 * in produce requests of about `defaultMaxRequestBytes` at most, one after
 * the other, to every in-sync replica through the idempotent producer of
 * `KafkaSink.producer`, and only after all of them succeeded are the chunk's
 * receipts acknowledged. A receipt acknowledged is what lets the source move
 * on (a consumer-group commit, a replication slot's confirmed position).
 *
 * @since 0.1.0
 */
import { type Envelope, Receipt } from "@sluice/core"
import { KafkaError, type KafkaLike } from "@sluice/kafka"
import { Effect, Metric, Sink } from "effect"

/**
 * One record to write.
 *
 * @since 0.1.0
 * @category models
 */
export interface Outgoing {
  /** `undefined`: nothing to write, only the receipt to acknowledge with the chunk. */
  readonly topic: string | undefined
  readonly key: Uint8Array | string | null
  readonly value: Envelope.Payload
  readonly receipt: Receipt.Receipt
  /** Written with the record (a dead letter's reason and origin). */
  readonly headers?: Envelope.Headers | undefined
}

/**
 * `sluice_cdc_records_out_total{topic}`: records written, by topic.
 *
 * @since 0.1.0
 * @category metrics
 */
export const recordsOut = Metric.counter("sluice_cdc_records_out_total", {
  description: "Records the CDC commands wrote to Kafka, by topic",
  incremental: true
})

// A name given more than once keeps every value, in order.
const toHeaders = (headers: Envelope.Headers): KafkaLike.Headers => {
  const out: KafkaLike.Headers = {}
  for (const [name, value] of headers) {
    const buffer = Buffer.from(value)
    const existing = out[name]
    if (existing === undefined) out[name] = buffer
    else if (Array.isArray(existing)) existing.push(buffer)
    else out[name] = [existing, buffer]
  }
  return out
}

const toBuffer = (bytes: Uint8Array | string | null): Buffer | string | null =>
  bytes === null || typeof bytes === "string" || Buffer.isBuffer(bytes)
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)

/**
 * Bytes of keys and values per produce request, about: a chunk holding more
 * is written in several requests. The Kafka client encodes a request by
 * growing a zero-filled buffer to the next power of two and copying at every
 * level (record, batch, partition, request), so a 9 MB request (1,024 records
 * of 8 KB, one chunk of the source) costs allocations of 16 MB and copies
 * beyond the caches; 1 MiB is the Java client's `max.request.size`.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultMaxRequestBytes = 1024 * 1024

const sizeOf = (bytes: Uint8Array | string | null): number =>
  bytes === null ? 0 : typeof bytes === "string" ? bytes.length : bytes.byteLength

type TopicMessages = Array<{ readonly topic: string; readonly messages: Array<KafkaLike.Message> }>

/**
 * The produce requests of a chunk: its records in order, cut where the next
 * record would take a request beyond `maxBytes` (a record larger than that
 * goes alone). Records of a partition stay in order across the requests.
 *
 * @since 0.1.0
 * @category writing
 */
export const requests = (
  chunk: ReadonlyArray<Outgoing>,
  maxBytes: number = defaultMaxRequestBytes
): Array<TopicMessages> => {
  const out: Array<TopicMessages> = []
  let byTopic = new Map<string, Array<KafkaLike.Message>>()
  let bytes = 0
  const close = () => {
    if (byTopic.size > 0) out.push([...byTopic].map(([topic, messages]) => ({ topic, messages })))
    byTopic = new Map()
    bytes = 0
  }
  for (const r of chunk) {
    if (r.topic === undefined) continue
    const size = sizeOf(r.key) + sizeOf(r.value)
    if (bytes > 0 && bytes + size > maxBytes) close()
    bytes += size
    const message: KafkaLike.Message = { key: toBuffer(r.key), value: toBuffer(r.value) }
    if (r.headers !== undefined && r.headers.length > 0) message.headers = toHeaders(r.headers)
    const messages = byTopic.get(r.topic)
    if (messages === undefined) byTopic.set(r.topic, [message])
    else messages.push(message)
  }
  close()
  return out
}

/**
 * Writes one chunk (in as few requests of `maxBytes` as it takes), then
 * acknowledges its receipts. A request that fails fails the write with none
 * of the chunk's receipts acknowledged, so its records are read and written
 * again (at least once).
 *
 * @since 0.1.0
 * @category writing
 */
export const write = (
  producer: KafkaLike.Producer,
  chunk: ReadonlyArray<Outgoing>,
  maxBytes: number = defaultMaxRequestBytes
): Effect.Effect<void, KafkaError.KafkaError> =>
  Effect.suspend(() => {
    if (chunk.length === 0) return Effect.void
    const acknowledge = Receipt.ackAll(chunk.map((r) => r.receipt))
    return Effect.forEach(
      requests(chunk, maxBytes),
      (topicMessages) =>
        KafkaError.attempt("send", () => producer.sendBatch({ topicMessages, acks: -1, timeout: 30_000 })).pipe(
          Effect.andThen(
            Effect.forEach(topicMessages, ({ topic, messages }) =>
              Metric.update(Metric.withAttributes(recordsOut, { topic }), messages.length)
            )
          )
        ),
      { discard: true }
    ).pipe(Effect.andThen(acknowledge))
  })

/**
 * `write` as a sink: one request per stream chunk.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (producer: KafkaLike.Producer): Sink.Sink<void, Outgoing, never, KafkaError.KafkaError> =>
  Sink.forEachArray((chunk: ReadonlyArray<Outgoing>) => write(producer, chunk))
