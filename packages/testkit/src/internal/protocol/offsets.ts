/** OffsetCommit v2–v5 and OffsetFetch v1–v5 codecs. */
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
}

export const decodeOffsetFetch = (r: Reader): OffsetFetchRequest => ({
  groupId: r.string(),
  topics: r.nullableArray((r) => ({ name: r.string(), partitions: r.array((r) => r.int32(), 4) }), 6)
})

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
