// The claims topics' Avro serdes against the embedded registry (round trips
// at the edges of decimal(10, 2), the JSON rules on top of the schema, the
// generator's records), and the start-up errors of `--value-format avro`
// through the real CLI.
import { assert, describe, it } from "@effect/vitest"
import type * as Envelope from "@sluice/core/Envelope"
import * as InMemory from "@sluice/core/InMemory"
import { ConfluentWire, type KafkaError, SchemaRegistry } from "@sluice/kafka"
import { EmbeddedKafka, SchemaRegistry as EmbeddedRegistry } from "@sluice/testkit"
import { BigDecimal, DateTime, Effect, Option, Result, Sink } from "effect"
import * as ClaimsAvro from "../src/jobs/claims/ClaimsAvro.ts"
import type { EnrichedPayment } from "../src/jobs/claims/EnrichedPayment.ts"
import * as Enrichment from "../src/jobs/claims/Enrichment.ts"
import * as Generator from "../src/jobs/claims/Generator.ts"
import * as PaymentEvent from "../src/jobs/claims/PaymentEvent.ts"
import * as ReplayJob from "../src/jobs/claims/ReplayJob.ts"
import { freshDatabase } from "./support/database.ts"
import { readerClient, readTopics } from "./support/kafka.ts"
import * as LookupErrors from "./support/lookupErrors.ts"
import { freePort } from "./support/metrics.ts"
import { spawnSluice } from "./support/spawnSluice.ts"

const registry = Effect.gen(function* () {
  const server = yield* EmbeddedRegistry.make({ port: 0 })
  return yield* SchemaRegistry.make({ url: server.url })
})

const payment = (amount: string, extra: Partial<PaymentEvent.PaymentEvent> = {}): PaymentEvent.PaymentEvent => ({
  payment_id: "PAY-1",
  claim_id: "CLM-000001",
  payment_amount: BigDecimal.fromStringUnsafe(amount),
  payment_date: DateTime.makeUnsafe(1_700_000_000_123),
  processor_id: "PROC-VISA-001",
  ...extra
})

// The reason a dead letter would carry.
const decodeError = <A>(effect: Effect.Effect<A, KafkaError.KafkaError>) =>
  Effect.map(Effect.flip(effect), (error) => (error.reason._tag === "Decode" ? error.reason.detail : error.message))

describe("ClaimsAvro", () => {
  it.live("payments - round trip at the edges of decimal(10, 2), optional fields absent or present", () =>
    Effect.gen(function* () {
      const client = yield* registry
      const serde = yield* ClaimsAvro.payments("payments").pipe(
        Effect.provideService(SchemaRegistry.SchemaRegistry, client)
      )
      const values = [
        payment("0.01"),
        payment("99999999.99", { payment_method: "CARD", payment_status: "COMPLETED" }),
        payment("1234.5", { payment_method: "ACH" })
      ]
      for (const value of values) {
        const bytes = yield* serde.encode(value)
        const framed = yield* ConfluentWire.unframe(bytes)
        const registered = yield* client.version("payments-value")
        assert.strictEqual(framed.schemaId, registered.id)
        const back = yield* serde.decode(bytes)
        assert.isTrue(BigDecimal.equals(back.payment_amount, value.payment_amount))
        assert.deepStrictEqual({ ...back, payment_amount: null }, { ...value, payment_amount: null })
      }
    }).pipe(Effect.scoped)
  )

  it.live("enriched payments - a failed payment's null claim fields and a found claim's amount survive", () =>
    Effect.gen(function* () {
      const client = yield* registry
      const serde = yield* ClaimsAvro.enrichedPayments("enriched").pipe(
        Effect.provideService(SchemaRegistry.SchemaRegistry, client)
      )
      const base = payment("10.00")
      const found: EnrichedPayment = {
        ...base,
        member_id: "MBR-1",
        claim_amount: BigDecimal.fromStringUnsafe("87654321.09"),
        claim_status: "OPEN",
        enrichment_status: "SUCCESS",
        enrichment_timestamp: DateTime.makeUnsafe(1_700_000_001_000),
        error_reason: null
      }
      const missing: EnrichedPayment = {
        ...found,
        member_id: null,
        claim_amount: null,
        claim_status: null,
        enrichment_status: "CLAIM_NOT_FOUND",
        error_reason: "no claim CLM-000001"
      }
      for (const value of [found, missing]) {
        const back = yield* Effect.flatMap(serde.encode(value), serde.decode)
        assert.strictEqual(
          back.claim_amount === null ? null : BigDecimal.format(back.claim_amount),
          value.claim_amount === null ? null : BigDecimal.format(value.claim_amount)
        )
        assert.deepStrictEqual(
          { ...back, payment_amount: null, claim_amount: null },
          { ...value, payment_amount: null, claim_amount: null }
        )
      }
    }).pipe(Effect.scoped)
  )

  it.live("payments - what the JSON decoder refuses is refused in Avro too, with the field named", () =>
    Effect.gen(function* () {
      const client = yield* registry
      const serde = yield* ClaimsAvro.payments("refusals").pipe(
        Effect.provideService(SchemaRegistry.SchemaRegistry, client)
      )
      // Writing checks only the schema, so another producer's values can be made here.
      const negative = yield* serde.encode(payment("-1.00"))
      assert.strictEqual(yield* decodeError(serde.decode(negative)), "payment_amount: amount must not be negative")
      const noClaim = yield* serde.encode(payment("1.00", { claim_id: "" }))
      assert.match(yield* decodeError(serde.decode(noClaim)), /^claim_id: /)
      assert.match(yield* decodeError(serde.decode(new Uint8Array([0, 0, 0, 0, 99, 1]))), /unknown schema id 99/)
      assert.match(yield* decodeError(serde.decode(new TextEncoder().encode('{"a":1}'))), /unknown magic byte 123/)
    }).pipe(Effect.scoped)
  )

  it.live("generated records - payment events become Avro of the same event; malformed ones keep their bytes", () =>
    Effect.gen(function* () {
      const client = yield* registry
      const serde = yield* ClaimsAvro.payments("generated").pipe(
        Effect.provideService(SchemaRegistry.SchemaRegistry, client)
      )
      const options = { seed: 5, claims: 100, validClaimRate: 0.8, invalidRate: 0.3 }
      const records = Array.from({ length: 300 }, (_, i) => Generator.record(options, i, 1_700_000_000_000 + i))
      let wellFormed = 0
      for (const record of records) {
        const converted = yield* ClaimsAvro.generatedRecord(serde)(record)
        const json = PaymentEvent.decode(record.value)
        if (Result.isFailure(json)) {
          assert.strictEqual(converted.value, record.value)
          continue
        }
        wellFormed++
        const back = yield* serde.decode(converted.value)
        assert.strictEqual(BigDecimal.format(back.payment_amount), BigDecimal.format(json.success.payment_amount))
        assert.deepStrictEqual({ ...back, payment_amount: null }, { ...json.success, payment_amount: null })
        assert.deepStrictEqual(converted.key, record.key)
      }
      assert.isAbove(wellFormed, 0)
      assert.isBelow(wellFormed, records.length)
    }).pipe(Effect.scoped)
  )
})

describe("ReplayJob in Avro", () => {
  it.live(
    "run - Avro DB_ERROR records are enriched again into Avro; CLAIM_NOT_FOUND and non-Avro ones are skipped",
    () =>
      Effect.gen(function* () {
        const client = yield* registry
        const failedSerde = yield* ClaimsAvro.enrichedPayments("failed-payments").pipe(
          Effect.provideService(SchemaRegistry.SchemaRegistry, client)
        )
        const enrichedSerde = yield* ClaimsAvro.enrichedPayments("enriched-payments").pipe(
          Effect.provideService(SchemaRegistry.SchemaRegistry, client)
        )
        const codec = yield* ClaimsAvro.replayCodec(
          { enriched: "enriched-payments", failed: "failed-payments" },
          client
        )
        const claim: Enrichment.Claim = {
          member_id: "MBR-1",
          claim_amount: BigDecimal.fromStringUnsafe("12345678.90"),
          claim_status: "APPROVED"
        }
        const failedAt = DateTime.makeUnsafe(1_700_000_500_000)
        const failed = (n: number, outcome: Enrichment.Answer) =>
          Effect.map(
            failedSerde.encode(
              Enrichment.enrichmentResult(payment(`${n}.25`, { payment_id: `PAY-${n}` }), outcome, failedAt).record
            ),
            (value): InMemory.ProducerRecord => ({ key: "CLM-000001", value })
          )
        const input = [
          yield* failed(1, Enrichment.failed(LookupErrors.unavailable("connection refused"))),
          yield* failed(2, Enrichment.failed(LookupErrors.timeout(5000))),
          yield* failed(3, Enrichment.notFound),
          { key: "x", value: new TextEncoder().encode('{"payment_id":"PAY-4"}') }
        ]
        const broker = yield* InMemory.make
        yield* InMemory.createTopic(broker, "failed-payments", 1)
        yield* InMemory.produce(broker, "failed-payments", input)
        const written: Array<Uint8Array> = []
        const keep = Sink.forEachArray((chunk: ReadonlyArray<Envelope.Envelope<Uint8Array>>) =>
          Effect.andThen(
            Effect.sync(() => {
              written.push(...chunk.map((e) => e.value))
            }),
            Effect.forEach(chunk, (e) => e.receipt.ack, { discard: true })
          )
        )
        const records = yield* InMemory.source(broker, { topic: "failed-payments", group: "replay" })
        yield* ReplayJob.run({
          records,
          sinks: { enriched: keep, failed: keep, deadLetters: Sink.drain },
          lookup: () => Effect.succeed(Option.some(claim)),
          concurrency: 4,
          codec
        })
        const replayed = yield* Effect.forEach(written, enrichedSerde.decode)
        assert.deepStrictEqual(
          replayed.map((p) => p.payment_id),
          ["PAY-1", "PAY-2"]
        )
        for (const p of replayed) {
          assert.strictEqual(p.enrichment_status, "SUCCESS")
          assert.strictEqual(p.claim_amount === null ? null : BigDecimal.format(p.claim_amount), "12345678.9")
          assert.strictEqual(BigDecimal.format(p.payment_amount), `${p.payment_id.slice(4)}.25`)
        }
      }).pipe(Effect.scoped)
  )
})

describe("sluice generate --value-format avro", () => {
  it.live(
    "generate - payment events in Avro under <topic>-value, the generator's events exactly; malformed ones as they are",
    () =>
      Effect.gen(function* () {
        const broker = yield* EmbeddedKafka.make({ port: 0, defaultPartitions: 1 })
        const server = yield* EmbeddedRegistry.make({ port: 0 })
        const count = 300
        const run = yield* Effect.promise(
          () =>
            spawnSluice(
              [
                "generate",
                ...["--count", String(count), "--events-per-second", "5000", "--partitions", "2"],
                ...["--seed", "3", "--claims", "100", "--valid-claim-rate", "0.9", "--invalid-rate", "0.05"],
                ...["--value-format", "avro"]
              ],
              {
                KAFKA_BOOTSTRAP_SERVERS: broker.bootstrap,
                SCHEMA_REGISTRY_URL: server.url,
                PAYMENT_EVENTS_TOPIC: "avro-in"
              }
            ).done
        )
        assert.strictEqual(run.status, 0, run.stderr)
        const client = yield* SchemaRegistry.make({ url: server.url })
        assert.deepStrictEqual(yield* client.subjects, ["avro-in-value"])
        const serde = yield* ClaimsAvro.payments("avro-in").pipe(
          Effect.provideService(SchemaRegistry.SchemaRegistry, client)
        )
        const reader = yield* readerClient(broker)
        const records = yield* readTopics(reader, ["avro-in"], count)
        // The reference: the same generator in this process (the time stamps differ, nothing else).
        const expected = new Map<string, ReturnType<typeof Generator.record>>()
        for (let i = 0; i < count; i++) {
          const r = Generator.record({ seed: 3, claims: 100, validClaimRate: 0.9, invalidRate: 0.05 }, i, 0)
          const event = PaymentEvent.decode(r.value)
          if (Result.isSuccess(event)) expected.set(event.success.payment_id, r)
        }
        const wellFormed = expected.size
        let malformed = 0
        for (const record of records) {
          const decoded = yield* Effect.result(serde.decode(record.value))
          if (Result.isFailure(decoded)) {
            malformed++
            continue
          }
          const reference = expected.get(decoded.success.payment_id)
          assert.isDefined(reference, decoded.success.payment_id)
          const event = Result.getOrThrow(PaymentEvent.decode(reference!.value))
          assert.strictEqual(BigDecimal.format(decoded.success.payment_amount), BigDecimal.format(event.payment_amount))
          assert.deepStrictEqual(
            { ...decoded.success, payment_amount: null, payment_date: null },
            { ...event, payment_amount: null, payment_date: null }
          )
          expected.delete(decoded.success.payment_id)
        }
        assert.strictEqual(expected.size, 0, "events missing from the topic")
        assert.strictEqual(malformed, count - wellFormed)
        assert.isAbove(malformed, 0)
      }).pipe(Effect.scoped),
    60_000
  )
})

describe("sluice demo --value-format avro", () => {
  it.live(
    "demo - starts the embedded registry and accounts for every event, malformed ones as dead letters",
    () =>
      Effect.gen(function* () {
        const db = yield* freshDatabase("sluice_demo_avro")
        const run = yield* Effect.promise(
          () =>
            spawnSluice(
              [
                "demo",
                ...["--value-format", "avro", "--count", "400", "--events-per-second", "2000"],
                ...["--claims", "100", "--invalid-rate", "0.05"]
              ],
              { DATABASE_URL: db.url, METRICS_PORT: "0" }
            ).done
        )
        assert.strictEqual(run.status, 0, run.stderr)
        assert.match(run.stderr, /schema registry: embedded on http:\/\/127\.0\.0\.1:\d+ \(values are Avro\)/)
        const figure = (label: string) => Number(new RegExp(`${label}\\s+(\\d+)`).exec(run.stdout)?.[1])
        assert.strictEqual(figure("events in"), 400)
        assert.strictEqual(figure("enriched") + figure("failed") + figure("dead letters"), 400)
        assert.isAbove(figure("enriched"), 0)
        // Malformed records are not in the wire format: every dead letter is a decode one.
        assert.match(run.stdout, /dead letters\s+[1-9]\d* \(decode \d+\)/)
      }).pipe(Effect.scoped),
    120_000
  )
})

describe("--value-format avro start-up errors", { timeout: 60_000 }, () => {
  it.live("no SCHEMA_REGISTRY_URL, or a registry that does not answer - one line, exit 1, no topic created", () =>
    Effect.gen(function* () {
      const broker = yield* EmbeddedKafka.make({ port: 0 })
      const closed = yield* freePort()
      const env = { KAFKA_BOOTSTRAP_SERVERS: broker.bootstrap, METRICS_PORT: "0", VALUE_FORMAT: "avro" }
      const [missing, unreachable] = yield* Effect.all(
        [
          Effect.promise(() => spawnSluice(["claims", "large"], env).done),
          Effect.promise(
            () => spawnSluice(["claims", "large"], { ...env, SCHEMA_REGISTRY_URL: `http://127.0.0.1:${closed}` }).done
          )
        ],
        { concurrency: 2 }
      )
      const lines = (text: string) => text.split("\n").filter((line) => line.trim() !== "")
      assert.strictEqual(missing.status, 1, missing.stderr)
      assert.strictEqual(lines(missing.stderr).length, 1, missing.stderr)
      assert.match(missing.stderr, /^error: VALUE_FORMAT is avro but .*SCHEMA_REGISTRY_URL/)
      assert.strictEqual(unreachable.status, 1, unreachable.stderr)
      assert.strictEqual(lines(unreachable.stderr).length, 1, unreachable.stderr)
      assert.match(
        unreachable.stderr,
        new RegExp(`^error: the schema registry at http://127.0.0.1:${closed} does not answer`)
      )
      const topics = yield* broker.topics
      assert.deepStrictEqual(topics, [])
    }).pipe(Effect.scoped)
  )
})
