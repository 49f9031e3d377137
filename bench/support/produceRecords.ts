/**
 * Writes prepared records to a topic, either as fast as the broker takes them
 * (pre-produced input for saturation runs) or paced at a fixed rate (input
 * arriving while the job runs). Every record carries its index in a header, so
 * an output, which keeps its input's headers, can be matched to its input.
 */
import type { Message, Producer } from "kafkajs"

/** The header carrying a record's index in its input sequence. */
export const sequenceHeader = "bench-seq"

/** A record to send; `index` goes into the sequence header. */
export interface InputRecord {
  readonly key: Buffer
  readonly value: Buffer
  readonly headers: Readonly<Record<string, Buffer>>
}

const message = (record: InputRecord, index: number, timestamp: number): Message => ({
  key: record.key,
  value: record.value,
  headers: { ...record.headers, [sequenceHeader]: String(index) },
  timestamp: String(timestamp)
})

/**
 * Sends `count` records (`recordAt(i)`) in chunks of `chunkSize`, `inFlight`
 * chunks at a time, acks from all replicas. Returns each record's timestamp.
 */
export const produceAll = async (
  producer: Producer,
  topic: string,
  count: number,
  recordAt: (index: number) => InputRecord,
  options: { readonly chunkSize?: number; readonly inFlight?: number } = {}
): Promise<Float64Array> => {
  const chunkSize = options.chunkSize ?? 1000
  const timestamps = new Float64Array(count)
  let next = 0
  const worker = async () => {
    while (next < count) {
      const start = next
      const end = Math.min(count, start + chunkSize)
      next = end
      const now = Date.now()
      const messages: Array<Message> = []
      for (let i = start; i < end; i++) {
        timestamps[i] = now
        messages.push(message(recordAt(i), i, now))
      }
      await producer.send({ topic, acks: -1, messages })
    }
  }
  await Promise.all(Array.from({ length: options.inFlight ?? 4 }, worker))
  return timestamps
}

/**
 * Sends `count` records at `perSecond`: every few milliseconds, whatever is
 * due by then goes out in one send, each record stamped with the time it was
 * sent. A send that takes longer than the interval is caught up by the next,
 * bigger one, so the average rate holds. Returns each record's timestamp.
 */
export const producePaced = async (
  producer: Producer,
  topic: string,
  count: number,
  perSecond: number,
  recordAt: (index: number) => InputRecord,
  tickMillis = 5
): Promise<Float64Array> => {
  const timestamps = new Float64Array(count)
  const start = performance.now()
  let sent = 0
  while (sent < count) {
    const due = Math.min(count, Math.floor(((performance.now() - start) * perSecond) / 1000))
    if (due <= sent) {
      await new Promise((r) => setTimeout(r, tickMillis))
      continue
    }
    const now = Date.now()
    const messages: Array<Message> = []
    for (let i = sent; i < due; i++) {
      timestamps[i] = now
      messages.push(message(recordAt(i), i, now))
    }
    sent = due
    await producer.send({ topic, acks: -1, messages })
  }
  return timestamps
}
