/**
 * Consume → produce with kafkajs and no work in between: `eachBatch` sends
 * the batch's records to the output topic in one request (acks from all
 * replicas, headers kept), then kafkajs commits the batch. Prints a
 * `PipeReport` once `--count` records are through.
 *
 *   node packages/kafka/bench/clients/kafkajsPipe.ts --brokers b --input t --output t --group g --count n
 */
import { Kafka, logLevel } from "kafkajs"
import { args, meter } from "./pipeReport.ts"

const a = args()
const m = meter(a.count, a.idleSeconds)
const kafka = new Kafka({ brokers: a.brokers, clientId: "pipe-kafkajs", logLevel: logLevel.NOTHING })
const producer = kafka.producer({ allowAutoTopicCreation: false })
const consumer = kafka.consumer({ groupId: a.group, maxBytesPerPartition: 1024 * 1024 })
await producer.connect()
await consumer.connect()
await consumer.subscribe({ topics: [a.input], fromBeginning: true })
await consumer.run({
  eachBatch: async ({ batch }) => {
    m.received()
    await producer.send({
      topic: a.output,
      acks: -1,
      messages: batch.messages.map((r) => ({ key: r.key, value: r.value, headers: r.headers ?? {} }))
    })
    m.sent(batch.messages.length)
  }
})
process.once("SIGTERM", () => {
  void consumer
    .disconnect()
    .then(() => producer.disconnect())
    .finally(() => process.exit(0))
})
