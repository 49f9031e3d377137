// End to end: the real `sluice claims enrich` and `sluice claims large`
// processes against the embedded broker and the machine's PostgreSQL. 10,000
// generated payments (90% known claim ids, 1% malformed) must each end up in
// exactly one of enriched-payments, failed-payments or the dead-letter topic,
// with statuses and values matching the database, and large-claims must hold
// exactly the enriched payments at or above the threshold.
import { type ChildProcess, spawn } from "node:child_process"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { KafkaClient, KafkaSource } from "@sluice/kafka"
import { Claims } from "@sluice/lookup"
import { EmbeddedKafka } from "@sluice/testkit"
import { BigDecimal, Effect, Stream } from "effect"
import { Kafka, logLevel } from "kafkajs"
import * as Generator from "../src/claims/Generator.ts"
import { freshDatabase } from "./support/database.ts"

const bin = join(import.meta.dirname, "..", "bin", "sluice.js")
const text = new TextDecoder()
const total = 10_000
const claims = 2_000
const threshold = "50000.00"

const job = (args: ReadonlyArray<string>, env: Record<string, string>) =>
  Effect.acquireRelease(
    Effect.sync(() =>
      spawn(process.execPath, [bin, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "pipe"] })
    ),
    (child) => stop(child)
  )

// SIGTERM and the exit code (0 for a graceful stop), bounded.
const stop = (child: ChildProcess) =>
  Effect.promise(
    () =>
      new Promise<number | null>((resolve) => {
        if (child.exitCode !== null) return resolve(child.exitCode)
        const kill = setTimeout(() => child.kill("SIGKILL"), 20_000)
        child.once("exit", (code) => {
          clearTimeout(kill)
          resolve(code)
        })
        child.kill("SIGTERM")
      })
  )

interface Output {
  readonly topic: string
  readonly value: Uint8Array
}

// Reads `count` records from the topics with a fresh group.
const readTopics = (client: KafkaClient.KafkaClient["Service"], topics: ReadonlyArray<string>, count: number) =>
  Effect.scoped(
    Effect.gen(function* () {
      const records = yield* KafkaSource.make(client, { topics, groupId: `reader-${Math.random()}` })
      return yield* records.pipe(
        Stream.tap((e) => e.receipt.ack),
        Stream.map((e): Output => ({ topic: e.origin.topic, value: e.value as Uint8Array })),
        Stream.take(count),
        Stream.runCollect
      )
    })
  ).pipe(Effect.timeout("180 seconds"))

describe("sluice claims jobs", () => {
  it.live(
    "enrich + large - every payment lands in exactly one output, values match the database",
    () =>
      Effect.gen(function* () {
        const db = yield* freshDatabase("sluice_e2e")
        yield* Claims.migrate(db.sql)
        yield* Claims.seed(db.sql, { count: claims, seed: 7 })
        const broker = yield* EmbeddedKafka.make({ port: 0, defaultPartitions: 6 })
        const topics = {
          PAYMENT_EVENTS_TOPIC: "payment-events",
          ENRICHED_PAYMENTS_TOPIC: "enriched-payments",
          FAILED_PAYMENTS_TOPIC: "failed-payments",
          PAYMENT_EVENTS_DLQ_TOPIC: "payment-events-dlq",
          LARGE_CLAIMS_TOPIC: "large-claims"
        }

        // The input: generated payments, produced before the jobs start.
        const options = { seed: 11, claims, validClaimRate: 0.9, invalidRate: 0.01 }
        const generated = Array.from({ length: total }, (_, i) => Generator.record(options, i, 1_700_000_000_000 + i))
        const kafka = new Kafka({ brokers: [broker.bootstrap], logLevel: logLevel.NOTHING })
        yield* Effect.promise(async () => {
          const admin = kafka.admin()
          await admin.connect()
          await admin.createTopics({ topics: [{ topic: "payment-events", numPartitions: 6 }] })
          await admin.disconnect()
          const producer = kafka.producer()
          await producer.connect()
          for (let i = 0; i < total; i += 1000) {
            await producer.send({
              topic: "payment-events",
              acks: -1,
              messages: generated.slice(i, i + 1000).map((r) => ({
                key: Buffer.from(r.key),
                value: Buffer.from(r.value),
                headers: Object.fromEntries(r.headers.map(([n, v]) => [n, Buffer.from(v)]))
              }))
            })
          }
          await producer.disconnect()
        })

        const env = {
          ...topics,
          KAFKA_BOOTSTRAP_SERVERS: broker.bootstrap,
          DATABASE_URL: db.url,
          GROUP_ID: "e2e",
          METRICS_PORT: "0"
        }
        const enrich = yield* job(["claims", "enrich", "--concurrency", "128"], env)
        const large = yield* job(["claims", "large", "--threshold", threshold], env)

        const client = yield* KafkaClient.make({ brokers: [broker.bootstrap], logLevel: "None" })
        const outputs = yield* readTopics(
          client,
          [topics.ENRICHED_PAYMENTS_TOPIC, topics.FAILED_PAYMENTS_TOPIC, topics.PAYMENT_EVENTS_DLQ_TOPIC],
          total
        )

        // Exactly once per payment_id across enriched and failed; the malformed rest in the dead-letter topic.
        const byId = new Map<string, { topic: string; record: Record<string, unknown> }>()
        let deadLetters = 0
        for (const o of outputs) {
          if (o.topic === topics.PAYMENT_EVENTS_DLQ_TOPIC) {
            deadLetters++
            continue
          }
          const record = JSON.parse(text.decode(o.value)) as Record<string, unknown>
          const id = record.payment_id as string
          assert.isFalse(byId.has(id), `${id} appears twice`)
          byId.set(id, { topic: o.topic, record })
        }
        const malformed = generated.filter((r) => !["valid", "unknown-claim"].includes(r.kind)).length
        assert.strictEqual(deadLetters, malformed)
        assert.strictEqual(byId.size, total - malformed)

        const rows = yield* Effect.promise(
          () => db.sql`SELECT claim_id, member_id, claim_amount::text AS claim_amount, claim_status FROM claims`
        )
        const table = new Map(rows.map((r) => [r.claim_id as string, r]))
        let large50k = 0
        for (const { topic, record } of byId.values()) {
          const claim = table.get(record.claim_id as string)
          if (claim === undefined) {
            assert.strictEqual(topic, topics.FAILED_PAYMENTS_TOPIC)
            assert.strictEqual(record.enrichment_status, "CLAIM_NOT_FOUND")
            continue
          }
          assert.strictEqual(topic, topics.ENRICHED_PAYMENTS_TOPIC)
          assert.strictEqual(record.enrichment_status, "SUCCESS")
          assert.strictEqual(record.member_id, claim.member_id)
          assert.isTrue(
            BigDecimal.equals(
              BigDecimal.fromStringUnsafe(String(record.claim_amount)),
              BigDecimal.fromStringUnsafe(claim.claim_amount)
            )
          )
          if (
            BigDecimal.isGreaterThanOrEqualTo(
              BigDecimal.fromStringUnsafe(claim.claim_amount),
              BigDecimal.fromStringUnsafe(threshold)
            )
          ) {
            large50k++
          }
        }

        // large-claims holds exactly the enriched payments at or above the threshold.
        const largeOut = yield* readTopics(client, [topics.LARGE_CLAIMS_TOPIC], large50k)
        const largeIds = new Set(
          largeOut.map((o) => (JSON.parse(text.decode(o.value)) as { payment_id: string }).payment_id)
        )
        assert.strictEqual(largeIds.size, large50k)
        for (const id of largeIds) assert.strictEqual(byId.get(id)?.record.enrichment_status, "SUCCESS")

        assert.strictEqual(yield* stop(enrich), 0)
        assert.strictEqual(yield* stop(large), 0)
      }),
    300_000
  )
})
