import { assert, describe, it } from "@effect/vitest"
import { EmbeddedKafka } from "@sluice/testkit"
import { ConfigProvider, Effect, Exit } from "effect"
import { Kafka, logLevel } from "kafkajs"
import * as Readiness from "../src/http/Readiness.ts"
import * as CommerceCommand from "../src/jobs/commerce/CommerceCommand.ts"
import * as CommerceConfig from "../src/jobs/commerce/CommerceConfig.ts"
import * as Generator from "../src/jobs/commerce/Generator.ts"
import * as SalesJob from "../src/jobs/commerce/SalesJob.ts"
import * as SegmentsJob from "../src/jobs/commerce/SegmentsJob.ts"
import * as Reference from "./support/commerceReference.ts"
import { freshDatabase } from "./support/database.ts"
import { forkJob } from "./support/forkJob.ts"
import { pollUntil } from "./support/poll.ts"

// 600 orders four hours apart: 100 days, so customers reach both the 30- and the 90-day timers.
const options: Generator.Options = { ...Generator.defaults, seed: 7, orders: 600, spacingMillis: 14_400_000 }
const PARTITIONS = 4

const produce = (bootstrap: string, prefix: string, records: ReadonlyArray<Generator.GeneratedRecord>) =>
  Effect.promise(async () => {
    const kafka = new Kafka({ brokers: [bootstrap], logLevel: logLevel.NOTHING })
    const producer = kafka.producer()
    await producer.connect()
    try {
      for (let i = 0; i < records.length; i += 500) {
        const chunk = records.slice(i, i + 500)
        await producer.send({
          topic: `${prefix}.orders`,
          acks: -1,
          messages: chunk.filter((r) => r.table === "orders").map((r) => ({ key: r.key, value: r.value }))
        })
      }
    } finally {
      await producer.disconnect()
    }
  })

const setup = Effect.gen(function* () {
  const broker = yield* EmbeddedKafka.make({ port: 0 })
  const db = yield* freshDatabase("commerce")
  const prefix = "dbserver1.public"
  yield* broker.createTopic(`${prefix}.orders`, 1)
  const records = yield* Generator.generate(options)
  yield* produce(broker.bootstrap, prefix, records)
  const config = yield* CommerceConfig.load().pipe(
    Effect.provideService(
      ConfigProvider.ConfigProvider,
      ConfigProvider.fromEnv({
        env: { KAFKA_BOOTSTRAP_SERVERS: broker.bootstrap, DATABASE_URL: db.url, METRICS_PORT: "0" }
      })
    )
  )
  const { contributions, malformed } = yield* Reference.decodeOrders(records)
  return { broker, db, config, contributions, malformed }
})

const endOffset = (broker: EmbeddedKafka.Broker, topic: string) =>
  broker.endOffsets(topic).pipe(
    Effect.map((offsets) => offsets.reduce((a, b) => a + b, 0)),
    Effect.orElseSucceed(() => 0)
  )

describe("sluice commerce", () => {
  it.live(
    "sales - the windows table equals a brute-force reference, late orders left out, updates and deletes netted",
    () =>
      Effect.gen(function* () {
        const { broker, db, config, contributions, malformed } = yield* setup
        const expected = Reference.sales(contributions, SalesJob.settings)
        // The history must exercise what the rules are about.
        assert.isAbove(expected.late, 0)
        assert.isAbove(malformed, 0)
        assert.isTrue(
          contributions.some((r) => r.length === 2),
          "an update"
        )
        assert.isTrue(
          contributions.some((r) => r.length === 1 && r[0]!.sign === -1),
          "a delete"
        )
        const readiness = yield* Readiness.make()
        const job = yield* forkJob(CommerceCommand.runSales(config, readiness))
        const read = Effect.tryPromise(() =>
          db.sql.unsafe(
            `SELECT metric_id, total_revenue::text, order_count, avg_order_value::text, unique_customers
             FROM realtime_sales_metrics ORDER BY metric_id`
          )
        ).pipe(Effect.orElseSucceed(() => []))
        const rows = yield* pollUntil(
          "the sales table to match the reference",
          Effect.andThen(
            job.running,
            Effect.map(read, (rows): ReadonlyArray<unknown> => rows.map((r) => ({ ...r })))
          ),
          (rows) => JSON.stringify(rows) === JSON.stringify(expected.rows),
          { timeoutMs: 60_000, intervalMs: 500 }
        )
        assert.deepStrictEqual(rows, [...expected.rows])
        assert.strictEqual(yield* endOffset(broker, config.topics.deadLetter), malformed)
      }).pipe(Effect.scoped),
    90_000
  )

  it.live(
    "segments - the customer table equals a brute-force reference, timers included",
    () =>
      Effect.gen(function* () {
        const { db, config, contributions } = yield* setup
        const expected = Reference.segments(contributions, {
          partitions: PARTITIONS,
          outOfOrderness: SegmentsJob.outOfOrderness
        })
        const kinds = new Set(expected.map((r) => r.segment))
        for (const segment of ["VIP", "At-Risk", "Churned"]) assert.isTrue(kinds.has(segment), segment)
        const readiness = yield* Readiness.make()
        const job = yield* forkJob(CommerceCommand.runSegments(config, PARTITIONS, readiness))
        const read = Effect.tryPromise(() =>
          db.sql.unsafe(
            `SELECT customer_id::text, segment, recency_days, frequency, monetary_value::text
             FROM customer_segments ORDER BY customer_segments.customer_id`
          )
        ).pipe(Effect.orElseSucceed(() => []))
        const rows = yield* pollUntil(
          "the segments table to match the reference",
          Effect.andThen(
            job.running,
            Effect.map(read, (rows): ReadonlyArray<unknown> => rows.map((r) => ({ ...r })))
          ),
          (rows) => JSON.stringify(rows) === JSON.stringify(expected),
          { timeoutMs: 60_000, intervalMs: 500 }
        )
        assert.deepStrictEqual(rows, [...expected])
      }).pipe(Effect.scoped),
    90_000
  )

  it.live(
    "anomalies - the alerts table equals a brute-force reference of the four rules",
    () =>
      Effect.gen(function* () {
        const { db, config, contributions } = yield* setup
        const expected = Reference.anomalies(contributions)
        const kinds = new Set(expected.map((r) => r.anomaly_type))
        for (const rule of ["order_spike", "rapid_orders", "statistical_outlier", "large_order"])
          assert.isTrue(kinds.has(rule), rule)
        const readiness = yield* Readiness.make()
        const job = yield* forkJob(CommerceCommand.runAnomalies(config, PARTITIONS, readiness))
        const read = Effect.tryPromise(() =>
          db.sql.unsafe(
            `SELECT alert_id, anomaly_type, severity, order_amount::text FROM anomaly_alerts ORDER BY alert_id COLLATE "C"`
          )
        ).pipe(Effect.orElseSucceed(() => []))
        const rows = yield* pollUntil(
          "the alerts table to match the reference",
          Effect.andThen(
            job.running,
            Effect.map(read, (rows): ReadonlyArray<unknown> => rows.map((r) => ({ ...r })))
          ),
          (rows) => JSON.stringify(rows) === JSON.stringify(expected),
          { timeoutMs: 60_000, intervalMs: 500 }
        )
        assert.deepStrictEqual(rows, [...expected])
      }).pipe(Effect.scoped),
    90_000
  )

  it.live("sales - refuses an orders topic with more than one partition, before reading anything", () =>
    Effect.gen(function* () {
      const broker = yield* EmbeddedKafka.make({ port: 0 })
      const db = yield* freshDatabase("commerce")
      yield* broker.createTopic("dbserver1.public.orders", 3)
      const config = yield* CommerceConfig.load().pipe(
        Effect.provideService(
          ConfigProvider.ConfigProvider,
          ConfigProvider.fromEnv({
            env: { KAFKA_BOOTSTRAP_SERVERS: broker.bootstrap, DATABASE_URL: db.url, METRICS_PORT: "0" }
          })
        )
      )
      const readiness = yield* Readiness.make()
      const exit = yield* Effect.exit(CommerceCommand.runSales(config, readiness).pipe(Effect.timeout("30 seconds")))
      assert.isTrue(Exit.isFailure(exit))
      assert.include(String(Exit.isFailure(exit) ? exit.cause : ""), "has 3 partitions")
      assert.strictEqual(yield* endOffset(broker, config.topics.deadLetter), 0)
    }).pipe(Effect.scoped)
  )
})
