/**
 * Fetch v4–v11 codec. Fetch sessions (KIP-227) are not implemented: the
 * response carries session id 0, which tells clients to keep sending full
 * fetch requests. The response is split into small header buffers and the
 * stored batch buffers, so records go to the socket without being copied.
 */
import type { Reader } from "./reader.ts"
import type { Writer } from "./writer.ts"

export interface FetchPartition {
  readonly index: number
  readonly fetchOffset: number
  readonly partitionMaxBytes: number
}

export interface FetchTopic {
  readonly name: string
  readonly partitions: ReadonlyArray<FetchPartition>
}

export interface FetchRequest {
  readonly maxWaitMs: number
  readonly minBytes: number
  readonly maxBytes: number
  readonly isolationLevel: number
  readonly topics: ReadonlyArray<FetchTopic>
}

export const decodeFetch = (r: Reader, version: number): FetchRequest => {
  r.int32() // replica id
  const maxWaitMs = r.int32()
  const minBytes = r.int32()
  const maxBytes = r.int32()
  const isolationLevel = r.int8()
  if (version >= 7) {
    r.int32() // session id
    r.int32() // session epoch
  }
  const topics = r.array(
    (r) => ({
      name: r.string(),
      partitions: r.array((r) => {
        const index = r.int32()
        if (version >= 9) r.int32() // current leader epoch
        const fetchOffset = r.int64n()
        if (version >= 5) r.int64() // log start offset (followers only)
        return { index, fetchOffset, partitionMaxBytes: r.int32() }
      }, 16)
    }),
    6
  )
  if (version >= 7) r.array((r) => ({ name: r.string(), partitions: r.array((r) => r.int32(), 4) }), 6)
  if (version >= 11) r.string() // rack id
  return { maxWaitMs, minBytes, maxBytes, isolationLevel, topics }
}

export interface FetchPartitionResult {
  readonly index: number
  readonly errorCode: number
  readonly highWatermark: number
  readonly lastStableOffset: number
  readonly logStartOffset: number
  /** Aborted transactions overlapping the returned batches (read_committed only); `null` for none. */
  readonly aborted: ReadonlyArray<{ readonly producerId: number; readonly firstOffset: number }> | null
  readonly batches: ReadonlyArray<Buffer>
  readonly size: number
}

export interface FetchTopicResult {
  readonly name: string
  readonly partitions: ReadonlyArray<FetchPartitionResult>
}

/**
 * Encodes the response body as a list of chunks: header bytes written into
 * `w` are cut into buffers between the record sets, which are passed through.
 */
export const encodeFetch = (
  w: Writer,
  version: number,
  topics: ReadonlyArray<FetchTopicResult>,
  chunks: Array<Buffer>
): void => {
  w.int32(0)
  if (version >= 7) w.int16(0).int32(0)
  w.int32(topics.length)
  for (const t of topics) {
    w.string(t.name).int32(t.partitions.length)
    for (const p of t.partitions) {
      w.int32(p.index).int16(p.errorCode).int64(p.highWatermark).int64(p.lastStableOffset)
      if (version >= 5) w.int64(p.logStartOffset)
      w.nullableArray(p.aborted, (w, a) => {
        w.int64(a.producerId).int64(a.firstOffset)
      })
      if (version >= 11) w.int32(-1) // preferred read replica
      w.int32(p.size)
      if (p.size > 0) {
        chunks.push(w.toBuffer())
        w.reset()
        for (const b of p.batches) chunks.push(b)
      }
    }
  }
  if (w.offset > 0) chunks.push(w.toBuffer())
}
