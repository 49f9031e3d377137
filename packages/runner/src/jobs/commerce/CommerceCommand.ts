/**
 * `sluice commerce sales|segments|anomalies|inventory|migrate|generate`: the commerce jobs wired
 * to Kafka (consumer-group source, idempotent producer for the dead-letter
 * and segment-change topics) and the results' tables (`Results`: PostgreSQL
 * by default, or DynamoDB with `--sink dynamodb`), with the
 * observability server on `--metrics-port`.
 *
 * `--processing-guarantee exactly-once` (with `--state-dir`): each stage of a
 * job commits in Kafka transactions (`KafkaOutputs`): the first stage its
 * re-keying writes, dead letters and input offsets; the re-keyed stage its
 * state stores' changelog writes, its output topics and its offsets. State
 * then holds each input record's effect exactly once whatever kills the job,
 * and the tables, written by idempotent upserts from that state, end equal
 * to a crash-free run's.
 *
 * @since 0.3.0
 */
import { join } from "node:path"
import { Ownership, StateStore } from "@sluice/core"
import { Admin, KafkaClient, KafkaError, KafkaSource } from "@sluice/kafka"
import * as KafkaRepartition from "@sluice/kafka/Repartition"
import { DurableStateStore } from "@sluice/state"
import { Console, type Duration, Effect, Option, Ref } from "effect"
import { Command } from "effect/cli"
import * as ConsumerGroup from "../../ConsumerGroup.ts"
import * as Flags from "../../Flags.ts"
import * as Readiness from "../../http/Readiness.ts"
import * as KafkaOutputs from "../../KafkaOutputs.ts"
import * as ProcessingGuarantee from "../../ProcessingGuarantee.ts"
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
  partitions: number,
  exactlyOnce?: DurableStateStore.ExactlyOnce
): Effect.Effect<StateStore.StateStore["Service"]> =>
  Option.match(config.stateDir, {
    onNone: () => StateStore.makeMemory(),
    onSome: (directory) =>
      Effect.map(
        DurableStateStore.make({
          group: `${config.groupId}-${job}`,
          partitions,
          directory: join(directory, job),
          exactlyOnce
        }),
        (store) => StateStore.StateStore.of(store)
      ).pipe(Effect.provideService(KafkaClient.KafkaClient, client))
  })

// Exactly-once needs durable state: state in memory starts empty after a
// restart while the offsets it came from stay committed.
const requireStateDir = (config: CommerceConfig.CommerceConfig, guarantee: ProcessingGuarantee.ProcessingGuarantee) =>
  guarantee === "exactly-once" && Option.isNone(config.stateDir)
    ? Effect.fail(
        new RunnerError({
          reason: new Startup({
            detail: "--processing-guarantee exactly-once needs durable state: state in memory is lost on a restart",
            settings: "COMMERCE_STATE_DIR or --state-dir"
          })
        })
      )
    : Effect.void

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

// What every commerce job starts with: readiness on its partitions, the
// Kafka client, the results' tables, its input topics (one partition each)
// with the dead-letter topic and its output topics (six each), and one
// producer. `source` joins the job's group; call it after any re-keying topic
// is made, so the job reads only once its whole topology exists.
const start = (
  config: CommerceConfig.CommerceConfig,
  readiness: Readiness.Readiness["Service"],
  job: string,
  topics: { readonly inputs: ReadonlyArray<string>; readonly outputs: ReadonlyArray<string> },
  guarantee: ProcessingGuarantee.ProcessingGuarantee,
  timing: ConsumerGroup.Timing,
  commitInterval: Duration.Duration | undefined
) =>
  Effect.gen(function* () {
    yield* requireStateDir(config, guarantee)
    const assigned = yield* partitionsCheck(readiness)
    const client = yield* Services.kafka(config).pipe(Effect.provideService(Readiness.Readiness, readiness))
    const results = yield* Results.open(config, readiness)
    yield* Admin.ensureTopics([
      ...topics.inputs.map((topic) => ({ topic, partitions: 1 })),
      { topic: config.topics.deadLetter, partitions: 6 },
      ...topics.outputs.map((topic) => ({ topic, partitions: 6 }))
    ]).pipe(Effect.provideService(KafkaClient.KafkaClient, client))
    const groupId = `${config.groupId}-${job}`
    // Made before the source, so the source's last commit still has them.
    const outputs = yield* KafkaOutputs.make(client, groupId, guarantee, { commitInterval })
    // The job's sources tell its keyed operators the partitions they lose, so a partition that
    // comes back is restored from the changelog rather than from stale memory.
    const ownership = yield* Ownership.make
    return {
      client,
      results,
      deadLetters: outputs.to(config.topics.deadLetter),
      // The re-keying topic `<group>-<job>-by-<key>`, read by its own group of
      // the same name: the re-keyed stage, with outputs of its own (`outputs`)
      // and, exactly-once, its state in its transactions (`state`).
      rekey: (key: string, partitions: number) =>
        Effect.gen(function* () {
          const name = `${config.groupId}-${job}-by-${key}`
          const stage = yield* KafkaOutputs.make(client, name, guarantee, { commitInterval })
          const topic = yield* KafkaRepartition.topic(client, {
            topic: name,
            partitions,
            groupId: name,
            transactions: outputs.transactions,
            source: { ...timing, ...stage.source, onRevoke: ownership.revoke }
          })
          return {
            topic,
            // Outputs of the keyed operator's timers carry the operator as
            // their origin: they go with the transaction of the same partition.
            sink: (output: string) =>
              stage.to(output, {
                transactionOf: (origin) =>
                  origin.topic === name ? origin : { topic: name, partition: origin.partition }
              }),
            state: stateOf(stage, name, partitions)
          }
        }),
      source: Effect.gen(function* () {
        const records = yield* KafkaSource.make(client, {
          topics: [...topics.inputs],
          groupId,
          ...timing,
          ...outputs.source,
          onRevoke: ownership.revoke,
          onAssignment: (assignment) => Ref.set(assigned, assignment.length)
        })
        yield* Effect.logInfo(`commerce ${job} job started`).pipe(
          Effect.annotateLogs({ job: `commerce-${job}`, input: topics.inputs.join(", ") })
        )
        return records
      }),
      // State of a job without re-keying, whose keyed operator reads `input` itself.
      state: (input: string, partitions: number) => stateOf(outputs, input, partitions)
    }

    function stateOf(stage: KafkaOutputs.KafkaOutputs, input: string, partitions: number) {
      const exactlyOnce =
        stage.transactions === undefined ? undefined : { transactions: stage.transactions, inputTopic: input }
      return <A, E, R>(effect: Effect.Effect<A, E, R>) =>
        effect.pipe(
          Effect.provideService(Ownership.Ownership, ownership),
          Effect.provideServiceEffect(StateStore.StateStore, stateStore(config, client, job, partitions, exactlyOnce))
        )
    }
  })

/**
 * Runs the sales job until interrupted: ensures the topics (the orders topic
 * with one partition) and the table, then aggregates.
 *
 * @since 0.3.0
 * @category running
 */
export const runSales = (
  config: CommerceConfig.CommerceConfig,
  readiness: Readiness.Readiness["Service"],
  guarantee: ProcessingGuarantee.ProcessingGuarantee = "at-least-once",
  timing: ConsumerGroup.Timing = {},
  commitInterval?: Duration.Duration
) =>
  Effect.gen(function* () {
    const job = yield* start(
      config,
      readiness,
      "sales",
      { inputs: [config.topics.orders], outputs: [] },
      guarantee,
      timing,
      commitInterval
    )
    yield* singlePartition(job.client, config.topics.orders)
    const metrics = yield* job.results.table(Tables.salesMetrics)
    const records = yield* job.source
    yield* SalesJob.run(records, { metrics, deadLetters: job.deadLetters }).pipe(job.state(config.topics.orders, 1))
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
  readiness: Readiness.Readiness["Service"],
  guarantee: ProcessingGuarantee.ProcessingGuarantee = "at-least-once",
  timing: ConsumerGroup.Timing = {},
  commitInterval?: Duration.Duration
) =>
  Effect.gen(function* () {
    const job = yield* start(
      config,
      readiness,
      "segments",
      { inputs: [config.topics.orders], outputs: [config.topics.segmentChanges] },
      guarantee,
      timing,
      commitInterval
    )
    const segments = yield* job.results.table(Tables.customerSegments)
    const byCustomer = yield* job.rekey("customer", partitions)
    const records = yield* job.source
    yield* SegmentsJob.run(
      records,
      { segments, changes: byCustomer.sink(config.topics.segmentChanges), deadLetters: job.deadLetters },
      byCustomer.topic
    ).pipe(byCustomer.state)
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
  readiness: Readiness.Readiness["Service"],
  guarantee: ProcessingGuarantee.ProcessingGuarantee = "at-least-once",
  timing: ConsumerGroup.Timing = {},
  commitInterval?: Duration.Duration
) =>
  Effect.gen(function* () {
    const job = yield* start(
      config,
      readiness,
      "anomalies",
      { inputs: [config.topics.orders], outputs: [config.topics.anomalyAlerts] },
      guarantee,
      timing,
      commitInterval
    )
    const alerts = yield* job.results.table(Tables.anomalyAlerts)
    const byCustomer = yield* job.rekey("customer", partitions)
    const records = yield* job.source
    yield* AnomaliesJob.run(
      records,
      { alerts, topic: byCustomer.sink(config.topics.anomalyAlerts), deadLetters: job.deadLetters },
      byCustomer.topic
    ).pipe(byCustomer.state)
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
  readiness: Readiness.Readiness["Service"],
  guarantee: ProcessingGuarantee.ProcessingGuarantee = "at-least-once",
  timing: ConsumerGroup.Timing = {},
  commitInterval?: Duration.Duration
) =>
  Effect.gen(function* () {
    const topics = { products: config.topics.products, orderItems: config.topics.orderItems }
    const job = yield* start(
      config,
      readiness,
      "inventory",
      { inputs: [topics.products, topics.orderItems], outputs: [] },
      guarantee,
      timing,
      commitInterval
    )
    const insights = yield* job.results.table(Tables.inventoryInsights)
    const byProduct = yield* job.rekey("product", partitions)
    const records = yield* job.source
    yield* InventoryJob.run(records, topics, { insights, deadLetters: job.deadLetters }, byProduct.topic).pipe(
      byProduct.state
    )
  })

// The flags every job command has.
const jobFlags = { ...CommerceConfig.settingFlags, ...ProcessingGuarantee.flags, ...ConsumerGroup.flags }

// A job command: loads the settings, serves observability (with the commerce
// dashboard), and runs the job under telemetry named `commerce-<name>`.
// `extra` are the job's own flags, handed to `run` parsed.
const jobCommand = <const Extra extends Command.Command.Config, E, R>(
  name: string,
  description: string,
  extra: Extra,
  run: (
    config: CommerceConfig.CommerceConfig,
    flags: Command.Command.Config.InferValue<Extra>,
    readiness: Readiness.Readiness["Service"],
    guarantee: ProcessingGuarantee.ProcessingGuarantee,
    timing: ConsumerGroup.Timing,
    commitInterval: Duration.Duration | undefined
  ) => Effect.Effect<void, E, R>
) =>
  Command.make(name, { job: jobFlags, extra }, ({ job, extra }) =>
    Effect.gen(function* () {
      const config = yield* CommerceConfig.load(job)
      const { guarantee, commitInterval } = yield* ProcessingGuarantee.load(job)
      const timing = yield* ConsumerGroup.load(job)
      yield* Effect.scoped(
        Effect.flatMap(Services.observability(config.metricsPort, CommerceDashboard.dashboard), (readiness) =>
          run(config, extra, readiness, guarantee, timing, commitInterval)
        )
      ).pipe(Services.withTelemetry(`commerce-${name}`))
    })
  ).pipe(Command.withDescription(description))

const sales = jobCommand(
  "sales",
  "Hopping 1 h / 5 min sales windows over orders into realtime_sales_metrics",
  {},
  (config, _flags, readiness, guarantee, timing, commitInterval) =>
    runSales(config, readiness, guarantee, timing, commitInterval)
)

const segments = jobCommand(
  "segments",
  "RFM customer segments into customer_segments and the segment-changes topic",
  { partitions: Flags.partitions },
  (config, flags, readiness, guarantee, timing, commitInterval) =>
    runSegments(config, flags.partitions, readiness, guarantee, timing, commitInterval)
)

const anomalies = jobCommand(
  "anomalies",
  "Order spikes, rapid orders, outliers and large orders into anomaly_alerts",
  { partitions: Flags.partitions },
  (config, flags, readiness, guarantee, timing, commitInterval) =>
    runAnomalies(config, flags.partitions, readiness, guarantee, timing, commitInterval)
)

const inventory = jobCommand(
  "inventory",
  "Stock velocity, stock status, dead stock and restock advice into inventory_insights",
  { partitions: Flags.partitions },
  (config, flags, readiness, guarantee, timing, commitInterval) =>
    runInventory(config, flags.partitions, readiness, guarantee, timing, commitInterval)
)

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
