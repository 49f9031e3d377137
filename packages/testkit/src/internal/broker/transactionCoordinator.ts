/**
 * The transaction coordinator (KIP-98) of a single broker that coordinates
 * every transactional id. Per transactional id it keeps the producer id and
 * epoch, the transaction timeout, the partitions and groups added to the
 * ongoing transaction and its pending offset commits.
 *
 * States follow Kafka's: Empty → Ongoing → PrepareCommit/PrepareAbort →
 * CompleteCommit/CompleteAbort. Ending a transaction first records the
 * Prepare state, then writes a marker to each partition and applies the
 * offsets, then records the Complete state; a broker that stops between the
 * two finishes the markers when it starts again (`recover`). Every change is
 * handed to `persist` before it takes effect for clients.
 *
 * `InitProducerId` for a known transactional id bumps the epoch, which fences
 * the previous producer (its requests fail with INVALID_PRODUCER_EPOCH), and
 * aborts a transaction it left open. A transaction open longer than its
 * timeout is aborted the same way by `tick`, which the broker drives from the
 * Effect `Clock`.
 */
import { ErrorCode } from "../protocol/apiKeys.ts"
import type { CommittedOffset } from "./groupCoordinator.ts"
import type { PartitionLog } from "./partitionLog.ts"

export type TxnStatus = "Empty" | "Ongoing" | "PrepareCommit" | "PrepareAbort" | "CompleteCommit" | "CompleteAbort"

export interface PendingOffset {
  readonly group: string
  readonly topic: string
  readonly partition: number
  readonly committed: CommittedOffset
}

/** A transactional id's state as persisted; the coordinator's whole memory of it. */
export interface TxnRecord {
  readonly transactionalId: string
  readonly producerId: number
  readonly producerEpoch: number
  readonly timeoutMs: number
  readonly status: TxnStatus
  readonly startedAt: number
  readonly partitions: ReadonlyArray<readonly [topic: string, partition: number]>
  readonly groups: ReadonlyArray<string>
  readonly offsets: ReadonlyArray<PendingOffset>
}

export interface TxnCoordinatorOptions {
  readonly now: () => number
  readonly maxTimeoutMs: number
  readonly partition: (topic: string, partition: number) => PartitionLog | undefined
  readonly allocateProducerId: () => number
  readonly commitOffsets: (offsets: ReadonlyArray<PendingOffset>) => void
  /** KIP-447: checks the consumer's group membership a TxnOffsetCommit v3 carries; an error code or 0. */
  readonly checkMember: (
    group: string,
    generationId: number,
    memberId: string,
    groupInstanceId: string | null
  ) => number
  readonly persist: (record: TxnRecord) => void
}

interface Txn {
  readonly transactionalId: string
  producerId: number
  producerEpoch: number
  timeoutMs: number
  status: TxnStatus
  startedAt: number
  readonly partitions: Map<string, readonly [string, number]>
  readonly groups: Set<string>
  readonly offsets: Map<string, PendingOffset>
}

const key = (topic: string, partition: number): string => `${partition}:${topic}`

// Epochs are int16; Kafka gives a producer a new id when the epoch would overflow.
const MAX_EPOCH = 32_767

export class TransactionCoordinator {
  private readonly txns = new Map<string, Txn>()
  private readonly options: TxnCoordinatorOptions

  constructor(options: TxnCoordinatorOptions) {
    this.options = options
  }

  private persist(t: Txn): void {
    this.options.persist({
      transactionalId: t.transactionalId,
      producerId: t.producerId,
      producerEpoch: t.producerEpoch,
      timeoutMs: t.timeoutMs,
      status: t.status,
      startedAt: t.startedAt,
      partitions: [...t.partitions.values()],
      groups: [...t.groups],
      offsets: [...t.offsets.values()]
    })
  }

  /** Checks that a request comes from the current producer of `transactionalId`. */
  private current(transactionalId: string, producerId: number, producerEpoch: number): Txn | number {
    const t = this.txns.get(transactionalId)
    if (t === undefined || t.producerId !== producerId) return ErrorCode.INVALID_PRODUCER_ID_MAPPING
    if (producerEpoch !== t.producerEpoch) return ErrorCode.INVALID_PRODUCER_EPOCH
    return t
  }

  initProducerId(
    transactionalId: string,
    timeoutMs: number
  ): { errorCode: number; producerId: number; producerEpoch: number } {
    if (timeoutMs <= 0 || timeoutMs > this.options.maxTimeoutMs) {
      return { errorCode: ErrorCode.INVALID_TRANSACTION_TIMEOUT, producerId: -1, producerEpoch: -1 }
    }
    let t = this.txns.get(transactionalId)
    if (t === undefined) {
      t = {
        transactionalId,
        producerId: this.options.allocateProducerId(),
        producerEpoch: 0,
        timeoutMs,
        status: "Empty",
        startedAt: 0,
        partitions: new Map(),
        groups: new Set(),
        offsets: new Map()
      }
      this.txns.set(transactionalId, t)
    } else {
      if (t.producerEpoch >= MAX_EPOCH) {
        t.producerId = this.options.allocateProducerId()
        t.producerEpoch = 0
      } else {
        t.producerEpoch++
      }
      t.timeoutMs = timeoutMs
      // The previous producer's open transaction is aborted under the new epoch, which fences it.
      if (t.status === "Ongoing") this.end(t, false)
      else t.status = "Empty"
    }
    this.persist(t)
    return { errorCode: ErrorCode.NONE, producerId: t.producerId, producerEpoch: t.producerEpoch }
  }

  private begin(t: Txn): void {
    if (t.status === "Ongoing") return
    t.status = "Ongoing"
    t.startedAt = this.options.now()
  }

  addPartitions(
    transactionalId: string,
    producerId: number,
    producerEpoch: number,
    partitions: ReadonlyArray<readonly [string, number]>
  ): Array<number> {
    const t = this.current(transactionalId, producerId, producerEpoch)
    if (typeof t === "number") return partitions.map(() => t)
    const codes = partitions.map(([topic, p]) =>
      this.options.partition(topic, p) === undefined ? ErrorCode.UNKNOWN_TOPIC_OR_PARTITION : ErrorCode.NONE
    )
    // As Kafka does, one unknown partition fails the whole request; the others report OPERATION_NOT_ATTEMPTED.
    if (codes.some((c) => c !== ErrorCode.NONE)) {
      return codes.map((c) => (c === ErrorCode.NONE ? ErrorCode.OPERATION_NOT_ATTEMPTED : c))
    }
    this.begin(t)
    for (const [topic, p] of partitions) t.partitions.set(key(topic, p), [topic, p])
    this.persist(t)
    return codes
  }

  addOffsets(transactionalId: string, producerId: number, producerEpoch: number, group: string): number {
    const t = this.current(transactionalId, producerId, producerEpoch)
    if (typeof t === "number") return t
    this.begin(t)
    t.groups.add(group)
    this.persist(t)
    return ErrorCode.NONE
  }

  txnOffsetCommit(
    transactionalId: string,
    producerId: number,
    producerEpoch: number,
    group: string,
    offsets: ReadonlyArray<{ readonly topic: string; readonly partition: number; readonly committed: CommittedOffset }>,
    member: { readonly generationId: number; readonly memberId: string; readonly groupInstanceId: string | null } = {
      generationId: -1,
      memberId: "",
      groupInstanceId: null
    }
  ): number {
    const t = this.current(transactionalId, producerId, producerEpoch)
    if (typeof t === "number") return t
    if (t.status !== "Ongoing" || !t.groups.has(group)) return ErrorCode.INVALID_TXN_STATE
    // A consumer that lost its partitions in a rebalance can no longer commit offsets for them (KIP-447).
    if (member.generationId >= 0 || member.memberId !== "") {
      const code = this.options.checkMember(group, member.generationId, member.memberId, member.groupInstanceId)
      if (code !== ErrorCode.NONE) return code
    }
    for (const o of offsets) t.offsets.set(`${group}\u0000${key(o.topic, o.partition)}`, { group, ...o })
    this.persist(t)
    return ErrorCode.NONE
  }

  /**
   * Whether an open transaction holds an offset of `group` for the
   * partition: a `require_stable` OffsetFetch (KIP-447) answers
   * UNSTABLE_OFFSET_COMMIT until it ends, so a new owner never starts from an
   * offset the transaction is about to move.
   */
  hasPendingOffset(group: string, topic: string, partition: number): boolean {
    const wanted = `${group}\u0000${key(topic, partition)}`
    for (const t of this.txns.values()) if (t.offsets.has(wanted)) return true
    return false
  }

  endTxn(transactionalId: string, producerId: number, producerEpoch: number, commit: boolean): number {
    const t = this.current(transactionalId, producerId, producerEpoch)
    if (typeof t === "number") return t
    // A retried EndTxn whose first attempt completed succeeds again.
    if (t.status === (commit ? "CompleteCommit" : "CompleteAbort")) return ErrorCode.NONE
    if (t.status !== "Ongoing") return ErrorCode.INVALID_TXN_STATE
    this.end(t, commit)
    return ErrorCode.NONE
  }

  /** Whether a transactional produce to `topic`/`partition` may append. */
  checkProduce(
    transactionalId: string,
    producerId: number,
    producerEpoch: number,
    topic: string,
    partition: number
  ): number {
    const t = this.txns.get(transactionalId)
    if (t === undefined || t.producerId !== producerId) return ErrorCode.INVALID_PRODUCER_ID_MAPPING
    if (producerEpoch !== t.producerEpoch) return ErrorCode.INVALID_PRODUCER_EPOCH
    // Stricter than Kafka before KIP-890: data may only go to partitions added to the ongoing transaction.
    if (t.status !== "Ongoing" || !t.partitions.has(key(topic, partition))) return ErrorCode.INVALID_TXN_STATE
    return ErrorCode.NONE
  }

  private end(t: Txn, commit: boolean): void {
    t.status = commit ? "PrepareCommit" : "PrepareAbort"
    this.persist(t)
    this.complete(t)
  }

  /** Writes the markers (and, for a commit, the offsets) of a prepared transaction and records its completion. */
  private complete(t: Txn): void {
    const commit = t.status === "PrepareCommit"
    const now = this.options.now()
    for (const [topic, p] of t.partitions.values()) {
      const log = this.options.partition(topic, p)
      // After a restart only partitions still holding the open transaction need a marker.
      if (log?.hasOpenTxn(t.producerId) === true) log.appendMarker(t.producerId, t.producerEpoch, commit, now)
    }
    if (commit && t.offsets.size > 0) this.options.commitOffsets([...t.offsets.values()])
    t.status = commit ? "CompleteCommit" : "CompleteAbort"
    t.partitions.clear()
    t.groups.clear()
    t.offsets.clear()
    this.persist(t)
  }

  /** Aborts transactions open longer than their timeout, fencing their producer with a new epoch. */
  tick(): void {
    const now = this.options.now()
    for (const t of this.txns.values()) {
      if (t.status !== "Ongoing" || now - t.startedAt <= t.timeoutMs) continue
      // At the last epoch the abort keeps it (Kafka would move to a new producer id); the data stays invisible either way.
      if (t.producerEpoch < MAX_EPOCH) t.producerEpoch++
      this.end(t, false)
    }
  }

  /** Loads a persisted state (replay on start); call `recover` once all are loaded. */
  restore(r: TxnRecord): void {
    this.txns.set(r.transactionalId, {
      transactionalId: r.transactionalId,
      producerId: r.producerId,
      producerEpoch: r.producerEpoch,
      timeoutMs: r.timeoutMs,
      status: r.status,
      startedAt: r.startedAt,
      partitions: new Map(r.partitions.map(([topic, p]) => [key(topic, p), [topic, p] as const])),
      groups: new Set(r.groups),
      offsets: new Map(r.offsets.map((o) => [`${o.group}\u0000${key(o.topic, o.partition)}`, o]))
    })
  }

  /** Finishes transactions that were being committed or aborted when the broker stopped. */
  recover(): void {
    for (const t of this.txns.values())
      if (t.status === "PrepareCommit" || t.status === "PrepareAbort") this.complete(t)
  }

  /** Highest producer id handed out, so restarted brokers keep ids unique. */
  maxProducerId(): number {
    let max = -1
    for (const t of this.txns.values()) if (t.producerId > max) max = t.producerId
    return max
  }

  /** A transactional id's status and epoch, for tests. */
  describe(transactionalId: string): { readonly status: TxnStatus; readonly producerEpoch: number } | undefined {
    const t = this.txns.get(transactionalId)
    return t === undefined ? undefined : { status: t.status, producerEpoch: t.producerEpoch }
  }
}
