/**
 * A producer whose sends are coalesced: while one produce request is out,
 * the sends made meanwhile wait, and then go to the broker together as one
 * `sendBatch`, each answered when that request is.
 *
 * Why: a job's sinks (enriched, failed, dead letters, one per topic) share
 * one idempotent producer with one request in flight, so each sink's chunk
 * used to be a produce request of its own, queued behind the others inside
 * the client. Sent together they cost one request, one round trip and one
 * acknowledgement; a hand-written job gets the same by building one
 * `sendBatch` per input batch. Nothing waits for a timer: a send made while
 * the producer is idle goes out at once.
 *
 * Order is kept: the waiting sends are merged in the order they were made
 * (the records of one topic concatenated in that order) and only one
 * request is out at a time, as the idempotent producer needs. A failed
 * request fails every send it carried, and none of them is acknowledged.
 *
 * @internal
 */
import type * as KafkaLike from "../KafkaLike.ts"

// A merged request carries at most this many records, so that a long queue
// of waiting sends does not become one request larger than a broker takes.
const maxRecordsPerRequest = 8_192

interface Waiting {
  readonly topicMessages: ReadonlyArray<KafkaLike.TopicMessages>
  readonly records: number
  readonly acks: number | undefined
  readonly timeout: number | undefined
  readonly resolve: (metadata: ReadonlyArray<KafkaLike.RecordMetadata>) => void
  readonly reject: (error: unknown) => void
}

const countRecords = (topicMessages: ReadonlyArray<KafkaLike.TopicMessages>): number => {
  let n = 0
  for (const t of topicMessages) n += t.messages.length
  return n
}

// The topic messages of `sends`, one entry per topic, in the order the topics
// first appear; a topic's records in the order of the sends.
const merge = (sends: ReadonlyArray<Waiting>): Array<KafkaLike.TopicMessages> => {
  if (sends.length === 1) return [...sends[0]!.topicMessages]
  const byTopic = new Map<string, Array<KafkaLike.Message>>()
  for (const send of sends) {
    for (const { messages, topic } of send.topicMessages) {
      const existing = byTopic.get(topic)
      if (existing === undefined) byTopic.set(topic, messages.slice())
      else for (const m of messages) existing.push(m)
    }
  }
  return Array.from(byTopic, ([topic, messages]) => ({ topic, messages }))
}

// What one send is answered: the partitions of its own topics.
const answerOf = (
  send: Waiting,
  metadata: ReadonlyArray<KafkaLike.RecordMetadata>,
  merged: boolean
): ReadonlyArray<KafkaLike.RecordMetadata> => {
  if (!merged) return metadata
  const topics = new Set(send.topicMessages.map((t) => t.topic))
  return metadata.filter((m) => topics.has(m.topicName))
}

/**
 * `producer` with its `send` and `sendBatch` coalesced; `connect`,
 * `disconnect` and `transaction` are the producer's own.
 *
 * @internal
 */
export const coalescing = (producer: KafkaLike.Producer): KafkaLike.Producer => {
  const waiting: Array<Waiting> = []
  let busy = false

  const next = (): void => {
    if (busy || waiting.length === 0) return
    // Sends merge only with those of the same acks and timeout, up to the cap.
    const first = waiting[0]!
    let records = first.records
    let n = 1
    while (n < waiting.length) {
      const w = waiting[n]!
      if (w.acks !== first.acks || w.timeout !== first.timeout || records + w.records > maxRecordsPerRequest) break
      records += w.records
      n++
    }
    const sends = waiting.splice(0, n)
    busy = true
    const settle = () => {
      busy = false
      next()
    }
    let request: Promise<ReadonlyArray<KafkaLike.RecordMetadata>>
    try {
      request = producer.sendBatch({
        topicMessages: merge(sends),
        ...(first.acks === undefined ? {} : { acks: first.acks }),
        ...(first.timeout === undefined ? {} : { timeout: first.timeout })
      })
    } catch (error) {
      request = Promise.reject(error)
    }
    request.then(
      (metadata) => {
        for (const send of sends) send.resolve(answerOf(send, metadata, sends.length > 1))
        settle()
      },
      (error: unknown) => {
        for (const send of sends) send.reject(error)
        settle()
      }
    )
  }

  const enqueue = (
    topicMessages: ReadonlyArray<KafkaLike.TopicMessages>,
    acks: number | undefined,
    timeout: number | undefined
  ): Promise<ReadonlyArray<KafkaLike.RecordMetadata>> =>
    new Promise((resolve, reject) => {
      waiting.push({ topicMessages, records: countRecords(topicMessages), acks, timeout, resolve, reject })
      next()
    })

  const coalesced: KafkaLike.Producer = {
    connect: () => producer.connect(),
    disconnect: () => producer.disconnect(),
    send: ({ acks, messages, timeout, topic }) => enqueue([{ topic, messages }], acks, timeout),
    sendBatch: ({ acks, timeout, topicMessages }) => enqueue(topicMessages ?? [], acks, timeout)
  }
  if (producer.transaction !== undefined) {
    const transaction = producer.transaction.bind(producer)
    coalesced.transaction = transaction
  }
  return coalesced
}
