/**
 * Transaction codecs (KIP-98) in the versions kafkajs 2.2.4 sends:
 * AddPartitionsToTxn v0–v1, AddOffsetsToTxn v0–v1, TxnOffsetCommit v0–v1 and
 * EndTxn v0–v1 (v1 only changes throttling, so the bodies are identical), plus
 * TxnOffsetCommit v2 (leader epochs) and v3 (flexible, KIP-447: the consumer's
 * group generation, member id and instance id, so the group coordinator can
 * fence a zombie), and the control records that mark a transaction's end.
 */
import type { Reader } from "./reader.ts"
import type { Writer } from "./writer.ts"

export interface TxnProducer {
  readonly transactionalId: string
  readonly producerId: number
  readonly producerEpoch: number
}

export interface AddPartitionsToTxnRequest extends TxnProducer {
  readonly topics: ReadonlyArray<{ readonly name: string; readonly partitions: ReadonlyArray<number> }>
}

export const decodeAddPartitionsToTxn = (r: Reader): AddPartitionsToTxnRequest => ({
  transactionalId: r.string(),
  producerId: r.int64n(),
  producerEpoch: r.int16(),
  topics: r.array((r) => ({ name: r.string(), partitions: r.array((r) => r.int32(), 4) }), 6)
})

export type PartitionErrors = ReadonlyArray<{
  readonly name: string
  readonly partitions: ReadonlyArray<{ readonly index: number; readonly errorCode: number }>
}>

/** AddPartitionsToTxn and TxnOffsetCommit share this response body. */
export const encodePartitionErrors = (w: Writer, topics: PartitionErrors): void => {
  w.int32(0)
  w.array(topics, (w, t) => {
    w.string(t.name)
    w.array(t.partitions, (w, p) => {
      w.int32(p.index).int16(p.errorCode)
    })
  })
}

export interface AddOffsetsToTxnRequest extends TxnProducer {
  readonly groupId: string
}

export const decodeAddOffsetsToTxn = (r: Reader): AddOffsetsToTxnRequest => ({
  transactionalId: r.string(),
  producerId: r.int64n(),
  producerEpoch: r.int16(),
  groupId: r.string()
})

/** AddOffsetsToTxn and EndTxn share this response body. */
export const encodeThrottleAndError = (w: Writer, errorCode: number): void => {
  w.int32(0).int16(errorCode)
}

export interface TxnOffsetCommitRequest extends TxnProducer {
  readonly groupId: string
  /** -1 and "" before v3: the client sends no group membership to check. */
  readonly generationId: number
  readonly memberId: string
  readonly groupInstanceId: string | null
  readonly topics: ReadonlyArray<{
    readonly name: string
    readonly partitions: ReadonlyArray<{
      readonly index: number
      readonly offset: number
      readonly metadata: string | null
    }>
  }>
}

export const decodeTxnOffsetCommit = (r: Reader, version = 0): TxnOffsetCommitRequest => {
  if (version < 3) {
    return {
      transactionalId: r.string(),
      groupId: r.string(),
      producerId: r.int64n(),
      producerEpoch: r.int16(),
      generationId: -1,
      memberId: "",
      groupInstanceId: null,
      topics: r.array(
        (r) => ({
          name: r.string(),
          partitions: r.array((r) => {
            const index = r.int32()
            const offset = r.int64n()
            if (version >= 2) r.int32() // committed leader epoch
            return { index, offset, metadata: r.nullableString() }
          }, 14)
        }),
        6
      )
    }
  }
  const transactionalId = r.compactString()
  const groupId = r.compactString()
  const producerId = r.int64n()
  const producerEpoch = r.int16()
  const generationId = r.int32()
  const memberId = r.compactString()
  const groupInstanceId = r.compactNullableString()
  const topics =
    r.compactArray((r) => {
      const name = r.compactString()
      const partitions =
        r.compactArray((r) => {
          const index = r.int32()
          const offset = r.int64n()
          r.int32() // committed leader epoch
          const metadata = r.compactNullableString()
          r.taggedFields()
          return { index, offset, metadata }
        }) ?? []
      r.taggedFields()
      return { name, partitions }
    }) ?? []
  r.taggedFields()
  return { transactionalId, groupId, producerId, producerEpoch, generationId, memberId, groupInstanceId, topics }
}

/** TxnOffsetCommit response; v3 is flexible. */
export const encodeTxnOffsetCommit = (w: Writer, version: number, topics: PartitionErrors): void => {
  if (version < 3) {
    encodePartitionErrors(w, topics)
    return
  }
  w.int32(0)
  w.compactArray(topics, (w, t) => {
    w.compactString(t.name)
    w.compactArray(t.partitions, (w, p) => {
      w.int32(p.index).int16(p.errorCode).taggedFields()
    })
    w.taggedFields()
  })
  w.taggedFields()
}

export interface EndTxnRequest extends TxnProducer {
  readonly commit: boolean
}

export const decodeEndTxn = (r: Reader): EndTxnRequest => ({
  transactionalId: r.string(),
  producerId: r.int64n(),
  producerEpoch: r.int16(),
  commit: r.bool()
})

/** Record-batch attribute bits of transactional and control batches. */
export const TRANSACTIONAL_BIT = 0x10
export const CONTROL_BIT = 0x20

/** Control record key: version 0, type 0 = abort, 1 = commit. */
export const controlKey = (commit: boolean): Buffer => {
  const b = Buffer.alloc(4)
  b.writeInt16BE(0, 0)
  b.writeInt16BE(commit ? 1 : 0, 2)
  return b
}

/** Control record value: version 0 and the coordinator epoch (always 0 on a single broker). */
export const controlValue = (): Buffer => Buffer.alloc(6)

/** Reads a control record key; `undefined` if it is not one. */
export const controlType = (key: Buffer | null): "commit" | "abort" | undefined => {
  if (key === null || key.length < 4) return undefined
  const type = key.readInt16BE(2)
  return type === 1 ? "commit" : type === 0 ? "abort" : undefined
}
