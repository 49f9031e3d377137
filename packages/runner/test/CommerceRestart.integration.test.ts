// A restart of the sales, segmentation and anomaly jobs with durable state
// (--state-dir): the first half of the history, a stop once every group has
// committed, the second half, and a new run of the job on the same state
// directory. The table must equal the reference over the whole history, which
// it cannot if the restarted job lost the sales windows' panes and watermark,
// the customers' counts, sums, timers, recent order dates or running mean and σ.
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Fiber } from "effect"
import type * as Readiness from "../src/http/Readiness.ts"
import * as ReadinessModule from "../src/http/Readiness.ts"
import * as CommerceCommand from "../src/jobs/commerce/CommerceCommand.ts"
import * as CommerceConfig from "../src/jobs/commerce/CommerceConfig.ts"
import * as DemoCommand from "../src/jobs/commerce/DemoCommand.ts"
import * as Generator from "../src/jobs/commerce/Generator.ts"
import * as SalesJob from "../src/jobs/commerce/SalesJob.ts"
import * as SegmentsJob from "../src/jobs/commerce/SegmentsJob.ts"
import * as Services from "../src/Services.ts"
import * as Reference from "./support/commerceReference.ts"
import * as CommerceSetup from "./support/commerceSetup.ts"
import { forkJob } from "./support/forkJob.ts"
import { pollUntil } from "./support/poll.ts"

const options: Generator.Options = { ...Generator.defaults, seed: 7, orders: 600, spacingMillis: 14_400_000 }
const PARTITIONS = 4

type Contributions = Effect.Success<ReturnType<typeof Reference.decodeOrders>>["contributions"]

interface Case {
  readonly job: "sales" | "segments" | "anomalies"
  /** Whether the job re-keys the orders through `<group>-<job>-by-customer`. */
  readonly repartitioned: boolean
  /** The history; the sales case packs orders 10 minutes apart, so hour-long windows span the restart. */
  readonly history: Generator.Options
  readonly run: (
    config: CommerceConfig.CommerceConfig,
    partitions: number,
    readiness: Readiness.Readiness["Service"]
  ) => Effect.Effect<void, unknown, never>
  readonly query: string
  readonly reference: (contributions: Contributions) => ReadonlyArray<unknown>
}

const cases: ReadonlyArray<Case> = [
  {
    job: "sales",
    repartitioned: false,
    history: { ...options, spacingMillis: 600_000 },
    run: (config, _partitions, readiness) => Effect.scoped(CommerceCommand.runSales(config, readiness)),
    query: `SELECT metric_id, total_revenue::text, order_count, avg_order_value::text, unique_customers
            FROM realtime_sales_metrics ORDER BY metric_id`,
    reference: (contributions) => Reference.sales(contributions, SalesJob.settings).rows
  },
  {
    job: "segments",
    repartitioned: true,
    history: options,
    run: (config, partitions, readiness) => Effect.scoped(CommerceCommand.runSegments(config, partitions, readiness)),
    query: `SELECT customer_id::text, segment, recency_days, frequency, monetary_value::text
            FROM customer_segments ORDER BY customer_segments.customer_id`,
    reference: (contributions) =>
      Reference.segments(contributions, { partitions: PARTITIONS, outOfOrderness: SegmentsJob.outOfOrderness })
  },
  {
    job: "anomalies",
    repartitioned: true,
    history: options,
    run: (config, partitions, readiness) => Effect.scoped(CommerceCommand.runAnomalies(config, partitions, readiness)),
    query: `SELECT alert_id, anomaly_type, severity, order_amount::text FROM anomaly_alerts ORDER BY alert_id COLLATE "C"`,
    reference: (contributions) => Reference.anomalies(contributions)
  }
]

describe("sluice commerce --state-dir", () => {
  it.live.each(cases)(
    "$job - a restarted job keeps its state: the table equals the reference over the whole history",
    ({ job, repartitioned, history, run, query, reference }) =>
      Effect.gen(function* () {
        const { broker, db, dir } = yield* CommerceSetup.environment({
          tables: ["orders"],
          database: "commerce",
          stateDir: "commerce-state-"
        })
        const records = yield* Generator.generate(history)
        const half = Math.floor(records.length / 2)
        const config = yield* CommerceConfig.load().pipe(
          Effect.provideService(
            ConfigProvider.ConfigProvider,
            ConfigProvider.fromEnv({
              env: {
                KAFKA_BOOTSTRAP_SERVERS: broker.bootstrap,
                DATABASE_URL: db.url,
                METRICS_PORT: "0",
                COMMERCE_STATE_DIR: dir
              }
            })
          )
        )
        const client = yield* Services.kafkaClient(config)
        const groups = [
          { groupId: `${config.groupId}-${job}`, topics: [config.topics.orders] },
          ...(repartitioned
            ? [{ groupId: `${config.groupId}-${job}-by-customer`, topics: [`${config.groupId}-${job}-by-customer`] }]
            : [])
        ]
        const read = Effect.tryPromise(() => db.sql.unsafe(query)).pipe(
          Effect.map((rows): ReadonlyArray<unknown> => rows.map((r) => ({ ...r }))),
          Effect.orElseSucceed((): ReadonlyArray<unknown> => [])
        )
        const expectedOf = (upTo: number) =>
          Effect.map(Reference.decodeOrders(records.slice(0, upTo)), ({ contributions }) => reference(contributions))

        // First run: the first half, until every group has committed to the end.
        yield* CommerceSetup.produce(broker.bootstrap, records.slice(0, half), ["orders"])
        const first = yield* forkJob(run(config, PARTITIONS, yield* ReadinessModule.make()))
        const halfway = yield* expectedOf(half)
        yield* pollUntil(
          "the table to match the first half",
          Effect.andThen(first.running, read),
          (rows) => JSON.stringify(rows) === JSON.stringify(halfway),
          {
            timeoutMs: 120_000,
            intervalMs: 500
          }
        )
        yield* pollUntil("every group to commit the first half", DemoCommand.caughtUp(client, groups), (done) => done, {
          timeoutMs: 60_000,
          intervalMs: 500
        })
        yield* Fiber.interrupt(first.fiber)

        // Second run, on the same state directory: the rest.
        yield* CommerceSetup.produce(broker.bootstrap, records.slice(half), ["orders"])
        const second = yield* forkJob(run(config, PARTITIONS, yield* ReadinessModule.make()))
        const expected = yield* expectedOf(records.length)
        const rows = yield* pollUntil(
          "the table to match the whole history after the restart",
          Effect.andThen(second.running, read),
          (rows) => JSON.stringify(rows) === JSON.stringify(expected),
          { timeoutMs: 120_000, intervalMs: 500 }
        )
        assert.deepStrictEqual(rows, [...expected])
      }).pipe(Effect.scoped),
    300_000
  )
})
