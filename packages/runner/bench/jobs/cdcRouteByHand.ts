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
 * It does the work `sluice cdc route` does for the same guarantees and
 * figures, so the comparison is of the same job: an idempotent producer with
 * one request in flight (a retried send writes no duplicate), integers beyond
 * 2^53 detected (`routeRecordByHand`), and the issue's metrics kept in plain
 * numbers: matched and routed per rule, unmatched, records out per topic and
 * a histogram of the routing time per record.
 *
 *   node packages/runner/bench/jobs/cdcRouteByHand.ts --brokers host:port --input t \
 *     --group g --suffix s [--model nested|flat]
 */
import { parseArgs } from "node:util"
import { Kafka, logLevel, type Message } from "kafkajs"
import { defaultTopic, routeRecordByHand, rules } from "./cdcRouteRules.ts"

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
// as `KafkaSink.producer` of `@sluice/kafka`
const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })

// The router's metrics: counts per rule, unmatched, out per topic, routing time per record (µs buckets).
const routedPerRule = new Array<number>(rules.length).fill(0)
let unmatched = 0
const outPerTopic = new Map<string, number>()
const latencyBounds = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000, 20000]
const latencyCounts = new Array<number>(latencyBounds.length + 1).fill(0)
const observeLatency = (micros: number) => {
  let i = 0
  while (i < latencyBounds.length && micros > latencyBounds[i]!) i++
  latencyCounts[i]!++
}
const consumer = kafka.consumer({ groupId: v.group! })
await producer.connect()
await consumer.connect()
await consumer.subscribe({ topics: [v.input!], fromBeginning: true })
await consumer.run({
  eachBatchAutoResolve: false,
  eachBatch: async ({ batch, resolveOffset, commitOffsetsIfNecessary }) => {
    const byTopic = new Map<string, Array<Message>>()
    const matchedAt = Date.now()
    let tick = process.hrtime.bigint()
    for (const m of batch.messages) {
      if (m.value === null) continue
      const routed = routeRecordByHand(m.value, model, matchedAt)
      const next = process.hrtime.bigint()
      observeLatency(Number(next - tick) / 1000)
      tick = next
      if (routed.rule >= 0) routedPerRule[routed.rule]!++
      else unmatched++
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
    for (const [topic, messages] of byTopic) outPerTopic.set(topic, (outPerTopic.get(topic) ?? 0) + messages.length)
    const last = batch.messages[batch.messages.length - 1]
    if (last !== undefined) resolveOffset(last.offset)
    await commitOffsetsIfNecessary()
  }
})
process.once("SIGTERM", () => {
  const routed = routedPerRule.map((n, i) => `${rules[i]!.name}=${n}`).join(" ")
  const out = [...outPerTopic].map(([topic, n]) => `${topic}=${n}`).join(" ")
  console.error(`routed ${routed}; unmatched ${unmatched}; out ${out}; routing µs buckets ${latencyCounts.join(",")}`)
  void consumer
    .disconnect()
    .then(() => producer.disconnect())
    .finally(() => process.exit(0))
})
