/**
 * Durability for a broker with a data directory. Layout:
 *
 *   topics.json                      topic name → partition count (rewritten atomically)
 *   <topic>-<partition>/<base>.log    append-only segments of stored record batches
 *   offsets.log                       append-only group commits: [length][crc32c][payload]
 *   transactions.log                  append-only transaction coordinator states, same framing, JSON payload
 *
 * Writes go to the OS with synchronous `write` calls (they survive a process
 * crash); `fsync` follows the configured policy. On start every segment is
 * replayed batch by batch; the first torn or corrupt batch ends the log and
 * the file is truncated there. The offsets and transactions files are
 * replayed the same way and then rewritten with only the latest entry per
 * partition or transactional id. A partition's transaction index (open and
 * aborted transactions) needs no file: it is rebuilt from the replayed batches.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { crc32c } from "../protocol/crc32c.ts"
import { Reader } from "../protocol/reader.ts"
import { checkBatch } from "../protocol/recordBatch.ts"
import { Writer } from "../protocol/writer.ts"
import type { CommittedOffset } from "./groupCoordinator.ts"
import type { LogSink, PartitionLog } from "./partitionLog.ts"
import type { TxnRecord, TxnStatus } from "./transactionCoordinator.ts"

const segmentName = (base: number): string => `${String(base).padStart(20, "0")}.log`

class SegmentSink implements LogSink {
  private readonly dir: string
  private readonly segmentBytes: number
  private readonly dirty: Set<SegmentSink>
  private segments: Array<{ base: number; file: string }> = []
  private fd = -1
  private size = 0

  constructor(dir: string, segmentBytes: number, dirty: Set<SegmentSink>) {
    this.dir = dir
    this.segmentBytes = segmentBytes
    this.dirty = dirty
  }

  /** Reads every segment into `log`, truncating a torn tail, and opens the last segment for appends. */
  load(log: PartitionLog): void {
    fs.mkdirSync(this.dir, { recursive: true })
    const files = fs
      .readdirSync(this.dir)
      .filter((f) => f.endsWith(".log"))
      .sort()
    for (const [i, file] of files.entries()) {
      const full = path.join(this.dir, file)
      const data = fs.readFileSync(full)
      let at = 0
      while (at < data.length) {
        const c = checkBatch(data, at, data.length)
        if (c._tag !== "Ok") break
        const batch = Buffer.from(data.subarray(at, at + c.header.size))
        log.restore(batch, c.header, Number(batch.readBigInt64BE(0)))
        at += c.header.size
      }
      if (at < data.length) {
        fs.truncateSync(full, at)
        // Anything after a torn segment cannot be trusted to follow it.
        for (const later of files.slice(i + 1)) fs.rmSync(path.join(this.dir, later), { force: true })
        this.segments.push({ base: Number.parseInt(file, 10), file: full })
        break
      }
      this.segments.push({ base: Number.parseInt(file, 10), file: full })
    }
    const last = this.segments[this.segments.length - 1]
    if (last !== undefined) {
      this.fd = fs.openSync(last.file, "a")
      this.size = fs.fstatSync(this.fd).size
    }
    this.truncateBefore(log.logStartOffset)
  }

  append(batch: Buffer, baseOffset: number): void {
    if (this.fd < 0 || this.size >= this.segmentBytes) this.roll(baseOffset)
    fs.writeSync(this.fd, batch)
    this.size += batch.length
    this.dirty.add(this)
  }

  /**
   * Replaces every segment with one holding `batches`: written to a temporary
   * file and fsynced, renamed over the first segment, then the others are
   * deleted. A crash in between leaves old segments whose batches replay skips.
   */
  rewrite(batches: ReadonlyArray<Buffer>): void {
    const first = this.segments[0]
    if (first === undefined) return
    const tmp = path.join(this.dir, "compacted.tmp")
    const fd = fs.openSync(tmp, "w")
    for (const b of batches) fs.writeSync(fd, b)
    fs.fsyncSync(fd)
    fs.closeSync(fd)
    if (this.fd >= 0) fs.closeSync(this.fd)
    fs.renameSync(tmp, first.file)
    for (const s of this.segments.slice(1)) fs.rmSync(s.file, { force: true })
    this.segments = [first]
    this.fd = fs.openSync(first.file, "a")
    this.size = fs.fstatSync(this.fd).size
    this.dirty.delete(this)
  }

  private roll(base: number): void {
    if (this.fd >= 0) {
      fs.fsyncSync(this.fd)
      fs.closeSync(this.fd)
    }
    const file = path.join(this.dir, segmentName(base))
    this.fd = fs.openSync(file, "a")
    this.size = 0
    this.segments.push({ base, file })
  }

  truncateBefore(logStartOffset: number): void {
    // A segment can go once the next one starts at or below the log start.
    while (this.segments.length > 1 && this.segments[1]!.base <= logStartOffset) {
      fs.rmSync(this.segments.shift()!.file, { force: true })
    }
  }

  flush(): void {
    if (this.fd >= 0) fs.fsyncSync(this.fd)
  }

  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd)
    this.fd = -1
  }
}

export interface StoredCommit {
  readonly group: string
  readonly topic: string
  readonly partition: number
  readonly committed: CommittedOffset
}

const encodeCommit = (c: StoredCommit): Buffer => {
  const w = new Writer(64)
  w.int32(0).uint32(0)
  w.string(c.group).string(c.topic).int32(c.partition).int64(c.committed.offset).nullableString(c.committed.metadata)
  const out = w.toBuffer()
  out.writeInt32BE(out.length - 8, 0)
  out.writeUInt32BE(crc32c(out, 8, out.length), 4)
  return out
}

const frame = (payload: Buffer): Buffer => {
  const out = Buffer.allocUnsafe(8 + payload.length)
  out.writeInt32BE(payload.length, 0)
  out.writeUInt32BE(crc32c(payload, 0, payload.length), 4)
  payload.copy(out, 8)
  return out
}

/** Payloads of a framed file up to the first torn or corrupt frame. */
const readFrames = (file: string): Array<Buffer> => {
  if (!fs.existsSync(file)) return []
  const data = fs.readFileSync(file)
  const out: Array<Buffer> = []
  let at = 0
  while (at + 8 <= data.length) {
    const len = data.readInt32BE(at)
    if (len < 0 || at + 8 + len > data.length) break
    if (crc32c(data, at + 8, at + 8 + len) !== data.readUInt32BE(at + 4)) break
    out.push(data.subarray(at + 8, at + 8 + len))
    at += 8 + len
  }
  return out
}

const STATUSES: ReadonlyArray<TxnStatus> = [
  "Empty",
  "Ongoing",
  "PrepareCommit",
  "PrepareAbort",
  "CompleteCommit",
  "CompleteAbort"
]

const isTxnRecord = (u: unknown): u is TxnRecord =>
  typeof u === "object" &&
  u !== null &&
  "transactionalId" in u &&
  typeof u.transactionalId === "string" &&
  "producerId" in u &&
  typeof u.producerId === "number" &&
  "producerEpoch" in u &&
  typeof u.producerEpoch === "number" &&
  "status" in u &&
  STATUSES.some((s) => s === u.status) &&
  "partitions" in u &&
  Array.isArray(u.partitions) &&
  "groups" in u &&
  Array.isArray(u.groups) &&
  "offsets" in u &&
  Array.isArray(u.offsets)

export class Persistence {
  private readonly dir: string
  private readonly segmentBytes: number
  private readonly sinks = new Map<string, Array<SegmentSink>>()
  private readonly dirty = new Set<SegmentSink>()
  private offsetsFd = -1
  private offsetsDirty = false
  private txnFd = -1
  private txnDirty = false

  constructor(dir: string, segmentBytes: number) {
    this.dir = dir
    this.segmentBytes = segmentBytes
    fs.mkdirSync(dir, { recursive: true })
  }

  /** Topics and their configuration; a plain number is a topic without configuration (the original format). */
  loadTopics(): Array<{ name: string; partitions: number; config: Record<string, string> }> {
    const file = path.join(this.dir, "topics.json")
    if (!fs.existsSync(file)) return []
    const parsed: unknown = JSON.parse(fs.readFileSync(file, "utf8"))
    if (typeof parsed !== "object" || parsed === null) return []
    return Object.entries(parsed).flatMap(([name, entry]: [string, unknown]) => {
      if (typeof entry === "number") return [{ name, partitions: entry, config: {} }]
      if (typeof entry !== "object" || entry === null) return []
      if (!("partitions" in entry) || typeof entry.partitions !== "number") return []
      const config: Record<string, string> = {}
      if ("config" in entry && typeof entry.config === "object" && entry.config !== null) {
        for (const [k, v] of Object.entries(entry.config)) if (typeof v === "string") config[k] = v
      }
      return [{ name, partitions: entry.partitions, config }]
    })
  }

  saveTopics(
    topics: ReadonlyMap<string, ReadonlyArray<unknown>>,
    configOf: (name: string) => Readonly<Record<string, string>>
  ): void {
    const file = path.join(this.dir, "topics.json")
    const tmp = `${file}.tmp`
    const entries = [...topics].map(([n, ps]) => {
      const config = configOf(n)
      return [n, Object.keys(config).length === 0 ? ps.length : { partitions: ps.length, config }] as const
    })
    fs.writeFileSync(tmp, JSON.stringify(Object.fromEntries(entries)))
    fs.renameSync(tmp, file)
  }

  /** Replays (or creates) the partition directories of a topic and attaches their sinks. */
  attach(name: string, logs: ReadonlyArray<PartitionLog>): void {
    const sinks = logs.map((log) => {
      const sink = new SegmentSink(path.join(this.dir, `${name}-${log.partition}`), this.segmentBytes, this.dirty)
      sink.load(log)
      log.sink = sink
      return sink
    })
    this.sinks.set(name, sinks)
  }

  drop(name: string, partitions: number): void {
    for (const s of this.sinks.get(name) ?? []) {
      s.close()
      this.dirty.delete(s)
    }
    this.sinks.delete(name)
    for (let p = 0; p < partitions; p++) {
      fs.rmSync(path.join(this.dir, `${name}-${p}`), { recursive: true, force: true })
    }
  }

  /** Reads the offsets file, rewrites it compacted, and opens it for appends. */
  loadOffsets(): Array<StoredCommit> {
    const file = path.join(this.dir, "offsets.log")
    const latest = new Map<string, StoredCommit>()
    if (fs.existsSync(file)) {
      const data = fs.readFileSync(file)
      let at = 0
      while (at + 8 <= data.length) {
        const len = data.readInt32BE(at)
        if (len < 0 || at + 8 + len > data.length) break
        if (crc32c(data, at + 8, at + 8 + len) !== data.readUInt32BE(at + 4)) break
        try {
          const r = new Reader(data, at + 8, at + 8 + len)
          const c: StoredCommit = {
            group: r.string(),
            topic: r.string(),
            partition: r.int32(),
            committed: { offset: r.int64n(), metadata: r.nullableString() }
          }
          latest.set(JSON.stringify([c.group, c.topic, c.partition]), c)
        } catch {
          break
        }
        at += 8 + len
      }
    }
    const commits = [...latest.values()]
    const tmp = `${file}.tmp`
    fs.writeFileSync(tmp, Buffer.concat(commits.map(encodeCommit)))
    fs.renameSync(tmp, file)
    this.offsetsFd = fs.openSync(file, "a")
    return commits
  }

  appendCommit(c: StoredCommit): void {
    if (this.offsetsFd < 0) return
    fs.writeSync(this.offsetsFd, encodeCommit(c))
    this.offsetsDirty = true
  }

  /** Reads the transaction coordinator's file, rewrites it with the latest state per id, and opens it for appends. */
  loadTransactions(): Array<TxnRecord> {
    const file = path.join(this.dir, "transactions.log")
    const latest = new Map<string, TxnRecord>()
    for (const payload of readFrames(file)) {
      let parsed: unknown
      try {
        parsed = JSON.parse(payload.toString("utf8"))
      } catch {
        break
      }
      if (!isTxnRecord(parsed)) break
      latest.set(parsed.transactionalId, parsed)
    }
    const records = [...latest.values()]
    const tmp = `${file}.tmp`
    fs.writeFileSync(tmp, Buffer.concat(records.map((r) => frame(Buffer.from(JSON.stringify(r))))))
    fs.renameSync(tmp, file)
    this.txnFd = fs.openSync(file, "a")
    return records
  }

  appendTransaction(r: TxnRecord): void {
    if (this.txnFd < 0) return
    fs.writeSync(this.txnFd, frame(Buffer.from(JSON.stringify(r))))
    this.txnDirty = true
  }

  /** fsyncs every file written since the last flush. */
  flush(): void {
    for (const s of this.dirty) s.flush()
    this.dirty.clear()
    if (this.offsetsDirty && this.offsetsFd >= 0) fs.fsyncSync(this.offsetsFd)
    this.offsetsDirty = false
    if (this.txnDirty && this.txnFd >= 0) fs.fsyncSync(this.txnFd)
    this.txnDirty = false
  }

  close(): void {
    this.flush()
    for (const sinks of this.sinks.values()) for (const s of sinks) s.close()
    this.sinks.clear()
    if (this.offsetsFd >= 0) fs.closeSync(this.offsetsFd)
    this.offsetsFd = -1
    if (this.txnFd >= 0) fs.closeSync(this.txnFd)
    this.txnFd = -1
  }
}
