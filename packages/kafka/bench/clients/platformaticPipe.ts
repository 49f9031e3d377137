/**
 * Consume → produce with @platformatic/kafka and no work in between, written
 * as its stream API invites: whenever the messages stream has records, every
 * record buffered goes to the output topic in one `send` (acks from all
 * replicas, headers kept), then the last record of each partition is
 * committed. The same fetch sizes as the kafkajs pipe (1 MiB per partition).
 * Prints a `PipeReport` once `--count` records are through.
 *
 *   node packages/kafka/bench/clients/platformaticPipe.ts --brokers b --input t --output t --group g --count n
 */
import { Consumer, type Message, Producer } from "@platformatic/kafka"
import { args, meter } from "./pipeReport.ts"

const a = args()
const m = meter(a.count, a.idleSeconds)
const producer = new Producer({ clientId: "pipe-platformatic", bootstrapBrokers: a.brokers, acks: -1 })
const consumer = new Consumer({
  clientId: "pipe-platformatic",
  groupId: a.group,
  bootstrapBrokers: a.brokers,
  autocommit: false,
  maxBytesPerPartition: 1024 * 1024
})
const stream = await consumer.consume({ topics: [a.input], mode: "earliest" })

type Received = Message<Buffer, Buffer, Buffer, Buffer>

let draining = false
const drain = async () => {
  if (draining) return
  draining = true
  try {
    while (true) {
      const batch: Array<Received> = []
      for (let r = stream.read() as Received | null; r !== null; r = stream.read() as Received | null) batch.push(r)
      if (batch.length === 0) return
      m.received()
      await producer.send({
        messages: batch.map((r) => ({ topic: a.output, key: r.key, value: r.value, headers: r.headers }))
      })
      const last = new Map<number, Received>()
      for (const r of batch) last.set(r.partition, r)
      await Promise.all([...last.values()].map((r) => r.commit()))
      m.sent(batch.length)
    }
  } finally {
    draining = false
  }
}
stream.on("readable", () => {
  void drain().catch((error: unknown) => {
    console.error(error)
    process.exit(1)
  })
})
process.once("SIGTERM", () => {
  void stream
    .close()
    .then(() => consumer.close())
    .then(() => producer.close())
    .finally(() => process.exit(0))
})
