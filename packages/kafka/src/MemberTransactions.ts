/**
 * Exactly-once with transactions per member (KIP-447), for pipelined jobs:
 * the outputs of every partition the member owns and their input offsets go
 * into the member's transaction, where `Transactions` keeps a transactional
 * producer, and a transaction, per input partition. A commit is then four or
 * five requests whatever the number of partitions (AddOffsetsToTxn,
 * TxnOffsetCommit, EndTxn, then AddPartitionsToTxn and a produce for the next
 * transaction), not that many per partition, and a sink's chunk goes in one
 * produce request, not one per input partition.
 *
 * **Two producers, taking turns.** A producer cannot send into its next
 * transaction before its commit is over, so with one producer every output
 * would wait for each commit's round trips. The member has two: while one
 * commits the transaction of the records before the cut, the other already
 * takes the outputs of the records after it, and commits them at the next
 * cut, never before the first commit is over (its offsets follow those).
 *
 * **Fencing.** A partition's next owner does not fence this member's
 * producers (their transactional ids differ): the group does. The offsets go
 * with the consumer's generation and member id (TxnOffsetCommit v3, from the
 * source's `joined` hook), so once the group has moved on the broker refuses
 * them (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID) and the transaction, offsets
 * and outputs, is aborted. Offsets sent in time but not yet committed are
 * the other half: a claim reads its partition's offset with `require_stable`,
 * so the next owner waits for that transaction to end (see `Transactions`).
 *
 * **Commit cycle.** Every `commitInterval` (50 ms by default) every owned
 * partition is cut after its last tracked record: outputs of records before
 * the cut go into the committing producer's transaction, the others into the
 * other producer's. Once every partition's records before its cut are done,
 * the cut offsets and that transaction commit together. A tick that comes
 * while a commit is under way cuts again as soon as it ends.
 *
 * **Revocation.** From `revoking` on, a partition's outputs are dropped (its
 * next owner processes its records again from the last commit), and a
 * transaction already holding some of them is aborted before anything else
 * is sent or committed into it. Other partitions whose work that transaction
 * held must then be processed again too: a partition being revoked will be;
 * a partition the source keeps cannot be rewound, so the job fails and
 * restarts from the last commit. With the eager rebalancing kafkajs does,
 * every partition is revoked at once, so a rebalance never comes to that.
 *
 * **Failures.** A transaction that cannot be sent or committed fails the
 * source's stream, and with it the job; the broker aborts its open
 * transactions (timeout), and the job, restarted, resumes from the last
 * commit. The transactional ids are `<prefix>-<group instance id>-a` and
 * `-b` for a static member, so a restarted one fences its predecessor's open
 * transactions at once; without one they are random, and a crashed member's
 * open transactions hold `read_committed` readers of its outputs back until
 * the broker's transaction timeout (10 seconds by default here, as Kafka
 * Streams'), the price KIP-447 pays without stable ids.
 *
 * No state store can use these transactions (`onCommit` is a defect): a
 * store's changelog needs what `Transactions` gives, the writes of one
 * partition committed in order with its outputs.
 *
 * @since 0.1.0
 */
import { Metrics, type OffsetTracker } from "@sluice/core"
import { Duration, Effect, Metric, type Scope, Semaphore } from "effect"
import type * as KafkaClient from "./KafkaClient.ts"
import * as KafkaError from "./KafkaError.ts"
import type * as KafkaLike from "./KafkaLike.ts"
import * as Transactions from "./Transactions.ts"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The consumer group whose offsets the transactions commit. */
  readonly groupId: string
  /** Transactional ids are `<prefix>-<group instance id, or a random id>-a` and `-b`; the group id by default. */
  readonly transactionalIdPrefix?: string | undefined
  /** The consumer's static group instance id, if it has one: it makes the transactional ids stable. */
  readonly groupInstanceId?: string | undefined
  /** How often outputs and offsets are committed; 50 ms by default. */
  readonly commitInterval?: Duration.Input | undefined
  /** After this long the broker aborts an open transaction; 10 seconds by default. */
  readonly transactionTimeout?: Duration.Input | undefined
  /** Broker-side timeout of a produce request; 30 seconds by default. */
  readonly requestTimeoutMillis?: number | undefined
}

/** One of the member's two transactional producers and its open transaction. */
interface Slot {
  readonly producer: KafkaLike.Producer
  // Its sends and its commit never overlap.
  readonly lock: Semaphore.Semaphore
  txn: KafkaLike.Transaction | undefined
  /** The partitions whose outputs its open transaction holds. */
  readonly holds: Set<string>
  /** A partition it holds outputs of is being revoked: abort before anything else. */
  poisoned: boolean
}

interface Partition {
  readonly tp: OffsetTracker.TopicPartition
  readonly resumeFrom: bigint | undefined
  committed: bigint | undefined
  /** From a cut until its commit ends: the cut (`Transactions.cutAt`), -1 when nothing was past the last commit. */
  cut: bigint | undefined
  /** One past the highest offset whose outputs went into the active transaction: no cut may be below it. */
  sentBelow: bigint | undefined
}

interface Outgoing {
  readonly origin: string
  readonly messages: ReadonlyArray<KafkaLike.Message>
  readonly ack: Effect.Effect<void>
}

type Committed = (offsets: ReadonlyArray<OffsetTracker.CommittableOffset>) => Effect.Effect<void>
type Background = (work: Effect.Effect<void, KafkaError.KafkaError>) => Effect.Effect<void>

const keyOf = (tp: OffsetTracker.TopicPartition) => `${tp.partition}\u0000${tp.topic}`

// The broker's answers to offsets sent for a generation the group has left.
const generationErrors = new Set(["ILLEGAL_GENERATION", "UNKNOWN_MEMBER_ID", "FENCED_INSTANCE_ID"])

const isGenerationError = (error: KafkaError.KafkaError) =>
  error.reason._tag === "Protocol" && generationErrors.has(error.reason.type)

/**
 * Member-wide transactions for one consumer group over `client`, with the
 * interface of `Transactions` (pipelined: every output goes through
 * `sendRecords` or `sendRecordsAll`; `send`, `produce` and `onCommit` are
 * defects). The producers are closed when the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  client: KafkaClient.KafkaClient["Service"],
  options: Options
): Effect.Effect<Transactions.Transactions, KafkaError.KafkaError, Scope.Scope> =>
  Effect.gen(function* () {
    const prefix = `${options.transactionalIdPrefix ?? options.groupId}-${options.groupInstanceId ?? crypto.randomUUID()}`
    const interval = Duration.fromInputUnsafe(options.commitInterval ?? "50 millis")
    const transactionTimeout = Duration.fromInputUnsafe(options.transactionTimeout ?? "10 seconds")
    const requestTimeout = options.requestTimeoutMillis ?? 30_000
    const slot = (name: string) =>
      Effect.gen(function* () {
        const producer = yield* client.producer({
          transactionalId: `${prefix}-${name}`,
          transactionTimeout: Duration.toMillis(transactionTimeout),
          idempotent: true,
          maxInFlightRequests: 1,
          allowAutoTopicCreation: false
        })
        if (producer.transaction === undefined) {
          return yield* KafkaError.fromUnknown("transaction", new Error("the Kafka client has no transactions"))
        }
        const made: Slot = {
          producer,
          lock: yield* Semaphore.make(1),
          txn: undefined,
          holds: new Set(),
          poisoned: false
        }
        return made
      })
    const slots = [yield* slot("a"), yield* slot("b")] as const
    const claimOffset = Transactions.readStableOffset(client, options.groupId, transactionTimeout)

    const partitions = new Map<string, Partition>()
    const revoking = new Set<string>()
    // Takes the outputs of records after the cut (all outputs between commits).
    let active: Slot = slots[0]
    // The slot whose transaction a commit under way is closing: outputs of records before the cut.
    let closing: Slot | undefined
    let member: Transactions.GroupMember | undefined
    let overdue = false
    let failed = false
    // The source's `fail`, once started: an abort that hit partitions still owned stops the job through it.
    let failJob: (error: KafkaError.KafkaError) => Effect.Effect<void> = () => Effect.void

    // A partition of the member's, and not being given up.
    const live = (key: string) => partitions.has(key) && !revoking.has(key)

    const begin = (s: Slot) =>
      Effect.suspend(() => {
        if (s.txn !== undefined) return Effect.succeed(s.txn)
        return KafkaError.attempt("transaction", () => s.producer.transaction!()).pipe(
          Effect.tap((t) =>
            Effect.sync(() => {
              s.txn = t
            })
          )
        )
      })

    // Aborts the slot's open transaction: every partition whose work it held
    // is processed again from its last commit. Runs under the slot's lock.
    const abort = (s: Slot, why: string) =>
      Effect.gen(function* () {
        const open = s.txn
        s.txn = undefined
        s.poisoned = false
        const held = [...s.holds]
        s.holds.clear()
        if (open?.isActive() === true) {
          yield* KafkaError.attempt("abort", () => open.abort()).pipe(
            Effect.catch((error) => Effect.logWarning("aborting a transaction failed", error.message))
          )
        }
        // A partition the source keeps cannot be rewound to its last commit: the job must restart.
        if (held.some(live)) {
          const error = KafkaError.fromUnknown(
            "transaction",
            new Error(`${why}: the aborted transaction held outputs of partitions still owned`)
          )
          yield* failJob(error)
          return yield* Effect.fail(error)
        }
      })

    // Aborts the slot's transaction if a partition being revoked has outputs in it.
    const settle = (s: Slot) =>
      Effect.suspend(() =>
        s.poisoned ? abort(s, "a revoked partition's outputs were in the transaction") : Effect.void
      )

    // Cuts every partition past its records whose outputs are in the active
    // transaction and its records done (synchronously: `sendRecordsAll`
    // compares offsets with the cut). Records still in the pipeline are
    // mostly after the cut: the commit waits for the acknowledgements of what
    // was sent, not for the slowest record in flight of every partition.
    const cutAll = (tracker: OffsetTracker.OffsetTracker) => {
      for (const [key, p] of partitions) {
        const cut = live(key)
          ? Transactions.cutAt(p.sentBelow, tracker.committableUnsafe(p.tp), p.committed)
          : undefined
        p.cut = cut ?? -1n
      }
    }

    const offsetOf = (tracker: OffsetTracker.OffsetTracker, p: Partition) =>
      Effect.map(tracker.committable(p.tp), (o) => (o._tag === "Some" ? o.value : undefined))

    // The cut partitions' records before the cut are done: their outputs are in the closing transaction.
    const awaitCut = (tracker: OffsetTracker.OffsetTracker) =>
      Effect.gen(function* () {
        for (;;) {
          if (failed) return
          let waiting = false
          for (const [key, p] of partitions) {
            if (!live(key) || p.cut === undefined || p.cut < 0n) continue
            const offset = yield* offsetOf(tracker, p)
            if (offset === undefined || offset < p.cut) waiting = true
          }
          if (!waiting) return
          yield* Effect.sleep("1 millis")
        }
      })

    // Commits the closing transaction with every cut partition's offset at
    // its cut (records after it may be done too, but their outputs are in
    // the other transaction, which commits next).
    const commitClosing = (s: Slot, committed: Committed) =>
      s.lock.withPermits(1)(
        Effect.gen(function* () {
          yield* settle(s)
          const moved: Array<OffsetTracker.CommittableOffset> = []
          for (const [key, p] of partitions) {
            if (live(key) && p.cut !== undefined && p.cut >= 0n && p.cut !== p.committed) {
              moved.push({ ...p.tp, offset: p.cut })
            }
          }
          if (s.txn === undefined && moved.length === 0) return
          const t = yield* begin(s)
          if (moved.length > 0) {
            if (member === undefined) {
              return yield* KafkaError.fromUnknown("sendOffsets", new Error("no group generation known yet"))
            }
            const byTopic = new Map<string, Array<{ partition: number; offset: string }>>()
            for (const o of moved) {
              const list = byTopic.get(o.topic) ?? []
              list.push({ partition: o.partition, offset: o.offset.toString() })
              byTopic.set(o.topic, list)
            }
            const current = member
            yield* KafkaError.attempt("sendOffsets", () =>
              t.sendOffsets({
                consumerGroupId: options.groupId,
                topics: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })),
                generationId: current.generationId,
                memberId: current.memberId,
                groupInstanceId: current.groupInstanceId
              })
            ).pipe(
              Effect.catch((error) =>
                isGenerationError(error)
                  ? Effect.andThen(abort(s, `the group moved on (${error.message})`), Effect.fail(error))
                  : Effect.fail(error)
              )
            )
          }
          yield* KafkaError.attempt("commitTransaction", () => t.commit())
          s.txn = undefined
          s.holds.clear()
          for (const o of moved) {
            const p = partitions.get(keyOf(o))
            if (p !== undefined) p.committed = o.offset
          }
          if (moved.length > 0) {
            yield* committed(moved)
            yield* Metric.update(Metrics.commits, 1)
          }
        })
      )

    const commit = (tracker: OffsetTracker.OffsetTracker, s: Slot, committed: Committed) =>
      Effect.andThen(awaitCut(tracker), commitClosing(s, committed)).pipe(
        // A generation error with every partition it held being revoked: their next owners take over.
        Effect.catchIf(
          (error) => isGenerationError(error) && !failed,
          (error) => Effect.logInfo("a commit came after a rebalance; its transaction is aborted", error.message)
        ),
        Effect.ensuring(
          Effect.sync(() => {
            for (const p of partitions.values()) p.cut = undefined
            closing = undefined
          })
        ),
        Effect.withSpan(
          "sluice.commit",
          {
            attributes: {
              "messaging.consumer.group.name": options.groupId,
              "sluice.commit.transactional": true,
              "sluice.commit.member": true
            }
          },
          { captureStackTrace: false }
        )
      )

    const pending = (tracker: OffsetTracker.OffsetTracker) =>
      Effect.gen(function* () {
        if (active.txn !== undefined) return true
        for (const [key, p] of partitions) {
          if (!live(key)) continue
          const offset = yield* offsetOf(tracker, p)
          if (offset !== undefined && offset !== p.committed) return true
        }
        return false
      })

    // Cuts every partition after its last tracked record, hands new outputs
    // to the other producer and commits beside the ticks; a tick during a
    // commit cuts again as soon as it ends.
    const cycle = (
      tracker: OffsetTracker.OffsetTracker,
      committed: Committed,
      background: Background
    ): Effect.Effect<void> =>
      Effect.gen(function* () {
        if (failed) return
        const work = yield* pending(tracker)
        // From here to the mark nothing yields: a tick and a re-cut never both start a commit.
        if (closing !== undefined) {
          overdue = true
          return
        }
        if (!work) return
        cutAll(tracker)
        const s = active
        closing = s
        active = s === slots[0] ? slots[1] : slots[0]
        yield* background(
          commit(tracker, s, committed).pipe(
            Effect.andThen(
              Effect.suspend(() => {
                if (!overdue) return Effect.void
                overdue = false
                return cycle(tracker, committed, background)
              })
            )
          )
        )
      })

    const hooks: Transactions.Hooks = {
      start: (tracker, { fail, committed }) =>
        Effect.gen(function* () {
          // The last transactions, when the source's scope closes: committed
          // if every tracked record is done, aborted (processed again) if not,
          // or if a commit was cut short (its transaction is still open on the
          // other producer): committing the later one would commit offsets
          // past outputs that never will be.
          yield* Effect.addFinalizer(() =>
            Effect.gen(function* () {
              const other = active === slots[0] ? slots[1] : slots[0]
              const cutShort = closing !== undefined || other.txn !== undefined
              if (!failed && !cutShort && (yield* tracker.inFlight) === 0) {
                cutAll(tracker)
                closing = active
                yield* commit(tracker, active, committed).pipe(
                  Effect.catch((error) => Effect.logWarning("the last transaction failed", error.message))
                )
              } else {
                for (const key of partitions.keys()) revoking.add(key)
                for (const s of slots) yield* s.lock.withPermits(1)(Effect.ignore(abort(s, "the source stopped")))
              }
            })
          )
          let stopped = false
          const failWith = (error: KafkaError.KafkaError) =>
            Effect.suspend(() => {
              if (stopped) return Effect.void
              stopped = true
              failed = true
              return Effect.andThen(
                Effect.logError("transaction failed; the job stops and resumes from the last commit", error.message),
                fail(error)
              )
            })
          failJob = failWith
          const scope = yield* Effect.scope
          const background: Background = (work) => Effect.asVoid(Effect.forkIn(Effect.catch(work, failWith), scope))
          yield* Effect.forkScoped(
            Effect.forever(Effect.andThen(Effect.sleep(interval), cycle(tracker, committed, background)))
          )
        }),
      draining: () => false,
      admit: Effect.void,
      joined: (joined) => {
        member = joined
      },
      claim: (tp) =>
        Effect.suspend(() => {
          const existing = partitions.get(keyOf(tp))
          if (existing !== undefined) return Effect.succeed(existing.resumeFrom)
          return Effect.map(claimOffset(tp), (resumeFrom) => {
            // Claimed meanwhile by a concurrent batch of the same partition.
            const again = partitions.get(keyOf(tp))
            if (again !== undefined) return again.resumeFrom
            partitions.set(keyOf(tp), { tp, resumeFrom, committed: resumeFrom, cut: undefined, sentBelow: undefined })
            return resumeFrom
          })
        }),
      revoking: (tp) => {
        revoking.add(keyOf(tp))
        for (const s of slots) if (s.holds.has(keyOf(tp))) s.poisoned = true
      },
      release: (tp) =>
        Effect.forEach(
          slots,
          // A failure (a partition still owned had outputs in the transaction) has stopped the job.
          (s) => s.lock.withPermits(1)(Effect.ignore(settle(s))),
          { discard: true }
        ).pipe(
          Effect.ensuring(
            Effect.sync(() => {
              partitions.delete(keyOf(tp))
              revoking.delete(keyOf(tp))
            })
          )
        )
    }

    // Sends outputs of several input partitions into the slot's transaction
    // in one request, skipping partitions released while it waited for the
    // lock (their next owners process those records again); acknowledges
    // what it sent.
    const sendTo = (s: Slot, topic: string, groups: ReadonlyArray<Outgoing>) =>
      s.lock.withPermits(1)(
        Effect.gen(function* () {
          if (failed) return
          yield* settle(s)
          // Of a partition being revoked meanwhile: dropped, and acknowledged so the revocation need not wait.
          for (const g of groups) if (partitions.has(g.origin) && revoking.has(g.origin)) yield* g.ack
          const kept = groups.filter((g) => live(g.origin))
          if (kept.length === 0) return
          const t = yield* begin(s)
          const messages = kept.length === 1 ? [...kept[0]!.messages] : kept.flatMap((g) => g.messages)
          yield* KafkaError.attempt("send", () => t.send({ topic, messages, acks: -1, timeout: requestTimeout }))
          for (const g of kept) {
            s.holds.add(g.origin)
            // Revoked (or released) while the request was out: `revoking`
            // found nothing held then, so the transaction is poisoned here,
            // else it could commit these outputs without their offsets.
            if (!live(g.origin)) s.poisoned = true
          }
          for (const g of kept) yield* g.ack
        })
      )

    // Outputs of records before their partition's cut go into the closing transaction, the others into the active one.
    const sendRecordsAll: NonNullable<Transactions.Transactions["sendRecordsAll"]> = (topic, groups) =>
      Effect.suspend(() => {
        const before: Array<Outgoing> = []
        const after: Array<Outgoing> = []
        const dropped: Array<Effect.Effect<void>> = []
        const into = closing
        for (const g of groups) {
          const key = keyOf(g.origin)
          const p = partitions.get(key)
          // Not this member's (any more): its owner processes the records again.
          if (p === undefined) continue
          const all = g.messages.map((_, i) => i)
          // Of a partition being revoked: dropped (see `revoking`), acknowledged so the revocation need not wait.
          if (revoking.has(key)) {
            dropped.push(g.ack(all))
            continue
          }
          const cut = p.cut
          // Decided synchronously with the cut: the next cut is past what goes into the active transaction.
          const toActive = (indices: ReadonlyArray<number>) => {
            p.sentBelow = Transactions.higher(p.sentBelow, Transactions.pastHighest(g.offsets, indices))
          }
          if (into === undefined || cut === undefined || cut < 0n) {
            toActive(all)
            after.push({ origin: key, messages: g.messages, ack: g.ack(all) })
            continue
          }
          const early: Array<number> = []
          const late: Array<number> = []
          for (const i of all) (g.offsets[i]! < cut ? early : late).push(i)
          if (early.length > 0)
            before.push({ origin: key, messages: early.map((i) => g.messages[i]!), ack: g.ack(early) })
          if (late.length > 0) {
            toActive(late)
            after.push({ origin: key, messages: late.map((i) => g.messages[i]!), ack: g.ack(late) })
          }
        }
        const sends: Array<Effect.Effect<void, KafkaError.KafkaError>> = [...dropped]
        if (before.length > 0 && into !== undefined) sends.push(sendTo(into, topic, before))
        if (after.length > 0) sends.push(sendTo(active, topic, after))
        return Effect.all(sends, { concurrency: "unbounded", discard: true })
      })

    const sendRecords: Transactions.Transactions["sendRecords"] = (origin, topic, messages, offsets, ack) =>
      sendRecordsAll(topic, [{ origin, messages, offsets, ack }])

    const defect = (what: string) => Effect.die(new Error(`member-wide transactions have no ${what}`))

    return {
      hooks,
      send: () => defect("send without input offsets (sendRecords)"),
      produce: () => defect("produce without input offsets (sendRecords)"),
      sendRecords,
      sendRecordsAll,
      onCommit: () => defect("commit listeners (state stores need Transactions)")
    }
  })
