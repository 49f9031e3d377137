import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import type { KafkaClient } from "@sluice/kafka"
import { KafkaSource } from "@sluice/kafka"
import { EmbeddedKafka } from "@sluice/testkit"
import { ConfigProvider, Effect, Fiber, Stream } from "effect"
import { Kafka, logLevel } from "kafkajs"
import * as Readiness from "../src/http/Readiness.ts"
import * as CdcConfig from "../src/jobs/cdc/CdcConfig.ts"
import * as CdcGenerator from "../src/jobs/cdc/CdcGenerator.ts"
import * as DemoCommand from "../src/jobs/cdc/DemoCommand.ts"
import * as ExampleRules from "../src/jobs/cdc/ExampleRules.ts"
import * as RouteCommand from "../src/jobs/cdc/RouteCommand.ts"
import { countRecords, readerClient } from "./support/kafka.ts"
import { pollUntil } from "./support/poll.ts"
import { spawnSluice } from "./support/spawnSluice.ts"

const rawTopic = "raw-business-events"
const dlqTopic = "raw-business-events-dlq"

interface Fixture {
  readonly key: string | null
  readonly value: string | null
}

// Inserts of every event type, updates and deletes of some of them (with the
// tombstone after each delete), entity-table rows and records that are not
// change events at all.
const fixtures = (): ReadonlyArray<Fixture> => {
  const out: Array<Fixture> = []
  const events = Array.from({ length: 400 }, (_, i) => CdcGenerator.event({ seed: 7, maxBytes: 4096 }, i))
  for (const e of events) out.push(DemoCommand.changeEvent(e, "sluice"))
  for (const e of events.slice(0, 30)) {
    const { key, value } = DemoCommand.changeEvent(e, "sluice")
    const event = JSON.parse(value)
    out.push({ key, value: JSON.stringify({ ...event, op: "u", before: event.after }) })
  }
  for (const e of events.slice(30, 45)) {
    const { key, value } = DemoCommand.changeEvent(e, "sluice")
    const event = JSON.parse(value)
    out.push({ key, value: JSON.stringify({ ...event, op: "d", before: event.after, after: null }) })
    out.push({ key, value: null })
  }
  for (const e of events.slice(45, 70)) {
    const { key, value } = DemoCommand.changeEvent(e, "sluice")
    const event = JSON.parse(value)
    out.push({ key, value: JSON.stringify({ ...event, source: { ...event.source, table: "loan_entities" } }) })
  }
  out.push({ key: null, value: "not json" }, { key: "k", value: "[1,2]" }, { key: "k", value: '{"no":"op"}' })
  return out
}

// The example rules written out in plain TypeScript, independently of the rule engine.
const referenceTopic = (f: Fixture): string | undefined => {
  if (f.value === null) return undefined
  let event: { op?: string; after?: { event_type?: string; entity_type?: string } | null; source?: { table?: string } }
  try {
    event = JSON.parse(f.value)
  } catch {
    return dlqTopic
  }
  if (typeof event !== "object" || event === null || Array.isArray(event) || event.op === undefined) return dlqTopic
  const created = (event.op === "c" || event.op === "r") && event.source?.table === "business_events"
  if (created && event.after?.event_type === "LoanCreated") return "filtered-loan-created-events"
  if (created && event.after?.event_type === "CarCreated") return "filtered-car-created-events"
  if (created && event.after?.event_type === "LoanPaymentSubmitted") return "filtered-loan-payment-submitted-events"
  if (created && event.after?.entity_type === "Service") return "filtered-service-events"
  return "unmatched-business-events"
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

const outputTopics = [...ExampleRules.topics, dlqTopic]

const text = new TextDecoder()

// Key and value of `count` records of a topic, read with a fresh group.
const readKeyed = (client: KafkaClient.KafkaClient["Service"], topic: string, count: number) =>
  Effect.scoped(
    Effect.gen(function* () {
      const records = yield* KafkaSource.make(client, { topics: [topic], groupId: `reader-${topic}` })
      return yield* records.pipe(
        Stream.tap((e) => e.receipt.ack),
        Stream.map((e) => ({
          key: e.origin.key === null ? null : text.decode(e.origin.key),
          value: text.decode(e.value as Uint8Array)
        })),
        Stream.take(count),
        Stream.runCollect
      )
    })
  ).pipe(Effect.timeout("60 seconds"))

describe("cdc route", () => {
  it("the example file in the repository is the one the demo uses", () => {
    assert.strictEqual(
      readFileSync(join(import.meta.dirname, "..", "..", "..", "examples", "cdc-rules.yaml"), "utf8"),
      ExampleRules.text
    )
  })

  it.live(
    "routes every fixture through the job to the topic the reference says, keyed like its input",
    () =>
      Effect.gen(function* () {
        const broker = yield* EmbeddedKafka.make({ port: 0 })
        const dir = mkdtempSync(join(tmpdir(), "cdc-route-"))
        const rules = join(dir, "rules.yaml")
        writeFileSync(rules, ExampleRules.text)
        const input = fixtures()
        const expected: Record<string, number> = Object.fromEntries(outputTopics.map((t) => [t, 0]))
        for (const f of input) {
          const topic = referenceTopic(f)
          if (topic !== undefined) expected[topic]!++
        }
        const total = Object.values(expected).reduce((a, b) => a + b, 0)
        // Every rule of the example file has something to match.
        for (const topic of ExampleRules.topics) assert.isAbove(expected[topic]!, 0, topic)

        yield* produce(broker.bootstrap, input)
        const config = yield* CdcConfig.load().pipe(
          Effect.provideService(
            ConfigProvider.ConfigProvider,
            ConfigProvider.fromEnv({ env: { KAFKA_BOOTSTRAP_SERVERS: broker.bootstrap, METRICS_PORT: "0" } })
          )
        )
        const readiness = yield* Readiness.make()
        const job = yield* Effect.forkScoped(RouteCommand.runRoute(config, { rules }, readiness))
        yield* pollUntil("every routed record", countRecords(broker, outputTopics), (n) => n >= total, {
          timeoutMs: 60_000
        })
        const counts: Record<string, number> = {}
        for (const topic of outputTopics) counts[topic] = yield* countRecords(broker, [topic])
        assert.deepStrictEqual(counts, expected)

        // The flat rule's outputs carry the attributes as a dot-key string map, and every
        // output its rule and its input's key.
        const client = yield* readerClient(broker)
        const cars = yield* readKeyed(client, "filtered-car-created-events", expected["filtered-car-created-events"]!)
        for (const car of cars) {
          const value = JSON.parse(car.value)
          assert.strictEqual(value.filterMetadata.ruleName, "car-created")
          assert.strictEqual(typeof value.after.updated_attributes["car.make"], "string")
          assert.notProperty(value, "key")
          assert.strictEqual(car.key, JSON.stringify({ id: value.after.id }))
        }
        const loans = yield* readKeyed(
          client,
          "filtered-loan-created-events",
          expected["filtered-loan-created-events"]!
        )
        for (const loan of loans) {
          const value = JSON.parse(loan.value)
          assert.strictEqual(value.filterMetadata.ruleName, "loan-created")
          assert.strictEqual(typeof value.after.updated_attributes.loan.loanAmount, "number")
          assert.strictEqual(loan.key, JSON.stringify({ id: value.after.id }))
        }
        yield* Fiber.interrupt(job)
      }),
    120_000
  )

  it.live(
    "an invalid rule stops the real CLI at start with one line naming the file, the rule and the position",
    () =>
      Effect.gen(function* () {
        const dir = mkdtempSync(join(tmpdir(), "cdc-route-bad-"))
        const rules = join(dir, "bad-rules.yaml")
        writeFileSync(
          rules,
          ExampleRules.text.replace('after.event_type == "CarCreated"', 'after.event_type == "CarCreated" &&')
        )
        const run = spawnSluice(["cdc", "route", "--rules", rules], {
          KAFKA_BOOTSTRAP_SERVERS: "127.0.0.1:1",
          METRICS_PORT: "0"
        })
        const result = yield* Effect.promise(() => run.done)
        assert.strictEqual(result.status, 1)
        const lines = result.stderr.trim().split("\n")
        assert.strictEqual(lines.length, 1, result.stderr)
        assert.include(lines[0], `${rules}:10`)
        assert.include(lines[0], 'rule "car-created"')
        assert.match(lines[0]!, /expression \d+:\d+/)
      }),
    60_000
  )
})
