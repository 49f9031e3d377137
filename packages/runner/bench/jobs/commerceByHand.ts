/**
 * The commerce sales or segmentation job written by hand with kafkajs and
 * postgres.js, the benchmark's baseline for `sluice commerce sales|segments`:
 * `eachBatch` over the orders topic, each record through `commerceHand.ts`
 * (`JSON.parse`, `Map`s, integer cents), then the batch's changed rows (the
 * last of each key) upserted with multi-row `INSERT … VALUES … ON CONFLICT`
 * statements of 1,000 rows in one transaction, the segment changes sent in
 * one `send` (acks from all replicas), and kafkajs commits the batch. No
 * durable state, dead-letter topic, retries or metrics: records it cannot
 * read are counted and skipped. Runs until SIGTERM.
 *
 *   node packages/runner/bench/jobs/commerceByHand.ts --job sales|segments --brokers host:port
 *     --database-url url --input t --group g [--changes t --partitions 6]
 */
import { parseArgs } from "node:util"
import { Kafka, logLevel } from "kafkajs"
import postgres from "postgres"
import * as Tables from "../../src/jobs/commerce/Tables.ts"
import * as Hand from "./commerceHand.ts"

const { values } = parseArgs({
  options: {
    job: { type: "string" },
    brokers: { type: "string" },
    "database-url": { type: "string" },
    input: { type: "string" },
    group: { type: "string" },
    changes: { type: "string", default: "customer-segment-changes" },
    partitions: { type: "string", default: "6" }
  }
})
const job = values.job === "segments" ? "segments" : "sales"
const STATEMENT_ROWS = 1000

const sql = postgres(values["database-url"]!, { max: 1, onnotice: () => {} })
const table = job === "sales" ? Tables.salesMetrics : Tables.customerSegments
const upsert = async (rows: ReadonlyArray<Hand.TextRow>) => {
  const distinct = Hand.lastPerKey(rows)
  if (distinct.length === 0) return
  await sql.begin(async (tx) => {
    for (let i = 0; i < distinct.length; i += STATEMENT_ROWS) {
      const { text, params } = Hand.valuesUpsert(table, distinct.slice(i, i + STATEMENT_ROWS))
      await tx.unsafe(text, params)
    }
  })
}

const sales = new Hand.Sales()
const segments = new Hand.Segments(Number(values.partitions))
let refused = 0

const kafka = new Kafka({
  brokers: values.brokers!.split(","),
  clientId: `bench-hand-${job}`,
  logLevel: logLevel.NOTHING
})
const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
await producer.connect()
const consumer = kafka.consumer({ groupId: values.group! })
await consumer.connect()
await consumer.subscribe({ topics: [values.input!], fromBeginning: true })
await consumer.run({
  eachBatch: async ({ batch }) => {
    for (const m of batch.messages) {
      const record = Hand.decode(m.value === null ? null : m.value.toString())
      if (record === undefined) {
        refused++
        continue
      }
      if (job === "sales") sales.add(record)
      else for (const c of record) segments.add(c)
    }
    if (job === "sales") {
      await upsert(sales.drain())
    } else {
      const { rows, changes } = segments.drain()
      await upsert(rows)
      if (changes.length > 0)
        await producer.send({
          topic: values.changes!,
          acks: -1,
          messages: changes.map((c) => ({ key: String(c.customer), value: c.json }))
        })
    }
  }
})
process.once("SIGTERM", () => {
  console.log(`refused ${refused}`)
  void consumer
    .disconnect()
    .then(() => producer.disconnect())
    .then(() => sql.end({ timeout: 5 }))
    .finally(() => process.exit(0))
})
