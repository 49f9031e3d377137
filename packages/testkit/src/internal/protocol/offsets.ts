/** OffsetCommit v2–v5 and OffsetFetch v1–v7 codecs (v6 and up are flexible). */
import type { Reader } from "./reader.ts"
import type { Writer } from "./writer.ts"

export interface OffsetCommitRequest {
  readonly groupId: string
  readonly generationId: number
  readonly memberId: string
  readonly topics: ReadonlyArray<{
    readonly name: string
    readonly partitions: ReadonlyArray<{
      readonly index: number
      readonly offset: number
      readonly metadata: string | null
    }>
  }>
}

export const decodeOffsetCommit = (r: Reader, version: number): OffsetCommitRequest => {
  const groupId = r.string()
  const generationId = r.int32()
  const memberId = r.string()
  if (version <= 4) r.int64() // retention time
  const topics = r.array(
    (r) => ({
      name: r.string(),
      partitions: r.array((r) => ({ index: r.int32(), offset: r.int64n(), metadata: r.nullableString() }), 14)
    }),
    6
  )
  return { groupId, generationId, memberId, topics }
}

export type PartitionErrors = ReadonlyArray<{
  readonly name: string
  readonly partitions: ReadonlyArray<{ readonly index: number; readonly errorCode: number }>
}>

export const encodeOffsetCommit = (w: Writer, version: number, topics: PartitionErrors): void => {
  if (version >= 3) w.int32(0)
  w.array(topics, (w, t) => {
    w.string(t.name)
    w.array(t.partitions, (w, p) => {
      w.int32(p.index).int16(p.errorCode)
    })
  })
}

export interface OffsetFetchRequest {
  readonly groupId: string
  /** `null` asks for every committed partition of the group. */
  readonly topics: ReadonlyArray<{ readonly name: string; readonly partitions: ReadonlyArray<number> }> | null
  /** v7 (KIP-447): a partition with an offset in an open transaction answers UNSTABLE_OFFSET_COMMIT. */
  readonly requireStable: boolean
}

export const decodeOffsetFetch = (r: Reader, version: number): OffsetFetchRequest => {
  if (version < 6) {
    return {
      groupId: r.string(),
      topics: r.nullableArray((r) => ({ name: r.string(), partitions: r.array((r) => r.int32(), 4) }), 6),
      requireStable: false
    }
  }
  const groupId = r.compactString()
  const topics = r.compactArray((r) => {
    const name = r.compactString()
    const partitions = r.compactArray((r) => r.int32()) ?? []
    r.taggedFields()
    return { name, partitions }
  })
  const requireStable = version >= 7 ? r.bool() : false
  r.taggedFields()
  return { groupId, topics, requireStable }
}

export interface OffsetFetchTopic {
  readonly name: string
  readonly partitions: ReadonlyArray<{
    readonly index: number
    readonly offset: number
    readonly metadata: string | null
    readonly errorCode: number
  }>
}

export const encodeOffsetFetch = (w: Writer, version: number, topics: ReadonlyArray<OffsetFetchTopic>): void => {
  if (version >= 6) {
    w.int32(0)
    w.compactArray(topics, (w, t) => {
      w.compactString(t.name)
      w.compactArray(t.partitions, (w, p) => {
        w.int32(p.index).int64(p.offset).int32(-1).compactNullableString(p.metadata).int16(p.errorCode).taggedFields()
      })
      w.taggedFields()
    })
    w.int16(0).taggedFields()
    return
  }
  if (version >= 3) w.int32(0)
  w.array(topics, (w, t) => {
    w.string(t.name)
    w.array(t.partitions, (w, p) => {
      w.int32(p.index).int64(p.offset)
      if (version >= 5) w.int32(-1)
      w.nullableString(p.metadata).int16(p.errorCode)
    })
  })
  if (version >= 2) w.int16(0)
}
