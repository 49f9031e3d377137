/**
 * Writes envelopes to a Kafka topic and acknowledges their receipts once the
 * broker has them: every in-sync replica (acks = -1) and an idempotent
 * producer, so a retried send never duplicates a record. Each stream chunk
 * becomes one produce request; the receipts of a chunk are acknowledged only
 * after its request succeeded, which is what lets the source commit.
 *
 * A dead letter (see `DeadLetter` in `@sluice/core`) is written with its
 * original bytes plus the `x-sluice-*` headers saying why and where from.
 *
 * ```ts
 * const producer = yield* KafkaSink.producer(client)
 * yield* records.pipe(Stream.run(KafkaSink.make(producer, "enriched-payments")))
 * ```
 *
 * @since 0.1.0
 */
import { DeadLetter, type Envelope, type PolicyError, Receipt } from "@sluice/core"
import { Config, Context, Duration, Effect, Layer, Option, type Scope, Sink } from "effect"
import * as KafkaClient from "./KafkaClient.ts"
import * as KafkaError from "./KafkaError.ts"
import type * as KafkaLike from "./KafkaLike.ts"

/**
 * What a sink accepts: a payload (or a dead letter) with its origin and receipt.
 *
 * @since 0.1.0
 * @category models
 */
export type Input = Envelope.Envelope<Envelope.Payload | DeadLetter.DeadLetter>

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Keep the source record's headers on the output (default true). */
  readonly keepHeaders?: boolean | undefined
  /** Guards each produce request: retries what is retryable, times out, trips a breaker. */
  readonly policy?:
    | { readonly run: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, PolicyError.PolicyError, R> }
    | undefined
  /** Broker-side timeout of a produce request; 30 seconds by default. */
  readonly requestTimeoutMillis?: number | undefined
}

/**
 * An idempotent producer with acks from every in-sync replica, connected now
 * and disconnected (bounded) when the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const producer = (
  client: KafkaClient.KafkaClient["Service"]
): Effect.Effect<KafkaLike.Producer, KafkaError.KafkaError, Scope.Scope> =>
  // One request in flight keeps the idempotent sequence numbers in order.
  client.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false })

/**
 * A sink writing to `topic`; fails with a `KafkaError` (or the policy's
 * error) when a chunk cannot be written, leaving its receipts unacknowledged.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  producer: KafkaLike.Producer,
  topic: string,
  options?: Options
): Sink.Sink<void, Input, never, KafkaError.KafkaError | PolicyError.PolicyError> => {
  const keepHeaders = options?.keepHeaders ?? true
  const timeout = options?.requestTimeoutMillis ?? 30_000
  const guard = options?.policy
  return Sink.forEachArray((chunk: ReadonlyArray<Input>) => {
    const messages = chunk.map((e) => toMessage(e, keepHeaders))
    const send = KafkaError.attempt("send", () => producer.send({ topic, messages, acks: -1, timeout }))
    const guarded: Effect.Effect<unknown, KafkaError.KafkaError | PolicyError.PolicyError> =
      guard === undefined ? send : guard.run(send)
    return Effect.andThen(
      guarded,
      // Plain-code receipts (a source's) are acknowledged in one step, not one effect each.
      Receipt.ackAll(chunk.map((e) => e.receipt))
    ).pipe(
      // A span per chunk, not per record: it is what one produce request costs.
      Effect.withSpan(
        "sluice.sink.write",
        {
          kind: "producer",
          attributes: { "messaging.destination.name": topic, "messaging.batch.message_count": chunk.length }
        },
        { captureStackTrace: false }
      )
    )
  })
}

/**
 * The record an envelope is written as: its origin's key, its bytes, and its
 * origin's headers (`keepHeaders`) or a dead letter's `x-sluice-*` headers.
 *
 * @since 0.1.0
 * @category conversions
 */
export const toMessage = (e: Input, keepHeaders: boolean): KafkaLike.Message => {
  const value = e.value
  if (DeadLetter.isDeadLetter(value)) {
    return { key: toBuffer(e.origin.key), value: toBuffer(value.value), headers: toHeaders(DeadLetter.headers(value)) }
  }
  const message: KafkaLike.Message = { key: toBuffer(e.origin.key), value: toBuffer(value) }
  if (keepHeaders && e.origin.headers.length > 0) message.headers = toHeaders(e.origin.headers)
  return message
}

const toBuffer = (bytes: Uint8Array | string | null): Buffer | string | null =>
  bytes === null || typeof bytes === "string" || Buffer.isBuffer(bytes)
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)

const toHeaders = (headers: Envelope.Headers): KafkaLike.Headers => {
  const out: KafkaLike.Headers = {}
  for (const [name, value] of headers) {
    const buffer = toBuffer(value) as Buffer
    const existing = out[name]
    if (existing === undefined) out[name] = buffer
    else if (Array.isArray(existing)) existing.push(buffer)
    else out[name] = [existing, buffer]
  }
  return out
}

/**
 * A sink as a service: one idempotent producer for the layer's lifetime, and
 * a `Sink` per topic written through it.
 *
 * @since 0.1.0
 * @category services
 */
export class KafkaSink extends Context.Service<
  KafkaSink,
  {
    readonly producer: KafkaLike.Producer
    /** A sink writing to `topic` with the layer's options. */
    readonly to: (topic: string) => Sink.Sink<void, Input, never, KafkaError.KafkaError | PolicyError.PolicyError>
  }
>()("@sluice/kafka/KafkaSink") {}

/**
 * The sink service over the `KafkaClient` service.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<KafkaSink, KafkaError.KafkaError, KafkaClient.KafkaClient> =>
  Layer.effect(
    KafkaSink,
    Effect.gen(function* () {
      const client = yield* KafkaClient.KafkaClient
      const connected = yield* producer(client)
      return KafkaSink.of({ producer: connected, to: (topic) => make(connected, topic, options) })
    })
  )

/**
 * The sink options read from the environment: `KAFKA_SINK_KEEP_HEADERS`
 * (`true` by default) and `KAFKA_SINK_REQUEST_TIMEOUT` (a duration, 30
 * seconds by default).
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.all({
  keepHeaders: Config.option(Config.Boolean("KAFKA_SINK_KEEP_HEADERS")),
  requestTimeout: Config.option(Config.Duration("KAFKA_SINK_REQUEST_TIMEOUT"))
}).pipe(
  Config.map(
    ({ keepHeaders, requestTimeout }): Options => ({
      ...Option.match(keepHeaders, { onNone: () => ({}), onSome: (keep) => ({ keepHeaders: keep }) }),
      ...Option.match(requestTimeout, {
        onNone: () => ({}),
        onSome: (timeout) => ({ requestTimeoutMillis: Duration.toMillis(timeout) })
      })
    })
  )
)

/**
 * The sink service configured from `config` (the environment, by default).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Config.Config<Options> = config
): Layer.Layer<KafkaSink, KafkaError.KafkaError | Config.ConfigError, KafkaClient.KafkaClient> =>
  Layer.unwrap(
    Effect.gen(function* () {
      return layer(yield* options)
    })
  )
