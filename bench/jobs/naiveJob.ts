/**
 * The claims enrichment as a user would first write it by hand, the
 * benchmark's lower reference: kafkajs `eachMessage` (one record at a time),
 * one prepared `SELECT ... WHERE claim_id = $1` per payment with postgres.js,
 * one `send` per result to the enriched or the failed topic, headers kept.
 * Runs until SIGTERM.
 *
 *   node bench/jobs/naiveJob.ts --brokers host:port --database-url url \
 *     --input t --enriched t --failed t --group g
 */
import { parseArgs } from "node:util"
import { Kafka, logLevel } from "kafkajs"
import postgres from "postgres"

const { values } = parseArgs({
  options: {
    brokers: { type: "string" },
    "database-url": { type: "string" },
    input: { type: "string" },
    enriched: { type: "string" },
    failed: { type: "string" },
    group: { type: "string" }
  }
})
const v = values as Record<string, string>

interface ClaimRow {
  readonly member_id: string
  readonly claim_amount: string
  readonly claim_status: string | null
}

const sql = postgres(v["database-url"]!, { max: 10, onnotice: () => {} })
const kafka = new Kafka({ brokers: v.brokers!.split(","), clientId: "bench-naive", logLevel: logLevel.NOTHING })
const producer = kafka.producer()
const consumer = kafka.consumer({ groupId: v.group! })
await producer.connect()
await consumer.connect()
await consumer.subscribe({ topics: [v.input!], fromBeginning: true })
await consumer.run({
  eachMessage: async ({ message }) => {
    const payment = JSON.parse(message.value!.toString()) as Record<string, unknown>
    const rows = await sql<Array<ClaimRow>>`
      SELECT member_id, claim_amount::text AS claim_amount, claim_status
        FROM claims WHERE claim_id = ${String(payment.claim_id)}`
    const claim = rows[0]
    const enriched =
      claim === undefined
        ? { ...payment, enrichment_status: "CLAIM_NOT_FOUND", error_reason: "claim not found" }
        : { ...payment, ...claim, enrichment_status: "SUCCESS" }
    await producer.send({
      topic: claim === undefined ? v.failed! : v.enriched!,
      acks: -1,
      messages: [
        {
          key: message.key,
          value: JSON.stringify({ ...enriched, enrichment_timestamp: new Date().toISOString() }),
          headers: message.headers ?? {}
        }
      ]
    })
  }
})
process.once("SIGTERM", () => {
  void consumer
    .disconnect()
    .then(() => producer.disconnect())
    .then(() => sql.end({ timeout: 2 }))
    .finally(() => process.exit(0))
})
