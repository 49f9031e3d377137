/** Produce v3–v7 and InitProducerId v0–v1 codecs. */
import type { Reader } from "./reader.ts"
import type { Writer } from "./writer.ts"

export interface ProducePartition {
  readonly index: number
  readonly records: Buffer | null
}

export interface ProduceTopic {
  readonly name: string
  readonly partitions: ReadonlyArray<ProducePartition>
}

export interface ProduceRequest {
  readonly transactionalId: string | null
  readonly acks: number
  readonly timeoutMs: number
  readonly topics: ReadonlyArray<ProduceTopic>
}

export const decodeProduce = (r: Reader): ProduceRequest => ({
  transactionalId: r.nullableString(),
  acks: r.int16(),
  timeoutMs: r.int32(),
  topics: r.array(
    (r) => ({
      name: r.string(),
      partitions: r.array((r) => ({ index: r.int32(), records: r.nullableBytes() }), 8)
    }),
    6
  )
})

export interface ProducePartitionResult {
  readonly index: number
  readonly errorCode: number
  readonly baseOffset: number
  readonly logStartOffset: number
}

export interface ProduceTopicResult {
  readonly name: string
  readonly partitions: ReadonlyArray<ProducePartitionResult>
}

export const encodeProduce = (w: Writer, version: number, topics: ReadonlyArray<ProduceTopicResult>): void => {
  w.array(topics, (w, t) => {
    w.string(t.name)
    w.array(t.partitions, (w, p) => {
      w.int32(p.index).int16(p.errorCode).int64(p.baseOffset).int64(-1)
      if (version >= 5) w.int64(p.logStartOffset)
    })
  })
  w.int32(0)
}

export interface InitProducerIdRequest {
  readonly transactionalId: string | null
  readonly transactionTimeoutMs: number
}

export const decodeInitProducerId = (r: Reader): InitProducerIdRequest => ({
  transactionalId: r.nullableString(),
  transactionTimeoutMs: r.int32()
})

export const encodeInitProducerId = (w: Writer, errorCode: number, producerId: number, epoch: number): void => {
  w.int32(0).int16(errorCode).int64(producerId).int16(epoch)
}
