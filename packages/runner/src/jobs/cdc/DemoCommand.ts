/**
 * `sluice demo cdc`: the router on an embedded broker with the example rules
 * (`ExampleRules`), fed by generated business events. This demo does not
 * start a PostgreSQL with logical replication of its own; it says so and
 * writes the generated events to the raw topic directly, as the Debezium
 * envelopes `sluice cdc capture` would write for their `business_events`
 * rows. The dashboard shows per-rule throughput and counts per topic.
 *
 * @since 0.1.0
 */
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Json } from "@sluice/cdc"
import { KafkaError } from "@sluice/kafka"
import { Effect, Fiber, Option } from "effect"
import { Command } from "effect/cli"
import * as Flags from "../../Flags.ts"
import * as Parse from "../../Parse.ts"
import * as Services from "../../Services.ts"
import * as CdcConfig from "./CdcConfig.ts"
import * as CdcDashboard from "./CdcDashboard.ts"
import * as CdcGenerator from "./CdcGenerator.ts"
import * as ExampleRules from "./ExampleRules.ts"
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
      count: Flags.count,
      eventsPerSecond: Flags.parsed("events-per-second", Parse.int(1), "Generated events per second").pipe(
        Flags.withDefault(200, "200")
      )
    },
    (flags) =>
      Effect.gen(function* () {
        // Loaded here: the embedded broker is the demo's alone, not the job's.
        const EmbeddedKafka = yield* Effect.promise(() => import("@sluice/testkit/EmbeddedKafka"))
        const broker = yield* EmbeddedKafka.make({ port: 0 })
        const config = yield* CdcConfig.load({
          bootstrapServers: Option.some(broker.bootstrap),
          metricsPort: flags.metricsPort
        })
        const dir = mkdtempSync(join(tmpdir(), "sluice-cdc-demo-"))
        const rules = join(dir, "rules.yaml")
        writeFileSync(rules, ExampleRules.text)
        yield* Effect.sync(() =>
          process.stderr.write(
            `cdc demo: broker ${broker.bootstrap}, rules ${rules}\n` +
              "cdc demo: no PostgreSQL with wal_level=logical is started here; generated events go to " +
              `${config.rawTopic} as Debezium change events (run sluice cdc capture against such a server for the real path)\n`
          )
        )
        const readiness = yield* Services.observability(config.metricsPort, CdcDashboard.dashboard)
        const router = yield* Effect.forkScoped(RouteCommand.runRoute(config, { rules }, readiness))
        const client = yield* Services.kafkaClient(config)
        const producer = yield* client.producer({ idempotent: true, maxInFlightRequests: 1 })
        const total = Option.getOrElse(flags.count, () => Number.MAX_SAFE_INTEGER)
        const batch = Math.max(1, Math.min(100, Math.floor(flags.eventsPerSecond / 10)))
        for (let i = 0; i < total; i += batch) {
          const events = Array.from({ length: Math.min(batch, total - i) }, (_, j) =>
            changeEvent(CdcGenerator.event({ seed: 1, maxBytes: 8192 }, i + j), config.topicPrefix)
          )
          yield* KafkaError.attempt("send", () => producer.send({ topic: config.rawTopic, acks: -1, messages: events }))
          yield* Effect.sleep((batch * 1000) / flags.eventsPerSecond)
        }
        yield* Fiber.join(router)
      }).pipe(Effect.scoped)
  ).pipe(Command.withDescription("Router, example rules and generated change events on an embedded broker"))
