/**
 * `sluice cdc capture`: the logical-replication capture of `@sluice/cdc`
 * wired to Kafka. Every change of the seed's tables becomes a Debezium JSON
 * envelope keyed by the row's primary key, on `<prefix>.<schema>.<table>` or,
 * with `--single-topic`, on the raw topic (`raw-business-events`) the router
 * reads; `--unwrap` writes the new row state instead, as Debezium's
 * `ExtractNewRecordState` does.
 *
 * No loss: a record's receipt is acknowledged only once Kafka has it (every
 * in-sync replica), and the slot's confirmed position moves only to the
 * highest position whose records are all acknowledged. A kill and a restart
 * resume from the slot; a lost connection is retried from the slot, with
 * growing waits (`CaptureReconnect`). The
 * capture keeps the slot following the server's position while the tables
 * are quiet (its keepalive heartbeats), and reports the slot's lag as
 * `sluice_cdc_slot_lag_bytes`.
 *
 * @since 0.1.0
 */
import { Capture, Json, type Lsn } from "@sluice/cdc"
import { Receipt } from "@sluice/core"
import { Admin, KafkaClient, KafkaSink } from "@sluice/kafka"
import { type Duration, Effect, Option, Stream } from "effect"
import { Command, Flag } from "effect/cli"
import * as EmbeddedPostgres from "../../EmbeddedPostgres.ts"
import * as Readiness from "../../http/Readiness.ts"
import * as Services from "../../Services.ts"
import * as CaptureReconnect from "./CaptureReconnect.ts"
import * as CdcConfig from "./CdcConfig.ts"
import * as CdcDashboard from "./CdcDashboard.ts"
import * as CdcSink from "./CdcSink.ts"
import * as CdcTables from "./CdcTables.ts"

/**
 * How the capture writes besides its configuration.
 *
 * @since 0.1.0
 * @category models
 */
export interface CaptureOptions {
  /** Every table to the raw topic instead of one topic per table. */
  readonly singleTopic: boolean
  /** The new row state with `__op`, `__table`, `__lsn`, `__source_ts_ms`, `__deleted`. */
  readonly unwrap: boolean
  /** `schema.table` to capture; default the seed's tables. */
  readonly tables?: ReadonlyArray<string>
  /** How often the slot's position and lag are reported; default 10 seconds. */
  readonly statusInterval?: Duration.Input
  /** How a lost PostgreSQL connection is retried (`CaptureReconnect`). */
  readonly reconnect?: CaptureReconnect.Options
}

/**
 * The unwrapped form of a Debezium envelope (JSON text), numbers kept exact.
 *
 * @since 0.1.0
 * @category encoding
 */
export const unwrap = (value: string): string => {
  const envelope = Json.parse(value).value as {
    readonly before: Record<string, unknown> | null
    readonly after: Record<string, unknown> | null
    readonly op: string
    readonly source: { readonly table: string; readonly lsn: unknown; readonly ts_ms: unknown }
  }
  return (
    Json.stringify({
      ...(envelope.after ?? envelope.before ?? {}),
      __op: envelope.op,
      __table: envelope.source.table,
      __lsn: envelope.source.lsn,
      __source_ts_ms: envelope.source.ts_ms,
      __deleted: envelope.op === "d" ? "true" : "false"
    }) ?? value
  )
}

/**
 * Captures until interrupted.
 *
 * @since 0.1.0
 * @category running
 */
export const runCapture = (
  config: CdcConfig.CdcConfig,
  options: CaptureOptions,
  readiness: Readiness.Readiness["Service"]
) =>
  Effect.gen(function* () {
    const client = yield* Services.kafka(config).pipe(Effect.provideService(Readiness.Readiness, readiness))
    const url = Option.isSome(config.databaseUrl)
      ? config.databaseUrl.value
      : yield* EmbeddedPostgres.resolveDatabaseUrl
    const tables = options.tables ?? CdcTables.tables
    const capture = yield* Capture.make({
      url,
      serverName: config.topicPrefix,
      slot: config.slot,
      publication: config.publication,
      tables,
      ...(options.statusInterval === undefined ? {} : { statusInterval: options.statusInterval })
    })
    const topics = options.singleTopic
      ? [config.rawTopic]
      : tables.map((t) => `${config.topicPrefix}.${t.includes(".") ? t : `public.${t}`}`)
    yield* Admin.ensureTopics(topics.map((topic) => ({ topic, partitions: 6 }))).pipe(
      Effect.provideService(KafkaClient.KafkaClient, client)
    )
    const producer = yield* KafkaSink.producer(client)
    yield* Effect.logInfo("cdc capture started").pipe(
      Effect.annotateLogs({ job: "cdc-capture", slot: config.slot, tables: tables.join(","), topics: topics.join(",") })
    )
    // Raised by each record's receipt once Kafka has it; records arrive in
    // position order, so after a chunk is written it is the position to confirm.
    let durable: Lsn.Lsn = 0n
    yield* capture.records.pipe(
      // A lost connection resumes from the slot: nothing acknowledged is lost.
      Stream.retry(CaptureReconnect.schedule(options.reconnect)),
      Stream.runForEachArray((chunk) =>
        Effect.gen(function* () {
          const out: Array<CdcSink.Outgoing> = chunk.map((c) => ({
            topic: options.singleTopic ? config.rawTopic : c.topic,
            key: c.key,
            value: c.value !== null && options.unwrap ? unwrap(c.value) : c.value,
            receipt: Receipt.makeUnsafe(() => {
              if (c.lsn > durable) durable = c.lsn
            })
          }))
          yield* CdcSink.write(producer, out)
          yield* capture.acknowledge(durable)
        })
      )
    )
    // Its own scope: an interrupted capture stops its record stream first
    // (sending what Kafka acknowledged), then closes the producer and the
    // database connections, whatever else shares the caller's scope.
  }).pipe(Effect.scoped)

const singleTopic = Flag.Boolean("single-topic").pipe(
  Flag.withDefault(false),
  Flag.withDescription("Write every table's changes to the raw topic (RAW_EVENTS_TOPIC) instead of one topic per table")
)
const unwrapFlag = Flag.Boolean("unwrap").pipe(
  Flag.withDefault(false),
  Flag.withDescription("Write the new row state (ExtractNewRecordState) instead of the envelope")
)

/**
 * `sluice cdc capture`.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make(
  "capture",
  { ...CdcConfig.settingFlags, singleTopic, unwrap: unwrapFlag },
  (flags) =>
    Effect.gen(function* () {
      const config = yield* CdcConfig.load(flags)
      yield* Effect.scoped(
        Effect.flatMap(Services.observability(config.metricsPort, CdcDashboard.dashboard), (readiness) =>
          runCapture(config, { singleTopic: flags.singleTopic, unwrap: flags.unwrap }, readiness)
        )
      ).pipe(Services.withTelemetry("cdc-capture"))
    })
).pipe(Command.withDescription("Capture the seed's tables from PostgreSQL logical replication into Kafka"))
