/**
 * Reads every record of some topics from the beginning, after a run, with a
 * consumer group of its own: the benchmark counts and times a job's outputs
 * this way without adding a consumer to the machine while the job runs.
 */
import type { Kafka } from "kafkajs"
import { endOffsetSum } from "./topicOffsets.ts"

/** What the benchmark needs from one output record. */
export interface DrainedRecord {
  readonly topic: string
  /** The record's timestamp (producer create time), epoch milliseconds. */
  readonly timestamp: number
  readonly headers: Readonly<Record<string, string>>
  readonly value: Buffer | null
}

/**
 * Hands each record of `topics` to `onRecord` until as many records as the
 * topics held when the call started have been read; resolves with that count.
 */
export const drainTopics = async (
  kafka: Kafka,
  topics: ReadonlyArray<string>,
  onRecord: (record: DrainedRecord) => void,
  timeoutMillis = 120_000
): Promise<number> => {
  const admin = kafka.admin()
  await admin.connect()
  let expected = 0
  for (const topic of topics) expected += await endOffsetSum(admin, topic)
  await admin.disconnect()
  if (expected === 0) return 0
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
      () => reject(new Error(`drained ${read} of ${expected} records in ${timeoutMillis} ms`)),
      timeoutMillis
    )
    void consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          const headers: Record<string, string> = {}
          for (const [name, value] of Object.entries(m.headers ?? {})) {
            if (value !== undefined) headers[name] = value.toString()
          }
          onRecord({ topic: batch.topic, timestamp: Number(m.timestamp), headers, value: m.value })
        }
        read += batch.messages.length
        if (read >= expected) {
          clearTimeout(timer)
          resolve()
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
