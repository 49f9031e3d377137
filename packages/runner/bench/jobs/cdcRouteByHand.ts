/**
 * The routing of `cdc-route.bench.ts` as a user would write it by hand with
 * kafkajs, the benchmark's reference: `eachBatch`, `JSON.parse` of the
 * Debezium event and of its `updated_attributes` text, the benchmark's ten
 * rules as an if/else chain (first match wins, unmatched records to the
 * default topic), the output (event plus `filterMetadata`) as JSON, one
 * `sendBatch` per fetched batch (acks from all replicas), then the batch's
 * offsets resolved and committed. `--model flat` flattens the attributes to a
 * dot-key string map first and reads the predicates' fields from it, as the
 * router's flat model does. Runs until SIGTERM.
 *
 *   node packages/runner/bench/jobs/cdcRouteByHand.ts --brokers host:port --input t \
 *     --group g --suffix s [--model nested|flat]
 */
import { parseArgs } from "node:util"
import { Kafka, logLevel, type Message } from "kafkajs"
import { defaultTopic, routeRecordByHand } from "./cdcRouteRules.ts"

const { values } = parseArgs({
  options: {
    brokers: { type: "string" },
    input: { type: "string" },
    group: { type: "string" },
    suffix: { type: "string" },
    model: { type: "string", default: "nested" }
  }
})
const v = values as Record<string, string>
const model = v.model === "flat" ? "flat" : "nested"
const suffix = v.suffix!

const kafka = new Kafka({ brokers: v.brokers!.split(","), clientId: "bench-cdc-by-hand", logLevel: logLevel.NOTHING })
const producer = kafka.producer()
const consumer = kafka.consumer({ groupId: v.group! })
await producer.connect()
await consumer.connect()
await consumer.subscribe({ topics: [v.input!], fromBeginning: true })
await consumer.run({
  eachBatchAutoResolve: false,
  eachBatch: async ({ batch, resolveOffset, commitOffsetsIfNecessary }) => {
    const byTopic = new Map<string, Array<Message>>()
    const matchedAt = Date.now()
    for (const m of batch.messages) {
      if (m.value === null) continue
      const routed = routeRecordByHand(m.value, model, matchedAt)
      const topic = `${routed.topic ?? defaultTopic}-${suffix}`
      const value = routed.value
      const messages = byTopic.get(topic) ?? []
      messages.push({ key: m.key, value })
      byTopic.set(topic, messages)
    }
    await producer.sendBatch({
      acks: -1,
      topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages }))
    })
    const last = batch.messages[batch.messages.length - 1]
    if (last !== undefined) resolveOffset(last.offset)
    await commitOffsetsIfNecessary()
  }
})
process.once("SIGTERM", () => {
  void consumer
    .disconnect()
    .then(() => producer.disconnect())
    .finally(() => process.exit(0))
})
