import { assert, describe, it } from "@effect/vitest"
import { BigDecimal, ConfigProvider, Effect, Fiber } from "effect"
import * as Readiness from "../src/http/Readiness.ts"
import * as CommerceCommand from "../src/jobs/commerce/CommerceCommand.ts"
import * as CommerceConfig from "../src/jobs/commerce/CommerceConfig.ts"
import * as DemoCommand from "../src/jobs/commerce/DemoCommand.ts"
import * as Generator from "../src/jobs/commerce/Generator.ts"
import * as InventoryJob from "../src/jobs/commerce/InventoryJob.ts"
import * as Services from "../src/Services.ts"
import { scan, startDynalite } from "./support/commerceDynamo.ts"
import * as Reference from "./support/commerceReference.ts"
import * as CommerceSetup from "./support/commerceSetup.ts"
import { freshDatabase } from "./support/database.ts"
import { forkJob } from "./support/forkJob.ts"
import { pollUntil } from "./support/poll.ts"

// 600 orders four hours apart: 100 days, so products reach the 30-day dead-stock timer.
const options: Generator.Options = { ...Generator.defaults, seed: 7, orders: 600, spacingMillis: 14_400_000 }
const PARTITIONS = 4
const tables = ["products", "order_items"] as const

// The generated history on the embedded broker, its reference, and the job's configuration over `env`.
const setup = (env: Record<string, string>, publish: "all" | "first half" = "all") =>
  Effect.gen(function* () {
    const broker = yield* CommerceSetup.brokerWith(tables)
    const records = yield* Generator.generate(options)
    const expected = yield* Reference.inventory(records, {
      partitions: PARTITIONS,
      outOfOrderness: InventoryJob.outOfOrderness
    })
    yield* CommerceSetup.produce(
      broker.bootstrap,
      publish === "all" ? records : records.slice(0, Math.floor(records.length / 2)),
      tables
    )
    const config = yield* CommerceConfig.load().pipe(
      Effect.provideService(
        ConfigProvider.ConfigProvider,
        ConfigProvider.fromEnv({ env: { KAFKA_BOOTSTRAP_SERVERS: broker.bootstrap, METRICS_PORT: "0", ...env } })
      )
    )
    return {
      broker,
      records,
      expected,
      config,
      malformed: records.filter((r) => r.kind === "malformed" && r.table !== "orders").length
    }
  })

const readTable = (db: { readonly sql: { readonly unsafe: (query: string) => Promise<ReadonlyArray<object>> } }) =>
  Effect.tryPromise(() =>
    db.sql.unsafe(
      `SELECT product_id::text, stock_quantity, units_sold_7d, velocity_units_per_day::text,
              days_until_stockout::text, stock_status, dead_stock, restock_quantity, restock_urgency,
              (extract(epoch from as_of) * 1000)::bigint::text AS as_of
       FROM inventory_insights ORDER BY inventory_insights.product_id`
    )
  ).pipe(
    Effect.map((rows): ReadonlyArray<unknown> => rows.map((r) => ({ ...r }))),
    Effect.orElseSucceed((): ReadonlyArray<unknown> => [])
  )

const same = (rows: ReadonlyArray<unknown>, expected: ReadonlyArray<unknown>) =>
  JSON.stringify(rows) === JSON.stringify(expected)

// A DynamoDB number as the reference writes it (DynamoDB drops trailing zeros).
const decimal = (text: string) => BigDecimal.format(BigDecimal.fromStringUnsafe(text))

describe("sluice commerce inventory", () => {
  it.live(
    "the insights table equals a brute-force reference: stock, 7-day velocity, status, dead stock, restock",
    () =>
      Effect.gen(function* () {
        const db = yield* freshDatabase("commerce")
        const { broker, expected, config, malformed } = yield* setup({ DATABASE_URL: db.url })
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
        const readiness = yield* Readiness.make()
        const job = yield* forkJob(CommerceCommand.runInventory(config, PARTITIONS, readiness))
        const rows = yield* pollUntil(
          "the inventory table to match the reference",
          Effect.andThen(job.running, readTable(db)),
          (rows) => same(rows, expected.rows),
          { timeoutMs: 120_000, intervalMs: 500 }
        )
        assert.deepStrictEqual(rows, [...expected.rows])
        // The unreadable order items, and only they, are in the dead-letter topic.
        assert.isAbove(malformed, 0)
        const dead = yield* broker.endOffsets(config.topics.deadLetter)
        assert.strictEqual(
          dead.reduce((a, b) => a + b, 0),
          malformed
        )
      }).pipe(Effect.scoped),
    180_000
  )

  it.live(
    "--sink dynamodb - the <prefix>-inventory-insights items equal the same reference",
    () =>
      Effect.gen(function* () {
        const dynamo = yield* startDynalite
        const { expected, config } = yield* setup({
          COMMERCE_SINK: "dynamodb",
          DYNAMODB_ENDPOINT: dynamo.endpoint,
          TABLE_PREFIX: "shop"
        })
        const want = expected.rows.map((r) => ({
          ...r,
          velocity_units_per_day: decimal(r.velocity_units_per_day),
          days_until_stockout: r.days_until_stockout === null ? null : decimal(r.days_until_stockout)
        }))
        const readiness = yield* Readiness.make()
        const job = yield* forkJob(CommerceCommand.runInventory(config, PARTITIONS, readiness))
        const read = Effect.map(scan(dynamo.endpoint, "shop-inventory-insights"), (items) =>
          items
            .map((i) => ({
              product_id: i.product_id!.N!,
              stock_quantity: Number(i.stock_quantity!.N),
              units_sold_7d: Number(i.units_sold_7d!.N),
              velocity_units_per_day: i.velocity_units_per_day!.N!,
              days_until_stockout: i.days_until_stockout?.N ?? null,
              stock_status: i.stock_status!.S!,
              dead_stock: i.dead_stock!.BOOL!,
              restock_quantity: Number(i.restock_quantity!.N),
              restock_urgency: i.restock_urgency!.S!,
              as_of: String(Date.parse(i.as_of!.S!))
            }))
            .sort((a, b) => Number(a.product_id) - Number(b.product_id))
        )
        const items = yield* pollUntil(
          "the DynamoDB items to match the reference",
          Effect.andThen(job.running, read),
          (items) => JSON.stringify(items) === JSON.stringify(want),
          { timeoutMs: 120_000, intervalMs: 1000 }
        )
        assert.deepStrictEqual(items, want)
      }).pipe(Effect.scoped),
    180_000
  )
  it.live(
    "--state-dir - a restarted job keeps each product's stock, daily sales and timers",
    () =>
      Effect.gen(function* () {
        const db = yield* freshDatabase("commerce")
        const dir = yield* CommerceSetup.stateDirectory("commerce-inventory-state-")
        const { broker, records, expected, config } = yield* setup(
          { DATABASE_URL: db.url, COMMERCE_STATE_DIR: dir },
          "first half"
        )
        const half = Math.floor(records.length / 2)
        const halfway = yield* Reference.inventory(records.slice(0, half), {
          partitions: PARTITIONS,
          outOfOrderness: InventoryJob.outOfOrderness
        })
        const client = yield* Services.kafkaClient(config)
        const groups = [
          { groupId: `${config.groupId}-inventory`, topics: [config.topics.products, config.topics.orderItems] },
          { groupId: `${config.groupId}-inventory-by-product`, topics: [`${config.groupId}-inventory-by-product`] }
        ]
        const first = yield* forkJob(
          Effect.scoped(CommerceCommand.runInventory(config, PARTITIONS, yield* Readiness.make()))
        )
        yield* pollUntil(
          "the table to match the first half",
          Effect.andThen(first.running, readTable(db)),
          (rows) => same(rows, halfway.rows),
          { timeoutMs: 120_000, intervalMs: 500 }
        )
        yield* pollUntil("every group to commit the first half", DemoCommand.caughtUp(client, groups), (done) => done, {
          timeoutMs: 60_000,
          intervalMs: 500
        })
        yield* Fiber.interrupt(first.fiber)
        yield* CommerceSetup.produce(broker.bootstrap, records.slice(half), tables)
        const second = yield* forkJob(CommerceCommand.runInventory(config, PARTITIONS, yield* Readiness.make()))
        const rows = yield* pollUntil(
          "the table to match the whole history after the restart",
          Effect.andThen(second.running, readTable(db)),
          (rows) => same(rows, expected.rows),
          { timeoutMs: 120_000, intervalMs: 500 }
        )
        assert.deepStrictEqual(rows, [...expected.rows])
      }).pipe(Effect.scoped),
    300_000
  )
})
