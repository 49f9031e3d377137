/**
 * Record batch format v2 (magic 2). The broker stores and serves batches as
 * opaque bytes; this module reads the fixed 61-byte header, validates framing
 * and CRC, rewrites the base offset in place, and (off the hot path) decodes
 * individual records for timestamp lookups and tests.
 *
 * Layout: baseOffset int64 | batchLength int32 | partitionLeaderEpoch int32 |
 * magic int8 | crc uint32 | attributes int16 | lastOffsetDelta int32 |
 * baseTimestamp int64 | maxTimestamp int64 | producerId int64 |
 * producerEpoch int16 | baseSequence int32 | recordCount int32 | records.
 * The CRC covers everything from `attributes` to the end of the batch.
 */
import { gunzipSync, gzipSync } from "node:zlib"
import { crc32c } from "./crc32c.ts"
import { ProtocolError, Reader } from "./reader.ts"
import { Writer } from "./writer.ts"

export const HEADER_SIZE = 61
/** Bytes before (and including) `batchLength`, which batchLength does not count. */
export const LOG_OVERHEAD = 12
const CRC_START = 21

export const COMPRESSION_NONE = 0
export const COMPRESSION_GZIP = 1

/** The header fields the broker needs, read without touching the records. */
export interface BatchHeader {
  readonly size: number
  readonly magic: number
  readonly attributes: number
  readonly lastOffsetDelta: number
  readonly baseTimestamp: number
  readonly maxTimestamp: number
  readonly producerId: number
  readonly producerEpoch: number
  readonly baseSequence: number
  readonly recordCount: number
}

export type BatchCheck =
  | { readonly _tag: "Ok"; readonly header: BatchHeader }
  | { readonly _tag: "Truncated" }
  | { readonly _tag: "Corrupt"; readonly message: string }
  | { readonly _tag: "UnsupportedMagic"; readonly magic: number }
  | { readonly _tag: "UnsupportedCompression"; readonly codec: number }

/** Reads and validates the batch starting at `at`; `end` bounds the bytes available. */
export const checkBatch = (buf: Buffer, at: number, end: number, verifyCrc = true): BatchCheck => {
  if (end - at < LOG_OVERHEAD + 5) return { _tag: "Truncated" }
  const batchLength = buf.readInt32BE(at + 8)
  const magic = buf.readInt8(at + 16)
  if (batchLength < HEADER_SIZE - LOG_OVERHEAD) return { _tag: "Corrupt", message: `batch length ${batchLength}` }
  const size = batchLength + LOG_OVERHEAD
  if (end - at < size) return { _tag: "Truncated" }
  if (magic !== 2) return { _tag: "UnsupportedMagic", magic }
  if (verifyCrc) {
    const expected = buf.readUInt32BE(at + 17)
    if (crc32c(buf, at + CRC_START, at + size) !== expected) return { _tag: "Corrupt", message: "CRC mismatch" }
  }
  const attributes = buf.readInt16BE(at + 21)
  const codec = attributes & 0x07
  if (codec !== COMPRESSION_NONE && codec !== COMPRESSION_GZIP) return { _tag: "UnsupportedCompression", codec }
  const lastOffsetDelta = buf.readInt32BE(at + 23)
  const recordCount = buf.readInt32BE(at + 57)
  if (lastOffsetDelta < 0 || recordCount < 0) return { _tag: "Corrupt", message: "negative record count" }
  return {
    _tag: "Ok",
    header: {
      size,
      magic,
      attributes,
      lastOffsetDelta,
      baseTimestamp: Number(buf.readBigInt64BE(at + 27)),
      maxTimestamp: Number(buf.readBigInt64BE(at + 35)),
      producerId: Number(buf.readBigInt64BE(at + 43)),
      producerEpoch: buf.readInt16BE(at + 51),
      baseSequence: buf.readInt32BE(at + 53),
      recordCount
    }
  }
}

/** Overwrites the base offset of a stored batch; the CRC does not cover it. */
export const setBaseOffset = (batch: Buffer, baseOffset: number): void => {
  batch.writeBigInt64BE(BigInt(baseOffset), 0)
}

export const baseOffsetOf = (batch: Buffer): number => Number(batch.readBigInt64BE(0))

/** One record, decoded. */
export interface Record {
  readonly offset: number
  readonly timestamp: number
  readonly key: Buffer | null
  readonly value: Buffer | null
  readonly headers: ReadonlyArray<{ readonly key: string; readonly value: Buffer | null }>
}

const readVarBytes = (r: Reader): Buffer | null => {
  const len = r.varint()
  if (len < 0) return null
  if (len > r.remaining) throw new ProtocolError("record field overruns the batch")
  const b = r.buf.subarray(r.offset, r.offset + len)
  r.offset += len
  return b
}

/** Decodes every record of a batch (decompressing gzip). Not used on the hot path. */
export const decodeRecords = (batch: Buffer): Array<Record> => {
  const check = checkBatch(batch, 0, batch.length, false)
  if (check._tag !== "Ok") throw new ProtocolError(`cannot decode batch: ${check._tag}`)
  const h = check.header
  const baseOffset = baseOffsetOf(batch)
  const body =
    (h.attributes & 0x07) === COMPRESSION_GZIP
      ? gunzipSync(batch.subarray(HEADER_SIZE, h.size))
      : batch.subarray(HEADER_SIZE, h.size)
  const r = new Reader(body)
  const out: Array<Record> = []
  for (let i = 0; i < h.recordCount; i++) {
    const len = r.varint()
    const end = r.offset + len
    if (len < 0 || end > r.end) throw new ProtocolError("record overruns the batch")
    const rr = new Reader(body, r.offset, end)
    rr.int8()
    const tsDelta = rr.varlong()
    const offDelta = rr.varint()
    const key = readVarBytes(rr)
    const value = readVarBytes(rr)
    const nh = rr.varint()
    const headers: Array<{ key: string; value: Buffer | null }> = []
    for (let j = 0; j < nh; j++) {
      const k = readVarBytes(rr)
      headers.push({ key: k === null ? "" : k.toString("utf8"), value: readVarBytes(rr) })
    }
    out.push({ offset: baseOffset + offDelta, timestamp: h.baseTimestamp + tsDelta, key, value, headers })
    r.offset = end
  }
  return out
}

/** What `encodeBatch` needs per record. */
export interface RecordInput {
  readonly key?: Buffer | null
  readonly value: Buffer | null
  readonly timestamp?: number
  readonly headers?: ReadonlyArray<{ readonly key: string; readonly value: Buffer | null }>
}

/** Options for `encodeBatch`: idempotence fields and compression. */
export interface EncodeOptions {
  readonly baseOffset?: number
  readonly producerId?: number
  readonly producerEpoch?: number
  readonly baseSequence?: number
  readonly compression?: typeof COMPRESSION_NONE | typeof COMPRESSION_GZIP
  readonly timestamp?: number
  /** Extra attribute bits (transactional, control), OR-ed with the compression codec. */
  readonly attributes?: number
  /** Offset delta of each record (default: its index), for batches rebuilt by compaction with gaps. */
  readonly offsetDeltas?: ReadonlyArray<number>
  /** The batch's last offset delta (default: the last record's), kept by compaction so the batch spans its original offsets. */
  readonly lastOffsetDelta?: number
}

const writeVarBytes = (w: Writer, b: Buffer | null | undefined): void => {
  if (b === null || b === undefined) {
    w.varint(-1)
  } else {
    w.varint(b.length)
    w.raw(b)
  }
}

/** Builds a valid batch; used by tests, the benchmark and tools. */
export const encodeBatch = (records: ReadonlyArray<RecordInput>, options: EncodeOptions = {}): Buffer => {
  const baseTs = records[0]?.timestamp ?? options.timestamp ?? 0
  let maxTs = baseTs
  const body = new Writer(256)
  const rec = new Writer(128)
  records.forEach((r, i) => {
    const ts = r.timestamp ?? baseTs
    if (ts > maxTs) maxTs = ts
    rec.reset()
    rec
      .int8(0)
      .varlong(ts - baseTs)
      .varint(options.offsetDeltas?.[i] ?? i)
    writeVarBytes(rec, r.key)
    writeVarBytes(rec, r.value)
    const hs = r.headers ?? []
    rec.varint(hs.length)
    for (const h of hs) {
      writeVarBytes(rec, Buffer.from(h.key, "utf8"))
      writeVarBytes(rec, h.value)
    }
    body.varint(rec.offset).raw(rec.buf.subarray(0, rec.offset))
  })
  const compression = options.compression ?? COMPRESSION_NONE
  const payload =
    compression === COMPRESSION_GZIP ? gzipSync(body.buf.subarray(0, body.offset)) : body.buf.subarray(0, body.offset)
  const w = new Writer(HEADER_SIZE + payload.length)
  w.int64(options.baseOffset ?? 0)
    .int32(HEADER_SIZE - LOG_OVERHEAD + payload.length)
    .int32(-1)
    .int8(2)
    .uint32(0)
    .int16(compression | (options.attributes ?? 0))
    .int32(options.lastOffsetDelta ?? options.offsetDeltas?.[records.length - 1] ?? Math.max(records.length - 1, 0))
    .int64(baseTs)
    .int64(maxTs)
    .int64(options.producerId ?? -1)
    .int16(options.producerEpoch ?? -1)
    .int32(options.baseSequence ?? -1)
    .int32(records.length)
    .raw(payload)
  const out = w.toBuffer()
  out.writeUInt32BE(crc32c(out, CRC_START, out.length), 17)
  return out
}
