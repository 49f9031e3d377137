/**
 * One partition's log: stored record batches kept as the raw bytes the
 * producer sent (with the base offset rewritten), parallel arrays of their
 * offsets and timestamps for binary search, per-producer sequence state for
 * idempotence, the callbacks of parked fetches waiting for new data, and the
 * transaction index: which producers have a transaction open here (the
 * earliest one bounds the last stable offset) and the offset ranges of
 * aborted transactions that `read_committed` fetches report. The index is
 * rebuilt from the batches themselves when a log is replayed, as Kafka
 * rebuilds its producer state, so it needs no file of its own.
 */
import { ErrorCode } from "../protocol/apiKeys.ts"
import { type BatchHeader, decodeRecords, encodeBatch, setBaseOffset } from "../protocol/recordBatch.ts"
import { CONTROL_BIT, controlKey, controlType, controlValue, TRANSACTIONAL_BIT } from "../protocol/transactions.ts"

/** Where appended batches go when the broker has a data directory. */
export interface LogSink {
  append(batch: Buffer, baseOffset: number): void
  /** Replaces the stored log with `batches` (after compaction). */
  rewrite(batches: ReadonlyArray<Buffer>): void
  /** Called after retention moved the log start; drops whole files below it. */
  truncateBefore(logStartOffset: number): void
}

interface ProducerBatch {
  readonly firstSeq: number
  readonly lastSeq: number
  readonly baseOffset: number
}

interface ProducerState {
  epoch: number
  /** The last few batches, to recognise retried duplicates (clients keep at most 5 in flight). */
  recent: Array<ProducerBatch>
}

export type AppendResult =
  | { readonly errorCode: typeof ErrorCode.NONE; readonly baseOffset: number }
  | { readonly errorCode: number; readonly baseOffset: -1 }

const MAX_TRACKED_BATCHES = 5

/**
 * The keyed records of a stored batch as compaction last saw them, so a clean
 * batch is decoded again only when one of its records is going away.
 */
interface BatchKeys {
  readonly keys: ReadonlyArray<string>
  readonly offsets: ReadonlyArray<number>
  /** Offsets of the tombstones (null values) among them. */
  readonly tombstones: ReadonlyArray<number>
}

const keysOfRecords = (
  records: ReadonlyArray<{ offset: number; key: Buffer | null; value: Buffer | null }>
): BatchKeys => {
  const keys: Array<string> = []
  const offsets: Array<number> = []
  const tombstones: Array<number> = []
  for (const r of records) {
    if (r.key === null) continue
    keys.push(r.key.toString("latin1"))
    offsets.push(r.offset)
    if (r.value === null) tombstones.push(r.offset)
  }
  return { keys, offsets, tombstones }
}

/** An aborted transaction's range in this partition, for the fetch response's aborted list. */
export interface AbortedTxn {
  readonly producerId: number
  readonly firstOffset: number
  readonly lastOffset: number
}

const markerHeader = (batch: Buffer, producerId: number, producerEpoch: number, timestamp: number): BatchHeader => ({
  size: batch.length,
  magic: 2,
  attributes: TRANSACTIONAL_BIT | CONTROL_BIT,
  lastOffsetDelta: 0,
  baseTimestamp: timestamp,
  maxTimestamp: timestamp,
  producerId,
  producerEpoch,
  baseSequence: -1,
  recordCount: 1
})

export class PartitionLog {
  readonly topic: string
  readonly partition: number
  private batches: Array<Buffer> = []
  private bases: Array<number> = []
  private lasts: Array<number> = []
  private maxTimestamps: Array<number> = []
  /** Compaction's view of each batch: `undefined` until first needed, `null` for transactional batches (never compacted). */
  private batchKeys: Array<BatchKeys | null | undefined> = []
  /** Index of the first live batch: dropping from the front is O(1), compaction is amortised. */
  private head = 0
  logStartOffset = 0
  nextOffset = 0
  bytes = 0
  private readonly producers = new Map<number, ProducerState>()
  private waiters: Array<(bytes: number) => void> = []
  /** Producer id → first offset of its open transaction in this partition. */
  private readonly openTxns = new Map<number, number>()
  /** Aborted transactions in marker order, so `lastOffset` ascends. */
  private abortedTxns: Array<AbortedTxn> = []
  /**
   * The active segment: the newest batches holding at most `segmentBytes`
   * (always at least the newest batch). Kafka never cleans its active
   * segment; here it is a boundary on batch edges that moves forward as
   * batches are appended, rather than a file that rolls.
   */
  private readonly segmentBytes: number
  /** Base offset of the first batch of the active segment. */
  private activeBase = 0
  private activeBytes = 0
  /** Offset up to which the last compaction went: the closed part below it is clean, above it dirty. */
  private cleanEnd = 0
  /** Bytes of closed batches at or after `cleanEnd`, the dirty part that makes compaction due. */
  private dirtyBytes = 0
  /** Offset of a tombstone compaction has seen → when it may be removed. */
  private readonly tombstoneHorizons = new Map<number, number>()
  private readonly retentionBytes: number
  sink: LogSink | null = null

  constructor(
    topic: string,
    partition: number,
    retentionBytes: number,
    segmentBytes: number = Number.POSITIVE_INFINITY
  ) {
    this.topic = topic
    this.partition = partition
    this.retentionBytes = retentionBytes
    this.segmentBytes = segmentBytes
  }

  get batchCount(): number {
    return this.batches.length - this.head
  }

  /** Checks producer id/epoch/sequence; returns a duplicate's original offset, an error, or `undefined` to append. */
  private checkSequence(h: BatchHeader): AppendResult | undefined {
    if (h.producerId < 0 || h.baseSequence < 0) return undefined
    const lastSeq = (h.baseSequence + h.lastOffsetDelta) | 0
    const state = this.producers.get(h.producerId)
    if (state === undefined || h.producerEpoch > state.epoch) {
      return h.baseSequence === 0 ? undefined : { errorCode: ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER, baseOffset: -1 }
    }
    if (h.producerEpoch < state.epoch) return { errorCode: ErrorCode.INVALID_PRODUCER_EPOCH, baseOffset: -1 }
    for (const b of state.recent) {
      if (b.firstSeq === h.baseSequence && b.lastSeq === lastSeq) return { errorCode: 0, baseOffset: b.baseOffset }
    }
    const last = state.recent[state.recent.length - 1]
    const expected = last === undefined ? 0 : last.lastSeq === 0x7fffffff ? 0 : last.lastSeq + 1
    if (h.baseSequence !== expected) return { errorCode: ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER, baseOffset: -1 }
    return undefined
  }

  private recordProducer(h: BatchHeader, baseOffset: number): void {
    if (h.producerId < 0 || h.baseSequence < 0) return
    let state = this.producers.get(h.producerId)
    if (state === undefined || h.producerEpoch > state.epoch) {
      state = { epoch: h.producerEpoch, recent: [] }
      this.producers.set(h.producerId, state)
    }
    state.recent.push({
      firstSeq: h.baseSequence,
      lastSeq: (h.baseSequence + h.lastOffsetDelta) | 0,
      baseOffset
    })
    if (state.recent.length > MAX_TRACKED_BATCHES) state.recent.shift()
  }

  /** Highest producer id seen in this log, so restarted brokers hand out fresh ids. */
  maxProducerId(): number {
    let max = -1
    for (const id of this.producers.keys()) if (id > max) max = id
    return max
  }

  /**
   * Appends a validated batch. `batch` must be a private copy: it is stored
   * as is and its base offset is overwritten.
   */
  append(batch: Buffer, h: BatchHeader): AppendResult {
    const seq = this.checkSequence(h)
    if (seq !== undefined) return seq
    const baseOffset = this.nextOffset
    setBaseOffset(batch, baseOffset)
    this.store(batch, h, baseOffset)
    this.sink?.append(batch, baseOffset)
    this.enforceRetention()
    this.notify(batch.length)
    return { errorCode: 0, baseOffset }
  }

  /**
   * Re-adds a batch read back from disk, keeping its stored base offset.
   * Returns false for a batch at or below what is already restored: a
   * compaction interrupted between its rename and its deletes leaves old
   * segments behind whose batches the compacted segment already holds.
   */
  restore(batch: Buffer, h: BatchHeader, baseOffset: number): boolean {
    if (this.batchCount > 0 && baseOffset < this.nextOffset) return false
    if (this.batchCount === 0) this.logStartOffset = baseOffset
    this.store(batch, h, baseOffset)
    this.enforceRetention()
    return true
  }

  private store(batch: Buffer, h: BatchHeader, baseOffset: number): void {
    this.batches.push(batch)
    this.bases.push(baseOffset)
    this.lasts.push(baseOffset + h.lastOffsetDelta)
    this.maxTimestamps.push(h.maxTimestamp)
    this.batchKeys.push(undefined)
    this.nextOffset = baseOffset + h.lastOffsetDelta + 1
    this.bytes += batch.length
    this.growActive(baseOffset, batch.length)
    this.recordProducer(h, baseOffset)
    if ((h.attributes & TRANSACTIONAL_BIT) !== 0) this.trackTxn(batch, h, baseOffset)
  }

  /** Adds a new batch to the active segment and closes its oldest batches while it holds more than `segmentBytes`. */
  private growActive(baseOffset: number, size: number): void {
    if (this.activeBytes === 0) this.activeBase = baseOffset
    this.activeBytes += size
    if (this.activeBytes <= this.segmentBytes) return
    let i = this.indexOf(this.activeBase)
    const newest = this.batches.length - 1
    while (this.activeBytes > this.segmentBytes && i < newest) {
      const closed = this.batches[i]!.length
      this.activeBytes -= closed
      this.dirtyBytes += closed
      i++
    }
    this.activeBase = this.bases[i]!
  }

  private trackTxn(batch: Buffer, h: BatchHeader, baseOffset: number): void {
    if ((h.attributes & CONTROL_BIT) === 0) {
      if (!this.openTxns.has(h.producerId)) this.openTxns.set(h.producerId, baseOffset)
      return
    }
    // A marker written with a bumped epoch (a fenced or timed-out producer) starts a new epoch here too.
    const state = this.producers.get(h.producerId)
    if (state === undefined || h.producerEpoch > state.epoch) {
      this.producers.set(h.producerId, { epoch: h.producerEpoch, recent: [] })
    }
    const first = this.openTxns.get(h.producerId)
    if (first === undefined) return
    this.openTxns.delete(h.producerId)
    const type = controlType(decodeRecords(batch)[0]?.key ?? null)
    if (type === "abort")
      this.abortedTxns.push({ producerId: h.producerId, firstOffset: first, lastOffset: baseOffset })
  }

  /** The first offset of the earliest open transaction, or the high watermark when none is open. */
  get lastStableOffset(): number {
    if (this.openTxns.size === 0) return this.nextOffset
    let lso = this.nextOffset
    for (const first of this.openTxns.values()) if (first < lso) lso = first
    return lso
  }

  /** Whether `producerId` has a transaction open in this partition. */
  hasOpenTxn(producerId: number): boolean {
    return this.openTxns.has(producerId)
  }

  /** Aborted transactions overlapping [from, to), as a `read_committed` fetch reports them. */
  abortedBetween(from: number, to: number): Array<AbortedTxn> {
    const out: Array<AbortedTxn> = []
    const list = this.abortedTxns
    let lo = 0
    let hi = list.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (list[mid]!.lastOffset < from) lo = mid + 1
      else hi = mid
    }
    for (let i = lo; i < list.length; i++) if (list[i]!.firstOffset < to) out.push(list[i]!)
    return out
  }

  /**
   * Appends a transaction marker (a control batch) for `producerId`, closing
   * its open transaction here. The coordinator calls it for every partition
   * of a transaction when it commits or aborts.
   */
  appendMarker(producerId: number, producerEpoch: number, commit: boolean, timestamp: number): number {
    const batch = encodeBatch([{ key: controlKey(commit), value: controlValue(), timestamp }], {
      producerId,
      producerEpoch,
      attributes: TRANSACTIONAL_BIT | CONTROL_BIT
    })
    const baseOffset = this.nextOffset
    setBaseOffset(batch, baseOffset)
    this.store(batch, markerHeader(batch, producerId, producerEpoch, timestamp), baseOffset)
    this.sink?.append(batch, baseOffset)
    this.enforceRetention()
    this.notify(batch.length)
    return baseOffset
  }

  private enforceRetention(): void {
    if (this.retentionBytes <= 0 || this.bytes <= this.retentionBytes) return
    const before = this.logStartOffset
    // Keep at least the newest batch, whatever its size.
    while (this.bytes > this.retentionBytes && this.batchCount > 1) {
      const size = this.batches[this.head]!.length
      const base = this.bases[this.head]!
      this.bytes -= size
      this.head++
      this.logStartOffset = this.bases[this.head]!
      if (base >= this.activeBase) {
        this.activeBytes -= size
        this.activeBase = this.logStartOffset
      } else if (base >= this.cleanEnd) this.dirtyBytes -= size
    }
    if (this.head > 1024 && this.head * 2 > this.batches.length) {
      this.batches = this.batches.slice(this.head)
      this.bases = this.bases.slice(this.head)
      this.lasts = this.lasts.slice(this.head)
      this.maxTimestamps = this.maxTimestamps.slice(this.head)
      this.batchKeys = this.batchKeys.slice(this.head)
      this.head = 0
    }
    if (this.logStartOffset !== before) {
      this.sink?.truncateBefore(this.logStartOffset)
      let drop = 0
      while (drop < this.abortedTxns.length && this.abortedTxns[drop]!.lastOffset < this.logStartOffset) drop++
      if (drop > 0) this.abortedTxns = this.abortedTxns.slice(drop)
    }
  }

  /**
   * Whether a compacted topic's log is due: the dirty part of its closed
   * segments (closed since the last compaction) is at least `dirtyRatio`
   * (Kafka's min.cleanable.dirty.ratio) of the closed part, or a tombstone's
   * delete horizon has passed. The active segment counts for neither.
   */
  needsCompaction(now: number, dirtyRatio: number): boolean {
    const closedBytes = this.bytes - this.activeBytes
    if (this.dirtyBytes > 0 && this.dirtyBytes >= closedBytes * dirtyRatio) return true
    for (const horizon of this.tombstoneHorizons.values()) if (now >= horizon) return true
    return false
  }

  /** Compaction's view of batch `i`, decoded on first use. */
  private keysAt(i: number): BatchKeys | null {
    const cached = this.batchKeys[i]
    if (cached !== undefined) return cached
    const batch = this.batches[i]!
    const info = (batch.readInt16BE(21) & TRANSACTIONAL_BIT) !== 0 ? null : keysOfRecords(decodeRecords(batch))
    this.batchKeys[i] = info
    return info
  }

  /**
   * Log compaction of the closed segments (everything before the active
   * segment), as Kafka's cleaner does it: the dirty part (closed since the
   * last pass) maps each key to its latest offset; a record goes if a later
   * record of its key is in that map, and a tombstone (null value) also goes
   * once `deleteRetentionMs` has passed since compaction first saw it.
   * Offsets are preserved: a rebuilt batch keeps its base offset and offset
   * span, so compaction leaves gaps. The active segment is never rewritten,
   * so a consumer at the end of a compacted log always has a batch to move
   * past, and its tombstones start their delete horizon only once closed.
   * Records without a key, and transactional and control batches, are left
   * as they are. A clean batch none of whose keys changed is kept without
   * being decoded again. Returns whether anything was removed.
   */
  compact(now: number, deleteRetentionMs: number): boolean {
    const total = this.batches.length
    const end = this.indexOf(this.activeBase)
    const dirtyFrom = Math.max(this.head, this.indexOf(this.cleanEnd))
    const latest = new Map<string, number>()
    for (let i = dirtyFrom; i < end; i++) {
      const info = this.keysAt(i)
      if (info === null) continue
      for (let j = 0; j < info.keys.length; j++) latest.set(info.keys[j]!, info.offsets[j]!)
    }
    const oldHorizons = this.tombstoneHorizons
    const horizonOf = (offset: number): number => oldHorizons.get(offset) ?? now + deleteRetentionMs
    const goes = (key: string, offset: number, dirty: boolean): boolean => {
      const last = latest.get(key)
      return dirty ? last !== offset : last !== undefined
    }
    const batches: Array<Buffer> = []
    const bases: Array<number> = []
    const lasts: Array<number> = []
    const maxTimestamps: Array<number> = []
    const batchKeys: Array<BatchKeys | null | undefined> = []
    const horizons = new Map<number, number>()
    const keep = (i: number, batch: Buffer, info: BatchKeys | null | undefined) => {
      batches.push(batch)
      bases.push(this.bases[i]!)
      lasts.push(this.lasts[i]!)
      maxTimestamps.push(this.maxTimestamps[i]!)
      batchKeys.push(info)
    }
    let changed = false
    for (let i = this.head; i < end; i++) {
      const batch = this.batches[i]!
      const info = this.keysAt(i)
      if (info === null) {
        keep(i, batch, null)
        continue
      }
      const dirty = i >= dirtyFrom
      let intact = true
      for (let j = 0; j < info.keys.length && intact; j++) intact = !goes(info.keys[j]!, info.offsets[j]!, dirty)
      for (let j = 0; j < info.tombstones.length && intact; j++) intact = now < horizonOf(info.tombstones[j]!)
      if (intact) {
        for (const t of info.tombstones) horizons.set(t, horizonOf(t))
        keep(i, batch, info)
        continue
      }
      changed = true
      const records = decodeRecords(batch).filter((r) => {
        if (r.key === null) return true
        if (goes(r.key.toString("latin1"), r.offset, dirty)) return false
        if (r.value !== null) return true
        const horizon = horizonOf(r.offset)
        if (now >= horizon) return false
        horizons.set(r.offset, horizon)
        return true
      })
      if (records.length === 0) continue
      const base = this.bases[i]!
      const rebuilt = encodeBatch(records, {
        baseOffset: base,
        offsetDeltas: records.map((r) => r.offset - base),
        lastOffsetDelta: this.lasts[i]! - base,
        producerId: Number(batch.readBigInt64BE(43)),
        producerEpoch: batch.readInt16BE(51),
        baseSequence: batch.readInt32BE(53)
      })
      keep(i, rebuilt, keysOfRecords(records))
    }
    this.tombstoneHorizons.clear()
    for (const [offset, horizon] of horizons) this.tombstoneHorizons.set(offset, horizon)
    this.dirtyBytes = 0
    this.cleanEnd = this.activeBase
    if (!changed) return false
    for (let i = end; i < total; i++) keep(i, this.batches[i]!, this.batchKeys[i])
    this.batches = batches
    this.bases = bases
    this.lasts = lasts
    this.maxTimestamps = maxTimestamps
    this.batchKeys = batchKeys
    this.head = 0
    this.bytes = batches.reduce((n, b) => n + b.length, 0)
    this.sink?.rewrite(batches)
    return true
  }

  /** Index of the first batch whose last offset is at or after `offset`. */
  private indexOf(offset: number): number {
    let lo = this.head
    let hi = this.batches.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.lasts[mid]! < offset) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  /**
   * Stored batches from `offset`, at most `maxBytes` in total except that the
   * first batch is always included (KIP-74), so a large batch cannot stall a consumer.
   */
  read(offset: number, maxBytes: number, out: Array<Buffer>, below = Number.POSITIVE_INFINITY): number {
    let size = 0
    for (let i = this.indexOf(offset); i < this.batches.length; i++) {
      // `below` is the last stable offset for read_committed: batches are whole, so one starting below it ends below it.
      if (this.bases[i]! >= below) break
      const b = this.batches[i]!
      if (size > 0 && size + b.length > maxBytes) break
      out.push(b)
      size += b.length
      if (size >= maxBytes) break
    }
    return size
  }

  /** First offset whose timestamp is at or after `timestamp`, for ListOffsets. */
  offsetForTimestamp(timestamp: number): { offset: number; timestamp: number } | undefined {
    for (let i = this.head; i < this.batches.length; i++) {
      if (this.maxTimestamps[i]! < timestamp) continue
      for (const r of decodeRecords(this.batches[i]!)) {
        if (r.offset >= this.logStartOffset && r.timestamp >= timestamp)
          return { offset: r.offset, timestamp: r.timestamp }
      }
    }
    return undefined
  }

  /**
   * Registers a one-shot callback for the next append, called with the bytes
   * appended (or `Infinity` when the partition goes away); returns its canceller.
   */
  onAppend(f: (bytes: number) => void): () => void {
    this.waiters.push(f)
    return () => {
      const i = this.waiters.indexOf(f)
      if (i >= 0) this.waiters.splice(i, 1)
    }
  }

  /** Parked fetches currently waiting on this partition (for tests and diagnostics). */
  get waiterCount(): number {
    return this.waiters.length
  }

  private notify(bytes: number): void {
    if (this.waiters.length === 0) return
    const ws = this.waiters
    this.waiters = []
    for (const w of ws) w(bytes)
  }

  /** Wakes parked fetches so they answer (used when the topic is deleted). */
  wakeAll(): void {
    this.notify(Number.POSITIVE_INFINITY)
  }
}
