import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { DeadLetter } from "@sluice/core"
import { AvroSerde, ConfluentWire, SchemaRegistry } from "@sluice/kafka"
import { EmbeddedKafka, SchemaRegistry as EmbeddedRegistry } from "@sluice/testkit"
import { ConfigProvider, DateTime, Effect, Fiber } from "effect"
import { Kafka, logLevel } from "kafkajs"
import * as Readiness from "../src/http/Readiness.ts"
import * as CdcConfig from "../src/jobs/cdc/CdcConfig.ts"
import * as CdcGenerator from "../src/jobs/cdc/CdcGenerator.ts"
import * as DemoCommand from "../src/jobs/cdc/DemoCommand.ts"
import * as ExampleRules from "../src/jobs/cdc/ExampleRules.ts"
import * as RouteCommand from "../src/jobs/cdc/RouteCommand.ts"
import { countRecords, readerClient, readTopics } from "./support/kafka.ts"
import { pollUntil } from "./support/poll.ts"
import { spawnSluice } from "./support/spawnSluice.ts"

const rawTopic = "raw-business-events"
const dlqTopic = "raw-business-events-dlq"
const defaultTopic = "unmatched-business-events"

type Json = Record<string, unknown>

interface Fixture {
  readonly key: string | null
  readonly value: string | null
}

const events = Array.from({ length: 150 }, (_, i) => CdcGenerator.event({ seed: 23, maxBytes: 2048 }, i))
const byId = new Map(events.map((e) => [e.id, e]))

const changed = (e: CdcGenerator.BusinessEvent, edit: (event: Json) => Json): Fixture => {
  const { key, value } = DemoCommand.changeEvent(e, "sluice")
  return { key, value: JSON.stringify(edit(JSON.parse(value) as Json)) }
}

// Creates of every type; updates and deletes (which no rule takes: they go to the
// default topic); entity-table rows, which have no event fields, so the default
// topic's schema refuses them; loan creations without an entity id, which a rule
// routes but the routed topic's schema refuses; and a record that is no change event.
const fixtures: ReadonlyArray<Fixture> = [
  ...events.map((e) => DemoCommand.changeEvent(e, "sluice")),
  ...events.slice(0, 20).map((e) => changed(e, (ev) => ({ ...ev, op: "u", before: ev.after }))),
  ...events
    .slice(20, 30)
    .flatMap((e) => [
      changed(e, (ev) => ({ ...ev, op: "d", before: ev.after, after: null })),
      { key: JSON.stringify({ id: e.id }), value: null }
    ]),
  ...events.slice(30, 45).map((e) =>
    changed(e, (ev) => {
      const after = ev.after as Json
      return {
        ...ev,
        source: { ...(ev.source as Json), table: "loan_entities" },
        after: {
          id: after.id,
          entity_type: after.entity_type,
          created_at: after.created_at,
          updated_at: after.created_at,
          updated_attributes: after.updated_attributes
        }
      }
    })
  ),
  ...events
    .filter((e) => e.eventType === "LoanCreated")
    .slice(0, 5)
    .map((e) =>
      changed(e, (ev) => {
        const { entity_id: _gone, ...after } = ev.after as Json
        return { ...ev, after }
      })
    ),
  { key: null, value: "not json" }
]

// Where each fixture belongs, by the example rules and the seed's schemas, in plain TypeScript.
const reference = (f: Fixture): { readonly topic: string; readonly rule?: string } | undefined => {
  if (f.value === null) return undefined
  let event: Json
  try {
    event = JSON.parse(f.value) as Json
  } catch {
    return { topic: dlqTopic }
  }
  const after = event.after as Json | null
  const row = (after ?? event.before) as Json
  const created = (event.op === "c" || event.op === "r") && (event.source as Json).table === "business_events"
  const routed =
    created && after?.event_type === "LoanCreated"
      ? { topic: "filtered-loan-created-events", rule: "loan-created" }
      : created && after?.event_type === "CarCreated"
        ? { topic: "filtered-car-created-events", rule: "car-created" }
        : created && after?.event_type === "LoanPaymentSubmitted"
          ? { topic: "filtered-loan-payment-submitted-events", rule: "loan-payment-submitted" }
          : created && after?.entity_type === "Service"
            ? { topic: "filtered-service-events", rule: "service-events" }
            : { topic: defaultTopic }
  const complete = ["id", "event_name", "event_type", "entity_type", "entity_id"].every(
    (field) => typeof row[field] === "string"
  )
  return complete ? routed : { topic: dlqTopic }
}

// The flat model's map, written out here independently of `Flatten`.
const flat = (value: unknown, prefix = "", out: Record<string, string> = {}): Record<string, string> => {
  if (value === null) return out
  if (typeof value === "object") {
    for (const [k, child] of Object.entries(value)) flat(child, prefix === "" ? k : `${prefix}.${k}`, out)
  } else out[prefix] = String(value)
  return out
}

const produce = (bootstrap: string, records: ReadonlyArray<Fixture>) =>
  Effect.promise(async () => {
    const kafka = new Kafka({ brokers: [bootstrap], logLevel: logLevel.NOTHING })
    const producer = kafka.producer()
    await producer.connect()
    try {
      await producer.send({ topic: rawTopic, acks: -1, messages: records.map((r) => ({ ...r })) })
    } finally {
      await producer.disconnect()
    }
  })

interface Decoded {
  readonly id: string
  readonly eventType: string
  readonly entityId: string
  readonly createdAt: DateTime.Utc | null
  readonly updatedAttributes: Record<string, string>
  readonly filterMetadata?: {
    readonly ruleName: string
    readonly targetTopic: string
    readonly filteredAt: DateTime.Utc
    readonly ruleVersion: string | null
  }
}

const text = new TextDecoder()

describe("cdc route, Avro", () => {
  it.live(
    "routed topics are Avro a consumer decodes by schema id; a record failing its schema is a dead letter with the reason",
    () =>
      Effect.gen(function* () {
        const broker = yield* EmbeddedKafka.make({ port: 0 })
        const embedded = yield* EmbeddedRegistry.make()
        const registry = yield* SchemaRegistry.make({ url: embedded.url })
        const dir = mkdtempSync(join(tmpdir(), "cdc-route-avro-"))
        const rules = join(dir, "rules.yaml")
        writeFileSync(rules, ExampleRules.text)

        const expected = fixtures.flatMap((f) => {
          const where = reference(f)
          return where === undefined ? [] : [{ ...where, fixture: f }]
        })
        const outputs = expected.filter((x) => x.topic !== dlqTopic)
        const dead = expected.filter((x) => x.topic === dlqTopic)
        // Every rule and the default topic have something, and so do both kinds of schema failure.
        for (const topic of ExampleRules.topics)
          assert.isTrue(
            outputs.some((x) => x.topic === topic),
            topic
          )
        assert.isAbove(dead.length, 15)

        yield* produce(broker.bootstrap, fixtures)
        const config = yield* CdcConfig.load().pipe(
          Effect.provideService(
            ConfigProvider.ConfigProvider,
            ConfigProvider.fromEnv({
              env: { KAFKA_BOOTSTRAP_SERVERS: broker.bootstrap, METRICS_PORT: "0", CDC_ROUTE_FORMAT: "avro" }
            })
          )
        )
        assert.strictEqual(config.routeFormat, "avro")
        const readiness = yield* Readiness.make()
        const job = yield* Effect.forkScoped(RouteCommand.runRoute(config, { rules, registry }, readiness))
        const allTopics = [...ExampleRules.topics, dlqTopic]
        yield* pollUntil("every output", countRecords(broker, allTopics), (n) => n >= expected.length, {
          timeoutMs: 90_000
        })
        const client = yield* readerClient(broker)

        // A consumer that knows no schema: it reads the id in each record and asks the registry for the writer's schema.
        const read = yield* readTopics(client, ExampleRules.topics, outputs.length)
        const seen: Array<string> = []
        for (const record of read) {
          const framed = yield* ConfluentWire.unframe(record.value)
          const writer = yield* registry.schemaById(framed.schemaId)
          const type = AvroSerde.parse(writer.schema)
          const value = type.fromBuffer(Buffer.from(framed.payload)) as Decoded
          const source = byId.get(value.id)!
          assert.strictEqual(value.eventType, source.eventType)
          assert.strictEqual(value.entityId, source.entityId)
          assert.strictEqual(DateTime.toEpochMillis(value.createdAt!), source.createdAt)
          assert.deepStrictEqual({ ...value.updatedAttributes }, flat(source.attributes))
          if (record.topic === defaultTopic) {
            assert.strictEqual(type.name, "sluice.cdc.RawEvent")
            seen.push(`${record.topic} ${value.id}`)
          } else {
            assert.strictEqual(type.name, "sluice.cdc.FilteredEvent")
            assert.strictEqual(value.filterMetadata!.targetTopic, record.topic)
            assert.strictEqual(value.filterMetadata!.ruleVersion, "0")
            seen.push(`${record.topic} ${value.id} ${value.filterMetadata!.ruleName}`)
          }
        }
        const idOf = (f: Fixture) => {
          const event = JSON.parse(f.value!) as Json
          return ((event.after ?? event.before) as Json).id as string
        }
        assert.deepStrictEqual(
          seen.sort(),
          outputs.map((x) => [x.topic, idOf(x.fixture), ...(x.rule === undefined ? [] : [x.rule])].join(" ")).sort()
        )
        const subjects = yield* registry.subjects
        for (const topic of ExampleRules.topics) assert.include(subjects, `${topic}-value`)

        // The dead letters: the input as it was read, with the reason and its kind.
        const letters = yield* readTopics(client, [dlqTopic], dead.length)
        const reasons = letters.map((letter) => {
          const kind = letter.headers[DeadLetter.KindHeader]
          const reason = letter.headers[DeadLetter.ReasonHeader]!
          const value = text.decode(letter.value)
          assert.isTrue(
            dead.some((x) => x.fixture.value === value),
            value.slice(0, 80)
          )
          if (value === "not json") return `${kind}`
          const event = JSON.parse(value) as Json
          const entityRow = (event.source as Json).table === "loan_entities"
          if (entityRow) {
            assert.strictEqual(reason.split(";")[0], `${defaultTopic}: eventName: Missing key`)
          } else {
            assert.strictEqual(reason, `filtered-loan-created-events: entityId: Missing key`)
          }
          assert.strictEqual(letter.headers[DeadLetter.SourceTopicHeader], rawTopic)
          return `${kind} ${entityRow ? "entity-row" : "no-entity-id"}`
        })
        const tally = (xs: ReadonlyArray<string>) =>
          Object.fromEntries([...new Set(xs)].map((x) => [x, xs.filter((y) => y === x).length]))
        assert.deepStrictEqual(tally(reasons), {
          "not-a-change-event": 1,
          "schema entity-row": 15,
          "schema no-entity-id": 5
        })
        yield* Fiber.interrupt(job)
      }),
    180_000
  )

  it.live(
    "--route-format avro without a registry stops the real CLI at start with one line",
    () =>
      Effect.gen(function* () {
        const dir = mkdtempSync(join(tmpdir(), "cdc-route-avro-cli-"))
        const rules = join(dir, "rules.yaml")
        writeFileSync(rules, ExampleRules.text)
        const run = spawnSluice(["cdc", "route", "--rules", rules, "--route-format", "avro"], {
          KAFKA_BOOTSTRAP_SERVERS: "127.0.0.1:1",
          METRICS_PORT: "0"
        })
        const result = yield* Effect.promise(() => run.done)
        assert.strictEqual(result.status, 1)
        const lines = result.stderr.trim().split("\n")
        assert.strictEqual(lines.length, 1, result.stderr)
        assert.include(lines[0], "SCHEMA_REGISTRY_URL")
      }),
    60_000
  )
})
