/**
 * The part of a Kafka client library that Sluice uses, as structural
 * interfaces. They are shaped after kafkajs (whose `Kafka` instance satisfies
 * them as is) but name only what Sluice calls, so tests can hand in small
 * fakes and a change of client library stays inside the layer that builds
 * the client.
 *
 * Offsets are decimal strings, as on the wire in kafkajs, because Kafka
 * offsets are 64-bit and do not fit a JavaScript number.
 *
 * @since 0.1.0
 */

/**
 * Retries the client library performs on its own before an operation fails.
 *
 * @since 0.1.0
 * @category models
 */
export interface RetryConfig {
  readonly retries?: number
  readonly initialRetryTime?: number
  readonly maxRetryTime?: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface ProducerConfig {
  readonly idempotent?: boolean
  readonly maxInFlightRequests?: number
  readonly allowAutoTopicCreation?: boolean
  readonly retry?: RetryConfig
  /** Makes the producer transactional; a new producer with the same id fences the old one. */
  readonly transactionalId?: string
  /** Milliseconds after which the broker aborts an open transaction. */
  readonly transactionTimeout?: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface ConsumerConfig {
  readonly groupId: string
  readonly sessionTimeout?: number
  readonly rebalanceTimeout?: number
  readonly heartbeatInterval?: number
  /** Static membership (KIP-345): the member's stable identity; it then never sends LeaveGroup. */
  readonly groupInstanceId?: string
  readonly maxBytesPerPartition?: number
  readonly minBytes?: number
  readonly maxBytes?: number
  readonly maxWaitTimeInMs?: number
  /**
   * Adaptive fetches (a patch of the client): after a fetch that brought no
   * records, the next asks for one byte and waits this long; after one that
   * brought records, `minBytes` within `maxWaitTimeInMs`.
   */
  readonly idleMaxWaitTimeInMs?: number
  readonly allowAutoTopicCreation?: boolean
  readonly readUncommitted?: boolean
  readonly retry?: RetryConfig
}

/**
 * @since 0.1.0
 * @category models
 */
export interface AdminConfig {
  readonly retry?: RetryConfig
}

/**
 * Record headers as the client library carries them: a name may repeat,
 * hence the array form.
 *
 * @since 0.1.0
 * @category models
 */
export interface Headers {
  [name: string]: Buffer | string | Array<Buffer | string> | undefined
}

/**
 * A record to produce.
 *
 * @since 0.1.0
 * @category models
 */
export interface Message {
  key?: Buffer | string | null
  value: Buffer | string | null
  partition?: number
  headers?: Headers
  /** Epoch milliseconds as a decimal string. */
  timestamp?: string
}

/**
 * Records for one topic, as sent in a batch.
 *
 * @since 0.1.0
 * @category models
 */
export interface TopicMessages {
  topic: string
  messages: Array<Message>
}

/**
 * The broker's answer for one partition of a produce request.
 *
 * @since 0.1.0
 * @category models
 */
export interface RecordMetadata {
  readonly topicName: string
  readonly partition: number
  readonly errorCode: number
  readonly baseOffset?: string
  readonly offset?: string
  readonly logAppendTime?: string
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Producer {
  connect(): Promise<void>
  disconnect(): Promise<void>
  send(record: {
    topic: string
    messages: Array<Message>
    acks?: number
    timeout?: number
  }): Promise<ReadonlyArray<RecordMetadata>>
  sendBatch(batch: {
    topicMessages?: Array<TopicMessages>
    acks?: number
    timeout?: number
  }): Promise<ReadonlyArray<RecordMetadata>>
  /**
   * Begins a transaction (a producer made with a `transactionalId` only);
   * the first one registers the id with the broker, fencing older producers.
   */
  transaction?(): Promise<Transaction>
}

/**
 * Consumer-group offsets to commit inside a transaction.
 *
 * @since 0.1.0
 * @category models
 */
export interface TransactionOffsets {
  consumerGroupId: string
  topics: Array<{ topic: string; partitions: Array<{ partition: number; offset: string }> }>
  /**
   * KIP-447: the consuming member's generation and id; the broker refuses
   * the offsets once the group has left that generation. Unchecked when absent.
   */
  generationId?: number
  memberId?: string
  groupInstanceId?: string | null
}

/**
 * An open transaction of a transactional producer: what it sends and the
 * offsets it commits become visible to `read_committed` readers together, or
 * not at all.
 *
 * @since 0.1.0
 * @category models
 */
export interface Transaction {
  send(record: {
    topic: string
    messages: Array<Message>
    acks?: number
    timeout?: number
  }): Promise<ReadonlyArray<RecordMetadata>>
  sendBatch(batch: {
    topicMessages?: Array<TopicMessages>
    acks?: number
    timeout?: number
  }): Promise<ReadonlyArray<RecordMetadata>>
  sendOffsets(offsets: TransactionOffsets): Promise<void>
  commit(): Promise<void>
  abort(): Promise<void>
  isActive(): boolean
}

/**
 * A record as consumed.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConsumedMessage {
  readonly key: Buffer | null
  readonly value: Buffer | null
  /** Epoch milliseconds as a decimal string. */
  readonly timestamp: string
  readonly offset: string
  readonly headers?: Headers
}

/**
 * A fetched batch of records of one partition.
 *
 * @since 0.1.0
 * @category models
 */
export interface Batch {
  readonly topic: string
  readonly partition: number
  readonly highWatermark: string
  readonly messages: ReadonlyArray<ConsumedMessage>
  /**
   * The last offset the fetch covered, records the consumer is not handed
   * (transaction markers, aborted records) included; kafkajs' batches have it.
   */
  readonly lastOffset?: () => string
}

/**
 * What the consumer hands to the batch handler.
 *
 * @since 0.1.0
 * @category models
 */
export interface EachBatchPayload {
  readonly batch: Batch
  resolveOffset(offset: string): void
  heartbeat(): Promise<void>
  /** Pauses the batch's partition; the returned function resumes it. */
  pause(): () => void
  isRunning(): boolean
  isStale(): boolean
}

/**
 * @since 0.1.0
 * @category models
 */
export interface ConsumerRunConfig {
  autoCommit?: boolean
  eachBatchAutoResolve?: boolean
  partitionsConsumedConcurrently?: number
  eachBatch?: (payload: EachBatchPayload) => Promise<void>
}

/**
 * An offset to commit: the next offset to read, not the last one read.
 *
 * @since 0.1.0
 * @category models
 */
export interface TopicPartitionOffset {
  topic: string
  partition: number
  offset: string
}

/**
 * Topic partitions to pause or resume; all partitions when `partitions` is
 * left out.
 *
 * @since 0.1.0
 * @category models
 */
export interface TopicPartitions {
  topic: string
  partitions?: Array<number>
}

/**
 * A consumer-group event. `payload` depends on the event; the consumer
 * source reads the fields it needs from it.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConsumerEvent {
  readonly type: string
  readonly payload: unknown
}

/**
 * The consumer-group events Sluice listens to.
 *
 * @since 0.1.0
 * @category models
 */
export type ConsumerEventName =
  | "consumer.group_join"
  | "consumer.rebalancing"
  | "consumer.crash"
  | "consumer.stop"
  | "consumer.end_batch_process"

/**
 * @since 0.1.0
 * @category models
 */
export interface Consumer {
  connect(): Promise<void>
  disconnect(): Promise<void>
  subscribe(subscription: { topics: Array<string>; fromBeginning?: boolean }): Promise<void>
  run(config?: ConsumerRunConfig): Promise<void>
  stop(): Promise<void>
  commitOffsets(offsets: Array<TopicPartitionOffset>): Promise<void>
  pause(topics: Array<TopicPartitions>): void
  resume(topics: Array<TopicPartitions>): void
  /** Returns a function that removes the listener. */
  on(eventName: ConsumerEventName, listener: (event: ConsumerEvent) => void): () => void
}

/**
 * A topic to create.
 *
 * @since 0.1.0
 * @category models
 */
export interface TopicConfig {
  topic: string
  numPartitions?: number
  replicationFactor?: number
  configEntries?: Array<{ name: string; value: string }>
}

/**
 * What the cluster reports about a topic.
 *
 * @since 0.1.0
 * @category models
 */
export interface TopicMetadata {
  readonly name: string
  readonly partitions: ReadonlyArray<{
    readonly partitionId: number
    readonly leader: number
    readonly replicas: ReadonlyArray<number>
  }>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Admin {
  connect(): Promise<void>
  disconnect(): Promise<void>
  listTopics(): Promise<ReadonlyArray<string>>
  /** Resolves to `false` when every topic already existed. */
  createTopics(options: {
    topics: Array<TopicConfig>
    waitForLeaders?: boolean
    timeout?: number
    validateOnly?: boolean
  }): Promise<boolean>
  fetchTopicMetadata(options?: { topics: Array<string> }): Promise<{ readonly topics: ReadonlyArray<TopicMetadata> }>
  /** Low and high watermarks per partition. */
  fetchTopicOffsets(
    topic: string
  ): Promise<
    ReadonlyArray<{ readonly partition: number; readonly offset: string; readonly high: string; readonly low: string }>
  >
  /**
   * The offsets a consumer group has committed, of every partition of each
   * named topic or of the partitions listed with it. `requireStable`
   * (KIP-447) fails with UNSTABLE_OFFSET_COMMIT (retryable) while an open
   * transaction holds an offset of a fetched partition.
   */
  fetchOffsets(options: {
    groupId: string
    topics?: Array<string | { topic: string; partitions: Array<number> }>
    requireStable?: boolean
  }): Promise<
    ReadonlyArray<{
      readonly topic: string
      readonly partitions: ReadonlyArray<{ readonly partition: number; readonly offset: string }>
    }>
  >
  /**
   * Per partition, the first offset whose record timestamp is at or after
   * `timestamp` (ListOffsets by timestamp), or the high watermark when none is.
   */
  fetchTopicOffsetsByTimestamp(
    topic: string,
    timestamp?: number
  ): Promise<ReadonlyArray<{ readonly partition: number; readonly offset: string }>>
  /** Commits offsets for a consumer group that has no running member. */
  setOffsets(options: {
    groupId: string
    topic: string
    partitions: Array<{ partition: number; offset: string }>
  }): Promise<void>
  describeGroups(groupIds: Array<string>): Promise<{
    readonly groups: ReadonlyArray<{
      readonly groupId: string
      readonly state: string
      readonly members: ReadonlyArray<unknown>
    }>
  }>
}

/**
 * A client: the factory for producers, consumers and admin clients.
 *
 * @since 0.1.0
 * @category models
 */
export interface Kafka {
  producer(config?: ProducerConfig): Producer
  consumer(config: ConsumerConfig): Consumer
  admin(config?: AdminConfig): Admin
}
