/**
 * An `OffsetTracker` decides which offsets a consumer may commit when records
 * finish out of order. A source calls `track` as a record enters the
 * pipeline and the record's receipt calls `done` once every output derived
 * from it is durable. Per partition, the committable offset is one past the
 * highest offset below which every tracked record is done, so a commit never
 * skips unfinished work (at-least-once). Offsets may have gaps (compacted
 * topics, transaction markers): the next tracked offset, not `offset + 1`,
 * defines contiguity.
 *
 * The number of tracked records whose offset is not yet committable is
 * bounded: `track` waits for room, which is the pipeline's backpressure. A
 * done record behind a slow one keeps its slot, so one stuck record cannot
 * let the uncommitted window grow without bound. A source must therefore
 * emit the records it tracked before it waits for room again: a batch that
 * waits while holding records it already tracked can deadlock. `trackBatch`
 * tracks as many of a batch's records as there is room for in one step.
 *
 * ```ts
 * const tracker = yield* OffsetTracker.make({ maxInFlight: 10_000 })
 * yield* OffsetTracker.commitLoop(tracker, (offsets) => consumer.commit(offsets), {
 *   interval: "5 seconds",
 *   every: 10_000
 * })
 * yield* tracker.track(origin, origin.offset)
 * const envelope = Envelope.make(origin, value, OffsetTracker.receipt(tracker, origin))
 * ```
 *
 * @since 0.1.0
 */
import { Cause, Clock, Deferred, Duration, Effect, Metric, Option, type Scope } from "effect"
import type * as Envelope from "./Envelope.ts"
import * as AckBatch from "./internal/ackBatch.ts"
import { PartitionOffsets } from "./internal/partitionOffsets.ts"
import * as Metrics from "./Metrics.ts"
import type * as Receipt from "./Receipt.ts"

/**
 * A partition of a topic.
 *
 * @since 0.1.0
 * @category models
 */
export interface TopicPartition {
  readonly topic: string
  readonly partition: number
}

/**
 * An offset to commit: the next offset the consumer group should read.
 *
 * @since 0.1.0
 * @category models
 */
export interface CommittableOffset extends TopicPartition {
  readonly offset: bigint
}

/**
 * Tracks in-flight offsets per partition and computes what may be committed.
 *
 * @since 0.1.0
 * @category models
 */
export interface OffsetTracker {
  /**
   * Tracks an offset that enters the pipeline, waiting while `maxInFlight`
   * records are in flight. Returns `false`, tracking nothing, when the
   * partition is being revoked: the caller should drop the record. Offsets of
   * a partition must increase; a smaller or repeated offset is a defect.
   */
  track(tp: TopicPartition, offset: bigint): Effect.Effect<boolean>
  /**
   * Tracks a run of a partition's offsets in one step: waits until there is
   * room for at least one, then tracks the longest prefix there is room for
   * and returns its length (0 when the partition is being revoked). The
   * caller emits those records, then tracks the rest; offsets must increase
   * as for `track`, and a run that does not is a defect that tracks nothing.
   */
  trackBatch(tp: TopicPartition, offsets: ReadonlyArray<bigint>): Effect.Effect<number>
  /** Marks a tracked offset done. Unknown or already done offsets are ignored. */
  done(tp: TopicPartition, offset: bigint): Effect.Effect<void>
  /**
   * A receipt that marks the origin's offset done when acknowledged and
   * records `sluice_processing_latency_ms` from the record's timestamp, read
   * from the `Clock` of the context the tracker was made in. Receipts
   * acknowledged together by one `Receipt.ackAll` (a sink's chunk) make one
   * observation, the latency of their oldest record, and one update of
   * `sluice_in_flight`: the metrics move per chunk, not per record.
   */
  receipt(origin: Envelope.Origin): Receipt.Receipt
  /** The offset to commit for a partition, if any of its records is done. */
  committable(tp: TopicPartition): Effect.Effect<Option.Option<bigint>>
  /**
   * `committable`, read synchronously (undefined for none), so a caller can
   * cut several partitions at one instant (exactly-once commit cycles).
   */
  committableUnsafe(tp: TopicPartition): bigint | undefined
  /** The committable offsets of every partition that has one. */
  readonly snapshot: Effect.Effect<ReadonlyArray<CommittableOffset>>
  /** Tracked records whose offset is not yet committable. */
  readonly inFlight: Effect.Effect<number>
  /** How many records were marked done since the tracker was made. */
  readonly completed: Effect.Effect<number>
  /** Waits until `completed` reaches `total`. */
  awaitCompleted(total: number): Effect.Effect<void>
  /**
   * Stops tracking for a partition, waits up to `timeout` for its in-flight
   * records, then forgets it and returns its final committable offset. Its
   * records still in the pipeline after that no longer count as in flight,
   * and their receipts' acknowledgements are ignored, even once the partition
   * is tracked again (claimed anew, its records from the last commit on):
   * a receipt belongs to the claim it was made in, and the old claim's
   * record at an offset is not the new claim's.
   */
  revoke(tp: TopicPartition, timeout: Duration.Input): Effect.Effect<Option.Option<bigint>>
}

/**
 * Options of `make`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Records tracked and not yet committable, across all partitions. */
  readonly maxInFlight: number
}

// The state of one claim of a partition: tracking it again after `revoke`
// forgot it makes a new one.
interface Partition {
  readonly offsets: PartitionOffsets
  revoking: boolean
  drained: Deferred.Deferred<void> | undefined
  // Set when `revoke` forgets it: its receipts' acknowledgements are ignored.
  forgotten: boolean
}

interface Waiter {
  readonly total: number
  readonly deferred: Deferred.Deferred<void>
}

/**
 * Makes a tracker.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<OffsetTracker> =>
  Effect.gen(function* () {
    if (!(options.maxInFlight >= 1))
      return yield* Effect.die(new Cause.IllegalArgumentError("maxInFlight must be >= 1"))
    const maxInFlight = options.maxInFlight
    const context = yield* Effect.context<never>()
    // Read by receipts without running an effect per acknowledgement.
    const clock = yield* Clock.Clock
    // topic -> partition -> state; nested maps avoid building a string key per record
    const topics = new Map<string, Map<number, Partition>>()
    // Tracked and not yet committable: the slots in use. Slots are counted
    // here rather than taken from a semaphore so that marking a record done
    // is plain synchronous code, which keeps receipts cheap.
    let inFlight = 0
    let completed = 0
    let waiters: Array<Waiter> = []
    // the smallest total a waiter waits for, so `done` rarely looks at the waiters
    let nextWake = Number.POSITIVE_INFINITY
    // Tracks waiting for a free slot; all are woken when slots free up and
    // check again (a woken track holds no reservation, so an interrupted one
    // cannot lose a slot).
    let roomWaiters: Array<Deferred.Deferred<void>> = []

    const get = (tp: TopicPartition): Partition | undefined => topics.get(tp.topic)?.get(tp.partition)

    const getOrCreate = (tp: TopicPartition): Partition => {
      let partitions = topics.get(tp.topic)
      if (partitions === undefined) {
        partitions = new Map()
        topics.set(tp.topic, partitions)
      }
      let partition = partitions.get(tp.partition)
      if (partition === undefined) {
        partition = { offsets: new PartitionOffsets(), revoking: false, drained: undefined, forgotten: false }
        partitions.set(tp.partition, partition)
      }
      return partition
    }

    const forget = (tp: TopicPartition): void => {
      const partitions = topics.get(tp.topic)
      partitions?.delete(tp.partition)
      if (partitions?.size === 0) topics.delete(tp.topic)
    }

    // Metric updates of receipts acknowledged by one `Receipt.ackAll` are
    // made once, when it ends: a metric update looks the series up in the
    // registry, which costs more than the bookkeeping of a record.
    let pendingInFlight = 0
    let oldestAcked = Number.POSITIVE_INFINITY
    let flushScheduled = false
    const flushMetrics = (): void => {
      flushScheduled = false
      if (pendingInFlight !== 0) {
        Metrics.inFlight.modifyUnsafe(pendingInFlight, context)
        pendingInFlight = 0
      }
      if (oldestAcked !== Number.POSITIVE_INFINITY) {
        Metrics.processingLatency.updateUnsafe(clock.currentTimeMillisUnsafe() - oldestAcked, context)
        oldestAcked = Number.POSITIVE_INFINITY
      }
    }
    // Whether metric updates wait for the end of the batch being acknowledged.
    const deferMetrics = (): boolean => {
      if (!AckBatch.active()) return false
      if (!flushScheduled) {
        flushScheduled = true
        AckBatch.atEnd(flushMetrics)
      }
      return true
    }

    const changeInFlight = (delta: number): void => {
      inFlight += delta
      if (deferMetrics()) pendingInFlight += delta
      else Metrics.inFlight.modifyUnsafe(delta, context)
      if (delta < 0 && roomWaiters.length > 0) {
        const woken = roomWaiters
        roomWaiters = []
        for (const deferred of woken) Deferred.doneUnsafe(deferred, Effect.void)
      }
    }

    const awaitRoom = Effect.suspend(() => {
      const deferred = Deferred.makeUnsafe<void>()
      roomWaiters.push(deferred)
      return Deferred.await(deferred).pipe(
        Effect.onInterrupt(() => Effect.sync(() => (roomWaiters = roomWaiters.filter((d) => d !== deferred))))
      )
    })

    const setWaiters = (next: Array<Waiter>): void => {
      waiters = next
      nextWake = next.reduce((min, w) => Math.min(min, w.total), Number.POSITIVE_INFINITY)
    }

    const wakeWaiters = (): void => {
      if (completed < nextWake) return
      const ready = waiters.filter((w) => w.total <= completed)
      setWaiters(waiters.filter((w) => w.total > completed))
      for (const w of ready) Deferred.doneUnsafe(w.deferred, Effect.void)
    }

    // Tracks the longest prefix of `offsets[from..]` there is room for, once
    // there is room for at least one; 0 when the partition is being revoked.
    // `waited` is the partition's state before a wait for room: if it was
    // revoked meanwhile, the records belong to a generation that is gone.
    const trackFrom = (
      tp: TopicPartition,
      offsets: ReadonlyArray<bigint>,
      from: number,
      waited?: Partition
    ): Effect.Effect<number> =>
      Effect.suspend(() => {
        if (from >= offsets.length) return Effect.succeed(0)
        if (waited !== undefined && (waited.revoking || get(tp) !== waited)) return Effect.succeed(0)
        const partition = getOrCreate(tp)
        if (partition.revoking) return Effect.succeed(0)
        const room = maxInFlight - inFlight
        if (room <= 0) return Effect.andThen(awaitRoom, trackFrom(tp, offsets, from, partition))
        const n = Math.min(room, offsets.length - from)
        let previous = partition.offsets.last
        for (let i = from; i < from + n; i++) {
          const offset = offsets[i]!
          if (previous !== undefined && offset <= previous) {
            return Effect.die(
              new Cause.IllegalArgumentError(
                `offset ${offset} of ${tp.topic}-${tp.partition} does not follow the last tracked offset ${previous}`
              )
            )
          }
          previous = offset
        }
        for (let i = from; i < from + n; i++) partition.offsets.push(offsets[i]!)
        changeInFlight(n)
        return Effect.succeed(n)
      })

    const track = (tp: TopicPartition, offset: bigint): Effect.Effect<boolean> =>
      Effect.map(trackFrom(tp, [offset], 0), (n) => n === 1)

    const trackBatch = (tp: TopicPartition, offsets: ReadonlyArray<bigint>): Effect.Effect<number> =>
      trackFrom(tp, offsets, 0)

    // Marks an offset of a claim done; returns whether it was tracked and not yet done.
    const doneIn = (partition: Partition | undefined, offset: bigint): boolean => {
      if (partition === undefined || partition.forgotten) return false
      const freed = partition.offsets.markDone(offset)
      if (freed < 0) return false
      completed++
      wakeWaiters()
      if (freed === 0) return true
      changeInFlight(-freed)
      if (partition.offsets.size === 0 && partition.drained !== undefined) {
        Deferred.doneUnsafe(partition.drained, Effect.void)
      }
      return true
    }

    const done = (tp: TopicPartition, offset: bigint): Effect.Effect<void> =>
      Effect.sync(() => {
        doneIn(get(tp), offset)
      })

    // One latency observation per acknowledged batch: that of its oldest
    // record, so the histogram errs towards the slow side. `partition` is the
    // claim the receipt was made in (looked up then, not now: a receipt of
    // a claim that is over must not mark the next claim's record done); a
    // receipt made before its record was tracked looks it up now.
    const complete = (o: Envelope.Origin, partition: Partition | undefined): void => {
      doneIn(partition ?? get(o), o.offset)
      if (!deferMetrics())
        Metrics.processingLatency.updateUnsafe(clock.currentTimeMillisUnsafe() - o.timestamp, context)
      else if (o.timestamp < oldestAcked) oldestAcked = o.timestamp
    }

    const receipt = (origin: Envelope.Origin): Receipt.Receipt => new TrackedReceipt(origin, get(origin), complete)

    const snapshot = Effect.sync(() => {
      const out: Array<CommittableOffset> = []
      for (const [topic, partitions] of topics) {
        for (const [partition, state] of partitions) {
          const offset = state.offsets.committable
          if (offset !== undefined) out.push({ topic, partition, offset })
        }
      }
      return out
    })

    const revoke = (tp: TopicPartition, timeout: Duration.Input): Effect.Effect<Option.Option<bigint>> =>
      Effect.suspend(() => {
        const partition = get(tp)
        if (partition === undefined) return Effect.succeedNone
        partition.revoking = true
        let wait: Effect.Effect<unknown> = Effect.void
        if (partition.offsets.size > 0) {
          partition.drained ??= Deferred.makeUnsafe<void>()
          wait = Effect.timeoutOption(Deferred.await(partition.drained), timeout)
        }
        return Effect.flatMap(wait, () =>
          Effect.sync(() => {
            if (get(tp) !== partition) return Option.fromUndefinedOr(partition.offsets.committable)
            forget(tp)
            partition.forgotten = true
            changeInFlight(-partition.offsets.size)
            return Option.fromUndefinedOr(partition.offsets.committable)
          })
        )
      })

    const awaitCompleted = (total: number): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (completed >= total) return Effect.void
        const deferred = Deferred.makeUnsafe<void>()
        setWaiters([...waiters, { total, deferred }])
        return Deferred.await(deferred).pipe(
          Effect.onInterrupt(() => Effect.sync(() => setWaiters(waiters.filter((w) => w.deferred !== deferred))))
        )
      })

    return {
      track,
      trackBatch,
      done,
      receipt,
      committable: (tp) => Effect.sync(() => Option.fromUndefinedOr(get(tp)?.offsets.committable)),
      committableUnsafe: (tp) => get(tp)?.offsets.committable,
      snapshot,
      inFlight: Effect.sync(() => inFlight),
      completed: Effect.sync(() => completed),
      awaitCompleted,
      revoke
    } satisfies OffsetTracker
  })

// One small object per record: the effect is built only when the receipt is
// acknowledged, and acknowledging runs plain code rather than a chain of effects.
class TrackedReceipt<P> implements Receipt.Receipt {
  private acked = false
  private readonly origin: Envelope.Origin
  private readonly partition: P
  private readonly complete: (origin: Envelope.Origin, partition: P) => void
  constructor(origin: Envelope.Origin, partition: P, complete: (origin: Envelope.Origin, partition: P) => void) {
    this.origin = origin
    this.partition = partition
    this.complete = complete
  }
  get ack(): Effect.Effect<void> {
    return Effect.sync(() => this.ackUnsafe())
  }
  ackUnsafe(): void {
    if (this.acked) return
    this.acked = true
    this.complete(this.origin, this.partition)
  }
}

/**
 * A receipt that marks the origin's offset done when acknowledged, and
 * records the processing latency from the record's timestamp (same as
 * `tracker.receipt(origin)`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const receipt = (tracker: OffsetTracker, origin: Envelope.Origin): Receipt.Receipt => tracker.receipt(origin)

/**
 * When `commitLoop` commits.
 *
 * @since 0.1.0
 * @category models
 */
export interface CommitOptions {
  /** Commit at least this often while offsets change. */
  readonly interval: Duration.Input
  /** Commit early once this many records completed since the last commit. */
  readonly every: number
}

/**
 * Runs `commit` with the committable offsets that changed since the last
 * successful commit, every `interval` or after `every` completed records,
 * whichever comes first, and once more when the scope closes. A failed
 * commit is logged and its offsets are retried on the next round.
 *
 * @since 0.1.0
 * @category commit
 */
export const commitLoop = <E, R>(
  tracker: OffsetTracker,
  commit: (offsets: ReadonlyArray<CommittableOffset>) => Effect.Effect<void, E, R>,
  options: CommitOptions
): Effect.Effect<void, never, R | Scope.Scope> =>
  Effect.gen(function* () {
    const context = yield* Effect.context<R>()
    const interval = Duration.fromInputUnsafe(options.interval)
    const every = Math.max(1, options.every)
    const committed = new Map<string, bigint>()
    const key = (o: CommittableOffset) => `${o.partition}:${o.topic}`

    const commitChanged = Effect.gen(function* () {
      const offsets = yield* tracker.snapshot
      const changed = offsets.filter((o) => committed.get(key(o)) !== o.offset)
      if (changed.length === 0) return
      yield* commit(changed)
      committed.clear()
      for (const o of offsets) committed.set(key(o), o.offset)
      yield* Metric.update(Metrics.commits, 1)
      for (const o of changed) {
        yield* Metric.update(
          Metric.withAttributes(Metrics.committedOffset, { topic: o.topic, partition: String(o.partition) }),
          o.offset
        )
      }
    }).pipe(
      Effect.catchCause((cause) => Effect.logWarning("offset commit failed; retrying on the next round", cause)),
      Effect.provideContext(context)
    )

    const loop = Effect.gen(function* () {
      while (true) {
        const target = (yield* tracker.completed) + every
        yield* Effect.raceFirst(Effect.sleep(interval), tracker.awaitCompleted(target))
        yield* commitChanged
      }
    })

    // Finalizers run in reverse: the loop stops first, then the final commit runs alone.
    yield* Effect.addFinalizer(() => commitChanged)
    yield* Effect.forkScoped(loop)
  })
