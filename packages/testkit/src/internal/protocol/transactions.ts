/**
 * Transaction codecs (KIP-98) in the versions kafkajs 2.2.4 sends:
 * AddPartitionsToTxn v0–v1, AddOffsetsToTxn v0–v1, TxnOffsetCommit v0–v1 and
 * EndTxn v0–v1 (v1 only changes throttling, so the bodies are identical), plus
 * the control records the coordinator writes to mark a transaction's end.
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
  readonly topics: ReadonlyArray<{
    readonly name: string
    readonly partitions: ReadonlyArray<{
      readonly index: number
      readonly offset: number
      readonly metadata: string | null
    }>
  }>
}

export const decodeTxnOffsetCommit = (r: Reader): TxnOffsetCommitRequest => ({
  transactionalId: r.string(),
  groupId: r.string(),
  producerId: r.int64n(),
  producerEpoch: r.int16(),
  topics: r.array(
    (r) => ({
      name: r.string(),
      partitions: r.array((r) => ({ index: r.int32(), offset: r.int64n(), metadata: r.nullableString() }), 14)
    }),
    6
  )
})

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
