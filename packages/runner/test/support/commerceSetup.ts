/**
 * The set-up the commerce integration tests share: an embedded broker with a
 * topic per table of the generated history, a fresh database, a state
 * directory removed with the scope, and the history written to the broker.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { EmbeddedKafka } from "@sluice/testkit"
import { Effect } from "effect"
import { Kafka, logLevel } from "kafkajs"
import type * as Generator from "../../src/jobs/commerce/Generator.ts"
import { freshDatabase } from "./database.ts"

type Table = Generator.GeneratedRecord["table"]

/** The topic prefix of the generated change events (`<prefix>.<table>`). */
export const prefix = "dbserver1.public"

/** The topic of `table`'s change events. */
export const topicOf = (table: Table): string => `${prefix}.${table}`

/** A temporary directory named `<name>…`, removed with the scope. */
export const stateDirectory = (name: string) =>
  Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), name))),
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )

/** An embedded broker with a one-partition topic per table in `tables`. */
export const brokerWith = (tables: ReadonlyArray<Table>) =>
  Effect.gen(function* () {
    const broker = yield* EmbeddedKafka.make({ port: 0 })
    for (const table of tables) yield* broker.createTopic(topicOf(table), 1)
    return broker
  })

/**
 * The broker with `tables`' topics, a fresh database named after `database`
 * and a state directory named after `stateDir`, all released with the scope.
 */
export const environment = (options: {
  readonly tables: ReadonlyArray<Table>
  readonly database: string
  readonly stateDir: string
}) =>
  Effect.gen(function* () {
    const broker = yield* brokerWith(options.tables)
    const db = yield* freshDatabase(options.database)
    const dir = yield* stateDirectory(options.stateDir)
    return { broker, db, dir }
  })

/**
 * Writes the records of `tables` to their topics, table by table in the
 * generator's order, 500 a request, with an idempotent producer (a retried
 * request never writes a record twice).
 */
export const produce = (
  bootstrap: string,
  records: ReadonlyArray<Generator.GeneratedRecord>,
  tables: ReadonlyArray<Table>
) =>
  Effect.promise(async () => {
    const kafka = new Kafka({ brokers: [bootstrap], logLevel: logLevel.NOTHING })
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
    await producer.connect()
    try {
      for (const table of tables) {
        const mine = records.filter((r) => r.table === table)
        for (let i = 0; i < mine.length; i += 500)
          await producer.send({
            topic: topicOf(table),
            acks: -1,
            messages: mine.slice(i, i + 500).map((r) => ({ key: r.key, value: r.value }))
          })
      }
    } finally {
      await producer.disconnect()
    }
  })
