/**
 * Exactly-once processing for jobs that read Kafka and write Kafka: the
 * outputs of a commit cycle and the input offsets they came from go into one
 * Kafka transaction, so a `read_committed` reader sees both or neither.
 *
 * **One transactional producer per input partition.** Each input partition a
 * member owns gets a producer whose transactional id is
 * `<prefix>-<topic>-<partition>`. Claiming a partition registers that id with
 * the broker (InitProducerId), which bumps its epoch: the previous owner's
 * producer is fenced and its open transaction aborted, so an instance that
 * lost a partition, even one that does not know it yet, can never commit
 * output or offsets for it again. This is Kafka Streams' first exactly-once
 * design (KIP-98). The one-producer-per-instance design of KIP-447 needs
 * TxnOffsetCommit v3, which carries the consumer group's generation so the
 * broker can reject a zombie's offsets; kafkajs 2.2.4 sends only v0 and v1,
 * without the generation. The project's kafkajs patch sends v3 with the
 * generation and member id of the consumer's GROUP_JOIN event, on which
 * `MemberTransactions` builds the member-wide design (opt-in, pipelined jobs).
 *
 * After the fence the partition's committed offset is read again: a record
 * below it was committed by the previous owner in a transaction that ended
 * after the consumer fetched its start offset, and is skipped. It is read
 * stable (KIP-447's `require_stable`): while any open transaction, under
 * whatever transactional id, holds an offset of the partition for the
 * group, the read waits for it to end, so the partition never starts from
 * an offset that transaction is about to move.
 *
 * **Commit cycle.** Every `commitInterval` (100 ms by default) the source
 * stops tracking new records (`admit` waits), the records already in the
 * pipeline finish (their outputs sent into the open transactions), then each
 * partition's transaction gets the partition's offset (`sendOffsets`) and
 * commits. Draining first is what makes the offsets and the outputs match
 * whatever the pipeline's ordering and however many sinks it writes to: no
 * output of a record beyond the committed offset can be in the transaction.
 *
 * **Pipelined commit cycle** (`pipelined: true`, for jobs whose every output
 * is sent with its input offsets through `sendRecords`). The source is never
 * held. A cycle cuts every partition at one instant, past the last record
 * whose outputs went into the open transaction (and past every record done);
 * outputs of records before the cut go into the open transaction, outputs of
 * records after it are kept aside (the sink does not wait for them). Records
 * still in the pipeline at the cut are mostly after it, so a commit waits for
 * the acknowledgements of outputs already sent, and for the few records the
 * pipeline finished out of order, not for every record in flight: cutting
 * after the last record tracked made each commit wait for the slowest of
 * those, which set the latency of all of them. Each partition commits as soon
 * as its records before the cut are done, independently of the others, then
 * sends what it kept aside into its
 * next transaction and acknowledges it. A transaction so holds exactly the
 * outputs of the records below its committed offset, as with draining, while
 * the pipeline keeps working on the next transaction's records: draining
 * stalled the whole pipeline for the slowest in-flight record every 100 ms.
 * The ticks do not wait for the commits either: each tick cuts the
 * partitions whose previous commit is over, and a partition still committing
 * at a tick is cut again as soon as that commit ends. A partition is so cut
 * every `commitInterval` (50 ms by default in this mode), or right after its
 * previous commit when that took longer: not every interval plus the slowest
 * partition's commit (which added up to the wait of every record for its
 * cut), nor at the tick after a commit that outlasted one (under load half
 * the ticks were missed so, and their records waited a whole extra interval).
 *
 * **Failures.** A transaction that cannot be sent or committed (fenced,
 * timed out on the broker, broker gone) fails the source's stream, and with
 * it the job; its open transactions are aborted by the broker (timeout) or by
 * the next owner's fence, and the job, restarted, resumes from the offsets of
 * the last committed transaction. A revoked partition's open transaction is
 * aborted once its records have left the pipeline: its new owner starts from
 * the last committed offset.
 *
 * **A fence during a revocation** is not a failure. While the source waits
 * for a revoked partition's records in flight, the group may already have
 * handed the partition to another member, whose claim fences this member's
 * producer for it and aborts its open transaction. A send, offset commit or
 * commit of that partition then fails fenced: the partition's work is
 * dropped as a release drops it (the outputs in the transaction are gone, the
 * records are acknowledged so the revocation need not wait for them, nothing
 * more is sent or committed for it) and the member carries on with its other
 * partitions, whose producers and transactions are their own. This is what
 * Kafka Streams does with a TaskMigratedException. A fence on a partition
 * the source is not giving up still fails the job: that member is a zombie.
 *
 * State stores: a store's changelog writes belong in the same transaction as
 * the outputs of the records that caused them; `produce` is the hook (a
 * changelog record sent with its input record's partition commits with it),
 * and `onCommit` tells the store when what it sent is committed, so its
 * local copy only ever holds committed changes.
 *
 * @since 0.1.0
 */
import { Metrics, type OffsetTracker } from "@sluice/core"
import { Duration, Effect, Exit, Latch, Metric, Schedule, Scope, Semaphore } from "effect"
import type * as KafkaClient from "./KafkaClient.ts"
import * as KafkaError from "./KafkaError.ts"
import type * as KafkaLike from "./KafkaLike.ts"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The consumer group whose offsets the transactions commit. */
  readonly groupId: string
  /** Transactional ids are `<prefix>-<topic>-<partition>`; the group id by default. */
  readonly transactionalIdPrefix?: string | undefined
  /** How often outputs and offsets are committed; 100 ms by default, 50 ms for pipelined commits. */
  readonly commitInterval?: Duration.Input | undefined
  /** After this long the broker aborts an open transaction; 60 seconds by default. */
  readonly transactionTimeout?: Duration.Input | undefined
  /** Broker-side timeout of a produce request; 30 seconds by default. */
  readonly requestTimeoutMillis?: number | undefined
  /**
   * Commit without holding the source (see the module's header). Every send
   * must then go through `sendRecords`; `send` and `produce` are defects.
   * False by default.
   */
  readonly pipelined?: boolean | undefined
}

/**
 * What a consumer source calls in exactly-once mode (`KafkaSource`'s
 * `transactions` option) instead of committing offsets itself.
 *
 * @since 0.1.0
 * @category models
 */
export interface Hooks {
  /**
   * Starts the commit cycle over the source's tracker, in the source's scope;
   * its last transaction commits (or aborts, if records are still in flight)
   * when the scope closes. `fail` ends the source's stream; `committed` is
   * told the offsets each commit wrote.
   */
  readonly start: (
    tracker: OffsetTracker.OffsetTracker,
    callbacks: {
      readonly fail: (error: KafkaError.KafkaError) => Effect.Effect<unknown>
      readonly committed: (offsets: ReadonlyArray<OffsetTracker.CommittableOffset>) => Effect.Effect<void>
    }
  ) => Effect.Effect<void, never, Scope.Scope>
  /** Whether a commit is draining the pipeline: the source then emits what it tracked and waits in `admit`. */
  readonly draining: () => boolean
  /** Waits until no commit is draining. */
  readonly admit: Effect.Effect<void>
  /**
   * Makes the partition ours before its first record is processed: fences
   * earlier owners, then answers the committed offset to resume from (records
   * below it are skipped). Answers at once for a partition already claimed.
   */
  readonly claim: (tp: OffsetTracker.TopicPartition) => Effect.Effect<bigint | undefined, KafkaError.KafkaError>
  /**
   * The source starts giving the partition up (revoked, or lost); `release`
   * follows once its records in flight are done. Until then, a fence on the
   * partition means its new owner claimed it: its work is dropped instead of
   * failing the job (see "A fence during a revocation" in the module's header).
   */
  readonly revoking: (tp: OffsetTracker.TopicPartition) => void
  /** Forgets a partition the member lost: its open transaction is aborted, its producer closed. */
  readonly release: (tp: OffsetTracker.TopicPartition) => Effect.Effect<void>
  /**
   * The consumer joined a generation of its group (called before the
   * generation's partitions are processed): member-wide transactions send
   * their offsets with it, so the broker refuses them once the group has
   * moved on (KIP-447).
   */
  readonly joined?: ((member: GroupMember) => void) | undefined
}

/**
 * A consumer's membership of one generation of its group.
 *
 * @since 0.1.0
 * @category models
 */
export interface GroupMember {
  readonly generationId: number
  readonly memberId: string
  readonly groupInstanceId: string | null
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Transactions {
  readonly hooks: Hooks
  /**
   * Sends `messages` to `topic` in the open transaction of the input
   * partition `origin` (beginning one if needed). Answers `false`, sending
   * nothing, when the partition is not this member's (any more): its records
   * will be processed again by the partition's owner. Answers `true`, the
   * records being done with, when they were dropped because the partition's
   * next owner claimed it while it was being revoked (see "A fence during a
   * revocation" in the module's header): acknowledged, they no longer hold
   * the revocation up.
   */
  readonly send: (
    origin: OffsetTracker.TopicPartition,
    topic: string,
    messages: Array<KafkaLike.Message>
  ) => Effect.Effect<boolean, KafkaError.KafkaError>
  /**
   * `send` answering the written records' metadata (offsets), or `undefined`
   * when the partition is not this member's and nothing was sent.
   */
  readonly produce: (
    origin: OffsetTracker.TopicPartition,
    topic: string,
    messages: Array<KafkaLike.Message>
  ) => Effect.Effect<ReadonlyArray<KafkaLike.RecordMetadata> | undefined, KafkaError.KafkaError>
  /**
   * Sends `messages`, the outputs of the input records at `offsets` (one
   * offset per message) of the partition `origin`, and calls `ack` with the
   * indices of the messages once they are in the transaction their records'
   * offsets commit with. Under a pipelined cycle the outputs of records after
   * the cut are sent (and acknowledged) only once the partition's current
   * transaction committed; this effect does not wait for them. Messages of
   * a partition that is not this member's are never acknowledged; those of a
   * partition claimed by its next owner while being revoked are dropped and
   * acknowledged (see "A fence during a revocation" in the module's header).
   */
  readonly sendRecords: (
    origin: OffsetTracker.TopicPartition,
    topic: string,
    messages: ReadonlyArray<KafkaLike.Message>,
    offsets: ReadonlyArray<bigint>,
    ack: (indices: ReadonlyArray<number>) => Effect.Effect<void>
  ) => Effect.Effect<void, KafkaError.KafkaError>
  /**
   * `sendRecords` for the outputs to `topic` of several input partitions at
   * once: one produce request when their transactions are one (member-wide
   * transactions, `MemberTransactions`). Absent here: one `sendRecords` per
   * input partition, each into its own transaction.
   */
  readonly sendRecordsAll?:
    | ((
        topic: string,
        groups: ReadonlyArray<{
          readonly origin: OffsetTracker.TopicPartition
          readonly messages: ReadonlyArray<KafkaLike.Message>
          readonly offsets: ReadonlyArray<bigint>
          readonly ack: (indices: ReadonlyArray<number>) => Effect.Effect<void>
        }>
      ) => Effect.Effect<void, KafkaError.KafkaError>)
    | undefined
  /**
   * Registers `listener`, called after each successful commit of an input
   * partition's transaction, before any later send to it can start: every
   * send that completed before the call is committed.
   */
  readonly onCommit: (listener: (tp: OffsetTracker.TopicPartition) => void) => Effect.Effect<void>
}

interface Member {
  readonly tp: OffsetTracker.TopicPartition
  readonly producer: KafkaLike.Producer
  readonly scope: Scope.Closeable
  // Sends and the commit of one transaction never overlap.
  readonly lock: Semaphore.Semaphore
  readonly resumeFrom: bigint | undefined
  txn: KafkaLike.Transaction | undefined
  committed: bigint | undefined
  /**
   * Pipelined cycles: set while a commit is pending, the cut (`cutAt`; -1
   * when nothing was past the last commit): outputs of records at or above it
   * wait in `deferred` for the next transaction.
   */
  cut: bigint | undefined
  /** One past the highest offset whose outputs went into a transaction: no cut may be below it. */
  sentBelow: bigint | undefined
  deferred: Array<Deferred>
  /**
   * Fenced while being revoked: its transaction is gone and nothing more is
   * sent or committed for it; `release` forgets it.
   */
  fenced: boolean
}

interface Deferred {
  readonly topic: string
  readonly messages: Array<KafkaLike.Message>
  /** One past the highest input offset of `messages`. */
  readonly below: bigint
  readonly ack: Effect.Effect<void>
}

/**
 * One past the highest of the offsets at `indices`.
 *
 * @internal
 */
export const pastHighest = (offsets: ReadonlyArray<bigint>, indices: ReadonlyArray<number>): bigint => {
  let high = -1n
  for (const i of indices) if (offsets[i]! > high) high = offsets[i]!
  return high + 1n
}

/**
 * The higher of a partition's `sentBelow` and `below`.
 *
 * @internal
 */
export const higher = (sentBelow: bigint | undefined, below: bigint): bigint =>
  sentBelow === undefined || below > sentBelow ? below : sentBelow

/**
 * Where a pipelined cycle cuts a partition: past every record whose outputs
 * went into the open transaction (`sentBelow`) and every record done
 * (`committable`); undefined when that is not past the last commit.
 *
 * @internal
 */
export const cutAt = (
  sentBelow: bigint | undefined,
  committable: bigint | undefined,
  committed: bigint | undefined
): bigint | undefined => {
  let cut = sentBelow ?? -1n
  if (committable !== undefined && committable > cut) cut = committable
  return cut < 0n || (committed !== undefined && cut <= committed) ? undefined : cut
}

type Committed = (offsets: ReadonlyArray<OffsetTracker.CommittableOffset>) => Effect.Effect<void>
// Runs a pipelined partition's commit beside the cycle's ticks.
type Background = (commit: Effect.Effect<void, KafkaError.KafkaError>) => Effect.Effect<void>

const keyOf = (tp: OffsetTracker.TopicPartition) => `${tp.partition}\u0000${tp.topic}`

// How often a claim asks again while an open transaction holds its
// partition's offset, and how long past the transaction timeout it keeps
// asking (the broker aborts an expired transaction on its next check).
const UNSTABLE_RETRY = "20 millis"
const UNSTABLE_GRACE = Duration.seconds(10)

const unstable = (error: KafkaError.KafkaError) =>
  error.reason._tag === "Protocol" && error.reason.type === "UNSTABLE_OFFSET_COMMIT"

/**
 * A claim's offset: the group's committed offset of the partition (undefined
 * when it has none), read once no open transaction holds one for it
 * (KIP-447's `require_stable`, see the module's header). Such a transaction
 * ends within its timeout, `transactionTimeout`, when the broker aborts it,
 * so the read waits about that long at most.
 *
 * @since 0.1.0
 * @category constructors
 */
export const readStableOffset =
  (client: KafkaClient.KafkaClient["Service"], groupId: string, transactionTimeout: Duration.Duration) =>
  (tp: OffsetTracker.TopicPartition): Effect.Effect<bigint | undefined, KafkaError.KafkaError> =>
    Effect.suspend(() => {
      let said = false
      return KafkaError.attempt("fetchOffsets", () =>
        client.admin.fetchOffsets({
          groupId,
          topics: [{ topic: tp.topic, partitions: [tp.partition] }],
          requireStable: true
        })
      ).pipe(
        // Said once per claim: the wait can last up to a transaction timeout.
        Effect.tapError((error) => {
          if (said || !unstable(error)) return Effect.void
          said = true
          return Effect.logInfo("an open transaction holds the partition's offset; the claim waits for it to end").pipe(
            Effect.annotateLogs({ partition: `${tp.topic}-${tp.partition}` })
          )
        }),
        Effect.retry({
          schedule: Schedule.spaced(UNSTABLE_RETRY).pipe(
            Schedule.upTo({ duration: Duration.sum(transactionTimeout, UNSTABLE_GRACE) })
          ),
          while: unstable
        }),
        Effect.map((groups) => {
          const found = groups
            .find((g) => g.topic === tp.topic)
            ?.partitions.find((p) => p.partition === tp.partition)?.offset
          return found === undefined || BigInt(found) < 0n ? undefined : BigInt(found)
        })
      )
    })

/**
 * The transactional id of an input partition's producer.
 *
 * @since 0.1.0
 * @category constructors
 */
export const transactionalId = (prefix: string, tp: OffsetTracker.TopicPartition): string =>
  `${prefix}-${tp.topic}-${tp.partition}`

/**
 * Transactions for one consumer group over `client`. Every producer is
 * closed when the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  client: KafkaClient.KafkaClient["Service"],
  options: Options
): Effect.Effect<Transactions, never, Scope.Scope> =>
  Effect.gen(function* () {
    const prefix = options.transactionalIdPrefix ?? options.groupId
    const pipelined = options.pipelined === true
    // A record waits on average half an interval for its cut, and up to a
    // whole one: at 100 ms that wait alone puts the visible p95 above 100 ms.
    // Pipelined commits do not hold the source, so they can afford it twice
    // as often. Not more: each commit of each input partition is four or five
    // requests, and with 20 ms the job fell behind at half its maximum rate
    // on two cores (see the README's exactly-once benchmark).
    const interval = Duration.fromInputUnsafe(options.commitInterval ?? (pipelined ? "50 millis" : "100 millis"))
    const transactionTimeout = Duration.toMillis(Duration.fromInputUnsafe(options.transactionTimeout ?? "60 seconds"))
    const requestTimeout = options.requestTimeoutMillis ?? 30_000
    const members = new Map<string, Member>()
    const claimOffset = readStableOffset(client, options.groupId, Duration.millis(transactionTimeout))
    const commitListeners: Array<(tp: OffsetTracker.TopicPartition) => void> = []
    // Claims and releases of one partition never overlap: a release waits for
    // a claim in progress and undoes it.
    const partitionLocks = new Map<string, Semaphore.Semaphore>()
    const partitionLock = (tp: OffsetTracker.TopicPartition) => {
      let lock = partitionLocks.get(keyOf(tp))
      if (lock === undefined) {
        lock = Semaphore.makeUnsafe(1)
        partitionLocks.set(keyOf(tp), lock)
      }
      return lock
    }
    // Partitions the source is giving up, from `revoking` to the end of `release`.
    const revoking = new Set<string>()
    const gate = yield* Latch.make(true)
    let draining = false
    // Set once a transaction failed: the producers may be fenced, nothing more is committed.
    let failed = false
    // Marks the first failed transaction, whether a commit or a send into it met it, and logs it once.
    const stopping = (error: KafkaError.KafkaError) =>
      Effect.suspend(() => {
        if (failed) return Effect.void
        failed = true
        return Effect.logError("transaction failed; the job stops and resumes from the last commit", error.message)
      })

    const begin = (m: Member) =>
      Effect.suspend(() => {
        if (m.txn !== undefined) return Effect.succeed(m.txn)
        const producer = m.producer
        return KafkaError.attempt("transaction", () => producer.transaction!()).pipe(
          Effect.tap((txn) =>
            Effect.sync(() => {
              m.txn = txn
            })
          )
        )
      })

    const close = (m: Member) => Scope.close(m.scope, Exit.void)

    // Aborts what the member's transaction holds; used when its records will be processed again.
    const abort = (m: Member) =>
      Effect.suspend(() => {
        const txn = m.txn
        m.txn = undefined
        if (txn === undefined || !txn.isActive()) return Effect.void
        return KafkaError.attempt("abort", () => txn.abort()).pipe(
          Effect.catch((error) => Effect.logWarning("aborting a transaction failed", error.message))
        )
      })

    // Pipelined cycles: what was kept aside goes into the next transaction, then is acknowledged.
    const flushDeferred = (m: Member) =>
      Effect.gen(function* () {
        m.cut = undefined
        // Kept on the member until sent: a fence on the way acknowledges them (`migrated`).
        // Nothing is added meanwhile: without a cut, outputs are sent under the lock held here.
        const items = m.deferred
        if (items.length === 0) return
        const byTopic = new Map<string, Array<KafkaLike.Message>>()
        for (const item of items) {
          const messages = byTopic.get(item.topic)
          if (messages === undefined) byTopic.set(item.topic, [...item.messages])
          else for (const message of item.messages) messages.push(message)
        }
        const txn = yield* begin(m)
        for (const item of items) m.sentBelow = higher(m.sentBelow, item.below)
        const topicMessages = [...byTopic].map(([topic, messages]) => ({ topic, messages }))
        yield* KafkaError.attempt("send", () => txn.sendBatch({ topicMessages, acks: -1, timeout: requestTimeout }))
        m.deferred = []
        for (const item of items) yield* item.ack
      })

    // Outputs kept aside for a partition whose records will be processed again are dropped.
    const dropDeferred = (m: Member) =>
      Effect.sync(() => {
        m.cut = undefined
        m.deferred = []
      })

    // A partition claimed by its next owner while the source was giving it up
    // (see the module's header): its open transaction was aborted by the
    // claim, so its work is dropped, and the records whose outputs were kept
    // aside are acknowledged: they have left the pipeline, as far as the
    // revocation waiting for them is concerned. Runs under the member's lock.
    const migrated = (m: Member, error: KafkaError.KafkaError) =>
      Effect.gen(function* () {
        if (!KafkaError.isFenced(error) || !revoking.has(keyOf(m.tp))) return yield* Effect.fail(error)
        m.fenced = true
        m.txn = undefined
        const items = m.deferred
        yield* dropDeferred(m)
        yield* Effect.logInfo(
          "a revoked partition was claimed by its new owner first; its transaction is dropped"
        ).pipe(Effect.annotateLogs({ partition: `${m.tp.topic}-${m.tp.partition}`, error: error.message }))
        for (const item of items) yield* item.ack
      })

    // The commit's round trips, each its own span: sendOffsets is two
    // requests (AddOffsetsToTxn, TxnOffsetCommit) and the commit one (EndTxn).
    // kafkajs 2.2.4 looked the coordinator up (FindCoordinator) before each;
    // the patch keeps it until a request to it fails.
    const phase = (name: string) =>
      Effect.withSpan(
        name,
        { attributes: { "messaging.consumer.group.name": options.groupId } },
        {
          captureStackTrace: false
        }
      )

    const commitMember = (m: Member, offset: bigint | undefined, noOffset: "abort" | "flush" = "abort") =>
      m.lock.withPermits(1)(
        Effect.gen(function* () {
          // Fenced while being revoked, or released while this commit waited for the lock.
          if (m.fenced || members.get(keyOf(m.tp)) !== m) return false
          if (offset === undefined) {
            // A pipelined cut found nothing of the partition done. Either the
            // tracker forgot it (revoked), and `release`, which comes next,
            // aborts its transaction; or its first records were tracked after
            // the cut, so their outputs were kept aside, and they cannot be
            // done until those go into the open transaction, as after any
            // commit. Dropping them would leave those records in flight for good.
            if (noOffset === "flush") {
              yield* flushDeferred(m).pipe(Effect.catch((error) => migrated(m, error)))
              return false
            }
            // A drained cycle: every tracked record is done, so the partition
            // was forgotten by the tracker (revoked); its outputs will be
            // processed again, so they are dropped.
            yield* abort(m)
            yield* dropDeferred(m)
            return false
          }
          const changed = offset !== m.committed
          if (m.txn === undefined && !changed) {
            yield* flushDeferred(m)
            return false
          }
          const txn = yield* begin(m)
          if (changed) {
            yield* KafkaError.attempt("sendOffsets", () =>
              txn.sendOffsets({
                consumerGroupId: options.groupId,
                topics: [{ topic: m.tp.topic, partitions: [{ partition: m.tp.partition, offset: offset.toString() }] }]
              })
            ).pipe(phase("sluice.commit.send_offsets"))
          }
          yield* KafkaError.attempt("commitTransaction", () => txn.commit()).pipe(phase("sluice.commit.end_txn"))
          m.txn = undefined
          if (changed) m.committed = offset
          // Still under the member's lock: no send can slip between the commit and the listeners.
          for (const listener of commitListeners) listener(m.tp)
          // Committed whatever becomes of what was kept aside.
          yield* flushDeferred(m).pipe(Effect.catch((error) => migrated(m, error)))
          return changed
        }).pipe(Effect.catch((error) => Effect.as(migrated(m, error), false)))
      )

    const offsetsOf = (tracker: OffsetTracker.OffsetTracker) =>
      Effect.map(tracker.snapshot, (snapshot) => new Map(snapshot.map((o) => [keyOf(o), o.offset])))

    // Anything of a partition to commit: an open transaction, or an offset
    // that moved (records that produced no output).
    const hasWork = (m: Member, offset: bigint | undefined) =>
      !m.fenced && (m.txn !== undefined || (offset !== undefined && offset !== m.committed))

    const pending = (offsets: ReadonlyMap<string, bigint>) =>
      [...members.entries()].some(([key, m]) => hasWork(m, offsets.get(key)))

    const waitDrained = (tracker: OffsetTracker.OffsetTracker) =>
      Effect.gen(function* () {
        while ((yield* tracker.inFlight) > 0) yield* Effect.sleep("1 millis")
      })

    const commitAll = (
      tracker: OffsetTracker.OffsetTracker,
      committed: (offsets: ReadonlyArray<OffsetTracker.CommittableOffset>) => Effect.Effect<void>
    ) =>
      Effect.gen(function* () {
        const offsets = yield* offsetsOf(tracker)
        const written = yield* Effect.forEach(
          [...members.entries()],
          ([key, m]) => {
            const offset = offsets.get(key)
            return Effect.map(commitMember(m, offset), (changed) =>
              changed && offset !== undefined ? [{ ...m.tp, offset }] : []
            )
          },
          { concurrency: "unbounded" }
        )
        yield* reportCommitted(written.flat(), committed)
      }).pipe(
        Effect.withSpan(
          "sluice.commit",
          { attributes: { "messaging.consumer.group.name": options.groupId, "sluice.commit.transactional": true } },
          { captureStackTrace: false }
        )
      )

    const reportCommitted = (
      flat: ReadonlyArray<OffsetTracker.CommittableOffset>,
      committed: (offsets: ReadonlyArray<OffsetTracker.CommittableOffset>) => Effect.Effect<void>
    ) =>
      Effect.gen(function* () {
        if (flat.length === 0) return
        yield* committed(flat)
        yield* Metric.update(Metrics.commits, 1)
        for (const o of flat) {
          yield* Metric.update(
            Metric.withAttributes(Metrics.committedOffset, { topic: o.topic, partition: String(o.partition) }),
            o.offset
          )
        }
      })

    // Waits until every record of the member's partition before its cut is
    // done (their outputs are then in the transaction), or the partition is no longer ours.
    const awaitCut = (tracker: OffsetTracker.OffsetTracker, m: Member, cut: bigint) =>
      Effect.gen(function* () {
        while (members.get(keyOf(m.tp)) === m && !m.fenced && !failed) {
          const offset = yield* tracker.committable(m.tp)
          if (offset._tag === "Some" && offset.value >= cut) return
          yield* Effect.sleep("1 millis")
        }
      })

    // One partition's commit of a pipelined cycle: once its records before
    // the cut are done. A tick that came meanwhile cuts it again at once.
    const commitCut = (
      tracker: OffsetTracker.OffsetTracker,
      committed: Committed,
      background: Background,
      m: Member,
      cut: bigint | undefined
    ): Effect.Effect<void, KafkaError.KafkaError> =>
      Effect.gen(function* () {
        if (cut !== undefined) yield* awaitCut(tracker, m, cut)
        if (failed || m.fenced || members.get(keyOf(m.tp)) !== m) return
        const offset = yield* tracker.committable(m.tp)
        const value = offset._tag === "Some" ? offset.value : undefined
        const changed = yield* commitMember(m, value, "flush")
        if (changed && value !== undefined) yield* reportCommitted([{ ...m.tp, offset: value }], committed)
      }).pipe(
        Effect.ensuring(
          Effect.sync(() => {
            committing.delete(m)
          })
        ),
        Effect.withSpan(
          "sluice.commit",
          {
            attributes: {
              "messaging.consumer.group.name": options.groupId,
              "messaging.destination.partition.id": String(m.tp.partition),
              "sluice.commit.transactional": true,
              "sluice.commit.pipelined": true
            }
          },
          { captureStackTrace: false }
        ),
        Effect.andThen(
          Effect.suspend(() => {
            if (!overdue.delete(m) || failed || m.fenced || members.get(keyOf(m.tp)) !== m) return Effect.void
            return Effect.flatMap(memberPending(tracker, m), (pending) =>
              pending ? cutMember(tracker, committed, background, m) : Effect.void
            )
          })
        ),
        Effect.onError(() =>
          Effect.sync(() => {
            overdue.delete(m)
          })
        )
      )

    // Partitions cut and not yet through their commit, sending what was kept
    // aside included: a partition is never cut again before that ends.
    const committing = new Set<Member>()
    // Partitions a tick found still committing: cut again as soon as that commit ends.
    const overdue = new Set<Member>()

    const memberPending = (tracker: OffsetTracker.OffsetTracker, m: Member) =>
      Effect.map(tracker.committable(m.tp), (offset) => hasWork(m, offset._tag === "Some" ? offset.value : undefined))

    // Cuts the partition (`cutAt`) and starts its commit beside the caller.
    // Cut and mark are one synchronous step: `sendRecords` compares offsets
    // with the cut, and no tick may cut the partition twice.
    const cutMember = (
      tracker: OffsetTracker.OffsetTracker,
      committed: Committed,
      background: Background,
      m: Member
    ): Effect.Effect<void> =>
      Effect.suspend(() => {
        const cut = cutAt(m.sentBelow, tracker.committableUnsafe(m.tp), m.committed)
        m.cut = cut ?? -1n
        committing.add(m)
        return background(commitCut(tracker, committed, background, m, cut))
      })

    // Cuts every partition whose previous commit is over and starts their
    // commits without waiting for them: the next tick comes one interval
    // later whatever they take, so a slow partition (a slow record, a slow
    // round trip) neither delays the other partitions' next cut nor adds its
    // commit time to every record's wait for a cut. A partition still
    // committing is cut again as soon as its commit ends: waiting for the
    // next tick instead made a commit that outlasted an interval cost its
    // records a whole extra interval (half the ticks were missed so under load).
    const pipelinedCycle = (tracker: OffsetTracker.OffsetTracker, committed: Committed, background: Background) =>
      Effect.gen(function* () {
        if (failed || !pending(yield* offsetsOf(tracker))) return
        // A fenced partition (claimed by its next owner while being revoked) is never cut again.
        for (const m of members.values()) {
          if (m.fenced) continue
          if (committing.has(m)) overdue.add(m)
          else yield* cutMember(tracker, committed, background, m)
        }
      })

    const cycle = (tracker: OffsetTracker.OffsetTracker, committed: Committed, background: Background) =>
      Effect.gen(function* () {
        if (pipelined) return yield* pipelinedCycle(tracker, committed, background)
        if (!pending(yield* offsetsOf(tracker))) return
        draining = true
        yield* Latch.close(gate)
        yield* waitDrained(tracker)
        yield* commitAll(tracker, committed)
      }).pipe(
        Effect.ensuring(
          Effect.suspend(() => {
            draining = false
            return Latch.open(gate)
          })
        )
      )

    const hooks: Hooks = {
      start: (tracker, { fail, committed }) =>
        Effect.gen(function* () {
          // The last transaction, when the source's scope closes: committed if
          // every tracked record is done, aborted (to be processed again) if not.
          yield* Effect.addFinalizer(() =>
            Effect.gen(function* () {
              draining = true
              yield* Latch.close(gate)
              if (!failed && (yield* tracker.inFlight) === 0) {
                yield* commitAll(tracker, committed).pipe(
                  Effect.catch((error) => Effect.logWarning("the last transaction failed", error.message))
                )
              } else {
                yield* Effect.forEach(
                  members.values(),
                  (m) => m.lock.withPermits(1)(Effect.andThen(abort(m), dropDeferred(m))),
                  { discard: true }
                )
              }
            })
          )
          // The first failure stops everything; pipelined commits running beside it may fail too.
          let stopped = false
          const failWith = (error: KafkaError.KafkaError) =>
            Effect.suspend(() => {
              if (stopped) return Effect.void
              stopped = true
              return Effect.andThen(stopping(error), fail(error))
            })
          const scope = yield* Effect.scope
          // Pipelined commits run beside the ticks, in the source's scope.
          const background: Background = (commit) => Effect.asVoid(Effect.forkIn(Effect.catch(commit, failWith), scope))
          yield* Effect.forkScoped(
            Effect.forever(Effect.andThen(Effect.sleep(interval), cycle(tracker, committed, background))).pipe(
              Effect.catch(failWith)
            )
          )
        }),
      draining: () => draining,
      admit: gate.await,
      claim: (tp) =>
        Effect.suspend(() => {
          const existing = members.get(keyOf(tp))
          if (existing !== undefined) return Effect.succeed(existing.resumeFrom)
          return partitionLock(tp).withPermits(1)(
            Effect.gen(function* () {
              const claimedMeanwhile = members.get(keyOf(tp))
              if (claimedMeanwhile !== undefined) return claimedMeanwhile.resumeFrom
              const scope = yield* Scope.make()
              const claimed = Effect.gen(function* () {
                const producer = yield* client
                  .producer({
                    transactionalId: transactionalId(prefix, tp),
                    transactionTimeout,
                    idempotent: true,
                    maxInFlightRequests: 1,
                    allowAutoTopicCreation: false
                  })
                  .pipe(Scope.provide(scope))
                if (producer.transaction === undefined) {
                  return yield* KafkaError.fromUnknown("transaction", new Error("the Kafka client has no transactions"))
                }
                // The first transaction registers the id: earlier owners are fenced from here on.
                const txn = yield* KafkaError.attempt("transaction", () => producer.transaction!())
                const resumeFrom = yield* claimOffset(tp)
                const member: Member = {
                  tp,
                  producer,
                  scope,
                  lock: yield* Semaphore.make(1),
                  resumeFrom,
                  txn,
                  committed: resumeFrom,
                  cut: undefined,
                  sentBelow: undefined,
                  deferred: [],
                  fenced: false
                }
                members.set(keyOf(tp), member)
                yield* Effect.logDebug("partition claimed for transactions").pipe(
                  Effect.annotateLogs({ partition: `${tp.topic}-${tp.partition}`, resumeFrom: String(resumeFrom) })
                )
                return resumeFrom
              })
              return yield* Effect.onError(claimed, () => Scope.close(scope, Exit.void))
            })
          )
        }),
      revoking: (tp) => {
        revoking.add(keyOf(tp))
      },
      release: (tp) =>
        partitionLock(tp).withPermits(1)(
          Effect.suspend(() => {
            const m = members.get(keyOf(tp))
            if (m === undefined) return Effect.void
            members.delete(keyOf(tp))
            return Effect.andThen(m.lock.withPermits(1)(Effect.andThen(abort(m), dropDeferred(m))), close(m))
          }).pipe(
            Effect.ensuring(
              Effect.sync(() => {
                revoking.delete(keyOf(tp))
              })
            )
          )
        )
    }

    yield* Effect.addFinalizer(() => Effect.forEach(members.values(), close, { discard: true }))

    // What became of a send: its records' metadata once in the transaction;
    // `notOurs` when the partition is not this member's (nothing sent, nothing
    // acknowledged: its owner processes the records again); `dropped` when it
    // was claimed by its next owner while being revoked (see `migrated`).
    const sendNow = (
      origin: OffsetTracker.TopicPartition,
      topic: string,
      messages: Array<KafkaLike.Message>
    ): Effect.Effect<ReadonlyArray<KafkaLike.RecordMetadata> | "notOurs" | "dropped", KafkaError.KafkaError> =>
      Effect.suspend(() => {
        const m = members.get(keyOf(origin))
        if (m === undefined) return Effect.succeed("notOurs" as const)
        return m.lock.withPermits(1)(
          Effect.gen(function* () {
            if (m.fenced) return "dropped" as const
            // Released while this send waited for the lock.
            if (members.get(keyOf(origin)) !== m) return "notOurs" as const
            const txn = yield* begin(m)
            return yield* KafkaError.attempt("send", () =>
              txn.send({ topic, messages, acks: -1, timeout: requestTimeout })
            )
          }).pipe(
            Effect.catch((error) => Effect.as(migrated(m, error), "dropped" as const)),
            // The transaction is lost with the send: the job stops on it (through the sink), and says so.
            Effect.tapError(stopping)
          )
        )
      })

    // `send` and `produce` put outputs in the open transaction without their input offsets.
    const unpipelined = <A>(
      origin: OffsetTracker.TopicPartition,
      topic: string,
      messages: Array<KafkaLike.Message>,
      f: (sent: ReadonlyArray<KafkaLike.RecordMetadata> | "notOurs" | "dropped") => A
    ): Effect.Effect<A, KafkaError.KafkaError> =>
      pipelined
        ? Effect.die(new Error("pipelined transactions take outputs with their input offsets (sendRecords)"))
        : Effect.map(sendNow(origin, topic, messages), f)

    const produce: Transactions["produce"] = (origin, topic, messages) =>
      unpipelined(origin, topic, messages, (sent) => (typeof sent === "string" ? undefined : sent))

    const send: Transactions["send"] = (origin, topic, messages) =>
      unpipelined(origin, topic, messages, (sent) => sent !== "notOurs")

    const sendRecords: Transactions["sendRecords"] = (origin, topic, messages, offsets, ack) =>
      Effect.suspend(() => {
        const all = messages.map((_, i) => i)
        const m = members.get(keyOf(origin))
        const cut = m?.cut
        // Decided synchronously with the cut: the next cut is past these records (`sentBelow`).
        if (m === undefined || cut === undefined) {
          if (m !== undefined) m.sentBelow = higher(m.sentBelow, pastHighest(offsets, all))
          return Effect.flatMap(sendNow(origin, topic, [...messages]), (sent) =>
            sent === "notOurs" ? Effect.void : ack(all)
          )
        }
        const now: Array<number> = []
        const later: Array<number> = []
        for (const i of all) (offsets[i]! < cut ? now : later).push(i)
        if (later.length > 0) {
          m.deferred.push({
            topic,
            messages: later.map((i) => messages[i]!),
            below: pastHighest(offsets, later),
            ack: ack(later)
          })
        }
        if (now.length === 0) return Effect.void
        return Effect.flatMap(
          sendNow(
            origin,
            topic,
            now.map((i) => messages[i]!)
          ),
          (sent) => (sent === "notOurs" ? Effect.void : ack(now))
        )
      })

    const onCommit: Transactions["onCommit"] = (listener) =>
      Effect.sync(() => {
        commitListeners.push(listener)
      })

    return { hooks, send, produce, sendRecords, onCommit }
  })
