/**
 * `sluice demo cdc`: the whole CDC path of seed 003 in one process, on an
 * embedded broker. It starts a PostgreSQL of its own with logical
 * replication (`LogicalPostgres` of `@sluice/cdc`: the machine's server
 * binaries, `--pg-bin DIR` or `PG_BIN_DIR` to name them), creates the
 * seed's tables, captures `business_events` to the raw topic, routes it
 * with the example rules (`ExampleRules`), and inserts generated business
 * events into PostgreSQL at `--events-per-second`. Where no such server can
 * be started (no binaries, no account to run them as, `initdb` failing) it
 * says why in one line and writes the generated events to the raw topic
 * directly, as the Debezium envelopes the capture would write for their
 * rows. The dashboard shows per-rule throughput and counts per topic.
 *
 * The demo captures `business_events` only: the example rules route those
 * rows, and every entity-table row would land on the default topic. After
 * `--count` events (3,000 by default), once the capture has written them all
 * and the router's group has committed to the end of the raw topic, a
 * summary of the counts per topic is printed and the demo ends.
 *
 * @since 0.1.0
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Json } from "@sluice/cdc"
import * as LogicalPostgres from "@sluice/cdc/LogicalPostgres"
import { KafkaError } from "@sluice/kafka"
import { PgLookup } from "@sluice/lookup"
import type { Broker } from "@sluice/testkit/EmbeddedKafka"
import { Clock, Config, Effect, Fiber, Option, Redacted, Result } from "effect"
import { Command, Flag } from "effect/cli"
import * as Flags from "../../Flags.ts"
import * as Parse from "../../Parse.ts"
import * as Services from "../../Services.ts"
import * as CaptureCommand from "./CaptureCommand.ts"
import * as CdcConfig from "./CdcConfig.ts"
import * as CdcDashboard from "./CdcDashboard.ts"
import * as CdcGenerator from "./CdcGenerator.ts"
import * as CdcTables from "./CdcTables.ts"
import * as ExampleRules from "./ExampleRules.ts"
import * as GenerateCommand from "./GenerateCommand.ts"
import * as RouteCommand from "./RouteCommand.ts"

/**
 * The Debezium change event (`op: "c"`) of a generated event's
 * `business_events` row, as key and value JSON.
 *
 * @since 0.1.0
 * @category encoding
 */
export const changeEvent = (
  e: CdcGenerator.BusinessEvent,
  prefix: string
): { readonly key: string; readonly value: string } => ({
  key: Json.stringify({ id: e.id }) ?? "",
  value:
    Json.stringify({
      before: null,
      after: {
        id: e.id,
        event_name: e.eventName,
        event_type: e.eventType,
        entity_type: e.entityType,
        entity_id: e.entityId,
        created_at: e.createdAt * 1000,
        updated_attributes: JSON.stringify(e.attributes)
      },
      source: {
        version: "sluice",
        connector: "postgresql",
        name: prefix,
        ts_ms: e.createdAt,
        snapshot: "false",
        db: "demo",
        schema: "public",
        table: "business_events",
        txId: null,
        lsn: null
      },
      op: "c",
      ts_ms: e.createdAt
    }) ?? ""
})

const say = (line: string) => Effect.sync(() => process.stderr.write(`${line}\n`))

// Event options of the demo's generator, shared by both paths so a seed gives the same events either way.
const generatorOptions = (seed: number): CdcGenerator.Options => ({ seed, maxBytes: 8192 })

/**
 * Where the raw change events of a run came from.
 *
 * @since 0.1.0
 * @category models
 */
export type Source =
  | {
      readonly _tag: "Capture"
      readonly version: string
      readonly binDir: string
      /** Rows in `business_events` at the end. */
      readonly inserted: number
    }
  | { readonly _tag: "Direct"; readonly reason: string; readonly sent: number }

/**
 * What the summary reports.
 *
 * @since 0.1.0
 * @category models
 */
export interface Figures {
  readonly source: Source
  readonly rawTopic: string
  /** Records on the raw topic. */
  readonly raw: number
  /** Records per output topic, the example rules' topics in order. */
  readonly topics: ReadonlyArray<readonly [string, number]>
  readonly deadLetterTopic: string
  readonly deadLetters: number
}

/**
 * The summary printed at the end of a run.
 *
 * @since 0.1.0
 * @category formatting
 */
export const summary = (f: Figures): string => {
  const width = Math.max(24, ...f.topics.map(([t]) => t.length + 2))
  const line = (label: string, value: string | number) => `  ${label.padEnd(width)}${value}`
  const source =
    f.source._tag === "Capture"
      ? [
          line("source", `PostgreSQL ${f.source.version} (${f.source.binDir}), logical replication`),
          line("rows inserted", `${f.source.inserted} (business_events)`),
          line("rows captured", `${f.raw} (${f.rawTopic})`)
        ]
      : [
          line("source", `generated change events written directly (${f.source.reason})`),
          line("events sent", `${f.source.sent} (${f.rawTopic})`)
        ]
  return [
    "cdc demo summary",
    ...source,
    ...f.topics.map(([topic, n]) => line(topic, n)),
    line("dead letters", `${f.deadLetters} (${f.deadLetterTopic})`)
  ].join("\n")
}

const total = (broker: Broker, topic: string) =>
  broker.endOffsets(topic).pipe(
    Effect.map((offsets) => offsets.reduce((a, b) => a + b, 0)),
    // A topic nobody wrote to may not exist yet.
    Effect.orElseSucceed(() => 0)
  )

// Whether the raw topic holds `expected` records and the group has committed all of them.
const caughtUp = (broker: Broker, config: CdcConfig.CdcConfig, expected: number) =>
  Effect.gen(function* () {
    const ends = yield* broker.endOffsets(config.rawTopic).pipe(Effect.orElseSucceed(() => []))
    if (ends.reduce((a, b) => a + b, 0) < expected) return false
    const committed = (yield* broker.committedOffsets(config.groupId)).get(config.rawTopic)
    return ends.every((end, p) => end === 0 || (committed?.get(p) ?? -1) >= end)
  })

/**
 * Calls `send(from, n)` for events `0..count - 1` in batches of up to a tenth
 * of a second's worth (at most 100), each batch no earlier than its share of
 * the rate allows, by the `Clock`: `count` events take `count /
 * eventsPerSecond` seconds however long the sends take.
 *
 * @since 0.1.0
 * @category running
 */
export const paced = <E, R>(
  options: { readonly count: number; readonly eventsPerSecond: number },
  send: (from: number, n: number) => Effect.Effect<void, E, R>
): Effect.Effect<void, E, R> =>
  Effect.gen(function* () {
    const batch = Math.max(1, Math.min(100, Math.floor(options.eventsPerSecond / 10)))
    const started = yield* Clock.currentTimeMillis
    for (let i = 0; i < options.count; i += batch) {
      const n = Math.min(batch, options.count - i)
      yield* send(i, n)
      const due = started + ((i + n) * 1000) / options.eventsPerSecond
      const now = yield* Clock.currentTimeMillis
      if (due > now) yield* Effect.sleep(due - now)
    }
  })

// Writes the generated events' change events to the raw topic at the rate: the path without PostgreSQL.
const sendDirect = (
  config: CdcConfig.CdcConfig,
  options: { readonly seed: number; readonly count: number; readonly eventsPerSecond: number }
) =>
  Effect.gen(function* () {
    const client = yield* Services.kafkaClient(config)
    const producer = yield* client.producer({ idempotent: true, maxInFlightRequests: 1 })
    yield* paced(options, (from, n) => {
      const messages = Array.from({ length: n }, (_, j) =>
        changeEvent(CdcGenerator.event(generatorOptions(options.seed), from + j), config.topicPrefix)
      )
      return KafkaError.attempt("send", () => producer.send({ topic: config.rawTopic, acks: -1, messages }))
    })
  })

const pgBin = Flag.String("pg-bin").pipe(
  Flag.withDescription(
    "Directory of the PostgreSQL server binaries (initdb, postgres) (env PG_BIN_DIR); default: PATH, then /usr/lib/postgresql/<version>/bin"
  ),
  Flag.optional
)

/**
 * The `cdc` demo as a command called `name`.
 *
 * @since 0.1.0
 * @category commands
 */
export const make = (name: string) =>
  Command.make(
    name,
    {
      metricsPort: CdcConfig.settingFlags.metricsPort,
      count: Flags.parsed("count", Parse.int(1), "Business events to generate").pipe(Flags.withDefault(3000, "3000")),
      eventsPerSecond: Flags.parsed("events-per-second", Parse.int(1), "Generated events per second").pipe(
        Flags.withDefault(200, "200")
      ),
      seed: Flags.parsed("seed", Parse.int(0), "Generator seed").pipe(Flags.withDefault(1, "1")),
      pgBin
    },
    (flags) =>
      Effect.gen(function* () {
        // Loaded here: the embedded broker is the demo's alone, not the job's.
        const Embedded = yield* Effect.promise(() => import("@sluice/testkit/EmbeddedKafka"))
        const broker = yield* Embedded.make({ port: 0 })
        const config = yield* CdcConfig.load({
          bootstrapServers: Option.some(broker.bootstrap),
          metricsPort: flags.metricsPort
        })
        const dir = yield* Effect.acquireRelease(
          Effect.sync(() => mkdtempSync(join(tmpdir(), "sluice-cdc-demo-"))),
          (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
        )
        const rules = join(dir, "rules.yaml")
        writeFileSync(rules, ExampleRules.text)
        yield* say(`cdc demo: broker ${broker.bootstrap}, rules ${rules}`)

        const binDir = Option.isSome(flags.pgBin)
          ? flags.pgBin
          : yield* Config.option(Config.String("PG_BIN_DIR")).pipe(Effect.orElseSucceed(() => Option.none<string>()))
        const server = yield* Effect.result(
          LogicalPostgres.make({ binDir: Option.getOrUndefined(Option.filter(binDir, (d) => d !== "")) })
        )

        // Before anything writes to it: a send would create it with the broker's default partition count.
        yield* broker.createTopic(config.rawTopic, 6)
        const readiness = yield* Services.observability(config.metricsPort, CdcDashboard.dashboard)
        yield* say(`cdc demo: dashboard http://127.0.0.1:${readiness.port}/  (metrics on /metrics)`)
        const router = yield* Effect.forkScoped(RouteCommand.runRoute(config, { rules }, readiness))
        const run = { seed: flags.seed, count: flags.count, eventsPerSecond: flags.eventsPerSecond }

        let capture: Fiber.Fiber<unknown, unknown> | undefined
        let source: Source
        if (Result.isSuccess(server)) {
          const pg = server.success
          yield* say(`cdc demo: PostgreSQL ${pg.version} with wal_level=logical on 127.0.0.1:${pg.port} (${pg.binDir})`)
          const client = yield* PgLookup.makeClient({
            url: Redacted.make(pg.url),
            poolSize: 2,
            applicationName: "sluice-cdc-demo"
          })
          yield* CdcTables.migrate(client.sql)
          const captured: CdcConfig.CdcConfig = { ...config, databaseUrl: Option.some(Redacted.make(pg.url)) }
          capture = yield* Effect.forkScoped(
            CaptureCommand.runCapture(
              captured,
              { singleTopic: true, unwrap: false, tables: ["public.business_events"] },
              readiness
            )
          )
          yield* GenerateCommand.run(client.sql, { ...generatorOptions(flags.seed), ...run })
          const rows = yield* Effect.tryPromise(() =>
            client.sql.unsafe("SELECT count(*)::int AS n FROM business_events")
          )
          const inserted = Number((rows[0] as { readonly n?: unknown } | undefined)?.n ?? 0)
          source = { _tag: "Capture", version: pg.version, binDir: pg.binDir, inserted }
          yield* say(`cdc demo: ${source.inserted} business events inserted; waiting for capture and router`)
        } else {
          const detail =
            server.failure.reason._tag === "Unavailable" ? server.failure.reason.detail : server.failure.message
          yield* say(
            `cdc demo: no PostgreSQL with logical replication (${detail}); generated events go to ${config.rawTopic} directly as Debezium change events`
          )
          yield* sendDirect(config, run)
          source = { _tag: "Direct", reason: detail, sent: flags.count }
          yield* say(`cdc demo: ${flags.count} change events sent; waiting for the router`)
        }

        // Done when everything generated is on the raw topic and routed; a job that fails ends the demo with its error.
        const expected = source._tag === "Capture" ? source.inserted : source.sent
        while (!(yield* caughtUp(broker, config, expected))) {
          if (router.pollUnsafe() !== undefined) return yield* Fiber.join(router)
          if (capture !== undefined && capture.pollUnsafe() !== undefined) return yield* Fiber.join(capture)
          yield* Effect.sleep("250 millis")
        }
        const topics: Array<readonly [string, number]> = []
        for (const topic of ExampleRules.topics) topics.push([topic, yield* total(broker, topic)])
        const text = summary({
          source,
          rawTopic: config.rawTopic,
          raw: yield* total(broker, config.rawTopic),
          topics,
          deadLetterTopic: config.deadLetterTopic,
          deadLetters: yield* total(broker, config.deadLetterTopic)
        })
        yield* Effect.sync(() => process.stdout.write(`${text}\n`))
      }).pipe(Effect.scoped)
  ).pipe(
    Command.withDescription(
      "PostgreSQL with logical replication, capture, router with the example rules and the generator, on an embedded broker"
    )
  )
