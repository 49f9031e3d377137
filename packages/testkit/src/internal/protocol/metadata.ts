/** Metadata v0–v7 codec. */
import type { Reader } from "./reader.ts"
import type { Writer } from "./writer.ts"

export interface MetadataRequest {
  /** `null` asks for every topic. */
  readonly topics: ReadonlyArray<string> | null
  readonly allowAutoTopicCreation: boolean
}

export const decodeMetadata = (r: Reader, version: number): MetadataRequest => {
  const topics = r.nullableArray((r) => r.string(), 2)
  // v0 has no null: an empty list means "all topics".
  const all = topics === null || (version === 0 && topics.length === 0)
  const allowAutoTopicCreation = version >= 4 ? r.bool() : true
  return { topics: all ? null : topics, allowAutoTopicCreation }
}

export interface MetadataBroker {
  readonly nodeId: number
  readonly host: string
  readonly port: number
}

export interface MetadataTopic {
  readonly errorCode: number
  readonly name: string
  readonly partitions: number
}

export interface MetadataResponse {
  readonly brokers: ReadonlyArray<MetadataBroker>
  readonly clusterId: string
  readonly controllerId: number
  readonly topics: ReadonlyArray<MetadataTopic>
}

export const encodeMetadata = (w: Writer, version: number, res: MetadataResponse): void => {
  if (version >= 3) w.int32(0)
  w.array(res.brokers, (w, b) => {
    w.int32(b.nodeId).string(b.host).int32(b.port)
    if (version >= 1) w.nullableString(null)
  })
  if (version >= 2) w.nullableString(res.clusterId)
  if (version >= 1) w.int32(res.controllerId)
  const node = res.controllerId
  w.array(res.topics, (w, t) => {
    w.int16(t.errorCode).string(t.name)
    if (version >= 1) w.bool(false)
    w.int32(t.partitions)
    for (let p = 0; p < t.partitions; p++) {
      w.int16(0).int32(p).int32(node)
      if (version >= 7) w.int32(0)
      w.int32(1).int32(node)
      w.int32(1).int32(node)
      if (version >= 5) w.int32(0)
    }
  })
}
