/** The broker's topics: name → partition logs and configuration, with creation rules shared by every API. */
import { ErrorCode } from "../protocol/apiKeys.ts"
import { PartitionLog } from "./partitionLog.ts"
import { defaultConfig, parseConfig, type TopicConfig } from "./topicConfig.ts"

/**
 * The embedded broker's default `segment.bytes`. Kafka's 1 GiB would mean
 * that tests and the demo never compact (their changelogs would grow like
 * plain topics); 1 MiB bounds what a compacted partition keeps beyond its
 * latest value per key to about 1 MiB, while a high-rate writer still closes
 * a segment only every few thousand batches, so the closed part is not
 * cleaned again on every compaction tick.
 */
export const DEFAULT_SEGMENT_BYTES = 1024 * 1024

const VALID_NAME = /^[a-zA-Z0-9._-]{1,249}$/

export const isValidTopicName = (name: string): boolean => VALID_NAME.test(name) && name !== "." && name !== ".."

export interface TopicStoreHooks {
  readonly onCreate: (name: string, partitions: ReadonlyArray<PartitionLog>) => void
  readonly onDelete: (name: string, partitions: number) => void
}

export class TopicStore {
  readonly topics = new Map<string, ReadonlyArray<PartitionLog>>()
  readonly configs = new Map<string, TopicConfig>()
  private readonly retentionBytes: number
  /** Active segment size of topics without their own `segment.bytes`. */
  private readonly segmentBytes: number
  hooks: TopicStoreHooks | null = null

  constructor(retentionBytes: number, segmentBytes: number = DEFAULT_SEGMENT_BYTES) {
    this.retentionBytes = retentionBytes
    this.segmentBytes = segmentBytes
  }

  config(topic: string): TopicConfig {
    return this.configs.get(topic) ?? defaultConfig
  }

  partition(topic: string, partition: number): PartitionLog | undefined {
    return this.topics.get(topic)?.[partition]
  }

  /** Creates a topic; returns an error code (0 on success). */
  create(name: string, partitions: number, entries: Readonly<Record<string, string>> = {}): number {
    if (!isValidTopicName(name)) return ErrorCode.INVALID_TOPIC_EXCEPTION
    if (this.topics.has(name)) return ErrorCode.TOPIC_ALREADY_EXISTS
    if (!Number.isInteger(partitions) || partitions < 1 || partitions > 10_000) return ErrorCode.INVALID_PARTITIONS
    const config = Object.keys(entries).length === 0 ? defaultConfig : parseConfig(entries)
    if (typeof config === "number") return config
    const segmentBytes = config.segmentBytes ?? this.segmentBytes
    const logs = Array.from(
      { length: partitions },
      (_, i) => new PartitionLog(name, i, this.retentionBytes, segmentBytes)
    )
    this.topics.set(name, logs)
    this.configs.set(name, config)
    this.hooks?.onCreate(name, logs)
    return ErrorCode.NONE
  }

  delete(name: string): number {
    const logs = this.topics.get(name)
    if (logs === undefined) return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    this.topics.delete(name)
    this.configs.delete(name)
    for (const l of logs) l.wakeAll()
    this.hooks?.onDelete(name, logs.length)
    return ErrorCode.NONE
  }
}
