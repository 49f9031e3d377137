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
import { Budget, type Entry, sizeOf, Table } from "./internal/table.ts"
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

interface PartitionState<V> {
  readonly local: Local.LocalPartition
  /** Every key not on disk yet or recently read, with where its change stands. */
  readonly table: Table<V>
  /** Flushes that took changes of the partition and that the changelog did not answer yet. */
  flushes: number
  /** Local writes started and not finished. */
  writing: number
  /** The last local write started; the local store is settled when it is. */
  writes: Promise<unknown>
  /** Why a local write failed; the partition fails every call from then on. */
  failure: unknown
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

    const assigned = new Map<number, PartitionState<V>>()
    const budget = new Budget(options.cacheBytes ?? 32 * 1024 * 1024)
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

    // Runs `f` on an assigned partition's state. Suspended: a store call is
    // a description, checked when it runs, not when it is built. An operator
    // builds `assign(p)` then `range(p)` before running either; checked
    // eagerly, the `range` would see `p` unassigned. One suspend, not a
    // flatMap over a looked-up state: a keyed operator calls this twice per record.
    const withPartition = <A, E>(
      partition: number,
      f: (state: PartitionState<V>) => Effect.Effect<A, E>
    ): Effect.Effect<A, E | StateError> =>
      Effect.suspend((): Effect.Effect<A, E | StateError> => {
        if (closed) return Effect.fail(new StateError({ reason: "Closed", store: name, detail: "the store is closed" }))
        const state = assigned.get(partition)
        if (state === undefined) {
          return Effect.fail(
            new StateError({ reason: "Closed", store: name, detail: `partition ${partition} is not assigned` })
          )
        }
        return state.failure === undefined
          ? f(state)
          : Effect.fail(ioError(name, `local store of partition ${partition} failed`, state.failure))
      })

    // The newest bytes of `key`: its entry's while the change is not on disk, else the disk's.
    const current = (state: PartitionState<V>, key: string): Local.Change | undefined => {
      const bytes = state.table.entries.get(key)?.bytes
      return bytes !== undefined ? bytes : state.local.get(key)
    }

    // Starts writing the acknowledged changes to the local store, with their
    // checkpoint, in one transaction. LMDB commits transactions in the order
    // they were started, so checkpoints only grow. Reads keep seeing the
    // entries meanwhile; once written, an entry with nothing newer is clean.
    const writeLocal = (state: PartitionState<V>): void => {
      const { table } = state
      if (table.acked.length === 0) return
      const batch = table.acked
      table.acked = []
      const changes = new Array<readonly [string, Local.Change]>(batch.length)
      for (let i = 0; i < batch.length; i++) {
        const entry = batch[i]!
        changes[i] = [entry.key, entry.acked as Local.Change]
        entry.hasAcked = false
        entry.acked = undefined
        entry.writes++
      }
      const checkpoint = table.ackedCheckpoint
      state.writing++
      state.writes = state.writes
        .then(() => state.local.apply(changes, checkpoint, state.eventTime))
        .then(
          () => {
            state.writing--
            for (const entry of batch) {
              entry.writes--
              table.settle(entry)
            }
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
    const settle = (state: PartitionState<V>) =>
      Effect.promise(() =>
        state.writes.then(
          () => undefined,
          () => undefined
        )
      )

    const isExpired = (state: PartitionState<V>, bytes: Uint8Array, now: number): boolean => {
      if (bytes[0] === Local.NO_TTL) return false
      const { domain, expiresAt } = Local.header(bytes)
      return domain === Local.PROCESSING_TIME ? now >= expiresAt : state.eventTime >= expiresAt
    }

    const codecError = (cause: unknown) =>
      new StateError({
        reason: "Codec",
        store: name,
        detail: cause instanceof Error ? cause.message : String(cause),
        cause
      })

    const decode = (bytes: Uint8Array): Effect.Effect<V, StateError> =>
      Effect.try({ try: () => codec.decode(Local.body(bytes)), catch: codecError })

    const unsentCount = () => {
      let n = 0
      for (const state of assigned.values()) n += state.table.unsent.length
      return n
    }

    // What a flush took from a partition: its changed entries and their
    // values at that moment (a key may change again before the send).
    interface Taken {
      readonly partition: number
      readonly state: PartitionState<V>
      readonly entries: ReadonlyArray<Entry<V>>
      readonly values: ReadonlyArray<Local.Change>
      readonly flush: number
    }
    // A flush: what it took from the partitions, and whether the changelog acknowledged it.
    interface Flush {
      readonly taken: ReadonlyArray<Taken>
      readonly done: Deferred.Deferred<void, StateError>
    }
    // Flushes not yet acknowledged, oldest first; the sender takes them from
    // the front. Acknowledgements come in this order, and a failure fails
    // every flush after it too, so the newest one settles last.
    const queued: Array<Flush> = []
    let inFlight: Array<Flush> = []
    let sending = false
    let flushes = 0

    // Sends every queued flush in one go (a key taken by several of them is
    // sent once, with the newest value), then, once the changelog acknowledged
    // them, hands them to the local stores' writes with the new checkpoints
    // (reads see them meanwhile), because the changelog, not the local store,
    // is what makes them durable. One send at a time keeps the changelog in
    // order; flushes arriving meanwhile join the next send, so a job flushing
    // often waits for one round trip, not one per flush.
    const sendQueued: Effect.Effect<void> = Effect.suspend(() => {
      if (queued.length === 0) {
        sending = false
        return Effect.void
      }
      const group = queued.splice(0, queued.length)
      inFlight = group
      // Built synchronously with the splice: every flush that took a key
      // later than one of these is in the group, so the newest one sends it.
      const toSend = new Map<
        number,
        { state: PartitionState<V>; keys: Array<string>; values: Array<Local.Change>; entries: Array<Entry<V>> }
      >()
      for (const flush of group) {
        for (const taken of flush.taken) {
          let m = toSend.get(taken.partition)
          if (m === undefined) {
            m = { state: taken.state, keys: [], values: [], entries: [] }
            toSend.set(taken.partition, m)
          }
          for (let i = 0; i < taken.entries.length; i++) {
            const entry = taken.entries[i]!
            if (entry.flush !== taken.flush) continue
            m.keys.push(entry.key)
            m.values.push(taken.values[i]!)
            m.entries.push(entry)
          }
        }
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
      // A partition's records `[from, to)` as one message (`encodeRecords`):
      // both producers, the idempotent one and the transactional ones, send it
      // through the same kafkajs path, which writes the batch header.
      const encoded = (partition: number, from: number, to: number) => {
        const { keys, values } = toSend.get(partition)!
        return {
          key: null,
          value: null,
          partition,
          encodedRecords: encodeRecords(keys, values, from, to)
        } satisfies KafkaLike.Message & { readonly encodedRecords: EncodedRecords }
      }
      // Exactly-once: each partition's changes go into its input partition's
      // transaction (one producer each, so partitions are sent side by side).
      const sentInTransactions = (exactlyOnce: ExactlyOnce) =>
        Effect.forEach(
          toSend,
          ([partition, { keys }]) =>
            Effect.gen(function* () {
              for (let i = 0; i < keys.length; i += sendChunk) {
                const to = Math.min(keys.length, i + sendChunk)
                const answers = yield* exactlyOnce.transactions
                  .produce({ topic: exactlyOnce.inputTopic, partition }, topic, [encoded(partition, i, to)])
                  .pipe(Effect.mapError((error) => changelogError(name, topic, error)))
                // Not this member's partition any more: its new owner processes the records again.
                if (answers === undefined) return
                record(answers, new Map([[partition, to - i]]))
              }
            }),
          { concurrency: "unbounded", discard: true }
        )
      // Requests of up to `sendChunk` records, each partition's share of one
      // encoded into a single message, sent one after another.
      const sentAlone = (producer: KafkaLike.Producer) =>
        Effect.gen(function* () {
          const left = [...toSend].map(([partition, { keys }]) => ({ partition, size: keys.length, next: 0 }))
          while (left.some((l) => l.next < l.size)) {
            const chunk: Array<KafkaLike.Message> = []
            const counts = new Map<number, number>()
            let room = sendChunk
            for (const l of left) {
              if (room === 0) break
              const to = Math.min(l.size, l.next + room)
              if (to === l.next) continue
              chunk.push(encoded(l.partition, l.next, to))
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
      // The flushes' entries are no longer carried by them.
      const release = (flushes: ReadonlyArray<Flush>, retry: boolean) => {
        for (const flush of flushes) {
          for (const { state, entries } of flush.taken) {
            state.flushes--
            for (const entry of entries) {
              entry.sending--
              // Not known to be logged: sent again, with its newest value, by the next flush.
              if (retry && !entry.unsent) {
                entry.unsent = true
                state.table.unsent.push(entry)
              }
            }
          }
        }
      }
      const sent = writer._tag === "Transactions" ? sentInTransactions(writer.eos) : sentAlone(writer.producer)
      return sent.pipe(
        Effect.matchEffect({
          onFailure: (error) =>
            Effect.sync(() => {
              // Nothing of these flushes, nor of those queued after them, is
              // known to be logged, and every one of them fails.
              const failed = [...group, ...queued.splice(0, queued.length)]
              release(failed, true)
              for (const flush of failed) Deferred.doneUnsafe(flush.done, Effect.fail(error))
            }),
          onSuccess: () =>
            Effect.sync(() => {
              for (const [partition, { state, values, entries }] of toSend) {
                const { table } = state
                const last = lastOffset.get(partition)
                if (last !== undefined) table.ackedCheckpoint = last + 1n
                // Acknowledged: the value the changelog holds waits for the local store.
                for (let i = 0; i < entries.length; i++) {
                  const entry = entries[i]!
                  entry.acked = values[i]!
                  if (!entry.hasAcked) {
                    entry.hasAcked = true
                    table.acked.push(entry)
                  }
                }
              }
              release(group, false)
              // Exactly-once: acknowledged is not committed; the commit writes them (`onCommit`).
              if (eos === undefined) {
                for (const { state } of toSend.values()) if (state.table.acked.length >= localBatch) writeLocal(state)
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

    // Takes the unsent changes of `partitions` into a flush and returns the
    // wait for the changelog's acknowledgement of it and of every earlier one.
    const startFlush = (partitions: ReadonlyArray<number>): Effect.Effect<Effect.Effect<void, StateError>> =>
      lock.withPermit(
        Effect.gen(function* () {
          // Changes not yet in the local store stay in memory: past a few
          // flushes' worth, wait for the oldest (backpressure). All waits come
          // before any change is taken, so taking them and queueing the flush
          // is one step (see `sendQueued`).
          for (const partition of partitions) {
            const state = assigned.get(partition)
            if (state === undefined || state.table.unsent.length === 0) continue
            if (state.flushes >= maxLayers) {
              const newest = queued.at(-1) ?? inFlight.at(-1)
              if (newest !== undefined) yield* Effect.ignore(Deferred.await(newest.done))
            }
            if (state.writing >= 2) yield* settle(state)
          }
          const taken: Array<Taken> = []
          for (const partition of partitions) {
            const state = assigned.get(partition)
            if (state === undefined || state.table.unsent.length === 0) continue
            const flush = ++flushes
            const entries = state.table.unsent
            state.table.unsent = []
            const values = new Array<Local.Change>(entries.length)
            for (let i = 0; i < entries.length; i++) {
              const entry = entries[i]!
              values[i] = entry.bytes as Local.Change
              entry.unsent = false
              entry.sending++
              entry.flush = flush
            }
            state.flushes++
            taken.push({ partition, state, entries, values, flush })
          }
          let wait: Effect.Effect<void, StateError> = Effect.void
          if (taken.length > 0) {
            const flush: Flush = { taken, done: Deferred.makeUnsafe<void, StateError>() }
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
          for (const { partition, state } of taken) {
            yield* Metric.update(
              Metric.withAttributes(StateMetrics.entries, { store: name, partition: String(partition) }),
              state.table.count
            )
          }
          yield* Metric.update(storeMetric(StateMetrics.changelogLag), unsentCount())
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

    // A full buffer starts a flush without waiting for it: the caller's own `flush` is the barrier.
    const flushIfFull = (state: PartitionState<V>, partition: number): Effect.Effect<void> =>
      state.table.unsent.length >= maxPending ? Effect.asVoid(startFlush([partition])) : Effect.void

    const write = (partition: number, key: string, change: Local.Change): Effect.Effect<void, StateError> =>
      withPartition(partition, (state) => {
        state.table.change(key, change, change === null, undefined, sizeOf(key, 0))
        return flushIfFull(state, partition)
      })

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
            assigned.set(partition, {
              local,
              // The running count starts from LMDB's statistics (no scan).
              table: new Table<V>(budget, {
                count: local.count(),
                checkpoint: local.checkpoint(),
                onDisk: (key) => local.has(key)
              }),
              flushes: 0,
              writing: 0,
              writes: Promise.resolve(),
              failure: undefined,
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
                revoked.set(partition, now)
                if (eos === undefined) writeLocal(state)
                return Effect.andThen(
                  settle(state),
                  Effect.andThen(
                    Effect.sync(() => state.table.drop()),
                    close(state.local)
                  )
                )
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
      // Plain code, not an effect per step: a keyed operator reads and writes once per record.
      get: (partition, key) =>
        withPartition(partition, (state) => {
          const { table } = state
          const entry = table.entries.get(key)
          if (entry?.cached === true) {
            if (entry.present) {
              hits++
              return Effect.succeed(Option.some(entry.value as V))
            }
            misses++
            return Effect.succeedNone
          }
          // An entry without a decoded value is one whose change is not on disk yet.
          const bytes = entry !== undefined ? entry.bytes : state.local.get(key)
          if (bytes === undefined || bytes === null) {
            misses++
            table.remember(entry, key, false, undefined, sizeOf(key, 0))
            return Effect.succeedNone
          }
          let value: V
          try {
            value = codec.decode(Local.body(bytes))
          } catch (cause) {
            return Effect.fail(codecError(cause))
          }
          const found = Option.some(value)
          // Entries with a time to live are not kept decoded: their expiry needs their header.
          if (bytes[0] === Local.NO_TTL) {
            hits++
            table.remember(entry, key, true, value, sizeOf(key, bytes.byteLength))
            return Effect.succeed(found)
          }
          return Effect.flatMap(Clock.currentTimeMillis, (now) => {
            if (!isExpired(state, bytes, now)) {
              hits++
              return Effect.succeed(found)
            }
            misses++
            return Effect.as(write(partition, key, null), Option.none())
          })
        }),
      set: (partition, key, value, setOptions?: StateStore.SetOptions) =>
        withPartition(partition, (state) => {
          let bytes: Uint8Array
          try {
            bytes = codec.encode(value)
          } catch (cause) {
            return Effect.fail(codecError(cause))
          }
          if (setOptions?.ttl === undefined) {
            const change = Local.entry(Local.NO_TTL, 0, bytes)
            state.table.change(key, change, true, value, sizeOf(key, change.byteLength))
            return flushIfFull(state, partition)
          }
          const ttl = Duration.toMillis(Duration.fromInputUnsafe(setOptions.ttl))
          const eventDomain = setOptions.ttlDomain === "event-time"
          return Effect.flatMap(Clock.currentTimeMillis, (now) => {
            const from = setOptions.now ?? (eventDomain ? state.eventTime : now)
            const domain = eventDomain ? Local.EVENT_TIME : Local.PROCESSING_TIME
            state.table.change(key, Local.entry(domain, from + ttl, bytes), false, undefined, 0)
            return flushIfFull(state, partition)
          })
        }),
      delete: (partition, key) => write(partition, key, null),
      // One effect per call, a plain loop per entry: operators write a chunk's changes at once.
      setMany: (partition, entries) =>
        withPartition(partition, (state) => {
          for (const [key, value] of entries) {
            let bytes: Uint8Array
            try {
              bytes = codec.encode(value)
            } catch (cause) {
              return Effect.fail(codecError(cause))
            }
            const change = Local.entry(Local.NO_TTL, 0, bytes)
            state.table.change(key, change, true, value, sizeOf(key, change.byteLength))
          }
          return flushIfFull(state, partition)
        }),
      deleteMany: (partition, keys) =>
        withPartition(partition, (state) => {
          for (const key of keys) state.table.change(key, null, true, undefined, sizeOf(key, 0))
          return flushIfFull(state, partition)
        }),
      range: (partition, prefix) =>
        withPartition(partition, (state) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) => {
            const merged = new Map<string, Local.Change>()
            for (const [key, value] of state.local.range(prefix)) merged.set(key, value)
            for (const entry of state.table.entries.values()) {
              if (entry.bytes !== undefined && entry.key.startsWith(prefix)) merged.set(entry.key, entry.bytes)
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
        withPartition(partition, (state) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) => {
            if (eventTime !== undefined && eventTime > state.eventTime) state.eventTime = eventTime
            const candidates = new Set<string>([
              ...state.local.expiredKeys(Local.PROCESSING_TIME, now),
              ...(Number.isFinite(state.eventTime) ? state.local.expiredKeys(Local.EVENT_TIME, state.eventTime) : [])
            ])
            // Only a store that wrote a time to live can hold one not on disk yet.
            if (state.table.hasTtl) {
              for (const entry of state.table.entries.values()) {
                const bytes = entry.bytes
                if (bytes !== undefined && bytes !== null && bytes[0] !== Local.NO_TTL) candidates.add(entry.key)
              }
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
      // A running count per partition: no pass over anything.
      size: (partition) =>
        Effect.sync(() => {
          if (partition !== undefined) return assigned.get(partition)?.table.count ?? 0
          let n = 0
          for (const state of assigned.values()) n += state.table.count
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
