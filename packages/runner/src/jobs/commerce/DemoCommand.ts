/**
 * `sluice demo commerce`: the four commerce jobs in one process with no
 * infrastructure: the embedded broker, PostgreSQL (`DATABASE_URL`, a local
 * server, or an embedded one), the generator publishing a seeded shop
 * history as Debezium change events, and the sales, segments, anomalies and
 * inventory jobs. The demo's tables live in a schema of their own,
 * `commerce_demo`, emptied at start, so a run never touches the `public`
 * tables the jobs write otherwise. When the generator is done and every
 * job's consumer groups have committed up to the end of their topics (twice
 * in a row, a second apart, so the outputs of the last timers land too), a
 * summary of the four tables is printed and the demo ends.
 *
 * @since 0.3.0
 */
import { KafkaError } from "@sluice/kafka"
import type * as KafkaClient from "@sluice/kafka/KafkaClient"
import { Effect, Fiber, Option, Redacted } from "effect"
import { Command } from "effect/cli"
import type postgres from "postgres"
import * as EmbeddedPostgres from "../../EmbeddedPostgres.ts"
import * as Flags from "../../Flags.ts"
import * as Parse from "../../Parse.ts"
import { RunnerError, Startup } from "../../RunnerError.ts"
import * as Services from "../../Services.ts"
import * as CommerceCommand from "./CommerceCommand.ts"
import * as CommerceConfig from "./CommerceConfig.ts"
import * as CommerceDashboard from "./CommerceDashboard.ts"
import * as CommerceFlags from "./CommerceFlags.ts"
import * as Database from "./Database.ts"
import * as Generator from "./Generator.ts"

/**
 * The schema of the demo's tables.
 *
 * @since 0.3.0
 * @category constants
 */
export const schema = "commerce_demo"

const PARTITIONS = 3

// Every consumer group of the four jobs and the topics it reads.
const groups = (config: CommerceConfig.CommerceConfig) => {
  const g = config.groupId
  const t = config.topics
  return [
    { groupId: `${g}-sales`, topics: [t.orders] },
    { groupId: `${g}-segments`, topics: [t.orders] },
    { groupId: `${g}-segments-by-customer`, topics: [`${g}-segments-by-customer`] },
    { groupId: `${g}-anomalies`, topics: [t.orders] },
    { groupId: `${g}-anomalies-by-customer`, topics: [`${g}-anomalies-by-customer`] },
    { groupId: `${g}-inventory`, topics: [t.products, t.orderItems] },
    { groupId: `${g}-inventory-by-product`, topics: [`${g}-inventory-by-product`] }
  ]
}

/**
 * Whether every group has committed up to the end of every partition it reads.
 *
 * @since 0.3.0
 * @category running
 */
export const caughtUp = (
  client: KafkaClient.KafkaClient["Service"],
  readers: ReadonlyArray<{ readonly groupId: string; readonly topics: ReadonlyArray<string> }>
): Effect.Effect<boolean> =>
  Effect.forEach(readers, ({ groupId, topics }) =>
    KafkaError.attempt("fetchOffsets", async () => {
      const committed = await client.admin.fetchOffsets({ groupId, topics: [...topics] })
      for (const topic of topics) {
        const ends = await client.admin.fetchTopicOffsets(topic)
        const mine = committed.find((c) => c.topic === topic)?.partitions ?? []
        for (const end of ends) {
          const at = mine.find((p) => p.partition === end.partition)?.offset ?? "-1"
          if (BigInt(end.high) > 0n && BigInt(at) < BigInt(end.high)) return false
        }
      }
      return true
    })
  ).pipe(
    Effect.map((answers) => answers.every(Boolean)),
    Effect.orElseSucceed(() => false)
  )

const counts = (rows: ReadonlyArray<{ readonly name: string; readonly n: string }>): string =>
  rows.length === 0 ? "none" : rows.map((r) => `${r.name} ${r.n}`).join(", ")

/**
 * The summary of the four tables.
 *
 * @since 0.3.0
 * @category running
 */
export const summary = (sql: postgres.Sql, sent: number, deadLetters: number) =>
  Effect.tryPromise(async () => {
    const [sales] = await sql.unsafe(
      "SELECT count(*)::text AS n, coalesce(max(total_revenue), 0)::text AS peak FROM realtime_sales_metrics"
    )
    const by = (table: string, column: string) =>
      sql.unsafe<Array<{ name: string; n: string }>>(
        `SELECT ${column} AS name, count(*)::text AS n FROM ${table} GROUP BY 1 ORDER BY 1`
      )
    const segments = await by("customer_segments", "segment")
    const anomalies = await by("anomaly_alerts", "anomaly_type")
    const statuses = await by("inventory_insights", "stock_status")
    const [inventory] = await sql.unsafe(
      `SELECT count(*) FILTER (WHERE dead_stock)::text AS dead,
              count(*) FILTER (WHERE restock_quantity > 0)::text AS restock
       FROM inventory_insights`
    )
    return [
      "commerce demo summary",
      `  records sent        ${sent}`,
      `  dead letters        ${deadLetters} (each job over orders sends its own)`,
      `  sales windows       ${sales?.n} (peak hourly revenue ${sales?.peak})`,
      `  segments            ${counts(segments)}`,
      `  anomalies           ${counts(anomalies)}`,
      `  inventory           ${counts(statuses)}; dead stock ${inventory?.dead}; to restock ${inventory?.restock}`
    ].join("\n")
  }).pipe(
    Effect.mapError(
      (error) =>
        new RunnerError({ reason: new Startup({ detail: `summary: ${error.message}`, settings: "DATABASE_URL" }) })
    )
  )

/**
 * The `commerce` demo as a command called `name`.
 *
 * @since 0.3.0
 * @category commands
 */
export const make = (name: string) =>
  Command.make(
    name,
    {
      metricsPort: CommerceConfig.settingFlags.metricsPort,
      seed: CommerceFlags.seed,
      orders: CommerceFlags.orders,
      customers: CommerceFlags.customers,
      eventsPerSecond: Flags.parsed("events-per-second", Parse.int(1, 1_000_000), "Records per second").pipe(
        Flags.withDefault(2000, "2000")
      )
    },
    (flags) =>
      Effect.gen(function* () {
        const EmbeddedKafka = yield* Effect.promise(() => import("@sluice/testkit/EmbeddedKafka"))
        const broker = yield* EmbeddedKafka.make({ port: 0 })
        const url = yield* EmbeddedPostgres.resolveDatabaseUrl.pipe(
          Effect.mapError(
            (error) => new RunnerError({ reason: new Startup({ detail: error.message, settings: "DATABASE_URL" }) })
          )
        )
        const loaded = yield* CommerceConfig.load({
          bootstrapServers: Option.some(broker.bootstrap),
          metricsPort: flags.metricsPort
        })
        const config: CommerceConfig.CommerceConfig = {
          ...loaded,
          databaseUrl: Option.some(url),
          databaseSchema: schema,
          sink: "postgres"
        }
        const sql = yield* Database.open(config)
        yield* Effect.tryPromise(() =>
          sql.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE; CREATE SCHEMA ${schema}`).simple()
        ).pipe(
          Effect.mapError(
            (error) =>
              new RunnerError({
                reason: new Startup({
                  detail: `cannot create schema ${schema}: ${error.message}`,
                  settings: "DATABASE_URL"
                })
              })
          )
        )
        for (const topic of [config.topics.orders, config.topics.orderItems, config.topics.products])
          yield* broker.createTopic(topic, 1)
        yield* Effect.sync(() =>
          process.stderr.write(
            `commerce demo: broker ${broker.bootstrap}, tables in schema ${schema} of ${Redacted.value(url).replace(/\/\/[^@]*@/, "//")}\n`
          )
        )
        const readiness = yield* Services.observability(config.metricsPort, CommerceDashboard.dashboard)
        const jobs = yield* Effect.forkScoped(
          Effect.all(
            [
              CommerceCommand.runSales(config, readiness),
              CommerceCommand.runSegments(config, PARTITIONS, readiness),
              CommerceCommand.runAnomalies(config, PARTITIONS, readiness),
              CommerceCommand.runInventory(config, PARTITIONS, readiness)
            ],
            { concurrency: "unbounded", discard: true }
          )
        )
        const client = yield* Services.kafkaClient(config)
        const producer = yield* client.producer({ idempotent: true, maxInFlightRequests: 1 })
        const records = yield* Generator.generate({
          ...Generator.defaults,
          seed: flags.seed,
          orders: flags.orders,
          customers: flags.customers
        })
        const topicOf = {
          orders: config.topics.orders,
          order_items: config.topics.orderItems,
          products: config.topics.products
        }
        const sent = yield* Generator.publish(records, flags.eventsPerSecond, (chunk) =>
          KafkaError.attempt("send", () =>
            producer.sendBatch({
              acks: -1,
              topicMessages: Object.entries(topicOf).map(([table, topic]) => ({
                topic,
                messages: chunk.filter((r) => r.table === table).map((r) => ({ key: r.key, value: r.value }))
              }))
            })
          )
        )
        yield* Effect.sync(() => process.stderr.write(`commerce demo: ${sent} records sent; waiting for the jobs\n`))
        // Done when every group is at the end twice in a row; a job that fails ends the demo with its error.
        let streak = 0
        while (streak < 2) {
          if (jobs.pollUnsafe() !== undefined) return yield* Fiber.join(jobs)
          streak = (yield* caughtUp(client, groups(config))) ? streak + 1 : 0
          yield* Effect.sleep("1 second")
        }
        const dead = yield* broker.endOffsets(config.topics.deadLetter).pipe(
          Effect.map((offsets) => offsets.reduce((a, b) => a + b, 0)),
          Effect.orElseSucceed(() => 0)
        )
        const text = yield* summary(sql, sent, dead)
        yield* Effect.sync(() => process.stdout.write(`${text}\n`))
        yield* Fiber.interrupt(jobs)
      }).pipe(Effect.scoped)
  ).pipe(Command.withDescription("The four commerce jobs over a generated shop history, on an embedded broker"))
