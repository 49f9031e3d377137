/**
 * A `DeadLetter` is a record the pipeline could not process (for example,
 * its value does not decode). It keeps the original bytes, key and headers so
 * it can be inspected and replayed, plus why it failed and where it came
 * from. Written to a dead-letter topic, that context travels as headers:
 *
 * - `x-sluice-dlq-reason`: the reason text
 * - `x-sluice-dlq-kind`: a short, stable category (`decode`, ...), also the metric label
 * - `x-sluice-source-topic`, `x-sluice-source-partition`, `x-sluice-source-offset`,
 *   `x-sluice-source-timestamp`: the origin of the record
 *
 * @since 0.1.0
 */
import type * as Envelope from "./Envelope.ts"
import { encodeUtf8 } from "./internal/utf8.ts"

/**
 * A record that could not be processed, with its original bytes and the reason.
 *
 * @since 0.1.0
 * @category models
 */
export interface DeadLetter {
  readonly _tag: "DeadLetter"
  readonly origin: Envelope.Origin
  /** The original value, as bytes. */
  readonly value: Uint8Array | null
  /** A short category with few distinct values, fit for metric labels. */
  readonly kind: string
  /** What went wrong, for people. */
  readonly reason: string
}

/**
 * Header carrying the reason text.
 *
 * @since 0.1.0
 * @category headers
 */
export const ReasonHeader = "x-sluice-dlq-reason"

/**
 * Header carrying the reason kind.
 *
 * @since 0.1.0
 * @category headers
 */
export const KindHeader = "x-sluice-dlq-kind"

/**
 * Header carrying the source topic.
 *
 * @since 0.1.0
 * @category headers
 */
export const SourceTopicHeader = "x-sluice-source-topic"

/**
 * Header carrying the source partition, in decimal.
 *
 * @since 0.1.0
 * @category headers
 */
export const SourcePartitionHeader = "x-sluice-source-partition"

/**
 * Header carrying the source offset, in decimal.
 *
 * @since 0.1.0
 * @category headers
 */
export const SourceOffsetHeader = "x-sluice-source-offset"

/**
 * Header carrying the source record timestamp, in epoch milliseconds.
 *
 * @since 0.1.0
 * @category headers
 */
export const SourceTimestampHeader = "x-sluice-source-timestamp"

/**
 * Builds a dead letter from the record's origin and original value.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (origin: Envelope.Origin, value: Envelope.Payload, kind: string, reason: string): DeadLetter => ({
  _tag: "DeadLetter",
  origin,
  value: typeof value === "string" ? encodeUtf8(value) : value,
  kind,
  reason
})

/**
 * Tells dead letters apart from other values.
 *
 * @since 0.1.0
 * @category guards
 */
export const isDeadLetter = (u: unknown): u is DeadLetter =>
  typeof u === "object" && u !== null && "_tag" in u && u._tag === "DeadLetter"

/**
 * The headers to write with a dead letter: the original headers followed by
 * the `x-sluice-*` context headers.
 *
 * @since 0.1.0
 * @category headers
 */
export const headers = (self: DeadLetter): Envelope.Headers => [
  ...self.origin.headers,
  [ReasonHeader, encodeUtf8(self.reason)],
  [KindHeader, encodeUtf8(self.kind)],
  [SourceTopicHeader, encodeUtf8(self.origin.topic)],
  [SourcePartitionHeader, encodeUtf8(String(self.origin.partition))],
  [SourceOffsetHeader, encodeUtf8(String(self.origin.offset))],
  [SourceTimestampHeader, encodeUtf8(String(self.origin.timestamp))]
]
