/**
 * A keyed process operator: per record, the handler sees the current state
 * of the record's key, may replace or delete it, registers timers, and emits
 * zero or more outputs. Timers fire per key in event time (when the
 * watermark passes them) or in processing time (from `Clock`), and a firing
 * timer's handler has the same powers.
 *
 * Receipts follow the usual rule: a record is done when all its outputs are
 * acknowledged and its state change is durable (after the store's flush,
 * which the operator starts per chunk and does not wait for: it goes on
 * with the next chunk and acknowledges when the flush completes).
 * A timer's outputs carry a receipt too: the timer stays in the store until
 * they are all acknowledged, so a timer whose outputs were lost fires again
 * after a restart.
 *
 * State lives in the `StateStore` under `<name>.state` (with an optional time
 * to live, in event or processing time) and timers under `<name>.timers`,
 * keyed `e/<time>/<key>` or `p/<time>/<key>` so they are read in time order.
 *
 * A partition is taken over (restored from the store) at its first record.
 * With an `Ownership` hub in context, fed by the source, a partition the
 * source gives up is given up here too, between two chunks: the store
 * flushes and revokes it, its timers and watermark are forgotten, and its
 * next record restores it again, with whatever another owner wrote meanwhile.
 *
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Keyed, StateStore } from "@sluice/core"
 *
 * interface Order { readonly customer: string; readonly at: number }
 *
 * // Emits "dormant" for a customer 30 days (event time) after their last order.
 * const dormancy = Keyed.process({
 *   name: "dormancy",
 *   key: (o: Order) => o.customer,
 *   timestamp: (o) => o.at,
 *   codec: StateStore.jsonCodec(Schema.Number),
 *   onRecord: (ctx, order) =>
 *     Effect.sync(() => {
 *       ctx.set(order.at)
 *       ctx.setTimer(order.at + 30 * 86_400_000, "event-time")
 *       return []
 *     }),
 *   onTimer: (ctx, timer) =>
 *     Effect.succeed(ctx.state._tag === "Some" && ctx.state.value + 30 * 86_400_000 === timer.time ? [ctx.key] : [])
 * })
 * ```
 *
 * @since 0.2.0
 */
import { Clock, Deferred, Duration, Effect, Option, Stream } from "effect"
import * as Envelope from "./Envelope.ts"
import * as codecs from "./internal/codecs.ts"
import * as DurableAcks from "./internal/durableAcks.ts"
import * as Revocations from "./internal/revocations.ts"
import { mapChunks } from "./internal/stream.ts"
import * as TimerQueue from "./internal/timerQueue.ts"
import { encodeUtf8 } from "./internal/utf8.ts"
import * as Metrics from "./Metrics.ts"
import * as Receipt from "./Receipt.ts"
import type { StateError } from "./StateError.ts"
import * as StateStore from "./StateStore.ts"
import * as Watermark from "./Watermark.ts"

/**
 * The clock a timer follows.
 *
 * @since 0.2.0
 * @category models
 */
export type TimeDomain = "event-time" | "processing-time"

/**
 * What a handler sees of, and does to, one key.
 *
 * @since 0.2.0
 * @category models
 */
export interface Context<S> {
  readonly key: string
  readonly partition: number
  /** The key's state before this call. */
  readonly state: Option.Option<S>
  /** The event time of the record, or the time of the firing timer. */
  readonly timestamp: number
  /** The operator's watermark. */
  readonly watermark: number
  /** Processing time, from `Clock`. */
  readonly now: number
  /** Replaces the key's state (applied after the handler returns). */
  set(value: S): void
  /** Deletes the key's state. */
  delete(): void
  /** Registers a timer for this key; registering the same time twice keeps one. */
  setTimer(time: number, domain: TimeDomain): void
  /** Cancels a timer of this key. */
  cancelTimer(time: number, domain: TimeDomain): void
}

/**
 * A timer that fired.
 *
 * @since 0.2.0
 * @category models
 */
export interface Timer {
  readonly time: number
  readonly domain: TimeDomain
}

/**
 * Options of `process`.
 *
 * @since 0.2.0
 * @category models
 */
export interface Options<A, S, B, E2, R2> {
  /** Names the operator's state stores and metrics; unique per job. */
  readonly name: string
  /** The state key. The input must be partitioned by it (see `Repartition`). */
  readonly key: (value: A, envelope: Envelope.Envelope<A>) => string
  readonly codec: StateStore.Codec<S>
  /** The event time; the record timestamp by default. */
  readonly timestamp?: Watermark.TimestampExtractor<A> | undefined
  readonly watermark?: Watermark.Options | undefined
  /**
   * A time to live for the state, renewed by every `set`: counted from the
   * record's event time (`event-time`, expired as the watermark passes) or
   * from the clock (`processing-time`).
   */
  readonly ttl?: { readonly ttl: Duration.Input; readonly domain: TimeDomain } | undefined
  readonly onRecord: (context: Context<S>, value: A) => Effect.Effect<ReadonlyArray<B>, E2, R2>
  readonly onTimer?: ((context: Context<S>, timer: Timer) => Effect.Effect<ReadonlyArray<B>, E2, R2>) | undefined
  /** How often the clock is read for processing-time timers and idle partitions; 1 second by default. */
  readonly tick?: Duration.Input | undefined
  /** The input partitions owned from the start (see `Window.Options.partitions`). */
  readonly partitions?: Iterable<number> | undefined
}

interface Pending<S> {
  state: Option.Option<S> | undefined
  readonly timers: Array<readonly [time: number, domain: TimeDomain, cancel: boolean]>
}

const domainPrefix = (domain: TimeDomain) => (domain === "event-time" ? "e/" : "p/")
// Passes of one `fire` over the due timers (see `fire`): a handler that keeps setting due timers
// cannot hold the operator.
const MAX_FIRE_PASSES = 16

const TICK = Symbol("tick")

/**
 * Runs a keyed process function over a stream; see the module notes.
 *
 * @since 0.2.0
 * @category operators
 */
export const process =
  <A, S, B, E2 = never, R2 = never>(options: Options<A, S, B, E2, R2>) =>
  <E, R>(
    self: Stream.Stream<Envelope.Envelope<A>, E, R>
  ): Stream.Stream<Envelope.Envelope<B>, E | E2 | StateError, R | R2 | StateStore.StateStore> =>
    Stream.unwrap(
      Effect.gen(function* () {
        const service = yield* StateStore.StateStore
        const name = options.name
        const state = yield* service.open(`${name}.state`, options.codec)
        const timers = yield* service.open(`${name}.timers`, codecs.float64)
        const time = yield* service.open(`${name}.time`, codecs.float64)
        const acks = yield* DurableAcks.make()
        const tracker = Watermark.make(options.watermark)
        const timestampOf = options.timestamp ?? (Watermark.recordTimestamp as Watermark.TimestampExtractor<A>)
        const ttl =
          options.ttl === undefined
            ? undefined
            : { ttl: Duration.toMillis(Duration.fromInputUnsafe(options.ttl.ttl)), domain: options.ttl.domain }
        const assigned = new Set<number>()
        // The earliest timer per domain, so the queues are looked at only when one may be due.
        const next = { "event-time": Number.POSITIVE_INFINITY, "processing-time": Number.POSITIVE_INFINITY }
        // The pending timers of each assigned partition, per domain, in firing order: the store
        // keeps them durable, the queues say which are due without reading them all back.
        const queues = new Map<number, Record<TimeDomain, TimerQueue.TimerQueue>>()
        const queueOf = (partition: number, domain: TimeDomain) => queues.get(partition)![domain]
        // The input topics seen: a revocation names a topic and a partition.
        const topics = new Set<string>()
        let lastTopic = ""
        // Per assigned partition, the newest event time and watermark in the `.time` store (written
        // or restored): an unchanged one is not written again, so a chunk that moves neither (a tick,
        // a chunk within the watermark's lateness) sends nothing to a durable store's changelog.
        const written = new Map<number, { max: number | undefined; watermark: number | undefined }>()

        const assign = (partition: number, now: number) =>
          Effect.gen(function* () {
            assigned.add(partition)
            yield* state.assign([partition])
            yield* timers.assign([partition])
            yield* time.assign([partition])
            const own = { "event-time": TimerQueue.make(), "processing-time": TimerQueue.make() }
            queues.set(partition, own)
            for (const domain of ["event-time", "processing-time"] as const) {
              for (const [k, t] of yield* timers.range(partition, domainPrefix(domain))) own[domain].add(k, t)
              next[domain] = Math.min(next[domain], own[domain].peek())
            }
            const max = yield* time.get(partition, "max")
            const watermark = yield* time.get(partition, "watermark")
            if (Option.isSome(max)) tracker.assign([partition], now, max.value)
            if (Option.isSome(watermark)) tracker.restore(watermark.value)
            written.set(partition, { max: Option.getOrUndefined(max), watermark: Option.getOrUndefined(watermark) })
          })

        // The source lost these partitions (see `Ownership`): once every state-only record is
        // acknowledged (its flush done), they go back to the store, which flushes what is left,
        // and what is held of them in memory is dropped. The next record or assignment of one of
        // them assigns it again, which restores it from the store: from what another owner
        // wrote meanwhile, not from this instance's memory.
        const revoke = (revocation: Revocations.Revoke) =>
          Effect.gen(function* () {
            const mine = revocation.partitions.filter((p) => assigned.has(p))
            if (mine.length === 0) return
            yield* acks.drain
            yield* state.revoke(mine)
            yield* timers.revoke(mine)
            yield* time.revoke(mine)
            tracker.revoke(mine)
            for (const p of mine) {
              assigned.delete(p)
              queues.delete(p)
              written.delete(p)
            }
          }).pipe(Effect.ensuring(Deferred.succeed(revocation.done, undefined)))

        const context = (
          partition: number,
          key: string,
          current: Option.Option<S>,
          timestamp: number,
          now: number,
          pending: Pending<S>
        ): Context<S> => ({
          key,
          partition,
          state: current,
          timestamp,
          watermark: tracker.current,
          now,
          set: (value) => {
            pending.state = Option.some(value)
          },
          delete: () => {
            pending.state = Option.none()
          },
          setTimer: (t, domain) => {
            pending.timers.push([t, domain, false])
          },
          cancelTimer: (t, domain) => {
            pending.timers.push([t, domain, true])
          }
        })

        // Applies a handler's changes to the store.
        const apply = (partition: number, key: string, timestamp: number, pending: Pending<S>) =>
          Effect.gen(function* () {
            if (pending.state !== undefined) {
              if (Option.isNone(pending.state)) yield* state.delete(partition, key)
              else if (ttl === undefined) yield* state.set(partition, key, pending.state.value)
              else {
                yield* state.set(partition, key, pending.state.value, {
                  ttl: ttl.ttl,
                  ttlDomain: ttl.domain,
                  ...(ttl.domain === "event-time" ? { now: timestamp } : {})
                })
              }
            }
            for (const [t, domain, cancel] of pending.timers) {
              const k = domainPrefix(domain) + StateStore.timeKey(t, key)
              if (cancel) {
                yield* timers.delete(partition, k)
                queueOf(partition, domain).remove(k)
              } else {
                yield* timers.set(partition, k, t)
                queueOf(partition, domain).add(k, t)
                if (t < next[domain]) next[domain] = t
              }
            }
          })

        // Fires the timers of `domain` due at `upTo`; returns their outputs. A handler may set a
        // timer that is already due (a timer that finds its deadline moved sets the new one): the
        // passes go on until none is due, up to `MAX_FIRE_PASSES`; what is left fires next time.
        // A partition whose timer fired with no outputs goes into `touched`: the chunk's flush carries the delete.
        const fire = (
          domain: TimeDomain,
          upTo: number,
          now: number,
          out: Array<Envelope.Envelope<B>>,
          touched: Set<number>
        ) =>
          Effect.gen(function* () {
            if (options.onTimer === undefined) return
            const onTimer = options.onTimer
            for (let pass = 0; pass < MAX_FIRE_PASSES && upTo >= next[domain]; pass++) {
              for (const partition of assigned) {
                const queue = queueOf(partition, domain)
                // Taken timers are not taken again until their outputs are acknowledged.
                for (const [k, t] of queue.takeDue(upTo)) {
                  const key = StateStore.parseTimeKey(k.slice(2))[1]
                  const current = yield* state.get(partition, key)
                  const pending: Pending<S> = { state: undefined, timers: [] }
                  const outs = yield* onTimer(context(partition, key, current, t, now, pending), { time: t, domain })
                  yield* apply(partition, key, t, pending)
                  if (outs.length === 0) {
                    // Nothing to wait for: the delete goes out with the chunk's flush. A flush of its
                    // own per timer waited for a changelog round trip inside the chunk; a job whose
                    // timers mostly find their deadline moved (the segments job) spent half its time so.
                    yield* Effect.ignore(timers.delete(partition, k))
                    queue.remove(k)
                    touched.add(partition)
                    continue
                  }
                  // The timer is done, and removed, once its outputs are acknowledged.
                  const done = Effect.andThen(
                    Effect.andThen(timers.delete(partition, k), timers.flush([partition])),
                    Effect.sync(() => queue.remove(k))
                  ).pipe(Effect.ignore)
                  const receipts = Receipt.children(Receipt.make(done), outs.length)
                  const origin: Envelope.Origin = {
                    topic: name,
                    partition,
                    offset: -1n,
                    key: encodeUtf8(key),
                    headers: [],
                    timestamp: t
                  }
                  for (let i = 0; i < outs.length; i++) out.push(Envelope.make(origin, outs[i]!, receipts[i]!))
                }
              }
              // After the handlers, which may have set timers: the earliest one left.
              next[domain] = Number.POSITIVE_INFINITY
              for (const partition of assigned) next[domain] = Math.min(next[domain], queueOf(partition, domain).peek())
            }
          })

        const processChunk = (chunk: ReadonlyArray<Envelope.Envelope<A> | typeof TICK | Revocations.Revoke>) =>
          Effect.gen(function* () {
            const now = yield* Clock.currentTimeMillis
            const start = tracker.current
            const out: Array<Envelope.Envelope<B>> = []
            const stateReceipts: Array<Receipt.Receipt> = []
            const seen = new Set<number>()
            // Given up at the end of the chunk, once its changes are written.
            const revocations: Array<Revocations.Revoke> = []
            for (const e of chunk) {
              if (e === TICK) {
                tracker.advance(now)
                continue
              }
              if (Revocations.isRevoke(e)) {
                revocations.push(e)
                continue
              }
              if (e.origin.topic !== lastTopic) {
                lastTopic = e.origin.topic
                topics.add(lastTopic)
              }
              const partition = e.origin.partition
              if (!assigned.has(partition)) yield* assign(partition, now)
              seen.add(partition)
              const key = options.key(e.value, e)
              const t = timestampOf(e.value, e)
              const current = yield* state.get(partition, key)
              const pending: Pending<S> = { state: undefined, timers: [] }
              const outs = yield* options.onRecord(context(partition, key, current, t, now, pending), e.value)
              if (pending.state !== undefined || pending.timers.length > 0) yield* apply(partition, key, t, pending)
              const receipts = Receipt.children(e.receipt, 1 + outs.length)
              stateReceipts.push(receipts[0]!)
              for (let i = 0; i < outs.length; i++) out.push(Envelope.make(e.origin, outs[i]!, receipts[i + 1]!))
              tracker.observe(partition, t, now)
              const w = tracker.advance(now)
              // `fire` returns at once when no timer is due; the check here spares building its effect per record.
              if (options.onTimer !== undefined && w >= next["event-time"]) yield* fire("event-time", w, now, out, seen)
            }
            const w = tracker.current
            if (w > start) {
              yield* fire("event-time", w, now, out, seen)
              // Without a TTL nothing expires: an expiry pass would read every entry for nothing.
              if (ttl !== undefined) for (const p of assigned) yield* state.expire(p, w)
            } else if (ttl?.domain === "processing-time" && chunk.includes(TICK)) {
              for (const p of assigned) yield* state.expire(p)
            }
            yield* fire("processing-time", now, now, out, seen)
            const touched = w > start ? assigned : seen
            for (const p of touched) {
              const last = written.get(p)!
              const max = tracker.maxEventTime(p)
              if (max > Number.NEGATIVE_INFINITY && max !== last.max) {
                yield* time.set(p, "max", max)
                last.max = max
              }
              if (w !== last.watermark) {
                yield* time.set(p, "watermark", w)
                last.watermark = w
              }
            }
            // The durability barrier: a record whose effect is only on state is done after it. The
            // flushes are started, not waited for: the receipts are acknowledged when they complete.
            yield* acks.flushThenAck([state, timers, time], touched, stateReceipts)
            // Stores keep a running count of their entries, so the gauges are read every chunk.
            yield* Metrics.setStateEntries(`${name}.state`, yield* state.size())
            yield* Metrics.setTimersPending(name, yield* timers.size())
            for (const [p, lag] of tracker.lags(now)) {
              if (Number.isFinite(lag)) yield* Metrics.setWatermarkLag(name, p, lag)
            }
            for (const revocation of revocations) yield* revoke(revocation)
            return out
          })

        const startedAt = yield* Clock.currentTimeMillis
        for (const p of options.partitions ?? []) yield* assign(p, startedAt)
        // Before any record, a partition given in `options.partitions` is revoked whatever its topic.
        const revoked = yield* Revocations.subscribe(
          (tp) => assigned.has(tp.partition) && (topics.size === 0 || topics.has(tp.topic))
        )
        const ticking =
          options.onTimer !== undefined ||
          options.watermark?.idleTimeout !== undefined ||
          ttl?.domain === "processing-time"
        const ticked: Stream.Stream<Envelope.Envelope<A> | typeof TICK, E, R> = ticking
          ? Stream.merge(
              self,
              Stream.map(Stream.tick(options.tick ?? "1 second"), () => TICK),
              { haltStrategy: "left" }
            )
          : self
        const input: Stream.Stream<Envelope.Envelope<A> | typeof TICK | Revocations.Revoke, E, R> =
          revoked === undefined ? ticked : Stream.merge(ticked, revoked, { haltStrategy: "left" })
        // At the end of the input, the last chunks' receipts are acknowledged before the stream ends.
        return Stream.concat(mapChunks(input, processChunk), Stream.fromEffectDrain(acks.drain))
      })
    )
