/**
 * A durable `StateStore`, after the Kafka Streams model. Each partition of
 * each named store lives in a local embedded key-value store on disk (LMDB),
 * and every change is also written to a compacted changelog topic
 * `<group>-<store>-changelog`, whose partition is the input partition (a
 * delete or an expired TTL is a tombstone). The local store records the
 * changelog offset it reflects (its checkpoint) in the same transaction as
 * the entries, so:
 *
 * - a restart replays only the changelog's tail past the checkpoint;
 * - a missing, unreadable or foreign local store (checkpoint outside the
 *   changelog's offsets) is dropped and rebuilt from the whole changelog;
 * - a new owner of a partition restores it in `assign`, before the operator
 *   processes any of its records.
 *
 * Changes are buffered in memory per partition and written by `flush`, the
 * durability barrier (or `flushAsync`, which starts it and returns the
 * wait): the changelog first (acks from all in-sync replicas), then, once
 * `localBatch` acknowledged changes gathered, the local store with the new
 * checkpoint, in one transaction. Recently read or written values are kept
 * decoded in a cache of `cacheBytes`. An operator acknowledges the
 * receipts of records whose effect lives in state only after the flush, so an
 * input offset is committed only once the changelog holds what it caused
 * (at-least-once: after a crash, records after the last commit are processed
 * again, and a change they make that was already logged is applied twice).
 *
 * **Exactly-once** (`exactlyOnce`): the changelog writes go through the
 * Kafka transaction of the input partition that caused them (`Transactions`),
 * so they commit, or abort, together with the job's outputs and input
 * offsets. The local store then takes a change only once its transaction has
 * committed (`Transactions.onCommit`), with the checkpoint of that commit: an
 * aborted transaction's changes never reach disk, so after a kill -9 the
 * local store is a committed prefix of the changelog and only the committed
 * tail past its checkpoint is replayed. Restores read the changelog
 * `read_committed` (aborted records and commit markers are skipped). A
 * partition must be restored after its input partition was claimed (its
 * earlier owner fenced): an open transaction of a dead owner would hold the
 * restore at the last stable offset until the broker times it out.
 *
 * A revoked partition's local store is closed and kept on disk, so a quick
 * return restores only the tail; it is deleted once it has been revoked for
 * `retainRevoked` (Clock-driven).
 *
 * @since 0.1.0
 */
import { mkdirSync, readdirSync } from "node:fs"
import { join } from "node:path"
import { StateError } from "@sluice/core/StateError"
import * as StateStore from "@sluice/core/StateStore"
import { KafkaClient, type KafkaError, type KafkaLike, type Transactions } from "@sluice/kafka"
import * as Admin from "@sluice/kafka/Admin"
import { Clock, Deferred, Duration, Effect, Layer, Metric, Option, Schedule, type Scope, Semaphore } from "effect"
import { bounded } from "./internal/bounded.ts"
import { type EncodedRecords, encodeRecords } from "./internal/changelogBatch.ts"
import * as Local from "./internal/partition.ts"
import { sizeOf, ValueCache } from "./internal/valueCache.ts"
import * as StateMetrics from "./StateMetrics.ts"

/**
 * Where the stores of a job keep their state and how they name their changelogs.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The job's consumer group; changelog topics are named `<group>-<store>-changelog`. */
  readonly group: string
  /** The input's partition count; each changelog topic must have the same. */
  readonly partitions: number
  /** Where local stores live: `<directory>/<store>/<partition>`. */
  readonly directory: string
  /** How long a revoked partition's local store stays on disk; 10 minutes by default. */
  readonly retainRevoked?: Duration.Input | undefined
  /** Buffered changes per partition that trigger a flush on their own; 10,000 by default. */
  readonly maxPending?: number | undefined
  /**
   * The heap the store may spend on decoded values of recently read or
   * written keys (estimated), across its partitions; 32 MiB by default, 0
   * for none. A key found there costs no local read nor decode.
   */
  readonly cacheBytes?: number | undefined
  /**
   * Acknowledged changes per partition kept in memory before they are
   * written to the local store in one transaction; 50,000 by default. A key
   * changed again meanwhile is written once; a crash loses none of them
   * (the changelog has them), it only makes the restart replay them.
   */
  readonly localBatch?: number | undefined
  /** Bytes a restore fetches per partition and request; 1 MiB by default. */
  readonly restoreFetchBytes?: number | undefined
  /** Bounds a partition's restore; 10 minutes by default. */
  readonly restoreTimeout?: Duration.Input | undefined
  /**
   * Changelog records per produce request; 1,000 by default: in the state
   * bench, 10,000-record requests were slower.
   */
  readonly sendChunk?: number | undefined
  /** Replication of created changelog topics; the broker's default when left out. */
  readonly replicationFactor?: number | undefined
  /**
   * Exactly-once: changelog writes go into the transaction of the input
   * partition with the same number of `inputTopic` (the topic the stateful
   * operator reads), and reach the local store only once it committed.
   * At-least-once (the store's own idempotent producer) when left out.
   */
  readonly exactlyOnce?: ExactlyOnce | undefined
}

/**
 * The exactly-once wiring of a store: the job's transactions and the input
 * topic whose partitions the store's partitions are.
 *
 * @since 0.1.0
 * @category models
 */
export interface ExactlyOnce {
  readonly transactions: Transactions.Transactions
  readonly inputTopic: string
}

/**
 * What a store has done since it was opened, for tests and dashboards (the
 * same figures feed `StateMetrics`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Stats {
  /** Reads that found their key. */
  readonly hits: number
  /** Reads that did not. */
  readonly misses: number
  /** Per restored partition: changelog records applied and milliseconds taken. */
  readonly restores: ReadonlyMap<number, { readonly records: number; readonly millis: number }>
}

/**
 * A store of the durable state store: core's `Store` plus its statistics.
 *
 * @since 0.1.0
 * @category models
 */
export interface DurableStore<V> extends StateStore.Store<V> {
  readonly topic: string
  /**
   * Starts a flush of the given partitions (all by default) and returns the
   * wait for it: `flush` without blocking, so a job keeps processing while
   * the changelog acknowledges and acknowledges its records' receipts when
   * the wait completes. Flushes started meanwhile share one changelog send.
   */
  flushAsync(partitions?: Iterable<number>): Effect.Effect<Effect.Effect<void, StateError>>
  stats(): Stats
}

/**
 * The service: opens named durable stores.
 *
 * @since 0.1.0
 * @category models
 */
export interface DurableStateStore {
  readonly open: <V>(
    name: string,
    codec: StateStore.Codec<V>
  ) => Effect.Effect<DurableStore<V>, StateError, Scope.Scope>
}

/**
 * The changelog topic of `store` in `group`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const changelogTopic = (group: string, store: string): string => `${group}-${store}-changelog`

interface PartitionState {
  readonly local: Local.LocalPartition
  /** Changes not yet sent to the changelog. */
  pending: Map<string, Local.Change>
  /** Changes being sent to the changelog, oldest first. */
  readonly layers: Array<Map<string, Local.Change>>
  /**
   * Changes the changelog acknowledged and the local store does not hold
   * yet: written to it once there are `localBatch` of them, so a key changed
   * by many flushes meanwhile is written once.
   */
  acked: Map<string, Local.Change>
  /** The checkpoint that goes with `acked`: the next changelog offset past it. */
  ackedCheckpoint: bigint
  /** Changes being written to the local store, oldest first. */
  readonly writing: Array<Map<string, Local.Change>>
  /** The last local write started; the local store is settled when it is. */
  writes: Promise<unknown>
  /** Why a local write failed; the partition fails every call from then on. */
  failure: unknown
  /**
   * Whether the local store's entry count changed since the entries gauge
   * was last set: it changes only when a local write completes, so a flush
   * reads LMDB's statistics only then.
   */
  countChanged: boolean
  eventTime: number
}

const changelogError = (store: string, topic: string, error: KafkaError.KafkaError): StateError =>
  new StateError({
    reason: "Changelog",
    store,
    detail: `${topic}: ${error.message}`,
    cause: error
  })

const ioError = (store: string, detail: string, cause: unknown): StateError =>
  new StateError({
    reason: "Io",
    store,
    detail: `${detail}: ${cause instanceof Error ? cause.message : String(cause)}`,
    cause
  })

// A look-up of the changelog's offsets: each attempt bounded, a few attempts.
const lookupTimeout = Duration.seconds(10)
const lookupAttempts = 3

const attemptKafka = <A>(store: string, topic: string, operation: string, call: () => Promise<A>) =>
  Effect.tryPromise({
    try: call,
    catch: (cause) =>
      new StateError({
        reason: "Changelog",
        store,
        detail: `${topic}: ${operation}: ${cause instanceof Error ? cause.message : String(cause)}`,
        cause
      })
  })

const ensureChangelog = (
  store: string,
  topic: string,
  options: Options
): Effect.Effect<void, StateError, KafkaClient.KafkaClient> =>
  Effect.gen(function* () {
    yield* Admin.ensureTopics([
      {
        topic,
        partitions: options.partitions,
        configs: { "cleanup.policy": "compact" },
        ...(options.replicationFactor === undefined ? {} : { replicationFactor: options.replicationFactor })
      }
    ]).pipe(Effect.mapError((error) => changelogError(store, topic, error)))
    const { admin } = yield* KafkaClient.KafkaClient
    const metadata = yield* attemptKafka(store, topic, "fetchTopicMetadata", () =>
      admin.fetchTopicMetadata({ topics: [topic] })
    )
    const actual = metadata.topics.find((t) => t.name === topic)?.partitions.length ?? 0
    if (actual !== options.partitions) {
      return yield* new StateError({
        reason: "Changelog",
        store,
        detail: `changelog topic ${topic} has ${actual} partitions but the input has ${options.partitions}; delete the topic or rename the store`
      })
    }
  })

/**
 * A durable state store over the `KafkaClient` in context. Stores opened
 * from it live until the scope `open` ran in closes: then their partitions
 * are flushed and their local stores closed (kept on disk).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<DurableStateStore, never, KafkaClient.KafkaClient> =>
  Effect.gen(function* () {
    const client = yield* KafkaClient.KafkaClient
    return {
      open: <V>(name: string, codec: StateStore.Codec<V>) => openStore(client, options, name, codec)
    }
  })

/**
 * The durable store as core's `StateStore`, so operators (windows, keyed
 * process) keep their state in it unchanged.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<StateStore.StateStore, never, KafkaClient.KafkaClient> =>
  Layer.effect(
    StateStore.StateStore,
    Effect.map(make(options), (service) => StateStore.StateStore.of(service))
  )

const openStore = <V>(
  client: KafkaClient.KafkaClient["Service"],
  options: Options,
  name: string,
  codec: StateStore.Codec<V>
): Effect.Effect<DurableStore<V>, StateError, Scope.Scope> =>
  Effect.gen(function* () {
    const topic = changelogTopic(options.group, name)
    yield* ensureChangelog(name, topic, options).pipe(Effect.provideService(KafkaClient.KafkaClient, client))
    const eos = options.exactlyOnce
    // At-least-once: the store's own idempotent producer; exactly-once: the transactions' producers.
    const writer:
      | { readonly _tag: "Transactions"; readonly eos: ExactlyOnce }
      | {
          readonly _tag: "Producer"
          readonly producer: KafkaLike.Producer
        } =
      eos !== undefined
        ? { _tag: "Transactions", eos }
        : {
            _tag: "Producer",
            producer: yield* client
              .producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false })
              .pipe(Effect.mapError((error) => changelogError(name, topic, error)))
          }
    const context = yield* Effect.context<never>()
    const runFork = Effect.runForkWith(context)

    const directory = join(options.directory, name)
    yield* Effect.try({
      try: () => mkdirSync(directory, { recursive: true }),
      catch: (cause) => ioError(name, `cannot create ${directory}`, cause)
    })
    const pathOf = (partition: number) => join(directory, String(partition))
    const maxPending = options.maxPending ?? 10_000
    const sendChunk = Math.max(1, options.sendChunk ?? 1_000)
    const maxLayers = 8
    const localBatch = options.localBatch ?? 50_000
    const restoreFetchBytes = options.restoreFetchBytes ?? 1024 * 1024
    const retainRevoked = Duration.toMillis(Duration.fromInputUnsafe(options.retainRevoked ?? "10 minutes"))
    const restoreTimeout = Duration.fromInputUnsafe(options.restoreTimeout ?? "10 minutes")

    const assigned = new Map<number, PartitionState>()
    const cache = new ValueCache<V>(options.cacheBytes ?? 32 * 1024 * 1024)
    // Partitions on disk but not assigned, with when they were given up.
    const revoked = new Map<number, number>()
    const restores = new Map<number, { records: number; millis: number }>()
    let hits = 0
    let misses = 0
    let published = { hits: 0, misses: 0 }
    let closed = false
    const lock = yield* Semaphore.make(1)
    const storeMetric = <M extends Metric.Metric<number, unknown>>(metric: M) =>
      Metric.withAttributes(metric, { store: name })

    // Local stores left by an earlier run count as revoked now: kept for a
    // quick return, dropped after `retainRevoked`.
    const startedAt = yield* Clock.currentTimeMillis
    for (const entry of readdirSync(directory)) {
      if (/^\d+$/.test(entry)) revoked.set(Number(entry), startedAt)
    }

    // Suspended: a store call is a description, checked when it runs, not
    // when it is built. An operator builds `assign(p)` then `range(p)` before
    // running either; checked eagerly, the `range` would see `p` unassigned.
    const partitionOf = (partition: number): Effect.Effect<PartitionState, StateError> =>
      Effect.suspend(() => {
        if (closed) return Effect.fail(new StateError({ reason: "Closed", store: name, detail: "the store is closed" }))
        const state = assigned.get(partition)
        if (state === undefined) {
          return Effect.fail(
            new StateError({ reason: "Closed", store: name, detail: `partition ${partition} is not assigned` })
          )
        }
        return state.failure === undefined
          ? Effect.succeed(state)
          : Effect.fail(ioError(name, `local store of partition ${partition} failed`, state.failure))
      })

    // The newest bytes of `key`: buffered, then being sent (newest layer
    // first), then acknowledged, then being written locally, then on disk.
    const current = (state: PartitionState, key: string): Local.Change | undefined => {
      const pending = state.pending.get(key)
      if (pending !== undefined) return pending
      for (let i = state.layers.length - 1; i >= 0; i--) {
        const value = state.layers[i]!.get(key)
        if (value !== undefined) return value
      }
      const acked = state.acked.get(key)
      if (acked !== undefined) return acked
      for (let i = state.writing.length - 1; i >= 0; i--) {
        const value = state.writing[i]!.get(key)
        if (value !== undefined) return value
      }
      return state.local.get(key)
    }

    // Every change the local store does not hold yet, oldest first.
    const unwritten = (state: PartitionState): Array<Map<string, Local.Change>> => [
      ...state.writing,
      state.acked,
      ...state.layers,
      state.pending
    ]

    // Starts writing the acknowledged changes to the local store, with their
    // checkpoint, in one transaction. LMDB commits transactions in the order
    // they were started, so checkpoints only grow.
    const writeLocal = (state: PartitionState): void => {
      if (state.acked.size === 0) return
      const batch = state.acked
      const checkpoint = state.ackedCheckpoint
      state.acked = new Map()
      state.writing.push(batch)
      state.writes = state.writes
        .then(() => state.local.apply(batch, checkpoint, state.eventTime))
        .then(
          () => {
            state.writing.splice(state.writing.indexOf(batch), 1)
            state.countChanged = true
          },
          (cause: unknown) => {
            state.failure = cause
          }
        )
    }

    // Exactly-once: a commit of an input partition's transaction commits
    // every change the changelog acknowledged for it so far (`acked`, with
    // its checkpoint): only now may the local store take them.
    if (eos !== undefined) {
      yield* eos.transactions.onCommit((tp) => {
        if (closed || tp.topic !== eos.inputTopic) return
        const state = assigned.get(tp.partition)
        if (state !== undefined && state.failure === undefined) writeLocal(state)
      })
    }

    // Waits until the local store holds every acknowledged change.
    const settle = (state: PartitionState) =>
      Effect.promise(() =>
        state.writes.then(
          () => undefined,
          () => undefined
        )
      )

    const isExpired = (state: PartitionState, bytes: Uint8Array, now: number): boolean => {
      if (bytes[0] === Local.NO_TTL) return false
      const { domain, expiresAt } = Local.header(bytes)
      return domain === Local.PROCESSING_TIME ? now >= expiresAt : state.eventTime >= expiresAt
    }

    const encodeError = (cause: unknown) =>
      new StateError({
        reason: "Codec",
        store: name,
        detail: cause instanceof Error ? cause.message : String(cause),
        cause
      })

    const decode = (bytes: Uint8Array): Effect.Effect<V, StateError> =>
      Effect.try({
        try: () => codec.decode(Local.body(bytes)),
        catch: (cause) =>
          new StateError({
            reason: "Codec",
            store: name,
            detail: cause instanceof Error ? cause.message : String(cause),
            cause
          })
      })

    const pendingCount = () => {
      let n = 0
      for (const state of assigned.values()) n += state.pending.size
      return n
    }

    // A flush: the layers it took from the partitions' buffers, and whether
    // the changelog acknowledged them.
    interface Flush {
      readonly layers: ReadonlyArray<readonly [number, PartitionState, Map<string, Local.Change>]>
      readonly done: Deferred.Deferred<void, StateError>
    }
    // Flushes not yet acknowledged, oldest first; the sender takes them from
    // the front. Acknowledgements come in this order, and a failure fails
    // every flush after it too, so the newest one settles last.
    const queued: Array<Flush> = []
    let inFlight: Array<Flush> = []
    let sending = false

    // Sends every queued flush in one go (changes to the same key collapse
    // into the newest), then, once the changelog acknowledged them, writes
    // them to the local stores with the new checkpoints in the background
    // (reads see them meanwhile), because the changelog, not the local
    // store, is what makes them durable. One send at a time keeps the
    // changelog in order; flushes arriving meanwhile join the next send, so
    // a job flushing often waits for one round trip, not one per flush.
    const sendQueued: Effect.Effect<void> = Effect.suspend(() => {
      if (queued.length === 0) {
        sending = false
        return Effect.void
      }
      const group = queued.splice(0, queued.length)
      inFlight = group
      const merged = new Map<
        number,
        { state: PartitionState; layers: Array<Map<string, Local.Change>>; changes: Map<string, Local.Change> }
      >()
      for (const flush of group) {
        for (const [partition, state, layer] of flush.layers) {
          let m = merged.get(partition)
          if (m === undefined) {
            m = { state, layers: [], changes: layer }
            merged.set(partition, m)
          } else {
            if (m.layers.length === 1) m.changes = new Map(m.changes)
            for (const [key, value] of layer) m.changes.set(key, value)
          }
          m.layers.push(layer)
        }
      }
      // Each partition's changes in order; exactly-once sends them as messages
      // through its transactions, at-least-once encodes them itself.
      const entries = new Map<number, { keys: Array<string>; values: Array<Local.Change> }>()
      for (const [partition, { changes }] of merged) {
        entries.set(partition, { keys: [...changes.keys()], values: [...changes.values()] })
      }
      const lastOffset = new Map<number, bigint>()
      const record = (answers: ReadonlyArray<KafkaLike.RecordMetadata>, counts: ReadonlyMap<number, number>) => {
        for (const answer of answers) {
          const base = answer.baseOffset ?? answer.offset
          const count = counts.get(answer.partition)
          if (base === undefined || count === undefined) continue
          lastOffset.set(answer.partition, BigInt(base) + BigInt(count) - 1n)
        }
      }
      // Exactly-once: each partition's changes go into its input partition's
      // transaction (one producer each, so partitions are sent side by side).
      const sentInTransactions = (exactlyOnce: ExactlyOnce) =>
        Effect.forEach(
          merged.keys(),
          (partition) =>
            Effect.gen(function* () {
              const { keys, values } = entries.get(partition)!
              const own: Array<KafkaLike.Message> = keys.map((key, i) => {
                const value = values[i]!
                return { key, value: value === null ? null : Local.asBuffer(value), partition }
              })
              for (let i = 0; i < own.length; i += sendChunk) {
                const chunk = own.slice(i, i + sendChunk)
                const answers = yield* exactlyOnce.transactions
                  .produce({ topic: exactlyOnce.inputTopic, partition }, topic, chunk)
                  .pipe(Effect.mapError((error) => changelogError(name, topic, error)))
                // Not this member's partition any more: its new owner processes the records again.
                if (answers === undefined) return
                record(answers, new Map([[partition, chunk.length]]))
              }
            }),
          { concurrency: "unbounded", discard: true }
        )
      // Requests of up to `sendChunk` records, each partition's share of one
      // encoded into a single message (`encodeRecords`), sent one after another.
      const sentAlone = (producer: KafkaLike.Producer) =>
        Effect.gen(function* () {
          const left = [...entries].map(([partition, { keys, values }]) => ({ partition, keys, values, next: 0 }))
          while (left.some((l) => l.next < l.keys.length)) {
            const chunk: Array<KafkaLike.Message & { readonly encodedRecords: EncodedRecords }> = []
            const counts = new Map<number, number>()
            let room = sendChunk
            for (const l of left) {
              if (room === 0) break
              const to = Math.min(l.keys.length, l.next + room)
              if (to === l.next) continue
              chunk.push({
                key: null,
                value: null,
                partition: l.partition,
                encodedRecords: encodeRecords(l.keys, l.values, l.next, to)
              })
              counts.set(l.partition, to - l.next)
              room -= to - l.next
              l.next = to
            }
            const answers = yield* attemptKafka(name, topic, "send", () =>
              producer.send({ topic, messages: chunk, acks: -1 })
            )
            record(answers, counts)
          }
        })
      const sent = writer._tag === "Transactions" ? sentInTransactions(writer.eos) : sentAlone(writer.producer)
      return sent.pipe(
        Effect.matchEffect({
          onFailure: (error) =>
            Effect.sync(() => {
              // Nothing of these flushes, nor of those queued after them, is
              // known to be logged: their changes go back under newer ones,
              // to be sent by the next flush, and every one of them fails.
              const failed = [...group, ...queued.splice(0, queued.length)]
              const restored = new Map<PartitionState, Map<string, Local.Change>>()
              for (const flush of failed) {
                for (const [, state, layer] of flush.layers) {
                  state.layers.splice(state.layers.indexOf(layer), 1)
                  let m = restored.get(state)
                  if (m === undefined) {
                    m = new Map()
                    restored.set(state, m)
                  }
                  for (const [key, value] of layer) m.set(key, value)
                }
              }
              for (const [state, m] of restored) {
                for (const [key, value] of state.pending) m.set(key, value)
                state.pending = m
              }
              for (const flush of failed) Deferred.doneUnsafe(flush.done, Effect.fail(error))
            }),
          onSuccess: () =>
            Effect.sync(() => {
              for (const [partition, { state, layers, changes }] of merged) {
                const last = lastOffset.get(partition)
                if (last !== undefined) state.ackedCheckpoint = last + 1n
                // Acknowledged: the changes move from the layers being sent to
                // those waiting for the local store (no longer referenced by a
                // layer, `changes` can be taken as it is).
                for (const layer of layers) state.layers.splice(state.layers.indexOf(layer), 1)
                if (state.acked.size === 0) state.acked = changes
                else for (const [key, value] of changes) state.acked.set(key, value)
                // Exactly-once: acknowledged is not committed; the commit writes them (`onCommit`).
                if (eos === undefined && state.acked.size >= localBatch) writeLocal(state)
              }
              for (const flush of group) Deferred.doneUnsafe(flush.done, Effect.void)
            })
        }),
        Effect.andThen(
          Effect.suspend(() => {
            inFlight = []
            return sendQueued
          })
        )
      )
    })

    // Takes the buffered changes of `partitions` into a flush and returns the
    // wait for the changelog's acknowledgement of it and of every earlier one.
    const startFlush = (partitions: ReadonlyArray<number>): Effect.Effect<Effect.Effect<void, StateError>> =>
      lock.withPermit(
        Effect.gen(function* () {
          const layers: Array<readonly [number, PartitionState, Map<string, Local.Change>]> = []
          for (const partition of partitions) {
            const state = assigned.get(partition)
            if (state === undefined || state.pending.size === 0) continue
            // Changes not yet in the local store stay in memory: past a few
            // flushes' worth, wait for the oldest (backpressure).
            if (state.layers.length >= maxLayers) {
              const newest = queued.at(-1) ?? inFlight.at(-1)
              if (newest !== undefined) yield* Effect.ignore(Deferred.await(newest.done))
            }
            if (state.writing.length >= 2) yield* settle(state)
            const layer = state.pending
            state.pending = new Map()
            state.layers.push(layer)
            layers.push([partition, state, layer])
          }
          let wait: Effect.Effect<void, StateError> = Effect.void
          if (layers.length > 0) {
            const flush: Flush = { layers, done: Deferred.makeUnsafe<void, StateError>() }
            queued.push(flush)
            wait = Deferred.await(flush.done)
            if (!sending) {
              sending = true
              runFork(sendQueued)
            }
          } else {
            // Nothing new: the barrier is the newest flush still unacknowledged.
            const newest = queued.at(-1) ?? inFlight.at(-1)
            if (newest !== undefined) wait = Deferred.await(newest.done)
          }
          for (const [partition, state] of layers) {
            if (!state.countChanged) continue
            state.countChanged = false
            yield* Metric.update(
              Metric.withAttributes(StateMetrics.entries, { store: name, partition: String(partition) }),
              state.local.count()
            )
          }
          yield* Metric.update(storeMetric(StateMetrics.changelogLag), pendingCount())
          const read = { hits, misses }
          yield* Metric.update(
            Metric.withAttributes(StateMetrics.reads, { store: name, outcome: "hit" }),
            read.hits - published.hits
          )
          yield* Metric.update(
            Metric.withAttributes(StateMetrics.reads, { store: name, outcome: "miss" }),
            read.misses - published.misses
          )
          published = read
          return wait
        })
      )

    // The durability barrier.
    const flushNow = (partitions: ReadonlyArray<number>): Effect.Effect<void, StateError> =>
      Effect.flatten(startFlush(partitions))

    // Buffers a change of an assigned partition; `value` is the decoded value
    // of a change without a time to live, kept in the cache.
    const writeTo = (
      state: PartitionState,
      partition: number,
      key: string,
      change: Local.Change,
      value?: Option.Option<V>
    ): Effect.Effect<void> => {
      state.pending.set(key, change)
      if (change === null) cache.set(partition, key, Option.none(), sizeOf(key, 0))
      else if (value === undefined) cache.delete(partition, key)
      else cache.set(partition, key, value, sizeOf(key, change.byteLength))
      // A full buffer starts a flush without waiting for it: the caller's own `flush` is the barrier.
      return state.pending.size >= maxPending ? Effect.asVoid(startFlush([partition])) : Effect.void
    }

    const write = (partition: number, key: string, change: Local.Change): Effect.Effect<void, StateError> =>
      Effect.flatMap(partitionOf(partition), (state) => writeTo(state, partition, key, change))

    const openLocal = (partition: number): Effect.Effect<Local.LocalPartition, StateError> =>
      Effect.try({
        try: () => Local.LocalPartition.open(pathOf(partition)),
        catch: (cause) => cause
      }).pipe(
        Effect.catch((cause) =>
          Effect.logWarning("local state store unreadable; rebuilding it from the changelog").pipe(
            Effect.annotateLogs({ store: name, partition, error: String(cause) }),
            Effect.andThen(
              Effect.try({
                try: () => {
                  Local.LocalPartition.remove(pathOf(partition))
                  return Local.LocalPartition.open(pathOf(partition))
                },
                catch: (error) => ioError(name, `cannot open partition ${partition}`, error)
              })
            )
          )
        )
      )

    const close = (local: Local.LocalPartition) => Effect.promise(() => local.close().catch(() => undefined))

    // Restores `targets` (partition -> local store from its checkpoint up to
    // the changelog's end) with a consumer of the changelog in a group of its
    // own, which never commits: positions come from the checkpoints.
    const restore = (
      targets: Map<number, { local: Local.LocalPartition; from: bigint; to: bigint }>
    ): Effect.Effect<void, StateError> =>
      Effect.scoped(
        Effect.gen(function* () {
          const started = yield* Clock.currentTimeMillis
          const consumer = yield* client
            .consumer({
              groupId: `${options.group}-${name}-restore-${started}-${Math.random().toString(36).slice(2, 10)}`,
              // kafkajs turns a fetch into one object per record (a few hundred bytes of
              // heap for a record of tens of bytes), and a few batches are queued: the
              // fetch size, not the changelog's size, is what a restore holds in memory.
              maxBytesPerPartition: restoreFetchBytes,
              maxWaitTimeInMs: 100
            })
            .pipe(Effect.mapError((error) => changelogError(name, topic, error)))
          const done = yield* Deferred.make<void, StateError>()
          const remaining = new Set(targets.keys())
          const queues = new Map<number, { chain: Promise<unknown>; queued: number }>()
          const counts = new Map<number, number>()
          const finish = (partition: number) => {
            if (!remaining.delete(partition) || remaining.size > 0) return
            const chains = [...queues.values()].map((q) => q.chain)
            void Promise.all(chains).then(() => runFork(Deferred.succeed(done, undefined)))
          }
          // The changelog is read read_committed (kafkajs' default), and an
          // exactly-once job's changelog has commit markers and aborted
          // records: a fetch of nothing but those reaches no handler, only
          // this event, which still moves the partition to its end.
          const off = consumer.on("consumer.end_batch_process", (event) => {
            const end = batchEndOf(event.payload)
            const target = end === undefined ? undefined : targets.get(end.partition)
            if (end !== undefined && target !== undefined && end.lastOffset >= target.to - 1n) finish(end.partition)
          })
          yield* Effect.addFinalizer(() => Effect.sync(off))
          yield* attemptKafka(name, topic, "subscribe", () =>
            consumer.subscribe({ topics: [topic], fromBeginning: true })
          )
          yield* attemptKafka(name, topic, "run", () =>
            consumer.run({
              autoCommit: false,
              // kafkajs fetches from the resolved offset: resolving each batch moves on.
              eachBatchAutoResolve: true,
              eachBatch: async ({ batch }) => {
                const target = targets.get(batch.partition)
                if (target === undefined || !remaining.has(batch.partition)) return
                // A key changed twice in the batch (a tail not compacted yet) is written once.
                const changes = new Map<string, Local.Change>()
                // Offsets compared as numbers (exact below 2^53), one BigInt per batch.
                const from = Number(target.from)
                const to = Number(target.to)
                let last = -1
                let records = 0
                for (const message of batch.messages) {
                  const offset = Number(message.offset)
                  if (offset >= to) break
                  last = offset
                  if (offset < from || message.key === null) continue
                  // No copy: the local write takes the bytes before the batch is dropped.
                  changes.set(message.key.toString("utf8"), message.value)
                  records++
                }
                // Trailing commit markers and aborted records (exactly-once) count as read.
                const end = lastOffsetOf(batch)
                if (end !== undefined) last = Math.max(last, Math.min(end, to - 1))
                if (last < 0) return
                const next = BigInt(last) + 1n
                // Local writes of a partition are chained, not awaited one by
                // one, so fetching overlaps them; a few at most are queued.
                const queue = queues.get(batch.partition) ?? { chain: Promise.resolve(), queued: 0 }
                queues.set(batch.partition, queue)
                queue.queued++
                queue.chain = queue.chain
                  .then(() => target.local.apply(changes, next))
                  .then(
                    () => {
                      queue.queued--
                    },
                    (cause: unknown) => {
                      remaining.clear()
                      runFork(Deferred.fail(done, ioError(name, `cannot restore partition ${batch.partition}`, cause)))
                    }
                  )
                if (queue.queued > 4) await queue.chain
                counts.set(batch.partition, (counts.get(batch.partition) ?? 0) + records)
                if (next >= target.to) finish(batch.partition)
              }
            })
          )
          const others = Array.from({ length: options.partitions }, (_, p) => p).filter((p) => !targets.has(p))
          // Start each wanted partition at its checkpoint; stop fetching the others.
          if (others.length > 0) consumer.pause([{ topic, partitions: others }])
          const seek = (consumer as Partial<Seekable>).seek
          if (typeof seek === "function") {
            for (const [partition, target] of targets) {
              seek.call(consumer, { topic, partition, offset: target.from.toString() })
            }
          }
          yield* Deferred.await(done).pipe(
            Effect.timeoutOrElse({
              duration: restoreTimeout,
              orElse: () =>
                Effect.fail(
                  new StateError({
                    reason: "Changelog",
                    store: name,
                    detail: `restore of partitions ${[...remaining].join(",")} of ${topic} did not finish within ${Duration.format(restoreTimeout)}`
                  })
                )
            })
          )
          const ended = yield* Clock.currentTimeMillis
          for (const [partition] of targets) {
            const records = counts.get(partition) ?? 0
            const millis = ended - started
            restores.set(partition, { records, millis })
            yield* Metric.update(
              Metric.withAttributes(StateMetrics.restoreMillis, { store: name, partition: String(partition) }),
              millis
            )
            yield* Metric.update(
              Metric.withAttributes(StateMetrics.restoredRecords, { store: name, partition: String(partition) }),
              records
            )
          }
          yield* attemptKafka(name, topic, "stop", () => consumer.stop()).pipe(Effect.ignore)
        })
      )

    const assign = (partitions: Iterable<number>): Effect.Effect<void, StateError> =>
      lock.withPermit(
        Effect.gen(function* () {
          if (closed) return yield* new StateError({ reason: "Closed", store: name, detail: "the store is closed" })
          const wanted = [...new Set(partitions)].filter((p) => !assigned.has(p))
          if (wanted.length === 0) return
          // Bounded: it runs under the store's lock (see `bounded`).
          const ends = yield* bounded(
            attemptKafka(name, topic, "fetchTopicOffsets", () => client.admin.fetchTopicOffsets(topic)),
            {
              timeout: lookupTimeout,
              attempts: lookupAttempts,
              onTimeout: () =>
                new StateError({
                  reason: "Changelog",
                  store: name,
                  detail: `${topic}: fetchTopicOffsets: no answer within ${Duration.format(lookupTimeout)}`
                })
            }
          )
          const opened = new Map<number, Local.LocalPartition>()
          const targets = new Map<number, { local: Local.LocalPartition; from: bigint; to: bigint }>()
          yield* Effect.gen(function* () {
            for (const partition of wanted) {
              revoked.delete(partition)
              let local = yield* openLocal(partition)
              const end = ends.find((e) => e.partition === partition)
              const low = BigInt(end?.low ?? "0")
              const high = BigInt(end?.high ?? "0")
              let checkpoint = local.checkpoint()
              // Ahead of the changelog (the topic was recreated) or behind its
              // start (records it never saw were deleted): start afresh.
              if (checkpoint > high || (checkpoint < low && checkpoint > 0n)) {
                yield* Effect.logWarning("local state store does not match its changelog; rebuilding it").pipe(
                  Effect.annotateLogs({
                    store: name,
                    partition,
                    checkpoint: String(checkpoint),
                    low: String(low),
                    high: String(high)
                  })
                )
                yield* close(local)
                Local.LocalPartition.remove(pathOf(partition))
                local = yield* openLocal(partition)
                checkpoint = 0n
              }
              opened.set(partition, local)
              if (checkpoint < high) targets.set(partition, { local, from: checkpoint, to: high })
              else restores.set(partition, { records: 0, millis: 0 })
            }
            if (targets.size > 0) yield* restore(targets)
          }).pipe(Effect.onError(() => Effect.forEach(opened.values(), close, { discard: true })))
          for (const [partition, local] of opened) {
            cache.drop(partition)
            assigned.set(partition, {
              local,
              pending: new Map(),
              layers: [],
              acked: new Map(),
              ackedCheckpoint: local.checkpoint(),
              writing: [],
              writes: Promise.resolve(),
              failure: undefined,
              countChanged: true,
              eventTime: local.eventTime()
            })
          }
        })
      )

    const revoke = (partitions: Iterable<number>): Effect.Effect<void, StateError> =>
      Effect.gen(function* () {
        const given = [...new Set(partitions)].filter((p) => assigned.has(p))
        // Exactly-once: what is not committed yet is not kept (the partition's
        // open transaction is aborted; its new owner processes the records again).
        if (eos === undefined) yield* flushNow(given)
        const now = yield* Clock.currentTimeMillis
        yield* lock.withPermit(
          Effect.forEach(
            given,
            (partition) =>
              Effect.suspend(() => {
                const state = assigned.get(partition)
                if (state === undefined) return Effect.void
                assigned.delete(partition)
                cache.drop(partition)
                revoked.set(partition, now)
                if (eos === undefined) writeLocal(state)
                return Effect.andThen(settle(state), close(state.local))
              }),
            { discard: true }
          )
        )
      })

    // Drops local stores revoked for longer than `retainRevoked`.
    const sweep = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      for (const [partition, at] of revoked) {
        if (now - at < retainRevoked || assigned.has(partition)) continue
        revoked.delete(partition)
        yield* Effect.try({
          try: () => Local.LocalPartition.remove(pathOf(partition)),
          catch: (cause) => ioError(name, `cannot remove partition ${partition}`, cause)
        }).pipe(Effect.catch((error) => Effect.logWarning(error.message)))
      }
    })
    yield* lock
      .withPermit(sweep)
      .pipe(
        Effect.repeat(Schedule.spaced(Duration.millis(Math.max(1_000, Math.min(retainRevoked, 60_000))))),
        Effect.forkScoped
      )

    yield* Effect.addFinalizer(() =>
      Effect.gen(function* () {
        // Exactly-once: the source's last commit decided what is kept; nothing more is written.
        if (eos === undefined) {
          yield* flushNow([...assigned.keys()]).pipe(
            Effect.catch((error) => Effect.logWarning("final flush of a state store failed", error.message))
          )
        }
        closed = true
        yield* lock.withPermit(
          Effect.forEach(
            [...assigned.values()],
            (state) => {
              if (eos === undefined) writeLocal(state)
              return Effect.andThen(settle(state), close(state.local))
            },
            { discard: true }
          )
        )
        assigned.clear()
      })
    )

    const store: DurableStore<V> = {
      name,
      topic,
      get: (partition, key) =>
        Effect.flatMap(partitionOf(partition), (state) => {
          const cached = cache.get(partition, key)
          if (cached !== undefined) {
            if (cached._tag === "Some") hits++
            else misses++
            return Effect.succeed(cached)
          }
          const bytes = current(state, key)
          if (bytes === undefined || bytes === null) {
            misses++
            cache.set(partition, key, Option.none(), sizeOf(key, 0))
            return Effect.succeedNone
          }
          if (bytes[0] === Local.NO_TTL) {
            return Effect.map(decode(bytes), (value) => {
              hits++
              const found = Option.some(value)
              cache.set(partition, key, found, sizeOf(key, bytes.byteLength))
              return found
            })
          }
          const found = Effect.map(decode(bytes), (value) => {
            hits++
            return Option.some(value)
          })
          return Effect.flatMap(Clock.currentTimeMillis, (now) => {
            if (!isExpired(state, bytes, now)) return found
            misses++
            return Effect.as(write(partition, key, null), Option.none())
          })
        }),
      set: (partition, key, value, setOptions?: StateStore.SetOptions) =>
        Effect.flatMap(partitionOf(partition), (state) => {
          // Plain code, not an effect per step: a keyed operator sets once per record.
          let bytes: Uint8Array
          try {
            bytes = codec.encode(value)
          } catch (cause) {
            return Effect.fail(encodeError(cause))
          }
          if (setOptions?.ttl === undefined) {
            return writeTo(state, partition, key, Local.entry(Local.NO_TTL, 0, bytes), Option.some(value))
          }
          const ttl = Duration.toMillis(Duration.fromInputUnsafe(setOptions.ttl))
          const eventDomain = setOptions.ttlDomain === "event-time"
          return Effect.flatMap(Clock.currentTimeMillis, (now) => {
            const from = setOptions.now ?? (eventDomain ? state.eventTime : now)
            const domain = eventDomain ? Local.EVENT_TIME : Local.PROCESSING_TIME
            return writeTo(state, partition, key, Local.entry(domain, from + ttl, bytes))
          })
        }),
      delete: (partition, key) => write(partition, key, null),
      // One effect per call, a plain loop per entry: operators write a chunk's changes at once.
      setMany: (partition, entries) =>
        Effect.flatMap(partitionOf(partition), (state) => {
          for (const [key, value] of entries) {
            let bytes: Uint8Array
            try {
              bytes = codec.encode(value)
            } catch (cause) {
              return Effect.fail(encodeError(cause))
            }
            state.pending.set(key, Local.entry(Local.NO_TTL, 0, bytes))
            cache.set(partition, key, Option.some(value), sizeOf(key, bytes.byteLength))
          }
          return state.pending.size >= maxPending ? Effect.asVoid(startFlush([partition])) : Effect.void
        }),
      deleteMany: (partition, keys) =>
        Effect.flatMap(partitionOf(partition), (state) => {
          for (const key of keys) {
            state.pending.set(key, null)
            cache.set(partition, key, Option.none(), sizeOf(key, 0))
          }
          return state.pending.size >= maxPending ? Effect.asVoid(startFlush([partition])) : Effect.void
        }),
      range: (partition, prefix) =>
        Effect.flatMap(partitionOf(partition), (state) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) => {
            const merged = new Map<string, Local.Change>()
            for (const [key, value] of state.local.range(prefix)) merged.set(key, value)
            for (const layer of unwritten(state)) {
              for (const [key, value] of layer) if (key.startsWith(prefix)) merged.set(key, value)
            }
            const keys = [...merged.keys()].sort()
            const live: Array<readonly [string, Uint8Array]> = []
            for (const key of keys) {
              const bytes = merged.get(key)
              if (bytes !== undefined && bytes !== null && !isExpired(state, bytes, now)) live.push([key, bytes])
            }
            return Effect.forEach(live, ([key, bytes]) => Effect.map(decode(bytes), (value) => [key, value] as const))
          })
        ),
      expire: (partition, eventTime) =>
        Effect.flatMap(partitionOf(partition), (state) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) => {
            if (eventTime !== undefined && eventTime > state.eventTime) state.eventTime = eventTime
            const candidates = new Set<string>([
              ...state.local.expiredKeys(Local.PROCESSING_TIME, now),
              ...(Number.isFinite(state.eventTime) ? state.local.expiredKeys(Local.EVENT_TIME, state.eventTime) : [])
            ])
            for (const layer of unwritten(state)) {
              for (const [key, value] of layer) if (value !== null && value[0] !== Local.NO_TTL) candidates.add(key)
            }
            const expired: Array<string> = []
            for (const key of candidates) {
              const bytes = current(state, key)
              if (bytes !== undefined && bytes !== null && isExpired(state, bytes, now)) expired.push(key)
            }
            return Effect.as(
              Effect.forEach(expired, (key) => write(partition, key, null), { discard: true }),
              expired.length
            )
          })
        ),
      // "Every assigned partition" is read when the flush runs, not when it is built.
      flush: (partitions) =>
        Effect.suspend(() => flushNow(partitions === undefined ? [...assigned.keys()] : [...partitions])),
      flushAsync: (partitions) =>
        Effect.suspend(() => startFlush(partitions === undefined ? [...assigned.keys()] : [...partitions])),
      assign,
      revoke,
      size: (partition) =>
        Effect.sync(() => {
          const count = (state: PartitionState) => {
            let n = state.local.count()
            const layered = new Map<string, Local.Change>()
            for (const layer of unwritten(state)) for (const [key, value] of layer) layered.set(key, value)
            for (const [key, value] of layered) {
              const onDisk = state.local.get(key) !== undefined
              if (value !== null && !onDisk) n++
              else if (value === null && onDisk) n--
            }
            return n
          }
          if (partition !== undefined) {
            const state = assigned.get(partition)
            return state === undefined ? 0 : count(state)
          }
          let n = 0
          for (const state of assigned.values()) n += count(state)
          return n
        }),
      stats: () => ({ hits, misses, restores: new Map(restores) })
    }
    return store
  })

// kafkajs consumers can start a partition at an offset; the structural
// client interface does not name it, so it is used when present.
interface Seekable {
  seek(target: { topic: string; partition: number; offset: string }): void
}

// kafkajs batches know their last offset, control records and aborted
// records included; the structural batch interface does not name it.
interface WithLastOffset {
  lastOffset(): string
}

const lastOffsetOf = (batch: KafkaLike.Batch): number | undefined => {
  const lastOffset = (batch as Partial<WithLastOffset>).lastOffset
  return typeof lastOffset === "function" ? Number(lastOffset.call(batch)) : undefined
}

// The partition and last offset of kafkajs' end-of-batch event.
const batchEndOf = (payload: unknown): { readonly partition: number; readonly lastOffset: bigint } | undefined => {
  if (typeof payload !== "object" || payload === null) return undefined
  const partition: unknown = Reflect.get(payload, "partition")
  const lastOffset: unknown = Reflect.get(payload, "lastOffset")
  if (typeof partition !== "number" || (typeof lastOffset !== "string" && typeof lastOffset !== "number")) {
    return undefined
  }
  return { partition, lastOffset: BigInt(lastOffset) }
}
