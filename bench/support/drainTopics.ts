/**
 * Reads every record of some topics from the beginning, after a run, with a
 * consumer group of its own: the benchmark counts and times a job's outputs
 * this way without adding a consumer to the machine while the job runs.
 */
import type { Kafka } from "kafkajs"

/** What the benchmark needs from one output record. */
export interface DrainedRecord {
  readonly topic: string
  /** The record's timestamp (producer create time), epoch milliseconds. */
  readonly timestamp: number
  readonly headers: Readonly<Record<string, string>>
  readonly value: Buffer | null
}

/**
 * Hands each record of `topics` to `onRecord` until every partition has been
 * read up to the end offset it had when the call started; resolves with the
 * number of records read.
 *
 * The reader is `read_committed` (kafkajs' default), so on a topic written in
 * Kafka transactions (an exactly-once job's outputs) the end offsets count
 * records it is never handed: each transaction's commit marker, and aborted
 * records. A partition is therefore done when the consumer's position, the
 * last offset a fetched batch covered (markers included, as kafkajs reports
 * it with every batch, even one of markers only), reaches its end, not when
 * as many records as the offsets add up to have arrived.
 */
export const drainTopics = async (
  kafka: Kafka,
  topics: ReadonlyArray<string>,
  onRecord: (record: DrainedRecord) => void,
  timeoutMillis = 120_000
): Promise<number> => {
  const admin = kafka.admin()
  await admin.connect()
  // Per topic and partition, the end offset still to reach.
  const remaining = new Map<string, number>()
  try {
    for (const topic of topics) {
      for (const p of await admin.fetchTopicOffsets(topic)) {
        if (Number(p.high) > Number(p.low)) remaining.set(`${topic}:${p.partition}`, Number(p.high))
      }
    }
  } finally {
    await admin.disconnect()
  }
  if (remaining.size === 0) return 0
  const consumer = kafka.consumer({
    groupId: `bench-drain-${process.pid}-${Math.random().toString(36).slice(2)}`,
    maxBytesPerPartition: 4 * 1024 * 1024,
    maxWaitTimeInMs: 100
  })
  await consumer.connect()
  await consumer.subscribe({ topics: [...topics], fromBeginning: true })
  let read = 0
  const done = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(
          new Error(
            `drained ${read} records in ${timeoutMillis} ms; ${remaining.size} partitions not read to their end`
          )
        ),
      timeoutMillis
    )
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      const key = `${payload.topic}:${payload.partition}`
      const end = remaining.get(key)
      if (end !== undefined && Number(payload.lastOffset) + 1 >= end) remaining.delete(key)
      if (remaining.size === 0) {
        clearTimeout(timer)
        resolve()
      }
    })
    void consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const end = remaining.get(`${batch.topic}:${batch.partition}`)
        for (const m of batch.messages) {
          // Records past the end at the start were written later: not this drain's.
          if (end === undefined || Number(m.offset) >= end) continue
          const headers: Record<string, string> = {}
          for (const [name, value] of Object.entries(m.headers ?? {})) {
            if (value !== undefined) headers[name] = value.toString()
          }
          onRecord({ topic: batch.topic, timestamp: Number(m.timestamp), headers, value: m.value })
          read++
        }
      }
    })
  })
  try {
    await done
  } finally {
    await consumer.disconnect()
  }
  return read
}
