/**
 * `sluice commerce sales|segments|anomalies|inventory|migrate|generate`: the commerce jobs wired
 * to Kafka (consumer-group source, idempotent producer for the dead-letter
 * and segment-change topics) and the results' tables (`Results`: PostgreSQL
 * by default, or DynamoDB with `--sink dynamodb`), with the
 * observability server on `--metrics-port`.
 *
 * @since 0.3.0
 */
import { join } from "node:path"
import { StateStore } from "@sluice/core"
import { Admin, KafkaClient, KafkaError, KafkaSink, KafkaSource } from "@sluice/kafka"
import * as KafkaRepartition from "@sluice/kafka/Repartition"
import { DurableStateStore } from "@sluice/state"
import { Console, Effect, Option, Ref } from "effect"
import { Command } from "effect/cli"
import * as Flags from "../../Flags.ts"
import * as Readiness from "../../http/Readiness.ts"
import { reportFailure } from "../../ReportFailure.ts"
import { RunnerError, Startup } from "../../RunnerError.ts"
import * as Services from "../../Services.ts"
import * as AnomaliesJob from "./AnomaliesJob.ts"
import * as CommerceConfig from "./CommerceConfig.ts"
import * as CommerceDashboard from "./CommerceDashboard.ts"
import * as CommerceFlags from "./CommerceFlags.ts"
import * as Generator from "./Generator.ts"
import * as InventoryJob from "./InventoryJob.ts"
import * as Results from "./Results.ts"
import * as SalesJob from "./SalesJob.ts"
import * as SegmentsJob from "./SegmentsJob.ts"
import * as Tables from "./Tables.ts"

/**
 * The state store of one job: durable under `<stateDir>/<job>` with the
 * changelog topics `<group>-<job>-<store>-changelog` (`partitions` each, the
 * partitions of the keyed operator's input) when `stateDir` is set, in
 * memory otherwise.
 *
 * @since 0.3.0
 * @category running
 */
export const stateStore = (
  config: CommerceConfig.CommerceConfig,
  client: KafkaClient.KafkaClient["Service"],
  job: string,
  partitions: number
): Effect.Effect<StateStore.StateStore["Service"]> =>
  Option.match(config.stateDir, {
    onNone: () => StateStore.makeMemory(),
    onSome: (directory) =>
      Effect.map(
        DurableStateStore.make({ group: `${config.groupId}-${job}`, partitions, directory: join(directory, job) }),
        (store) => StateStore.StateStore.of(store)
      ).pipe(Effect.provideService(KafkaClient.KafkaClient, client))
  })

// Not ready until the group has handed the job its partitions.
const partitionsCheck = (readiness: Readiness.Readiness["Service"]) =>
  Effect.gen(function* () {
    const assigned = yield* Ref.make(0)
    yield* readiness.register(
      "partitions",
      Effect.flatMap(Ref.get(assigned), (n) => (n > 0 ? Effect.void : Effect.fail("no partitions assigned yet")))
    )
    return assigned
  })

// The sales windows are one aggregate over the orders' event time, which needs one partition.
const singlePartition = (client: KafkaClient.KafkaClient["Service"], topic: string) =>
  Effect.gen(function* () {
    const metadata = yield* KafkaError.attempt("fetchTopicMetadata", () =>
      client.admin.fetchTopicMetadata({ topics: [topic] })
    )
    const partitions = metadata.topics[0]?.partitions.length ?? 0
    if (partitions !== 1)
      return yield* Effect.fail(
        new RunnerError({
          reason: new Startup({
            detail: `${topic} has ${partitions} partitions; the sales windows read the orders in one event-time order and need 1`,
            settings: "the orders topic (CDC_TOPIC_PREFIX or --topic-prefix)"
          })
        })
      )
  })

/**
 * Runs the sales job until interrupted: ensures the topics (the orders topic
 * with one partition) and the table, then aggregates.
 *
 * @since 0.3.0
 * @category running
 */
export const runSales = (config: CommerceConfig.CommerceConfig, readiness: Readiness.Readiness["Service"]) =>
  Effect.gen(function* () {
    const assigned = yield* partitionsCheck(readiness)
    const client = yield* Services.kafka(config).pipe(Effect.provideService(Readiness.Readiness, readiness))
    const results = yield* Results.open(config, readiness)
    yield* Admin.ensureTopics([
      { topic: config.topics.orders, partitions: 1 },
      { topic: config.topics.deadLetter, partitions: 6 }
    ]).pipe(Effect.provideService(KafkaClient.KafkaClient, client))
    yield* singlePartition(client, config.topics.orders)
    const metricsSink = yield* results.table(Tables.salesMetrics)
    const producer = yield* KafkaSink.producer(client)
    const records = yield* KafkaSource.make(client, {
      topics: [config.topics.orders],
      groupId: `${config.groupId}-sales`,
      onAssignment: (partitions) => Ref.set(assigned, partitions.length)
    })
    yield* Effect.logInfo("commerce sales job started").pipe(
      Effect.annotateLogs({ job: "commerce-sales", input: config.topics.orders })
    )
    yield* SalesJob.run(records, {
      metrics: metricsSink,
      deadLetters: KafkaSink.make(producer, config.topics.deadLetter)
    }).pipe(Effect.provideServiceEffect(StateStore.StateStore, stateStore(config, client, "sales", 1)))
  })

/**
 * Runs the segmentation job until interrupted: ensures the topics and the
 * table, re-keys the orders by customer through `<group>-segments-by-customer`
 * (`partitions` partitions), and keeps each customer's segment.
 *
 * @since 0.3.0
 * @category running
 */
export const runSegments = (
  config: CommerceConfig.CommerceConfig,
  partitions: number,
  readiness: Readiness.Readiness["Service"]
) =>
  Effect.gen(function* () {
    const assigned = yield* partitionsCheck(readiness)
    const client = yield* Services.kafka(config).pipe(Effect.provideService(Readiness.Readiness, readiness))
    const results = yield* Results.open(config, readiness)
    yield* Admin.ensureTopics([
      { topic: config.topics.orders, partitions: 1 },
      { topic: config.topics.deadLetter, partitions: 6 },
      { topic: config.topics.segmentChanges, partitions: 6 }
    ]).pipe(Effect.provideService(KafkaClient.KafkaClient, client))
    const segmentsSink = yield* results.table(Tables.customerSegments)
    const producer = yield* KafkaSink.producer(client)
    const byCustomer = yield* KafkaRepartition.topic(client, {
      topic: `${config.groupId}-segments-by-customer`,
      partitions,
      groupId: `${config.groupId}-segments-by-customer`
    })
    const records = yield* KafkaSource.make(client, {
      topics: [config.topics.orders],
      groupId: `${config.groupId}-segments`,
      onAssignment: (assignment) => Ref.set(assigned, assignment.length)
    })
    yield* Effect.logInfo("commerce segments job started").pipe(
      Effect.annotateLogs({ job: "commerce-segments", input: config.topics.orders })
    )
    yield* SegmentsJob.run(
      records,
      {
        segments: segmentsSink,
        changes: KafkaSink.make(producer, config.topics.segmentChanges),
        deadLetters: KafkaSink.make(producer, config.topics.deadLetter)
      },
      byCustomer
    ).pipe(Effect.provideServiceEffect(StateStore.StateStore, stateStore(config, client, "segments", partitions)))
  })

/**
 * Runs the anomaly job until interrupted: ensures the topics and the table,
 * re-keys the orders by customer through `<group>-anomalies-by-customer`
 * (`partitions` partitions), and judges each new order.
 *
 * @since 0.3.0
 * @category running
 */
export const runAnomalies = (
  config: CommerceConfig.CommerceConfig,
  partitions: number,
  readiness: Readiness.Readiness["Service"]
) =>
  Effect.gen(function* () {
    const assigned = yield* partitionsCheck(readiness)
    const client = yield* Services.kafka(config).pipe(Effect.provideService(Readiness.Readiness, readiness))
    const results = yield* Results.open(config, readiness)
    yield* Admin.ensureTopics([
      { topic: config.topics.orders, partitions: 1 },
      { topic: config.topics.deadLetter, partitions: 6 },
      { topic: config.topics.anomalyAlerts, partitions: 6 }
    ]).pipe(Effect.provideService(KafkaClient.KafkaClient, client))
    const alertsSink = yield* results.table(Tables.anomalyAlerts)
    const producer = yield* KafkaSink.producer(client)
    const byCustomer = yield* KafkaRepartition.topic(client, {
      topic: `${config.groupId}-anomalies-by-customer`,
      partitions,
      groupId: `${config.groupId}-anomalies-by-customer`
    })
    const records = yield* KafkaSource.make(client, {
      topics: [config.topics.orders],
      groupId: `${config.groupId}-anomalies`,
      onAssignment: (assignment) => Ref.set(assigned, assignment.length)
    })
    yield* Effect.logInfo("commerce anomalies job started").pipe(
      Effect.annotateLogs({ job: "commerce-anomalies", input: config.topics.orders })
    )
    yield* AnomaliesJob.run(
      records,
      {
        alerts: alertsSink,
        topic: KafkaSink.make(producer, config.topics.anomalyAlerts),
        deadLetters: KafkaSink.make(producer, config.topics.deadLetter)
      },
      byCustomer
    ).pipe(Effect.provideServiceEffect(StateStore.StateStore, stateStore(config, client, "anomalies", partitions)))
  })

/**
 * Runs the inventory job until interrupted: ensures the topics and the
 * table, re-keys the products' and order items' changes by product through
 * `<group>-inventory-by-product` (`partitions` partitions), and keeps each
 * product's insight.
 *
 * @since 0.3.0
 * @category running
 */
export const runInventory = (
  config: CommerceConfig.CommerceConfig,
  partitions: number,
  readiness: Readiness.Readiness["Service"]
) =>
  Effect.gen(function* () {
    const assigned = yield* partitionsCheck(readiness)
    const client = yield* Services.kafka(config).pipe(Effect.provideService(Readiness.Readiness, readiness))
    const results = yield* Results.open(config, readiness)
    yield* Admin.ensureTopics([
      { topic: config.topics.products, partitions: 1 },
      { topic: config.topics.orderItems, partitions: 1 },
      { topic: config.topics.deadLetter, partitions: 6 }
    ]).pipe(Effect.provideService(KafkaClient.KafkaClient, client))
    const insightsSink = yield* results.table(Tables.inventoryInsights)
    const producer = yield* KafkaSink.producer(client)
    const byProduct = yield* KafkaRepartition.topic(client, {
      topic: `${config.groupId}-inventory-by-product`,
      partitions,
      groupId: `${config.groupId}-inventory-by-product`
    })
    const topics = { products: config.topics.products, orderItems: config.topics.orderItems }
    const records = yield* KafkaSource.make(client, {
      topics: [topics.products, topics.orderItems],
      groupId: `${config.groupId}-inventory`,
      onAssignment: (assignment) => Ref.set(assigned, assignment.length)
    })
    yield* Effect.logInfo("commerce inventory job started").pipe(
      Effect.annotateLogs({ job: "commerce-inventory", input: `${topics.products}, ${topics.orderItems}` })
    )
    yield* InventoryJob.run(
      records,
      topics,
      {
        insights: insightsSink,
        deadLetters: KafkaSink.make(producer, config.topics.deadLetter)
      },
      byProduct
    ).pipe(Effect.provideServiceEffect(StateStore.StateStore, stateStore(config, client, "inventory", partitions)))
  })

const inventory = Command.make("inventory", { ...CommerceConfig.settingFlags, partitions: Flags.partitions }, (flags) =>
  Effect.gen(function* () {
    const config = yield* CommerceConfig.load(flags)
    yield* Effect.scoped(
      Effect.flatMap(Services.observability(config.metricsPort, CommerceDashboard.dashboard), (readiness) =>
        runInventory(config, flags.partitions, readiness)
      )
    ).pipe(Services.withTelemetry("commerce-inventory"))
  })
).pipe(Command.withDescription("Stock velocity, stock status, dead stock and restock advice into inventory_insights"))

const anomalies = Command.make("anomalies", { ...CommerceConfig.settingFlags, partitions: Flags.partitions }, (flags) =>
  Effect.gen(function* () {
    const config = yield* CommerceConfig.load(flags)
    yield* Effect.scoped(
      Effect.flatMap(Services.observability(config.metricsPort, CommerceDashboard.dashboard), (readiness) =>
        runAnomalies(config, flags.partitions, readiness)
      )
    ).pipe(Services.withTelemetry("commerce-anomalies"))
  })
).pipe(Command.withDescription("Order spikes, rapid orders, outliers and large orders into anomaly_alerts"))

const sales = Command.make("sales", { ...CommerceConfig.settingFlags }, (flags) =>
  Effect.gen(function* () {
    const config = yield* CommerceConfig.load(flags)
    yield* Effect.scoped(
      Effect.flatMap(Services.observability(config.metricsPort, CommerceDashboard.dashboard), (readiness) =>
        runSales(config, readiness)
      )
    ).pipe(Services.withTelemetry("commerce-sales"))
  })
).pipe(Command.withDescription("Hopping 1 h / 5 min sales windows over orders into realtime_sales_metrics"))

const segments = Command.make("segments", { ...CommerceConfig.settingFlags, partitions: Flags.partitions }, (flags) =>
  Effect.gen(function* () {
    const config = yield* CommerceConfig.load(flags)
    yield* Effect.scoped(
      Effect.flatMap(Services.observability(config.metricsPort, CommerceDashboard.dashboard), (readiness) =>
        runSegments(config, flags.partitions, readiness)
      )
    ).pipe(Services.withTelemetry("commerce-segments"))
  })
).pipe(Command.withDescription("RFM customer segments into customer_segments and the segment-changes topic"))

const migrate = Command.make(
  "migrate",
  {
    databaseUrl: CommerceConfig.settingFlags.databaseUrl,
    sink: CommerceConfig.settingFlags.sink,
    tablePrefix: CommerceConfig.settingFlags.tablePrefix,
    awsRegion: CommerceConfig.settingFlags.awsRegion,
    dynamodbEndpoint: CommerceConfig.settingFlags.dynamodbEndpoint
  },
  (flags) =>
    Effect.gen(function* () {
      const config = yield* CommerceConfig.load(flags)
      const results = yield* Results.open(config)
      yield* Effect.forEach(Tables.all, (table) => results.table(table), { discard: true })
      const names =
        results.kind === "postgres"
          ? Tables.all.map((t) => t.name)
          : Tables.all.map((t) => `${config.dynamodb.tablePrefix}-${Results.dynamoName(t)}`)
      yield* Console.log(`tables ready (${results.kind}): ${names.join(", ")}`)
    }).pipe(Effect.scoped, reportFailure)
).pipe(Command.withDescription("Create the commerce tables (PostgreSQL or DynamoDB, as --sink says)"))

const generate = Command.make(
  "generate",
  {
    ...CommerceConfig.settingFlags,
    seed: CommerceFlags.seed,
    orders: CommerceFlags.orders,
    customers: CommerceFlags.customers,
    eventsPerSecond: CommerceFlags.eventsPerSecond
  },
  (flags) =>
    Effect.gen(function* () {
      const config = yield* CommerceConfig.load(flags)
      const client = yield* Services.kafkaClient(config)
      const topics = {
        orders: config.topics.orders,
        order_items: config.topics.orderItems,
        products: config.topics.products
      }
      yield* Admin.ensureTopics(Object.values(topics).map((topic) => ({ topic, partitions: 1 }))).pipe(
        Effect.provideService(KafkaClient.KafkaClient, client)
      )
      const producer = yield* client.producer({ idempotent: true, maxInFlightRequests: 1 })
      const records = yield* Generator.generate({
        ...Generator.defaults,
        seed: flags.seed,
        orders: flags.orders,
        customers: flags.customers
      })
      const sent = yield* Generator.publish(records, flags.eventsPerSecond, (chunk) =>
        KafkaError.attempt("send", () =>
          producer.sendBatch({
            acks: -1,
            topicMessages: Object.entries(topics).map(([table, topic]) => ({
              topic,
              messages: chunk.filter((r) => r.table === table).map((r) => ({ key: r.key, value: r.value }))
            }))
          })
        )
      )
      yield* Console.error(
        `done: ${sent} records to ${Object.values(topics).join(", ")} (${records.filter((r) => r.kind === "malformed").length} malformed)`
      )
    }).pipe(Effect.scoped, reportFailure)
).pipe(Command.withDescription("Publish a seeded commerce history as Debezium change events"))

/**
 * The `commerce` command and its subcommands.
 *
 * @since 0.3.0
 * @category commands
 */
export const command = Command.make("commerce").pipe(
  Command.withDescription("The commerce analytics jobs of seed 002"),
  Command.withSubcommands([sales, segments, anomalies, inventory, migrate, generate])
)
