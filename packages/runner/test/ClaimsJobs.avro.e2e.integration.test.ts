// End to end in both formats: the real `sluice claims enrich` and `sluice
// claims large` processes run twice side by side on one embedded broker and
// one database, once on JSON topics and once on Avro topics through the
// embedded schema registry, over the same generated payments. The Avro
// outputs, read back with the Avro serde and the topic's registered schema,
// must be the JSON outputs as values (every field but the enrichment time),
// amounts equal as decimals to the JSON text; the malformed records are
// dead letters in both, and the Avro records the registry cannot account
// for (unknown schema id, bad magic byte, a truncated payload, a negative
// amount) are dead letters with their reason.

import { assert, describe, it } from "@effect/vitest"
import * as DeadLetter from "@sluice/core/DeadLetter"
import { AvroSerde, ConfluentWire, SchemaRegistry } from "@sluice/kafka"
import { EmbeddedKafka, SchemaRegistry as EmbeddedRegistry } from "@sluice/testkit"
import { BigDecimal, DateTime, Effect, Schema } from "effect"
import * as ClaimsAvro from "../src/jobs/claims/ClaimsAvro.ts"
import * as Claims from "../src/jobs/claims/ClaimsTable.ts"
import * as Generator from "../src/jobs/claims/Generator.ts"
import * as PaymentEvent from "../src/jobs/claims/PaymentEvent.ts"
import { freshDatabase } from "./support/database.ts"
import { type Output, produce, readerClient, readTopics, topicEnv } from "./support/kafka.ts"
import { sluiceJob as job, stopSluice as stop } from "./support/spawnSluice.ts"

const text = new TextDecoder()
const total = 1_000
const claims = 300
const threshold = "50000.00"

const topicsOf = (prefix: string) =>
  Object.fromEntries(Object.entries(topicEnv).map(([name, topic]) => [name, `${prefix}-${topic}`])) as {
    -readonly [K in keyof typeof topicEnv]: string
  }

// What the Avro serde reads with the registered schema, without the job's mapping.
const AvroValue = Schema.Struct({
  payment_id: Schema.String,
  claim_id: Schema.String,
  payment_amount: Schema.BigDecimal,
  payment_date: Schema.DateTimeUtc,
  processor_id: Schema.String,
  payment_method: Schema.NullOr(Schema.String),
  payment_status: Schema.NullOr(Schema.String),
  member_id: Schema.NullOr(Schema.String),
  claim_amount: Schema.NullOr(Schema.BigDecimal),
  claim_status: Schema.NullOr(Schema.String),
  enrichment_status: Schema.String,
  enrichment_timestamp: Schema.DateTimeUtc,
  error_reason: Schema.NullOr(Schema.String)
})
type AvroValue = typeof AvroValue.Type

const PaymentValue = Schema.Struct({
  payment_id: Schema.String,
  claim_id: Schema.String,
  payment_amount: Schema.BigDecimal,
  payment_date: Schema.DateTimeUtc,
  processor_id: Schema.String,
  payment_method: Schema.NullOr(Schema.String),
  payment_status: Schema.NullOr(Schema.String)
})

// A JSON output's amounts as their exact text, the other fields as parsed.
const jsonValue = (bytes: Uint8Array) => {
  const raw = text.decode(bytes)
  const record = JSON.parse(raw) as Record<string, unknown>
  const amount = (field: string) => {
    const found = new RegExp(`"${field}":(-?[0-9.]+|null)`).exec(raw)?.[1]
    return found === undefined || found === "null" ? null : found
  }
  return { record, paymentAmount: amount("payment_amount"), claimAmount: amount("claim_amount") }
}

const sameDecimal = (avro: BigDecimal.BigDecimal | null, json: string | null, what: string) => {
  if (json === null || avro === null) return assert.isTrue(json === null && avro === null, what)
  assert.isTrue(
    BigDecimal.equals(avro, BigDecimal.fromStringUnsafe(json)),
    `${what}: ${BigDecimal.format(avro)} vs ${json}`
  )
}

describe("sluice claims jobs in Avro", () => {
  it.live(
    "enrich + large - Avro outputs are the JSON outputs as values; unreadable Avro records are dead letters",
    () =>
      Effect.gen(function* () {
        const db = yield* freshDatabase("sluice_avro_e2e")
        yield* Claims.migrate(db.sql)
        yield* Claims.seed(db.sql, { count: claims, seed: 7 })
        const broker = yield* EmbeddedKafka.make({ port: 0, defaultPartitions: 3 })
        const server = yield* EmbeddedRegistry.make({ port: 0 })
        const registry = yield* SchemaRegistry.make({ url: server.url })
        const json = topicsOf("json")
        const avro = topicsOf("avro")

        // The same generated records; the Avro run gets them in Avro, malformed ones as they are.
        const options = { seed: 13, claims, validClaimRate: 0.9, invalidRate: 0.01 }
        const generated = Array.from({ length: total }, (_, i) => Generator.record(options, i, 1_700_000_000_000 + i))
        const payments = yield* ClaimsAvro.payments(avro.PAYMENT_EVENTS_TOPIC).pipe(
          Effect.provideService(SchemaRegistry.SchemaRegistry, registry)
        )
        const inAvro = yield* Effect.forEach(generated, ClaimsAvro.generatedRecord(payments))

        // Avro records the job cannot read, each a dead letter with this reason.
        const sample = inAvro.find((r) => r.kind === "valid")!
        const framed = yield* ConfluentWire.unframe(sample.value)
        const raw = yield* AvroSerde.make({
          topic: "elsewhere",
          schema: ClaimsAvro.schemaText("payment.avsc"),
          codec: PaymentValue
        }).pipe(Effect.provideService(SchemaRegistry.SchemaRegistry, registry))
        const event = PaymentEvent.decode(generated.find((r) => r.kind === "valid")!.value)
        assert.isTrue(event._tag === "Success")
        const base = event._tag === "Success" ? event.success : undefined
        const negative = yield* raw.encode({
          ...base!,
          payment_id: "PAY-negative",
          payment_amount: BigDecimal.make(-12_345n, 2),
          payment_method: null,
          payment_status: null
        })
        const unreadable: ReadonlyArray<{ readonly value: Uint8Array; readonly reason: RegExp }> = [
          { value: ConfluentWire.frame(999_999, framed.payload), reason: /unknown schema id 999999/ },
          { value: Uint8Array.from([7, ...sample.value.subarray(1)]), reason: /unknown magic byte 7/ },
          { value: sample.value.subarray(0, 12), reason: /does not match schema id/ },
          // Registered under another subject, but a payment with a negative amount all the same.
          { value: negative, reason: /payment_amount: amount must not be negative/ }
        ]
        const extra = unreadable.map((u) => ({ key: sample.key, value: u.value, headers: [] }))

        yield* broker.createTopic(json.PAYMENT_EVENTS_TOPIC, 3)
        yield* broker.createTopic(avro.PAYMENT_EVENTS_TOPIC, 3)
        yield* produce(broker.bootstrap, json.PAYMENT_EVENTS_TOPIC, generated)
        yield* produce(broker.bootstrap, avro.PAYMENT_EVENTS_TOPIC, [...inAvro, ...extra])

        const common = { KAFKA_BOOTSTRAP_SERVERS: broker.bootstrap, DATABASE_URL: db.url, METRICS_PORT: "0" }
        const jsonEnv = { ...common, ...json, GROUP_ID: "e2e-json" }
        const avroEnv = {
          ...common,
          ...avro,
          GROUP_ID: "e2e-avro",
          VALUE_FORMAT: "avro",
          SCHEMA_REGISTRY_URL: server.url
        }
        const jobs = [
          yield* job(["claims", "enrich"], jsonEnv),
          yield* job(["claims", "large", "--threshold", threshold], jsonEnv),
          yield* job(["claims", "enrich"], avroEnv),
          yield* job(["claims", "large", "--threshold", threshold], avroEnv)
        ]

        const client = yield* readerClient(broker)
        const outputs = (topics: typeof json, count: number) =>
          readTopics(
            client,
            [topics.ENRICHED_PAYMENTS_TOPIC, topics.FAILED_PAYMENTS_TOPIC, topics.PAYMENT_EVENTS_DLQ_TOPIC],
            count
          )
        const [jsonOut, avroOut] = yield* Effect.all([outputs(json, total), outputs(avro, total + extra.length)], {
          concurrency: 2
        })

        const enrichedSerde = yield* AvroSerde.make({
          topic: avro.ENRICHED_PAYMENTS_TOPIC,
          schema: ClaimsAvro.schemaText("enriched-payment.avsc"),
          codec: AvroValue
        }).pipe(Effect.provideService(SchemaRegistry.SchemaRegistry, registry))
        const decodeAvro = (o: Output) => enrichedSerde.decode(o.value)

        // JSON outputs by payment id, and the dead letters of each run.
        const jsonById = new Map<string, { topic: string; value: ReturnType<typeof jsonValue> }>()
        let jsonDead = 0
        for (const o of jsonOut) {
          if (o.topic === json.PAYMENT_EVENTS_DLQ_TOPIC) jsonDead++
          else {
            const value = jsonValue(o.value)
            jsonById.set(String(value.record.payment_id), { topic: o.topic.slice("json-".length), value })
          }
        }
        const malformed = generated.filter((r) => r.kind !== "valid" && r.kind !== "unknown-claim").length
        assert.isAbove(malformed, 0)
        assert.strictEqual(jsonDead, malformed)
        assert.strictEqual(jsonById.size, total - malformed)

        const reasons: Array<string> = []
        const avroById = new Map<string, AvroValue>()
        for (const o of avroOut) {
          if (o.topic === avro.PAYMENT_EVENTS_DLQ_TOPIC) {
            reasons.push(o.headers[DeadLetter.ReasonHeader] ?? "")
            continue
          }
          const value = yield* decodeAvro(o)
          assert.isFalse(avroById.has(value.payment_id), `${value.payment_id} appears twice`)
          avroById.set(value.payment_id, value)
          const expected = jsonById.get(value.payment_id)
          assert.isDefined(expected, `${value.payment_id} is not in the JSON outputs`)
          assert.strictEqual(o.topic.slice("avro-".length), expected!.topic)
          const record = expected!.value.record
          for (const field of [
            "claim_id",
            "processor_id",
            "payment_method",
            "payment_status",
            "member_id",
            "claim_status",
            "enrichment_status",
            "error_reason"
          ] as const) {
            assert.strictEqual(value[field], record[field] ?? null, `${value.payment_id} ${field}`)
          }
          assert.strictEqual(
            DateTime.formatIso(value.payment_date),
            DateTime.formatIso(DateTime.makeUnsafe(String(record.payment_date)))
          )
          sameDecimal(value.payment_amount, expected!.value.paymentAmount, `${value.payment_id} payment_amount`)
          sameDecimal(value.claim_amount, expected!.value.claimAmount, `${value.payment_id} claim_amount`)
        }
        assert.strictEqual(avroById.size, jsonById.size)
        assert.strictEqual(reasons.length, malformed + unreadable.length)
        for (const u of unreadable) {
          assert.isTrue(
            reasons.some((r) => u.reason.test(r)),
            `no dead letter matches ${u.reason}: ${reasons.join(" | ")}`
          )
        }

        // large-claims: the same payments in both formats, read back as values.
        const large = [...jsonById.values()].filter(
          (v) =>
            v.value.record.enrichment_status === "SUCCESS" &&
            BigDecimal.isGreaterThanOrEqualTo(
              BigDecimal.fromStringUnsafe(v.value.claimAmount!),
              BigDecimal.fromStringUnsafe(threshold)
            )
        ).length
        assert.isAbove(large, 0)
        const [jsonLarge, avroLarge] = yield* Effect.all(
          [readTopics(client, [json.LARGE_CLAIMS_TOPIC], large), readTopics(client, [avro.LARGE_CLAIMS_TOPIC], large)],
          { concurrency: 2 }
        )
        const largeSerde = yield* AvroSerde.make({
          topic: avro.LARGE_CLAIMS_TOPIC,
          schema: ClaimsAvro.schemaText("enriched-payment.avsc"),
          codec: AvroValue
        }).pipe(Effect.provideService(SchemaRegistry.SchemaRegistry, registry))
        const jsonLargeIds = jsonLarge.map((o) => String(jsonValue(o.value).record.payment_id)).sort()
        const avroLargeValues = yield* Effect.forEach(avroLarge, (o) => largeSerde.decode(o.value))
        assert.deepStrictEqual(avroLargeValues.map((v) => v.payment_id).sort(), jsonLargeIds)
        for (const v of avroLargeValues) {
          sameDecimal(
            v.claim_amount,
            jsonById.get(v.payment_id)!.value.claimAmount,
            `${v.payment_id} large claim_amount`
          )
        }

        for (const j of jobs) assert.strictEqual(yield* stop(j), 0)
      }),
    240_000
  )
})
