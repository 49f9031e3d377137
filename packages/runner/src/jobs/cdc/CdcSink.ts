/**
 * Writes records whose topic is chosen per record (the capture's
 * `<prefix>.<schema>.<table>`, the router's consumer topics) and
 * acknowledges their receipts once Kafka has them: each chunk is one
 * produce request to every in-sync replica through the idempotent producer
 * of `KafkaSink.producer`, and only after it succeeded are the chunk's
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
 * Writes one chunk in one request, then acknowledges its receipts.
 *
 * @since 0.1.0
 * @category writing
 */
export const write = (
  producer: KafkaLike.Producer,
  chunk: ReadonlyArray<Outgoing>
): Effect.Effect<void, KafkaError.KafkaError> =>
  Effect.suspend(() => {
    if (chunk.length === 0) return Effect.void
    const byTopic = new Map<string, Array<KafkaLike.Message>>()
    for (const r of chunk) {
      if (r.topic === undefined) continue
      const messages = byTopic.get(r.topic) ?? []
      const message: KafkaLike.Message = { key: toBuffer(r.key), value: toBuffer(r.value) }
      if (r.headers !== undefined && r.headers.length > 0) message.headers = toHeaders(r.headers)
      messages.push(message)
      byTopic.set(r.topic, messages)
    }
    const topicMessages = [...byTopic].map(([topic, messages]) => ({ topic, messages }))
    if (topicMessages.length === 0) return Receipt.ackAll(chunk.map((r) => r.receipt))
    return KafkaError.attempt("send", () => producer.sendBatch({ topicMessages, acks: -1, timeout: 30_000 })).pipe(
      Effect.andThen(
        Effect.forEach(topicMessages, ({ topic, messages }) =>
          Metric.update(Metric.withAttributes(recordsOut, { topic }), messages.length)
        )
      ),
      Effect.andThen(Receipt.ackAll(chunk.map((r) => r.receipt)))
    )
  })

/**
 * `write` as a sink: one request per stream chunk.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (producer: KafkaLike.Producer): Sink.Sink<void, Outgoing, never, KafkaError.KafkaError> =>
  Sink.forEachArray((chunk: ReadonlyArray<Outgoing>) => write(producer, chunk))
