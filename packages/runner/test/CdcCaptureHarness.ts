/**
 * What the `sluice cdc capture` process tests share: a private cluster's
 * database with the seed's tables, the embedded broker, the capture as a CLI
 * process, the keys that reached the raw topic, and the rows the topic must
 * hold.
 */
import { PgLookup } from "@sluice/lookup"
import { EmbeddedKafka } from "@sluice/testkit"
import { Effect, Redacted } from "effect"
import { Kafka, logLevel } from "kafkajs"
import * as Cluster from "../../cdc/test/support/Cluster.ts"
import * as CdcTables from "../src/jobs/cdc/CdcTables.ts"
import { countRecords } from "./support/kafka.ts"
import { pollUntil } from "./support/poll.ts"
import { spawnSluice } from "./support/spawnSluice.ts"

export const rawTopic = "raw-business-events"

/** Every key written to the raw topic, collected by a plain consumer for the scope's lifetime. */
export const collectKeys = (bootstrap: string) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const keys = new Set<string>()
      const kafka = new Kafka({ brokers: [bootstrap], logLevel: logLevel.NOTHING })
      const consumer = kafka.consumer({ groupId: "capture-test-reader" })
      await consumer.connect()
      await consumer.subscribe({ topic: rawTopic, fromBeginning: true })
      await consumer.run({
        eachMessage: async ({ message }) => {
          if (message.key !== null) keys.add(message.key.toString())
        }
      })
      return { keys, consumer }
    }),
    ({ consumer }) => Effect.promise(() => consumer.disconnect())
  )

/** A database of the file's cluster with the seed's tables, the broker, and how to start the capture. */
export const setup = Effect.gen(function* () {
  const db = yield* Cluster.database
  const broker = yield* EmbeddedKafka.make({ port: 0 })
  const pg = yield* PgLookup.makeClient({ url: Redacted.make(db.url), poolSize: 2 })
  yield* CdcTables.migrate(pg.sql)
  const env = { KAFKA_BOOTSTRAP_SERVERS: broker.bootstrap, DATABASE_URL: db.url, METRICS_PORT: "0" }
  const start = () => spawnSluice(["cdc", "capture", "--single-topic"], env, { detached: true })
  const query = <T>(text: string) => Effect.promise(() => pg.sql.unsafe(text) as unknown as Promise<ReadonlyArray<T>>)
  const slots = query<{ active: boolean; confirmed: string }>(
    "SELECT active, confirmed_flush_lsn::text AS confirmed FROM pg_replication_slots"
  )
  /** The key of every row of the seed's tables, as the capture writes it. */
  const expectedKeys = Effect.map(
    query<{ id: string }>(CdcTables.tables.map((t) => `SELECT id FROM ${t}`).join(" UNION ALL ")),
    (rows) => new Set(rows.map((r) => JSON.stringify({ id: r.id })))
  )
  /** Waits until `capture` has written `n` records, or dies with its output. */
  const waitForRecords = (capture: ReturnType<typeof start>, n: number) =>
    pollUntil(
      `${n} records on the raw topic`,
      Effect.map(countRecords(broker, [rawTopic]), (count) => ({
        count,
        exitCode: capture.child.exitCode,
        stderr: capture.output().stderr.slice(-400)
      })),
      ({ count, exitCode }) => count >= n || exitCode !== null,
      { timeoutMs: 90_000, intervalMs: 50 }
    )
  /** Waits until every row's key is on the raw topic, with the slot and the capture's output if not. */
  const waitForEveryRow = (capture: ReturnType<typeof start>, expected: ReadonlySet<string>) =>
    Effect.gen(function* () {
      const { keys } = yield* collectKeys(broker.bootstrap)
      yield* pollUntil(
        "every row's key on the raw topic",
        Effect.map(Effect.all([countRecords(broker, [rawTopic]), slots]), ([inTopic, slot]) => ({
          missing: [...expected].filter((k) => !keys.has(k)).length,
          inTopic,
          slot,
          exitCode: capture.child.exitCode,
          stderr: capture.output().stderr.slice(-600),
          stdout: capture.output().stdout.slice(-1500)
        })),
        ({ exitCode, missing }) => missing === 0 || exitCode !== null,
        { timeoutMs: 120_000, intervalMs: 500 }
      )
      return keys
    })
  return { db, pg, broker, start, slots, query, expectedKeys, waitForRecords, waitForEveryRow }
})
