import { assert, describe, it } from "@effect/vitest"
import { EmbeddedKafka } from "@sluice/testkit"
import { ConfigProvider, Effect } from "effect"
import { Kafka, logLevel } from "kafkajs"
import * as Readiness from "../src/http/Readiness.ts"
import * as CommerceCommand from "../src/jobs/commerce/CommerceCommand.ts"
import * as CommerceConfig from "../src/jobs/commerce/CommerceConfig.ts"
import * as Generator from "../src/jobs/commerce/Generator.ts"
import * as InventoryJob from "../src/jobs/commerce/InventoryJob.ts"
import * as Reference from "./support/commerceReference.ts"
import { freshDatabase } from "./support/database.ts"
import { pollUntil } from "./support/poll.ts"

// 600 orders four hours apart: 100 days, so products reach the 30-day dead-stock timer.
const options: Generator.Options = { ...Generator.defaults, seed: 7, orders: 600, spacingMillis: 14_400_000 }
const PARTITIONS = 4
const prefix = "dbserver1.public"

// Each table's records on its own topic, in the generator's order.
const produce = (bootstrap: string, records: ReadonlyArray<Generator.GeneratedRecord>) =>
  Effect.promise(async () => {
    const kafka = new Kafka({ brokers: [bootstrap], logLevel: logLevel.NOTHING })
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
    await producer.connect()
    try {
      for (const table of ["products", "order_items"] as const) {
        const mine = records.filter((r) => r.table === table)
        for (let i = 0; i < mine.length; i += 500)
          await producer.send({
            topic: `${prefix}.${table}`,
            acks: -1,
            messages: mine.slice(i, i + 500).map((r) => ({ key: r.key, value: r.value }))
          })
      }
    } finally {
      await producer.disconnect()
    }
  })

describe("sluice commerce inventory", () => {
  it.live(
    "the insights table equals a brute-force reference: stock, 7-day velocity, status, dead stock, restock",
    () =>
      Effect.gen(function* () {
        const broker = yield* EmbeddedKafka.make({ port: 0 })
        const db = yield* freshDatabase("commerce")
        yield* broker.createTopic(`${prefix}.products`, 1)
        yield* broker.createTopic(`${prefix}.order_items`, 1)
        const records = yield* Generator.generate(options)
        const expected = yield* Reference.inventory(records, {
          partitions: PARTITIONS,
          outOfOrderness: InventoryJob.outOfOrderness
        })
        // The history must exercise what the rules are about.
        const statuses = new Set(expected.rows.map((r) => r.stock_status))
        for (const status of ["out_of_stock", "healthy"]) assert.isTrue(statuses.has(status), status)
        assert.isTrue(statuses.has("critical") || statuses.has("low"), "a product running short")
        assert.isTrue(
          expected.rows.some((r) => r.dead_stock),
          "dead stock"
        )
        assert.isTrue(
          expected.rows.some((r) => r.restock_quantity > 0),
          "a restock"
        )
        assert.isAbove(expected.itemDeletes, 0)
        yield* produce(broker.bootstrap, records)
        const config = yield* CommerceConfig.load().pipe(
          Effect.provideService(
            ConfigProvider.ConfigProvider,
            ConfigProvider.fromEnv({
              env: { KAFKA_BOOTSTRAP_SERVERS: broker.bootstrap, DATABASE_URL: db.url, METRICS_PORT: "0" }
            })
          )
        )
        const readiness = yield* Readiness.make()
        yield* Effect.forkScoped(CommerceCommand.runInventory(config, PARTITIONS, readiness))
        const read = Effect.tryPromise(() =>
          db.sql.unsafe(
            `SELECT product_id::text, stock_quantity, units_sold_7d, velocity_units_per_day::text,
                    days_until_stockout::text, stock_status, dead_stock, restock_quantity, restock_urgency,
                    (extract(epoch from as_of) * 1000)::bigint::text AS as_of
             FROM inventory_insights ORDER BY inventory_insights.product_id`
          )
        ).pipe(Effect.orElseSucceed(() => []))
        const rows = yield* pollUntil(
          "the inventory table to match the reference",
          Effect.map(read, (rows): ReadonlyArray<unknown> => rows.map((r) => ({ ...r }))),
          (rows) => JSON.stringify(rows) === JSON.stringify(expected.rows),
          { timeoutMs: 120_000, intervalMs: 500 }
        )
        assert.deepStrictEqual(rows, [...expected.rows])
      }).pipe(Effect.scoped),
    180_000
  )
})
