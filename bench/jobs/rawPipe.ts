/**
 * The ceiling of the claims benchmark: consume → produce with kafkajs and no
 * work in between. Each fetched batch goes to the output topic in one send
 * (acks from all replicas, headers kept), then kafkajs commits the batch.
 * Runs until SIGTERM.
 *
 *   node bench/jobs/rawPipe.ts --brokers host:port --input t --output t --group g
 */
import { parseArgs } from "node:util"
import { Kafka, logLevel } from "kafkajs"
import { fetchSizes } from "./fetchSizes.ts"

const { values } = parseArgs({
  options: {
    brokers: { type: "string" },
    input: { type: "string" },
    output: { type: "string" },
    group: { type: "string" }
  }
})
const { brokers, input, output, group } = values as Record<string, string>

const kafka = new Kafka({ brokers: brokers.split(","), clientId: "bench-raw-pipe", logLevel: logLevel.NOTHING })
const producer = kafka.producer()
const consumer = kafka.consumer({ groupId: group, ...fetchSizes })
await producer.connect()
await consumer.connect()
// The benchmark waits for this line before it produces input at a fixed rate.
consumer.on(consumer.events.GROUP_JOIN, () => console.log("joined the group"))
await consumer.subscribe({ topics: [input], fromBeginning: true })
await consumer.run({
  eachBatch: async ({ batch }) => {
    await producer.send({
      topic: output,
      acks: -1,
      messages: batch.messages.map((m) => ({ key: m.key, value: m.value, headers: m.headers ?? {} }))
    })
  }
})
process.once("SIGTERM", () => {
  void consumer
    .disconnect()
    .then(() => producer.disconnect())
    .finally(() => process.exit(0))
})
