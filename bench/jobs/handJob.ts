/**
 * The claims enrichment written by hand with kafkajs and postgres.js, the
 * benchmark's fair reference for Sluice: `eachBatch`, each record decoded
 * with `JSON.parse` (amounts exact, see `handEnrich.ts`), one
 * `= ANY($1)` query per batch for the batch's distinct claim ids, each output
 * written with `JSON.stringify`, every output of the batch (enriched, failed,
 * dead letters) in one `sendBatch` from an idempotent producer with acks from
 * all replicas, then kafkajs commits the batch. Headers are kept, as Sluice
 * keeps them. A failed query or send fails the batch and kafkajs retries it,
 * which is at-least-once like Sluice's default. Runs until SIGTERM.
 *
 *   node bench/jobs/handJob.ts --brokers host:port --database-url url \
 *     --input t --enriched t --failed t --dlq t --group g
 */
import { parseArgs } from "node:util"
import { type IHeaders, Kafka, logLevel, type TopicMessages } from "kafkajs"
import postgres from "postgres"
import { fetchSizes } from "./fetchSizes.ts"
import { type ClaimRow, claimsQuery, deadLetterHeaders, decode, enrich, isRejected } from "./handEnrich.ts"

const { values } = parseArgs({
  options: {
    brokers: { type: "string" },
    "database-url": { type: "string" },
    input: { type: "string" },
    enriched: { type: "string" },
    failed: { type: "string" },
    dlq: { type: "string" },
    group: { type: "string" }
  }
})
const v = values as Record<string, string>

const sql = postgres(v["database-url"]!, { max: 4, onnotice: () => {} })
const kafka = new Kafka({ brokers: v.brokers!.split(","), clientId: "bench-hand", logLevel: logLevel.NOTHING })
// The same producer guarantees as Sluice's Kafka sink.
const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false })
const consumer = kafka.consumer({ groupId: v.group!, maxBytesPerPartition: 1024 * 1024, ...fetchSizes })
await producer.connect()
await consumer.connect()
// The benchmark waits for this line before it produces input at a fixed rate.
consumer.on(consumer.events.GROUP_JOIN, () => console.log("joined the group"))
await consumer.subscribe({ topics: [v.input!], fromBeginning: true })
await consumer.run({
  eachBatch: async ({ batch }) => {
    const now = new Date().toISOString()
    const decoded = batch.messages.map((m) => decode(m.value))
    const ids = new Set<string>()
    for (const d of decoded) if (!isRejected(d)) ids.add(d.claim_id)
    const claims = new Map<string, ClaimRow>()
    if (ids.size > 0) {
      const rows = await sql.unsafe<Array<ClaimRow>>(claimsQuery, [[...ids]], { prepare: true })
      for (const row of rows) claims.set(row.claim_id, row)
    }
    const enriched: TopicMessages = { topic: v.enriched!, messages: [] }
    const failed: TopicMessages = { topic: v.failed!, messages: [] }
    const dead: TopicMessages = { topic: v.dlq!, messages: [] }
    for (let i = 0; i < decoded.length; i++) {
      const d = decoded[i]!
      const m = batch.messages[i]!
      if (isRejected(d)) {
        const record = { ...m, topic: batch.topic, partition: batch.partition, headers: m.headers ?? {} }
        dead.messages.push({ key: m.key, value: m.value, headers: deadLetterHeaders(record, d) as IHeaders })
        continue
      }
      const out = enrich(d, claims.get(d.claim_id), now)
      ;(out.output === "enriched" ? enriched : failed).messages.push({
        key: m.key,
        value: out.value,
        headers: m.headers ?? {}
      })
    }
    const topicMessages = [enriched, failed, dead].filter((t) => t.messages.length > 0)
    if (topicMessages.length > 0) await producer.sendBatch({ acks: -1, topicMessages })
  }
})
process.once("SIGTERM", () => {
  void consumer
    .disconnect()
    .then(() => producer.disconnect())
    .then(() => sql.end({ timeout: 2 }))
    .finally(() => process.exit(0))
})
