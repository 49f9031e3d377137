/** CreateTopics v0–v4 and DeleteTopics v0–v3 codecs. */
import type { Reader } from "./reader.ts"
import type { Writer } from "./writer.ts"

export interface CreateTopic {
  readonly name: string
  readonly numPartitions: number
  readonly replicationFactor: number
  readonly assignments: number
  readonly configs: Readonly<Record<string, string>>
}

export interface CreateTopicsRequest {
  readonly topics: ReadonlyArray<CreateTopic>
  readonly validateOnly: boolean
}

export const decodeCreateTopics = (r: Reader, version: number): CreateTopicsRequest => {
  const topics = r.array((r) => {
    const name = r.string()
    const numPartitions = r.int32()
    const replicationFactor = r.int16()
    const assignments = r.array((r) => ({ index: r.int32(), brokers: r.array((r) => r.int32(), 4) }), 8).length
    const configs: Record<string, string> = {}
    for (const c of r.array((r) => ({ name: r.string(), value: r.nullableString() }), 4)) {
      if (c.value !== null) configs[c.name] = c.value
    }
    return { name, numPartitions, replicationFactor, assignments, configs }
  }, 14)
  r.int32() // timeout
  const validateOnly = version >= 1 ? r.bool() : false
  return { topics, validateOnly }
}

export interface TopicResult {
  readonly name: string
  readonly errorCode: number
  readonly errorMessage: string | null
}

export const encodeCreateTopics = (w: Writer, version: number, results: ReadonlyArray<TopicResult>): void => {
  if (version >= 2) w.int32(0)
  w.array(results, (w, t) => {
    w.string(t.name).int16(t.errorCode)
    if (version >= 1) w.nullableString(t.errorMessage)
  })
}

export const decodeDeleteTopics = (r: Reader): ReadonlyArray<string> => {
  const names = r.array((r) => r.string(), 2)
  r.int32() // timeout
  return names
}

export const encodeDeleteTopics = (w: Writer, version: number, results: ReadonlyArray<TopicResult>): void => {
  if (version >= 1) w.int32(0)
  w.array(results, (w, t) => {
    w.string(t.name).int16(t.errorCode)
  })
}
