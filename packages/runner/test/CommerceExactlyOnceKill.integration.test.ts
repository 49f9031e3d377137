// Exactly-once under kill -9: the real `sluice commerce segments` and
// `sluice commerce anomalies` processes, with durable state (--state-dir) and
// `--processing-guarantee exactly-once`, are killed with SIGKILL twice
// while they work through the order history, and restarted on the same state
// directory each time. At-least-once, the orders a kill leaves uncommitted are
// counted again on top of a changelog that already holds them (frequencies
// too high, extra alerts). Exactly-once, the state, its changelog and both
// stages' offsets commit together, so once every stage has read everything
// the table equals the brute-force reference over the history.
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Kafka, logLevel } from "kafkajs"
import * as Generator from "../src/jobs/commerce/Generator.ts"
import * as SegmentsJob from "../src/jobs/commerce/SegmentsJob.ts"
import * as Reference from "./support/commerceReference.ts"
import * as CommerceSetup from "./support/commerceSetup.ts"
import { pollUntil } from "./support/poll.ts"
import { spawnSluice, stopSluice } from "./support/spawnSluice.ts"

const ORDERS = CommerceSetup.topicOf("orders")
const PARTITIONS = 4
const GROUP = "eos-kill"
const kills = 2
const history: Generator.Options = { ...Generator.defaults, seed: 11, orders: 1_000, spacingMillis: 3_600_000 }

// Per partition of `topic`, the offset past its last committed record, read
// read_committed up to the last stable offset (commit markers and aborted
// records take offsets too, so the end offset alone cannot say it).
const committedEnds = (bootstrap: string, topic: string, stable: ReadonlyArray<number>) =>
  Effect.promise(async () => {
    const kafka = new Kafka({ brokers: [bootstrap], logLevel: logLevel.NOTHING })
    const consumer = kafka.consumer({ groupId: `ends-${Math.random().toString(36).slice(2)}`, maxWaitTimeInMs: 100 })
    const ends = stable.map(() => 0)
    const remaining = new Set(stable.flatMap((end, p) => (end > 0 ? [p] : [])))
    await consumer.connect()
    try {
      if (remaining.size === 0) return ends
      await new Promise<void>((resolve, reject) => {
        const reached = (partition: number, offset: number) => {
          if (offset >= stable[partition]! - 1 && remaining.delete(partition) && remaining.size === 0) resolve()
        }
        consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) =>
          reached(payload.partition, Number(payload.lastOffset))
        )
        void consumer.subscribe({ topics: [topic], fromBeginning: true }).then(
          () =>
            consumer.run({
              eachBatch: async ({ batch }) => {
                const last = batch.messages.at(-1)
                if (last !== undefined && Number(last.offset) < stable[batch.partition]!) {
                  ends[batch.partition] = Math.max(ends[batch.partition]!, Number(last.offset) + 1)
                }
              }
            }),
          reject
        )
      })
      return ends
    } finally {
      await consumer.disconnect()
    }
  })

interface Case {
  readonly job: "segments" | "anomalies"
  readonly query: string
  readonly reference: (
    contributions: Effect.Success<ReturnType<typeof Reference.decodeOrders>>["contributions"]
  ) => ReadonlyArray<unknown>
}

const cases: ReadonlyArray<Case> = [
  {
    job: "segments",
    query: `SELECT customer_id::text, segment, recency_days, frequency, monetary_value::text
            FROM customer_segments ORDER BY customer_segments.customer_id`,
    reference: (contributions) =>
      Reference.segments(contributions, { partitions: PARTITIONS, outOfOrderness: SegmentsJob.outOfOrderness })
  },
  {
    job: "anomalies",
    query: `SELECT alert_id, anomaly_type, severity, order_amount::text FROM anomaly_alerts ORDER BY alert_id COLLATE "C"`,
    reference: (contributions) => Reference.anomalies(contributions)
  }
]

describe("sluice commerce --processing-guarantee exactly-once", () => {
  it.live.each(cases)(
    "$job - SIGKILL twice mid-run with --state-dir: the table equals the reference",
    ({ job, query, reference }) =>
      Effect.gen(function* () {
        const { broker, db, dir } = yield* CommerceSetup.environment({
          tables: ["orders"],
          database: "commerce_eos",
          stateDir: "commerce-eos-"
        })
        const records = yield* Generator.generate(history)
        yield* CommerceSetup.produce(broker.bootstrap, records, ["orders"])
        const expected = yield* Effect.map(Reference.decodeOrders(records), ({ contributions }) =>
          reference(contributions)
        )
        const env = {
          KAFKA_BOOTSTRAP_SERVERS: broker.bootstrap,
          DATABASE_URL: db.url,
          METRICS_PORT: "0",
          COMMERCE_STATE_DIR: dir,
          COMMERCE_GROUP_ID: GROUP,
          PROCESSING_GUARANTEE: "exactly-once",
          // Static membership: a restarted process takes its partitions back
          // at once instead of waiting for the killed member's session to end.
          GROUP_INSTANCE_ID: `${job}-1`
        }
        const args = ["commerce", job, "--partitions", String(PARTITIONS)]
        const start = Effect.acquireRelease(
          Effect.sync(() => spawnSluice(args, env)),
          (running) => stopSluice(running)
        )
        const rekeyed = `${GROUP}-${job}-by-customer`
        const stage2Committed = Effect.map(broker.committedOffsets(rekeyed), (groups) =>
          [...(groups.get(rekeyed)?.values() ?? [])].reduce((n, o) => n + Math.max(0, o), 0)
        )
        const read = Effect.tryPromise(() => db.sql.unsafe(query)).pipe(
          Effect.map((rows): ReadonlyArray<unknown> => rows.map((r) => ({ ...r }))),
          Effect.orElseSucceed((): ReadonlyArray<unknown> => [])
        )

        // Both stages have committed everything there is (the first stage's
        // check is cheap and comes first; the second reads the re-keying topic).
        const caughtUp = Effect.gen(function* () {
          const ordersEnd = (yield* broker.endOffsets(ORDERS))[0] ?? 0
          const stage1 = (yield* broker.committedOffsets(`${GROUP}-${job}`)).get(ORDERS)?.get(0) ?? -1
          if (stage1 < ordersEnd) return false
          const stable = yield* broker.stableOffsets(rekeyed)
          const ends = yield* committedEnds(broker.bootstrap, rekeyed, stable)
          const committed = (yield* broker.committedOffsets(rekeyed)).get(rekeyed)
          return ends.every((end, p) => end === 0 || (committed?.get(p) ?? -1) >= end)
        })
        // Each run is killed once the keyed stage committed more than before it
        // started. On a loaded machine an earlier run may already have committed
        // everything; a run then has nothing left to commit, so the wait also
        // ends once both stages are caught up.
        const progressed = (from: number) =>
          Effect.flatMap(stage2Committed, (n) => (n > from ? Effect.succeed(true) : caughtUp))
        for (let k = 0; k < kills; k++) {
          const from = yield* stage2Committed
          const running = yield* start
          yield* pollUntil("the keyed stage to commit", progressed(from), (done) => done, {
            timeoutMs: 60_000,
            intervalMs: 50
          })
          running.child.kill("SIGKILL")
          yield* Effect.promise(() => running.done)
        }

        // The last run: until both stages have committed everything there is.
        const last = yield* start
        // The killed runs may already have committed everything; the stop below
        // must still reach a process that is up, not one still loading.
        yield* pollUntil(
          "the last run to start its job",
          Effect.sync(() => {
            const { stdout, stderr } = last.output()
            return `${stdout}${stderr}`.includes(`commerce ${job} job started`)
          }),
          (started) => started,
          { timeoutMs: 90_000, intervalMs: 100 }
        )
        yield* pollUntil("both stages to commit everything", caughtUp, (done) => done, {
          timeoutMs: 90_000,
          intervalMs: 1_000
        })
        const rows = yield* pollUntil(
          "the table to match the reference",
          read,
          (rows) => JSON.stringify(rows) === JSON.stringify(expected),
          { timeoutMs: 30_000, intervalMs: 500 }
        )
        // A graceful stop (its last transaction committed or aborted), however loaded the machine.
        assert.strictEqual(yield* stopSluice(last, 60_000), 0)
        assert.deepStrictEqual(rows, [...expected])
        assert.deepStrictEqual(yield* read, [...expected], "the table after the stop")
      }).pipe(Effect.scoped),
    240_000
  )
})
