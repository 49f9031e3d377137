/**
 * Combinators over `Stream<Envelope<A>>`, the shape every Sluice pipeline
 * has. Each one keeps the receipt rules: a record is done only when every
 * output derived from it has been acknowledged by its sink, a dropped record
 * is acknowledged at once, and a record that fans out is done after all of
 * its outputs.
 *
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { InMemory, Pipeline } from "@sluice/core"
 *
 * const Payment = Schema.Struct({ payment_id: Schema.String, order_id: Schema.String })
 * declare const enrich: (p: typeof Payment.Type) => Effect.Effect<{ status: string }>
 *
 * const job = (broker: InMemory.Broker) =>
 *   Effect.gen(function* () {
 *     const records = yield* InMemory.source(broker, { topic: "payments", group: "enricher" })
 *     yield* records.pipe(
 *       Pipeline.decode(Schema.fromJsonString(Payment)), // Envelope<Result<Payment, DeadLetter>>
 *       Pipeline.deadLetters(InMemory.sink(broker, "payments-dlq")), // Envelope<Payment>
 *       Pipeline.mapEffect(enrich, { concurrency: 64, ordering: "key" }),
 *       Pipeline.route((r) =>
 *         r.status === "SUCCESS"
 *           ? [Pipeline.to("enriched", JSON.stringify(r))]
 *           : [Pipeline.to("failed", JSON.stringify(r), r.status)]
 *       ),
 *       Pipeline.runRouted({
 *         enriched: InMemory.sink(broker, "enriched-payments"),
 *         failed: InMemory.sink(broker, "failed-payments")
 *       })
 *     )
 *   }).pipe(Effect.scoped) // closing the scope makes the final commit
 * ```
 *
 * Sinks are ordinary Effect `Sink`s of envelopes that acknowledge each
 * envelope's receipt once its value is durable.
 *
 * @since 0.1.0
 */
import { Array as Arr, Deferred, Effect, Queue, Result, Schema, type Sink, Stream } from "effect"
import type * as Cause from "effect/Cause"
import type * as Context from "effect/Context"
import * as DeadLetter from "./DeadLetter.ts"
import * as Envelope from "./Envelope.ts"
import * as AckBatch from "./internal/ackBatch.ts"
import * as Metrics from "./Metrics.ts"
import * as Receipt from "./Receipt.ts"
import * as Repartition from "./Repartition.ts"

// Maps each chunk to zero or more elements, pulling again on an empty result.
const mapChunks = <A, E, R, B, E2, R2>(
  self: Stream.Stream<A, E, R>,
  f: (chunk: Arr.NonEmptyReadonlyArray<A>) => Effect.Effect<ReadonlyArray<B>, E2, R2>
): Stream.Stream<B, E | E2, R | R2> =>
  Stream.transformPull(self, (pull) => {
    const loop = (
      chunk: Arr.NonEmptyReadonlyArray<A>
    ): Effect.Effect<Arr.NonEmptyReadonlyArray<B>, E | E2 | Cause.Done, R2> =>
      Effect.flatMap(f(chunk), (out) =>
        Arr.isReadonlyArrayNonEmpty(out) ? Effect.succeed(out) : Effect.flatMap(pull, loop)
      )
    return Effect.succeed(Effect.flatMap(pull, loop))
  })

const utf8 = new TextDecoder("utf-8", { fatal: true })

/**
 * Decodes each record value with a schema from text (for JSON, use
 * `Schema.fromJsonString(...)`). A value that is not UTF-8, is `null`, or does
 * not match the schema becomes a `DeadLetter` of kind `"decode"` with the
 * original bytes; the stream keeps going. Send the dead letters on with
 * `deadLetters`.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decode =
  <A>(schema: Schema.Codec<A, string>) =>
  <E, R>(
    self: Stream.Stream<Envelope.Envelope<Envelope.Payload>, E, R>
  ): Stream.Stream<Envelope.Envelope<Result.Result<A, DeadLetter.DeadLetter>>, E, R> => {
    const decodeText = Schema.decodeUnknownResult(schema)
    const decodeOne = (origin: Envelope.Origin, value: Envelope.Payload): Result.Result<A, DeadLetter.DeadLetter> => {
      if (value === null) return Result.fail(DeadLetter.make(origin, value, "decode", "the record has no value"))
      let text: string
      try {
        text = typeof value === "string" ? value : utf8.decode(value)
      } catch {
        return Result.fail(DeadLetter.make(origin, value, "decode", "the value is not valid UTF-8"))
      }
      const result = decodeText(text)
      return Result.isSuccess(result)
        ? Result.succeed(result.success)
        : Result.fail(DeadLetter.make(origin, value, "decode", result.failure.message.replaceAll("\n", " ")))
    }
    return Stream.map(self, (e) => Envelope.make(e.origin, decodeOne(e.origin, e.value), e.receipt))
  }

/**
 * Sends the dead letters of a decoded stream to `sink` and passes the valid
 * values on. A dead letter's receipt is the record's receipt, so the record
 * is done when the dead-letter sink acknowledges it. The stream ends after
 * the dead-letter sink has finished.
 *
 * @since 0.1.0
 * @category routing
 */
export const deadLetters =
  <E2, R2>(
    sink: Sink.Sink<unknown, Envelope.Envelope<DeadLetter.DeadLetter>, unknown, E2, R2>,
    options?: { readonly bufferSize?: number }
  ) =>
  <A, E, R>(
    self: Stream.Stream<Envelope.Envelope<Result.Result<A, DeadLetter.DeadLetter>>, E, R>
  ): Stream.Stream<Envelope.Envelope<A>, E | E2, R | R2> =>
    Stream.unwrap(
      Effect.gen(function* () {
        const queue = yield* Queue.bounded<Envelope.Envelope<DeadLetter.DeadLetter>, Cause.Done>(
          options?.bufferSize ?? 256
        )
        const valid = mapChunks(self, (chunk) => {
          const out: Array<Envelope.Envelope<A>> = []
          const dead: Array<Envelope.Envelope<DeadLetter.DeadLetter>> = []
          for (const e of chunk) {
            if (Result.isSuccess(e.value)) out.push(Envelope.make(e.origin, e.value.success, e.receipt))
            else dead.push(Envelope.make(e.origin, e.value.failure, e.receipt))
          }
          if (dead.length === 0) return Effect.succeed(out)
          return Effect.gen(function* () {
            for (const d of dead) yield* Metrics.countDeadLetter(d.value.kind)
            yield* Queue.offerAll(queue, dead)
            return out
          })
        }).pipe(Stream.concat(Stream.fromEffectDrain(Queue.end(queue))))
        const side = Stream.fromEffectDrain(Stream.run(Stream.fromQueue(queue), sink))
        return Stream.merge(valid, side, { haltStrategy: "both" })
      })
    )

/**
 * How `mapEffect` orders its outputs.
 *
 * - `ordered`: outputs of a partition leave in input order; records run
 *   concurrently and a slow record holds back only its own partition.
 * - `key`: records with the same key never run at the same time and leave in
 *   input order; records with different keys run and leave independently.
 *   Records without a key are not ordered.
 * - `unordered`: outputs leave as they complete.
 *
 * @since 0.1.0
 * @category models
 */
export type Ordering = "ordered" | "key" | "unordered"

/**
 * Options of `mapEffect`.
 *
 * @since 0.1.0
 * @category models
 */
export interface MapEffectOptions<A> {
  /** At most this many records are processed, or wait to be emitted, at once. */
  readonly concurrency: number
  readonly ordering: Ordering
  /** For `ordering: "key"`: the ordering key; the record key by default. */
  readonly key?: ((envelope: Envelope.Envelope<A>) => string | null) | undefined
}

const latin1 = new TextDecoder("latin1")
const recordKey = (e: Envelope.Envelope<unknown>): string | null =>
  e.origin.key === null ? null : latin1.decode(e.origin.key)
const partitionKey = (e: Envelope.Envelope<unknown>): string => `${e.origin.partition}:${e.origin.topic}`

interface Chained<B> {
  readonly out: B
  readonly key: string | null
  readonly turn: Deferred.Deferred<void> | undefined
}

// Runs `run` `concurrency` at a time and emits in completion order, except that a
// record waits for the previous record with the same chain key to be emitted:
// before it starts (`waitToStart`) or before it finishes. Waiting inside the
// effect keeps the record's concurrency slot, so waiting records stay bounded.
const chained = <A, B, E, R, E2, R2>(
  self: Stream.Stream<A, E, R>,
  run: (a: A) => Effect.Effect<B, E2, R2>,
  options: {
    readonly concurrency: number
    readonly chainKey: (a: A) => string | null
    readonly waitToStart: boolean
  }
): Stream.Stream<B, E | E2, R | R2> =>
  Stream.suspend(() => {
    // The last record of each chain not yet emitted.
    const tails = new Map<string, Deferred.Deferred<void>>()
    return self.pipe(
      Stream.mapEffect(
        (a): Effect.Effect<Chained<B>, E2, R2> => {
          const key = options.chainKey(a)
          if (key === null) return Effect.map(run(a), (out) => ({ out, key, turn: undefined }))
          const previous = tails.get(key)
          const turn = Deferred.makeUnsafe<void>()
          tails.set(key, turn)
          const result = (out: B): Chained<B> => ({ out, key, turn })
          if (previous === undefined) return Effect.map(run(a), result)
          return options.waitToStart
            ? Effect.andThen(Deferred.await(previous), Effect.map(run(a), result))
            : Effect.flatMap(run(a), (out) => Effect.as(Deferred.await(previous), result(out)))
        },
        { concurrency: options.concurrency, unordered: true }
      ),
      Stream.map(({ out, key, turn }: Chained<B>) => {
        // Released only once emitted, so the next record of the chain cannot overtake this one.
        if (turn !== undefined && key !== null) {
          if (tails.get(key) === turn) tails.delete(key)
          Deferred.doneUnsafe(turn, Effect.void)
        }
        return out
      })
    )
  })

/**
 * Maps each value with an effect, `concurrency` at a time, ordering the
 * outputs as `ordering` says. The receipt carries over to the output.
 *
 * @since 0.1.0
 * @category mapping
 */
export const mapEffect =
  <A, B, E2, R2>(
    f: (value: A, envelope: Envelope.Envelope<A>) => Effect.Effect<B, E2, R2>,
    options: MapEffectOptions<A>
  ) =>
  <E, R>(self: Stream.Stream<Envelope.Envelope<A>, E, R>): Stream.Stream<Envelope.Envelope<B>, E | E2, R | R2> => {
    const run = (e: Envelope.Envelope<A>) => Effect.map(f(e.value, e), (b) => Envelope.make(e.origin, b, e.receipt))
    switch (options.ordering) {
      case "unordered":
        return Stream.mapEffect(self, run, { concurrency: options.concurrency, unordered: true })
      case "ordered":
        return chained(self, run, { concurrency: options.concurrency, chainKey: partitionKey, waitToStart: false })
      case "key":
        return chained(self, run, {
          concurrency: options.concurrency,
          chainKey: options.key ?? recordKey,
          waitToStart: true
        })
    }
  }

/**
 * Options of `mapChunksEffect`.
 *
 * @since 0.1.0
 * @category models
 */
export interface MapChunksEffectOptions {
  /** At most this many chunks are processed, or wait to be emitted, at once. */
  readonly concurrency: number
  /**
   * Most records handed to one call: a larger upstream chunk is cut into
   * pieces of this size (never merged with the next one, so no record waits
   * for others to arrive). Unbounded by default.
   */
  readonly maxChunkSize?: number | undefined
  /**
   * `ordered` (the default) and `key` both emit every output in input order,
   * within and across chunks, which keeps the order of each partition and of
   * each key. `unordered` emits each chunk's outputs as soon as its call
   * completes, in input order within the chunk.
   */
  readonly ordering?: Ordering | undefined
}

// Cuts each upstream chunk into pieces of at most `max` records, emitting one piece per pull.
const pieces = <A, E, R>(
  self: Stream.Stream<A, E, R>,
  max: number
): Stream.Stream<Arr.NonEmptyReadonlyArray<A>, E, R> =>
  Stream.transformPull(self, (pull) =>
    Effect.sync(() => {
      let current: ReadonlyArray<A> = []
      let next = 0
      const cut = (): readonly [Arr.NonEmptyReadonlyArray<A>] => {
        const end = Math.min(next + max, current.length)
        const piece = next === 0 && end === current.length ? current : current.slice(next, end)
        next = end
        return [piece as Arr.NonEmptyReadonlyArray<A>]
      }
      return Effect.suspend(() => {
        if (next < current.length) return Effect.succeed(cut())
        return Effect.map(pull, (chunk) => {
          current = chunk
          next = 0
          return cut()
        })
      })
    })
  )

/**
 * Maps the values of a whole chunk of records with one effect: `f` gets the
 * values in input order and answers one output per value, in the same order.
 * Each output keeps its input's origin and receipt. Up to `concurrency`
 * chunks of at most `maxChunkSize` records run at once.
 *
 * Use it where one call for many records is cheaper than one per record,
 * such as a lookup that answers a set of keys with one query. If `f` fails,
 * the stream fails and no record of that chunk is acknowledged. An answer of
 * the wrong length is a defect.
 *
 * @since 0.1.0
 * @category mapping
 */
export const mapChunksEffect =
  <A, B, E2, R2>(
    f: (
      values: Arr.NonEmptyReadonlyArray<A>,
      envelopes: Arr.NonEmptyReadonlyArray<Envelope.Envelope<A>>
    ) => Effect.Effect<ReadonlyArray<B>, E2, R2>,
    options: MapChunksEffectOptions
  ) =>
  <E, R>(self: Stream.Stream<Envelope.Envelope<A>, E, R>): Stream.Stream<Envelope.Envelope<B>, E | E2, R | R2> => {
    const max = options.maxChunkSize ?? Number.POSITIVE_INFINITY
    if (!(max >= 1)) throw new RangeError(`Pipeline.mapChunksEffect: maxChunkSize must be at least 1, got ${max}`)
    const chunks = max === Number.POSITIVE_INFINITY ? Stream.chunks(self) : pieces(self, Math.floor(max))
    const run = (
      chunk: Arr.NonEmptyReadonlyArray<Envelope.Envelope<A>>
    ): Effect.Effect<Arr.NonEmptyReadonlyArray<Envelope.Envelope<B>>, E2, R2> =>
      Effect.flatMap(
        f(
          Arr.map(chunk, (e) => e.value),
          chunk
        ),
        (outs) => {
          if (outs.length !== chunk.length) {
            return Effect.die(
              new Error(`Pipeline.mapChunksEffect: ${outs.length} outputs for a chunk of ${chunk.length} records`)
            )
          }
          return Effect.succeed(Arr.map(chunk, (e, i) => Envelope.make(e.origin, outs[i]!, e.receipt)))
        }
      )
    return chunks.pipe(
      Stream.mapEffect(run, { concurrency: options.concurrency, unordered: options.ordering === "unordered" }),
      Stream.flattenArray
    )
  }

/**
 * Keeps the records whose value satisfies `predicate`; the others are
 * acknowledged at once.
 *
 * @since 0.1.0
 * @category filtering
 */
export const filter =
  <A>(predicate: (value: A, envelope: Envelope.Envelope<A>) => boolean) =>
  <E, R>(self: Stream.Stream<Envelope.Envelope<A>, E, R>): Stream.Stream<Envelope.Envelope<A>, E, R> =>
    mapChunks(self, (chunk) => {
      const kept: Array<Envelope.Envelope<A>> = []
      const dropped: Array<Receipt.Receipt> = []
      for (const e of chunk) {
        if (predicate(e.value, e)) kept.push(e)
        else dropped.push(e.receipt)
      }
      return dropped.length === 0 ? Effect.succeed(kept) : Effect.as(Receipt.ackAll(dropped), kept)
    })

/**
 * One output of `route`: a value for the output named `output`. `status`
 * labels the `sluice_records_out_total` metric (`"ok"` when absent).
 *
 * @since 0.1.0
 * @category models
 */
export interface Output<K extends string, A> {
  readonly output: K
  readonly value: A
  readonly status?: string | undefined
}

/**
 * Builds an `Output`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const to = <const K extends string, A>(output: K, value: A, status?: string): Output<K, A> =>
  status === undefined ? { output, value } : { output, value, status }

/**
 * Fans each record out to zero or more named outputs. The record's receipt
 * is split: the record is done once all of its outputs are acknowledged, and
 * at once when it has none.
 *
 * @since 0.1.0
 * @category routing
 */
export const route =
  <A, Outs extends ReadonlyArray<Output<string, unknown>>>(f: (value: A, envelope: Envelope.Envelope<A>) => Outs) =>
  <E, R>(self: Stream.Stream<Envelope.Envelope<A>, E, R>): Stream.Stream<Envelope.Envelope<Outs[number]>, E, R> =>
    mapChunks(self, (chunk) => {
      const out: Array<Envelope.Envelope<Outs[number]>> = []
      const dropped: Array<Receipt.Receipt> = []
      for (const e of chunk) {
        const outputs = f(e.value, e)
        if (outputs.length === 1) {
          // The common case: the output takes over the record's receipt, nothing to split.
          out.push(Envelope.make(e.origin, outputs[0]!, e.receipt))
          continue
        }
        if (outputs.length === 0) {
          dropped.push(e.receipt)
          continue
        }
        const receipts = Receipt.children(e.receipt, outputs.length)
        for (let i = 0; i < outputs.length; i++) out.push(Envelope.make(e.origin, outputs[i]!, receipts[i]!))
      }
      return dropped.length === 0 ? Effect.succeed(out) : Effect.as(Receipt.ackAll(dropped), out)
    })

// Counts the acknowledged outputs of one output and status. Outputs
// acknowledged together by one `Receipt.ackAll` (a sink's chunk) are counted
// with one metric update when it ends, not one per record.
class OutputCounter {
  private pending = 0
  private readonly metric: ReturnType<typeof Metrics.recordsOutOf>
  private readonly context: Context.Context<never>
  private readonly flush = (): void => {
    this.metric.updateUnsafe(this.pending, this.context)
    this.pending = 0
  }
  constructor(metric: ReturnType<typeof Metrics.recordsOutOf>, context: Context.Context<never>) {
    this.metric = metric
    this.context = context
  }
  add(): void {
    if (!AckBatch.active()) this.metric.updateUnsafe(1, this.context)
    else if (this.pending++ === 0) AckBatch.atEnd(this.flush)
  }
}

// An output of `runRouted` whose record's receipt is plain code: the
// envelope is its own receipt (one object per output rather than an envelope
// and a wrapping receipt), which acknowledges the record's receipt and counts
// the output. `receipt` is an own field so that a copy of the envelope keeps it.
class RoutedEnvelope implements Envelope.Envelope<unknown>, Receipt.Receipt {
  readonly origin: Envelope.Origin
  readonly value: unknown
  readonly receipt: Receipt.Receipt
  private readonly parent: Receipt.Receipt & { ackUnsafe(): void }
  private readonly counter: OutputCounter
  private acked = false
  constructor(
    origin: Envelope.Origin,
    value: unknown,
    parent: Receipt.Receipt & { ackUnsafe(): void },
    counter: OutputCounter
  ) {
    this.origin = origin
    this.value = value
    this.parent = parent
    this.counter = counter
    this.receipt = this
  }
  get ack(): Effect.Effect<void> {
    return Effect.sync(() => this.ackUnsafe())
  }
  ackUnsafe(): void {
    if (this.acked) return
    this.acked = true
    this.parent.ackUnsafe()
    this.counter.add()
  }
}

const hasUnsafeAck = (receipt: Receipt.Receipt): receipt is Receipt.Receipt & { ackUnsafe(): void } =>
  receipt.ackUnsafe !== undefined

// An output of `runRouted`: its queue, its counters by status, and the
// envelopes of the chunk being dispatched.
interface RoutedOutput {
  readonly name: string
  readonly queue: Queue.Queue<Envelope.Envelope<unknown>, Cause.Done>
  readonly counters: Map<string, OutputCounter>
  batch: Array<Envelope.Envelope<unknown>>
}

type SinkInput<S> = S extends Sink.Sink<infer _A, infer In, infer _L, infer _E, infer _R> ? In : never
type SinkError<S> = S extends Sink.Sink<infer _A, infer _In, infer _L, infer E, infer _R> ? E : never
type SinkServices<S> = S extends Sink.Sink<infer _A, infer _In, infer _L, infer _E, infer R> ? R : never

/**
 * The outputs a record of sinks accepts: for each sink name, its name and
 * the value type its envelopes carry.
 *
 * @since 0.1.0
 * @category models
 */
export type Accepted<S> = {
  [K in keyof S & string]: Output<K, SinkInput<S[K]> extends Envelope.Envelope<infer V> ? V : never>
}[keyof S & string]

/**
 * Runs a routed stream, sending each output to the sink of its name. Each
 * sink runs in its own fiber behind a bounded buffer, so a slow sink slows
 * the stream down rather than growing memory. Fails when the stream or any
 * sink fails.
 *
 * `sluice_records_out_total` counts an output when its sink acknowledges it;
 * outputs a sink acknowledges together with `Receipt.ackAll` (a produce
 * request's) are counted with one update, so the counter moves per chunk.
 *
 * @since 0.1.0
 * @category running
 */
export const runRouted =
  <S extends Record<string, Sink.Sink<unknown, Envelope.Envelope<never>, unknown, unknown, unknown>>>(
    sinks: S,
    options?: { readonly bufferSize?: number }
  ) =>
  <O extends Accepted<S>, E, R>(
    self: Stream.Stream<Envelope.Envelope<O>, E, R>
  ): Effect.Effect<void, E | SinkError<S[keyof S]>, R | SinkServices<S[keyof S]>> =>
    Effect.gen(function* () {
      const context = yield* Effect.context<never>()
      const outputs = new Map<string, RoutedOutput>()
      const writers: Array<Effect.Effect<unknown, unknown, unknown>> = []
      for (const [name, sink] of Object.entries(sinks)) {
        const queue = yield* Queue.bounded<Envelope.Envelope<unknown>, Cause.Done>(options?.bufferSize ?? 256)
        outputs.set(name, { name, queue, counters: new Map(), batch: [] })
        writers.push(Stream.run(Stream.fromQueue(queue), sink as Sink.Sink<unknown, Envelope.Envelope<unknown>>))
      }
      // Counts an acknowledged output as plain code: one counter per output
      // and status, shared by its receipts, rather than an effect per record.
      const counter = (routed: RoutedOutput, status: string): OutputCounter => {
        let count = routed.counters.get(status)
        if (count === undefined) {
          count = new OutputCounter(Metrics.recordsOutOf(routed.name, status), context)
          routed.counters.set(status, count)
        }
        return count
      }
      // Each chunk is grouped by output once, and each group is offered whole.
      const dispatch = Stream.runForEachArray(self, (chunk) =>
        Effect.suspend(() => {
          const used: Array<RoutedOutput> = []
          for (const e of chunk) {
            const { output, value, status } = e.value
            const routed = outputs.get(output)
            if (routed === undefined) return Effect.die(new Error(`no sink for output "${output}"`))
            if (routed.batch.length === 0) used.push(routed)
            const count = counter(routed, status ?? "ok")
            routed.batch.push(
              hasUnsafeAck(e.receipt)
                ? new RoutedEnvelope(e.origin, value, e.receipt, count)
                : Envelope.make(
                    e.origin,
                    value,
                    Receipt.onAck(
                      e.receipt,
                      Effect.sync(() => count.add())
                    )
                  )
            )
          }
          const offers = used.map((routed) => {
            const batch = routed.batch
            routed.batch = []
            return Queue.offerAll(routed.queue, batch)
          })
          return offers.length === 1 ? offers[0]! : Effect.all(offers, { discard: true })
        })
      ).pipe(Effect.ensuring(Effect.forEach(outputs.values(), (routed) => Queue.end(routed.queue), { discard: true })))
      yield* Effect.all([dispatch, ...writers], { concurrency: "unbounded", discard: true })
    }) as Effect.Effect<void, E | SinkError<S[keyof S]>, R | SinkServices<S[keyof S]>>

/**
 * Re-keys a stream through an internal topic and reads it back in the same
 * job (see `Repartition`): an input record is acknowledged once its write to
 * the topic is, and the records that come out carry the topic's receipts.
 *
 * @since 0.2.0
 * @category routing
 */
export const repartition: <A, E2>(
  topic: Repartition.Topic<E2>,
  options: Repartition.Options<A>
) => <E, R>(self: Stream.Stream<Envelope.Envelope<A>, E, R>) => Stream.Stream<Envelope.Envelope<A>, E | E2, R> =
  Repartition.through
