/** ListOffsets v1–v5 codec. */
import type { Reader } from "./reader.ts"
import type { Writer } from "./writer.ts"

export interface ListOffsetsTopic {
  readonly name: string
  readonly partitions: ReadonlyArray<{ readonly index: number; readonly timestamp: number }>
}

export const decodeListOffsets = (
  r: Reader,
  version: number
): { readonly isolationLevel: number; readonly topics: ReadonlyArray<ListOffsetsTopic> } => {
  r.int32() // replica id
  const isolationLevel = version >= 2 ? r.int8() : 0
  const topics = r.array(
    (r) => ({
      name: r.string(),
      partitions: r.array((r) => {
        const index = r.int32()
        if (version >= 4) r.int32() // current leader epoch
        return { index, timestamp: r.int64n() }
      }, 12)
    }),
    6
  )
  return { isolationLevel, topics }
}

export interface ListOffsetsPartitionResult {
  readonly index: number
  readonly errorCode: number
  readonly timestamp: number
  readonly offset: number
}

export const encodeListOffsets = (
  w: Writer,
  version: number,
  topics: ReadonlyArray<{ readonly name: string; readonly partitions: ReadonlyArray<ListOffsetsPartitionResult> }>
): void => {
  if (version >= 2) w.int32(0)
  w.array(topics, (w, t) => {
    w.string(t.name)
    w.array(t.partitions, (w, p) => {
      w.int32(p.index).int16(p.errorCode).int64(p.timestamp).int64(p.offset)
      if (version >= 4) w.int32(p.offset >= 0 ? 0 : -1)
    })
  })
}
