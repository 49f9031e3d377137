/**
 * Event-time windows over keyed streams: tumbling, hopping and session
 * windows with a combinable `Aggregator`, an explicit grace and an explicit
 * emit mode.
 *
 * - Hopping windows are built from panes of `slide` length: an event updates
 *   the one pane it falls in, and a window's result combines its panes, so a
 *   1 h window sliding by 5 min costs one state update per event, not 12.
 *   Tumbling windows are hopping windows whose slide is their size.
 * - A window `[start, end)` closes when the watermark reaches `end + grace`.
 *   With `emit: "final"` its result is emitted then, once; with
 *   `emit: "updates"` every change to an open window is emitted instead;
 *   with `emit: "coalesced"` each window a chunk changed is emitted once,
 *   at the end of the chunk or just before the window closes.
 * - A record whose windows are all closed is late: it comes out as a `Late`
 *   output carrying its own receipt, so a job routes it to a topic and its
 *   offset commits when that write is acknowledged; it is also counted in
 *   `sluice_late_events_total`. For sessions, a record is late when its time
 *   is at or below `watermark - grace`, which is exactly what keeps a closed
 *   session from ever having to merge again.
 * - Receipts: a record whose only effect is on state is acknowledged once the
 *   state store's flush of its chunk completes (in memory: at once); the
 *   operator starts that flush and goes on with the next chunk meanwhile. A
 *   record whose arrival closes windows is done only after those results are
 *   acknowledged too. Results of windows closed by the clock alone (idle
 *   partitions) carry no receipt.
 *
 * The state (panes or sessions, and each partition's highest event time and
 * watermark) lives in the `StateStore` under `<name>.panes`/`<name>.sessions`
 * and `<name>.time`, behind a write-back cache written once per chunk, so an
 * operator started again over the same store resumes where it stopped.
 * A closed window's state is deleted, and the watermark that closed it
 * saved, only once its results are acknowledged (with a later chunk, or at
 * the end of the input): like Kafka Streams committing only after its
 * outputs are flushed, a crash before that leaves the store as it was, and
 * the replayed records close the window and emit its result again.
 *
 * With an `Ownership` hub in context (fed by the source), a partition the
 * source gives up is given up here too: its changes are written, the store
 * revokes it, and its open windows are dropped from memory, so that its next
 * record restores them from the store with what another owner added.
 *
 * @since 0.2.0
 */
import { Clock, Deferred, Duration, Effect, Stream } from "effect"
import type * as Aggregator from "./Aggregator.ts"
import * as Envelope from "./Envelope.ts"
import * as codecs from "./internal/codecs.ts"
import * as DurableAcks from "./internal/durableAcks.ts"
import * as Revocations from "./internal/revocations.ts"
import { mapChunks } from "./internal/stream.ts"
import { encodeUtf8 } from "./internal/utf8.ts"
import * as WindowChanges from "./internal/windowChanges.ts"
import * as Metrics from "./Metrics.ts"
import * as Receipt from "./Receipt.ts"
import type { StateError } from "./StateError.ts"
import * as StateStore from "./StateStore.ts"
import * as Watermark from "./Watermark.ts"

/**
 * The shape of the windows.
 *
 * @since 0.2.0
 * @category models
 */
export type Spec =
  | { readonly _tag: "Hopping"; readonly size: number; readonly slide: number }
  | { readonly _tag: "Session"; readonly gap: number }

const millis = (d: Duration.Input): number => Duration.toMillis(Duration.fromInputUnsafe(d))

/**
 * Back-to-back windows of `size`, aligned on the epoch.
 *
 * @since 0.2.0
 * @category constructors
 */
export const tumbling = (size: Duration.Input): Spec => hopping({ size, slide: size })

/**
 * Windows of `size` starting every `slide` (aligned on the epoch); `size`
 * must be a multiple of `slide`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const hopping = (options: { readonly size: Duration.Input; readonly slide: Duration.Input }): Spec => {
  const size = millis(options.size)
  const slide = millis(options.slide)
  if (!(slide >= 1 && size >= slide && size % slide === 0 && Number.isInteger(slide))) {
    throw new RangeError(`Window.hopping: size (${size} ms) must be a positive multiple of slide (${slide} ms)`)
  }
  return { _tag: "Hopping", size, slide }
}

/**
 * Sessions per key: records less than `gap` apart belong to one session,
 * `[first, last + gap)`; a record that bridges two sessions merges them.
 *
 * @since 0.2.0
 * @category constructors
 */
export const session = (gap: Duration.Input): Spec => {
  const ms = millis(gap)
  if (!(ms >= 1)) throw new RangeError(`Window.session: gap must be at least 1 ms, got ${ms}`)
  return { _tag: "Session", gap: ms }
}

/**
 * `final`: one result per window, when it closes. `updates`: a result on
 * every change of an open window (the last one is the final value).
 * `coalesced`: the changes of one input chunk come out once per window, with
 * its value at the end of the chunk (or just before it closes), carrying the
 * receipts of every record that changed it: what a table written from the
 * results needs, at one result per changed window and chunk rather than one
 * per window and record.
 *
 * @since 0.2.0
 * @category models
 */
export type EmitMode = "final" | "updates" | "coalesced"

/**
 * A window's aggregate.
 *
 * @since 0.2.0
 * @category models
 */
export interface Result<Out> {
  readonly _tag: "Result"
  readonly key: string
  readonly partition: number
  /** Inclusive start, epoch ms. */
  readonly start: number
  /** Exclusive end, epoch ms. */
  readonly end: number
  readonly value: Out
  /** `true` for a closed window (`emit: "final"`), `false` for an update. */
  readonly final: boolean
}

/**
 * A record that arrived after its window closed.
 *
 * @since 0.2.0
 * @category models
 */
export interface Late<A> {
  readonly _tag: "Late"
  readonly key: string
  readonly timestamp: number
  /** The operator's watermark when the record arrived. */
  readonly watermark: number
  readonly value: A
}

/**
 * What a window operator emits.
 *
 * @since 0.2.0
 * @category models
 */
export type Output<A, Out> = Result<Out> | Late<A>

/**
 * Whether an output is a window result.
 *
 * @since 0.2.0
 * @category predicates
 */
export const isResult = <A, Out>(output: Output<A, Out>): output is Result<Out> => output._tag === "Result"

/**
 * Options of `aggregate`.
 *
 * @since 0.2.0
 * @category models
 */
export interface Options<A, Acc, Out> {
  /** Names the operator's state stores and metrics; unique per job. */
  readonly name: string
  /** The grouping key. The input must be partitioned by it (see `Repartition`). */
  readonly key: (value: A, envelope: Envelope.Envelope<A>) => string
  /** The event time; the record timestamp by default. */
  readonly timestamp?: Watermark.TimestampExtractor<A> | undefined
  readonly window: Spec
  readonly aggregator: Aggregator.Aggregator<NoInfer<A>, Acc, Out>
  /** How long after its end a window still accepts records. Required: there is no hidden default. */
  readonly grace: Duration.Input
  /** Required: `final` or `updates`. */
  readonly emit: EmitMode
  readonly watermark?: Watermark.Options | undefined
  /**
   * The input partitions this operator owns from the start (the source's
   * assignment): their state is restored before the first record, so a
   * restarted operator's watermark counts partitions that are quiet now.
   * Other partitions are taken over when their first record arrives.
   */
  readonly partitions?: Iterable<number> | undefined
  /**
   * How often the clock is read to let idle partitions release the watermark;
   * 1 second by default. Only used with `watermark.idleTimeout`.
   */
  readonly tick?: Duration.Input | undefined
}

// The state of one operator: the windows it keeps, by kind.
interface Engine<A, Out> {
  isLate(timestamp: number, watermark: number): boolean
  add(
    partition: number,
    key: string,
    timestamp: number,
    value: A,
    watermark: number,
    updates: Array<Result<Out>> | undefined,
    changes: WindowChanges.Changes<Result<Out>> | undefined
  ): void
  /**
   * Closes the windows the watermark passed between `from` and `to`, emitting
   * their results into `results` if given. The state entries the closed
   * windows leave behind go into `closed`, to be deleted from the store only
   * once the results are acknowledged (see `forget`).
   */
  close(from: number, to: number, results: Array<Result<Out>> | undefined, closed: Array<Closed>): void
  /** Deletes the entries of closed windows from the store, with the next `persist`. */
  forget(closed: ReadonlyArray<Closed>): void
  /** Takes over a partition: assigns it in the store and loads its state. */
  assign(partition: number): Effect.Effect<void, StateError>
  /** Gives partitions up: drops their state from memory and revokes them in the store (after `persist`). */
  revoke(partitions: ReadonlySet<number>): Effect.Effect<void, StateError>
  /** Writes the changes since the last call; returns the partitions written. */
  persist(): Effect.Effect<ReadonlyArray<number>, StateError>
  /** The engine's store, for its durability barrier. */
  readonly store: Pick<StateStore.Store<unknown>, "flush" | "flushAsync">
  open(): number
}

// Changes to write per partition: key -> value, or undefined for a delete.
class Dirty<V> {
  readonly partitions = new Map<number, Map<string, V | undefined>>()
  drop(partitions: ReadonlySet<number>): void {
    for (const p of partitions) this.partitions.delete(p)
  }
  set(partition: number, key: string, value: V | undefined): void {
    let m = this.partitions.get(partition)
    if (m === undefined) {
      m = new Map()
      this.partitions.set(partition, m)
    }
    m.set(key, value)
  }
  write(store: StateStore.Store<V>): Effect.Effect<ReadonlyArray<number>, StateError> {
    if (this.partitions.size === 0) return Effect.succeed([])
    const touched = [...this.partitions.entries()]
    this.partitions.clear()
    return Effect.as(
      Effect.forEach(
        touched,
        ([partition, changes]) => {
          const sets: Array<readonly [string, V]> = []
          const deletes: Array<string> = []
          for (const [k, v] of changes) {
            if (v === undefined) deletes.push(k)
            else sets.push([k, v])
          }
          return Effect.andThen(store.setMany(partition, sets), store.deleteMany(partition, deletes))
        },
        { discard: true }
      ),
      touched.map(([p]) => p)
    )
  }
}

// A state entry of a closed window, still in the store until its results are acknowledged.
interface Closed {
  readonly partition: number
  readonly key: string
}

interface Slot<Acc> {
  readonly partition: number
  readonly key: string
  acc: Acc
}

const slotId = (partition: number, key: string): string => `${partition}\u0000${key}`

const paneEngine = <A, Acc, Out>(
  spec: { readonly size: number; readonly slide: number },
  grace: number,
  aggregator: Aggregator.Aggregator<A, Acc, Out>,
  store: StateStore.Store<Acc>
): Engine<A, Out> => {
  const { size, slide } = spec
  // pane start -> slot id -> slot
  const panes = new Map<number, Map<string, Slot<Acc>>>()
  const dirty = new Dirty<Acc>()
  const paneOf = (t: number) => Math.floor(t / slide) * slide
  // The key prefix of the last pane written: most records of a chunk share a pane.
  let lastPane = Number.NaN
  let lastPrefix = ""
  // The first window start not yet closed at watermark `w`: windows close at start + size + grace <= w.
  const firstOpen = (w: number) =>
    w === Number.NEGATIVE_INFINITY ? w : Math.floor((w - size - grace) / slide) * slide + slide
  const result = (slot: Slot<Acc>, start: number, final: boolean): Result<Out> => {
    let acc = aggregator.empty()
    for (let p = start; p < start + size; p += slide) {
      const s = panes.get(p)?.get(slotId(slot.partition, slot.key))
      if (s !== undefined) acc = aggregator.combine(acc, s.acc)
    }
    return {
      _tag: "Result",
      key: slot.key,
      partition: slot.partition,
      start,
      end: start + size,
      value: aggregator.result(acc),
      final
    }
  }
  const changedResult = (slot: Slot<Acc>, start: number) => result(slot, start, false)
  const putPane = (pane: number, slot: Slot<Acc>) => {
    let m = panes.get(pane)
    if (m === undefined) {
      m = new Map()
      panes.set(pane, m)
    }
    m.set(slotId(slot.partition, slot.key), slot)
  }
  return {
    assign: (partition) =>
      Effect.andThen(
        store.assign([partition]),
        Effect.map(store.range(partition, ""), (entries) => {
          for (const [k, acc] of entries) {
            const [pane, key] = StateStore.parseTimeKey(k)
            putPane(pane, { partition, key, acc })
          }
        })
      ),
    revoke: (partitions) =>
      Effect.suspend(() => {
        for (const [pane, m] of panes) {
          for (const [id, slot] of m) if (partitions.has(slot.partition)) m.delete(id)
          if (m.size === 0) panes.delete(pane)
        }
        dirty.drop(partitions)
        return store.revoke(partitions)
      }),
    isLate: (t, w) => paneOf(t) + size + grace <= w,
    add: (partition, key, t, value, w, updates, changes) => {
      const pane = paneOf(t)
      let m = panes.get(pane)
      if (m === undefined) {
        m = new Map()
        panes.set(pane, m)
      }
      const id = slotId(partition, key)
      let slot = m.get(id)
      if (slot === undefined) {
        slot = { partition, key, acc: aggregator.add(aggregator.empty(), value) }
        m.set(id, slot)
      } else slot.acc = aggregator.add(slot.acc, value)
      if (pane !== lastPane) {
        lastPane = pane
        lastPrefix = StateStore.timeKey(pane, "")
      }
      dirty.set(partition, lastPrefix + key, slot.acc)
      if (updates !== undefined) {
        const first = Math.max(pane - size + slide, firstOpen(w))
        for (let start = first; start <= pane; start += slide) updates.push(result(slot, start, false))
      }
      if (changes !== undefined) {
        const first = Math.max(pane - size + slide, firstOpen(w))
        for (let start = first; start <= pane; start += slide)
          changes.touch(id, start, start + size + grace, slot, changedResult)
      }
    },
    close: (from, to, results, closed) => {
      const lo = firstOpen(from)
      const hi = firstOpen(to)
      let start = lo
      while (start < hi && panes.size > 0) {
        let minPane = Number.POSITIVE_INFINITY
        for (const p of panes.keys()) if (p < minPane) minPane = p
        // Skip the windows that hold no pane at all.
        if (start < minPane - size + slide) start = minPane - size + slide
        if (start >= hi) break
        if (results !== undefined) {
          // Combine the window's panes key by key, walking each pane once.
          const window = new Map<string, { readonly slot: Slot<Acc>; acc: Acc }>()
          for (let p = start; p < start + size; p += slide) {
            const m = panes.get(p)
            if (m === undefined) continue
            for (const [id, slot] of m) {
              const w = window.get(id)
              if (w === undefined) window.set(id, { slot, acc: aggregator.combine(aggregator.empty(), slot.acc) })
              else w.acc = aggregator.combine(w.acc, slot.acc)
            }
          }
          for (const { slot, acc } of window.values()) {
            results.push({
              _tag: "Result",
              key: slot.key,
              partition: slot.partition,
              start,
              end: start + size,
              value: aggregator.result(acc),
              final: true
            })
          }
        }
        // No later window uses the pane this window starts with.
        const first = panes.get(start)
        if (first !== undefined) {
          for (const slot of first.values())
            closed.push({ partition: slot.partition, key: StateStore.timeKey(start, slot.key) })
          panes.delete(start)
        }
        start += slide
      }
    },
    forget: (closed) => {
      for (const c of closed) dirty.set(c.partition, c.key, undefined)
    },
    persist: () => dirty.write(store),
    store,
    open: () => {
      let n = 0
      for (const m of panes.values()) n += m.size
      return n
    }
  }
}

interface Session<Acc> {
  start: number
  last: number
  acc: Acc
}

const sessionCodec = <Acc>(acc: StateStore.Codec<Acc>): StateStore.Codec<Session<Acc>> => {
  const pair = codecs.tuple(codecs.float64, acc)
  return {
    encode: (s) => pair.encode([s.last, s.acc]),
    decode: (bytes) => {
      const [last, a] = pair.decode(bytes)
      // The start is in the entry's key; `restore` sets it.
      return { start: 0, last, acc: a }
    }
  }
}

const sessionEngine = <A, Acc, Out>(
  gap: number,
  grace: number,
  aggregator: Aggregator.Aggregator<A, Acc, Out>,
  store: StateStore.Store<Session<Acc>>
): Engine<A, Out> => {
  // slot id -> sessions of that key, in start order
  const sessions = new Map<string, { partition: number; key: string; list: Array<Session<Acc>> }>()
  const dirty = new Dirty<Session<Acc>>()
  let nextClose = Number.POSITIVE_INFINITY
  const storeKey = (key: string, start: number) => StateStore.timeKey(start, key)
  const result = (partition: number, key: string, s: Session<Acc>, final: boolean): Result<Out> => ({
    _tag: "Result",
    key,
    partition,
    start: s.start,
    end: s.last + gap,
    value: aggregator.result(aggregator.combine(aggregator.empty(), s.acc)),
    final
  })
  const entry = (partition: number, key: string) => {
    const id = slotId(partition, key)
    let e = sessions.get(id)
    if (e === undefined) {
      e = { partition, key, list: [] }
      sessions.set(id, e)
    }
    return e
  }
  return {
    assign: (partition) =>
      Effect.andThen(
        store.assign([partition]),
        Effect.map(store.range(partition, ""), (entries) => {
          for (const [k, s] of entries) {
            const [start, key] = StateStore.parseTimeKey(k)
            const e = entry(partition, key)
            e.list.push({ start, last: s.last, acc: s.acc })
            e.list.sort((a, b) => a.start - b.start)
            nextClose = Math.min(nextClose, s.last + gap + grace)
          }
        })
      ),
    revoke: (partitions) =>
      Effect.suspend(() => {
        for (const [id, e] of sessions) if (partitions.has(e.partition)) sessions.delete(id)
        dirty.drop(partitions)
        return store.revoke(partitions)
      }),
    isLate: (t, w) => t + grace <= w,
    add: (partition, key, t, value, _w, updates, changes) => {
      const e = entry(partition, key)
      let merged: Session<Acc> = { start: t, last: t, acc: aggregator.add(aggregator.empty(), value) }
      const kept: Array<Session<Acc>> = []
      for (const s of e.list) {
        if (t > s.start - gap && t < s.last + gap) {
          merged = {
            start: Math.min(merged.start, s.start),
            last: Math.max(merged.last, s.last),
            acc: aggregator.combine(merged.acc, s.acc)
          }
          dirty.set(partition, storeKey(key, s.start), undefined)
        } else kept.push(s)
      }
      kept.push(merged)
      kept.sort((a, b) => a.start - b.start)
      e.list = kept
      dirty.set(partition, storeKey(key, merged.start), merged)
      nextClose = Math.min(nextClose, merged.last + gap + grace)
      if (updates !== undefined) updates.push(result(partition, key, merged, false))
      if (changes !== undefined) {
        // A session's result is taken now: a later record may merge it into another.
        changes.touch(
          slotId(partition, key),
          merged.start,
          merged.last + gap + grace,
          result(partition, key, merged, false),
          (r: Result<Out>) => r
        )
      }
    },
    close: (_from, to, results, closed) => {
      if (to < nextClose) return
      nextClose = Number.POSITIVE_INFINITY
      for (const [id, e] of sessions) {
        const kept: Array<Session<Acc>> = []
        for (const s of e.list) {
          const closesAt = s.last + gap + grace
          if (closesAt <= to) {
            if (results !== undefined) results.push(result(e.partition, e.key, s, true))
            closed.push({ partition: e.partition, key: storeKey(e.key, s.start) })
          } else {
            kept.push(s)
            if (closesAt < nextClose) nextClose = closesAt
          }
        }
        if (kept.length === 0) sessions.delete(id)
        else e.list = kept
      }
    },
    forget: (closed) => {
      for (const c of closed) dirty.set(c.partition, c.key, undefined)
    },
    persist: () => dirty.write(store),
    store,
    open: () => {
      let n = 0
      for (const e of sessions.values()) n += e.list.length
      return n
    }
  }
}

// One chunk's closed windows and time, kept until the results it emitted are acknowledged.
interface Pending {
  readonly closed: Array<Closed>
  /** Results not yet acknowledged. */
  unacked: number
  watermark: number
  /** Highest event time per partition at the end of the chunk. */
  readonly max: Map<number, number>
}

const TICK = Symbol("tick")

// A result's origin: the record that closed its window (or none, for the
// clock), keyed by the window key so a sink partitions results by it.
const resultOrigin = <Out>(result: Result<Out>, trigger: Envelope.Origin | null): Envelope.Origin => ({
  topic: trigger?.topic ?? "",
  partition: result.partition,
  offset: trigger?.offset ?? -1n,
  key: encodeUtf8(result.key),
  headers: [],
  timestamp: result.end - 1
})

/**
 * Aggregates a keyed stream in event-time windows. Emits `Result`s (as the
 * emit mode says) and `Late` records; see the module notes for receipts.
 *
 * @since 0.2.0
 * @category operators
 */
export const aggregate =
  <A, Acc, Out>(options: Options<A, Acc, Out>) =>
  <E, R>(
    self: Stream.Stream<Envelope.Envelope<A>, E, R>
  ): Stream.Stream<Envelope.Envelope<Output<A, Out>>, E | StateError, R | StateStore.StateStore> =>
    Stream.unwrap(
      Effect.gen(function* () {
        const service = yield* StateStore.StateStore
        const grace = millis(options.grace)
        const spec = options.window
        const name = options.name
        const engine: Engine<A, Out> =
          spec._tag === "Hopping"
            ? paneEngine(
                spec,
                grace,
                options.aggregator,
                yield* service.open(`${name}.panes`, options.aggregator.codec)
              )
            : sessionEngine(
                spec.gap,
                grace,
                options.aggregator,
                yield* service.open(`${name}.sessions`, sessionCodec(options.aggregator.codec))
              )
        const time = yield* service.open(`${name}.time`, codecs.float64)
        const acks = yield* DurableAcks.make()
        const tracker = Watermark.make(options.watermark)
        const timestampOf = options.timestamp ?? (Watermark.recordTimestamp as Watermark.TimestampExtractor<A>)
        const updates = options.emit === "updates"
        const changes = options.emit === "coalesced" ? new WindowChanges.Changes<Result<Out>>() : undefined
        // Whether closing windows emits their results (only with `final`).
        const finals = options.emit === "final"
        const assigned = new Set<number>()
        const dataStore = spec._tag === "Hopping" ? `${name}.panes` : `${name}.sessions`
        // Chunks whose closed windows are not yet forgotten in the store, oldest first.
        const pending: Array<Pending> = []

        // The input topics seen: a revocation names a topic and a partition.
        const topics = new Set<string>()
        let lastTopic = ""

        // The source lost these partitions (see `Ownership`): their changes are written and
        // flushed, they go back to the store and what is held of them in memory is dropped, so
        // that their next record assigns them again and restores them from the store (with
        // what another owner wrote meanwhile), not from this instance's memory.
        const revoke = (revocation: Revocations.Revoke) =>
          Effect.gen(function* () {
            const mine = new Set(revocation.partitions.filter((p) => assigned.has(p)))
            if (mine.size === 0) return
            yield* commit(new Set(), [])
            yield* acks.drain
            // Closed windows of chunks whose results are not acknowledged stay in the store:
            // their next owner closes them again.
            for (const batch of pending) {
              for (let i = batch.closed.length - 1; i >= 0; i--) {
                if (mine.has(batch.closed[i]!.partition)) batch.closed.splice(i, 1)
              }
              for (const p of mine) batch.max.delete(p)
            }
            yield* engine.revoke(mine)
            yield* time.revoke(mine)
            tracker.revoke(mine)
            for (const p of mine) assigned.delete(p)
          }).pipe(Effect.ensuring(Deferred.succeed(revocation.done, undefined)))

        // A partition seen for the first time: take it over and restore its state.
        const assign = (partition: number, now: number) =>
          Effect.gen(function* () {
            assigned.add(partition)
            yield* time.assign([partition])
            yield* engine.assign(partition)
            const max = yield* time.get(partition, "max")
            const watermark = yield* time.get(partition, "watermark")
            // A partition counts towards the watermark from its first record, or from its restored state.
            if (max._tag === "Some") tracker.assign([partition], now, max.value)
            if (watermark._tag === "Some") tracker.restore(watermark.value)
          })

        // Writes the chunk's state changes and, of the pending chunks, those whose results are all
        // acknowledged (in order): their closed windows are deleted and their watermark saved. A
        // crash before that leaves the closed windows' state and the older watermark in place, so
        // the replayed records close those windows again and their results come out again. Then
        // starts the stores' flushes; `stateReceipts` are acknowledged once they complete.
        const commit = (seen: ReadonlySet<number>, stateReceipts: ReadonlyArray<Receipt.Receipt>) =>
          Effect.gen(function* () {
            const times = new Map<number, number>()
            let watermark = Number.NEGATIVE_INFINITY
            while (pending.length > 0 && pending[0]!.unacked <= 0) {
              const done = pending.shift()!
              engine.forget(done.closed)
              for (const [p, max] of done.max) times.set(p, max)
              watermark = done.watermark
            }
            const touched = new Set(yield* engine.persist())
            for (const p of seen) touched.add(p)
            for (const [p, max] of times) {
              touched.add(p)
              yield* time.setMany(
                p,
                max === Number.NEGATIVE_INFINITY
                  ? [["watermark", watermark]]
                  : [
                      ["max", max],
                      ["watermark", watermark]
                    ]
              )
            }
            // The durability barrier: a record whose effect is only on state is done after it.
            yield* acks.flushThenAck([engine.store, time], touched, stateReceipts)
          })

        const process = (chunk: ReadonlyArray<Envelope.Envelope<A> | typeof TICK | Revocations.Revoke>) =>
          Effect.gen(function* () {
            const now = yield* Clock.currentTimeMillis
            // Given up at the end of the chunk, once its changes are written.
            const revocations: Array<Revocations.Revoke> = []
            for (const e of chunk) {
              if (e === TICK) continue
              if (Revocations.isRevoke(e)) {
                revocations.push(e)
                continue
              }
              if (e.origin.topic !== lastTopic) {
                lastTopic = e.origin.topic
                topics.add(lastTopic)
              }
              if (!assigned.has(e.origin.partition)) yield* assign(e.origin.partition, now)
            }
            const start = tracker.current
            const out: Array<Envelope.Envelope<Output<A, Out>>> = []
            const stateReceipts: Array<Receipt.Receipt> = []
            const seen = new Set<number>()
            const emitted: Array<Result<Out>> = []
            const batch: Pending = { closed: [], unacked: 0, watermark: 0, max: new Map() }
            const resultAcked = () => {
              batch.unacked--
            }
            // Coalesced results of windows about to close, or of the whole chunk at its end.
            const emitChanged = (r: Result<Out>, receipt: Receipt.Receipt, trigger: Envelope.Origin | null) => {
              batch.unacked++
              out.push(Envelope.make(resultOrigin(r, trigger), r, Receipt.onAckUnsafe(receipt, resultAcked)))
            }
            let late = 0
            for (const e of chunk) {
              if (Revocations.isRevoke(e)) continue
              const w0 = tracker.current
              emitted.length = 0
              if (e === TICK) {
                const w1 = tracker.advance(now)
                if (w1 > w0) {
                  changes?.drain(w1, emitChanged)
                  engine.close(w0, w1, finals ? emitted : undefined, batch.closed)
                }
                for (const r of emitted) out.push(Envelope.make(resultOrigin(r, null), r, Receipt.none))
                continue
              }
              const partition = e.origin.partition
              seen.add(partition)
              const t = timestampOf(e.value, e)
              const key = options.key(e.value, e)
              const isLate = engine.isLate(t, w0)
              changes?.begin()
              if (!isLate) engine.add(partition, key, t, e.value, w0, updates ? emitted : undefined, changes)
              tracker.observe(partition, t, now)
              const w1 = tracker.advance(now)
              let receipts: ReadonlyArray<Receipt.Receipt>
              if (changes !== undefined) {
                // The windows this record changed share one receipt of it, before any of them closes.
                if (changes.touched > 0) {
                  receipts = Receipt.children(e.receipt, 2)
                  changes.attach(receipts[1]!, e.origin)
                } else receipts = [e.receipt]
                if (w1 > w0) {
                  changes.drain(w1, emitChanged)
                  engine.close(w0, w1, undefined, batch.closed)
                }
              } else {
                if (w1 > w0) engine.close(w0, w1, finals ? emitted : undefined, batch.closed)
                receipts = Receipt.children(e.receipt, 1 + emitted.length)
              }
              if (isLate) {
                late++
                const value: Late<A> = { _tag: "Late", key, timestamp: t, watermark: w0, value: e.value }
                out.push(Envelope.make(e.origin, value, receipts[0]!))
              } else stateReceipts.push(receipts[0]!)
              batch.unacked += emitted.length
              for (let i = 0; i < emitted.length; i++) {
                const receipt = Receipt.onAckUnsafe(receipts[i + 1]!, resultAcked)
                out.push(Envelope.make(resultOrigin(emitted[i]!, e.origin), emitted[i]!, receipt))
              }
            }
            // The windows the chunk changed and left open.
            changes?.drain(Number.POSITIVE_INFINITY, emitChanged)
            // This chunk's event times and watermark, written once its results are acknowledged.
            batch.watermark = tracker.current
            for (const p of seen) batch.max.set(p, tracker.maxEventTime(p))
            // A watermark moved by the clock is written for every partition, so a restart resumes from it.
            if (tracker.current > start) for (const p of assigned) batch.max.set(p, tracker.maxEventTime(p))
            pending.push(batch)
            yield* commit(seen, stateReceipts)
            if (late > 0) yield* Metrics.countLate(name, late)
            const open = engine.open()
            yield* Metrics.setOpenWindows(name, open)
            // Panes or sessions are the operator's state entries (the time store holds two per partition).
            yield* Metrics.setStateEntries(dataStore, open)
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

        const ticked: Stream.Stream<Envelope.Envelope<A> | typeof TICK, E, R> =
          options.watermark?.idleTimeout === undefined
            ? self
            : Stream.merge(
                self,
                Stream.map(Stream.tick(options.tick ?? "1 second"), () => TICK),
                { haltStrategy: "left" }
              )
        const input: Stream.Stream<Envelope.Envelope<A> | typeof TICK | Revocations.Revoke, E, R> =
          revoked === undefined ? ticked : Stream.merge(ticked, revoked, { haltStrategy: "left" })
        // At the end of the input, the chunks acknowledged since the last one are written too.
        return Stream.concat(
          mapChunks(input, process),
          Stream.fromEffectDrain(Effect.andThen(commit(new Set(), []), acks.drain))
        )
      })
    )
