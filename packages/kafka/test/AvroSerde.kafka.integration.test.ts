import { assert, describe, it } from "@effect/vitest"
import { SchemaRegistry as ConfluentRegistry, SchemaType } from "@kafkajs/confluent-schema-registry"
import { DeadLetter, Envelope, Pipeline } from "@sluice/core"
import { SchemaRegistry as EmbeddedRegistry } from "@sluice/testkit"
import { DateTime, Effect, Fiber, Stream } from "effect"
import * as Admin from "../src/Admin.ts"
import * as AvroSerde from "../src/AvroSerde.ts"
import * as ConfluentWire from "../src/ConfluentWire.ts"
import * as KafkaClient from "../src/KafkaClient.ts"
import * as KafkaSink from "../src/KafkaSink.ts"
import * as KafkaSource from "../src/KafkaSource.ts"
import * as SerdePipeline from "../src/SerdePipeline.ts"
import * as Cluster from "./fixtures/cluster.ts"
import * as Payments from "./fixtures/payments.ts"
import { withClient } from "./fixtures/registry.ts"

// Reads `count` records of a topic from the beginning with a throwaway group.
const readAll = (client: KafkaClient.KafkaClient["Service"], topic: string, count: number) =>
  Effect.scoped(
    Effect.gen(function* () {
      const records = yield* KafkaSource.make(client, { topics: [topic], groupId: Cluster.unique("reader") })
      return yield* records.pipe(
        Stream.tap((e) => e.receipt.ack),
        Stream.take(count),
        Stream.runCollect
      )
    })
  ).pipe(Effect.timeout("30 seconds"))

const asBuffer = (value: Envelope.Payload): Buffer =>
  typeof value === "string" ? Buffer.from(value) : Buffer.from(value as Uint8Array)

// The bytes Avro stores for a decimal's unscaled value, for the library, which knows no logical types.
const decimalBytes = (unscaled: bigint): Buffer => {
  let length = 1
  while (unscaled < -(2n ** BigInt(8 * length - 1)) || unscaled >= 2n ** BigInt(8 * length - 1)) length++
  const hex = (unscaled < 0n ? unscaled + 2n ** BigInt(8 * length) : unscaled).toString(16)
  return Buffer.from(hex.padStart(2 * length, "0"), "hex")
}

describe("AvroSerde through Kafka", () => {
  it.live(
    "round trip - the library's records through a Sluice pipeline and back; bad records are dead letters with a reason",
    () =>
      Effect.gen(function* () {
        const registry = yield* EmbeddedRegistry.make()
        const client = yield* Cluster.client(yield* Cluster.brokers)
        const input = Cluster.unique("payments")
        const output = Cluster.unique("payments-out")
        const dlq = Cluster.unique("payments-dlq")
        yield* Admin.ensureTopics([
          { topic: input, partitions: 3 },
          { topic: output, partitions: 3 },
          { topic: dlq, partitions: 1 }
        ]).pipe(Effect.provideService(KafkaClient.KafkaClient, client))
        const producer = yield* KafkaSink.producer(client)

        // Produced with @kafkajs/confluent-schema-registry's encoder.
        const library = new ConfluentRegistry({ host: registry.url })
        const { id } = yield* Effect.promise(() =>
          library.register({ type: SchemaType.AVRO, schema: Payments.schemaText }, { subject: `${input}-value` })
        )
        const payments = Payments.generate(200, 3)
        const messages = yield* Effect.forEach(payments, (p) =>
          Effect.promise(async () => ({
            key: p.claim_id,
            value: await library.encode(id, {
              ...p,
              payment_amount: decimalBytes(p.payment_amount.value),
              payment_date: DateTime.toEpochMillis(p.payment_date)
            })
          }))
        )
        const good = messages[0]!.value
        const unknownId = Buffer.from(ConfluentWire.frame(9999, (yield* ConfluentWire.unframe(good)).payload))
        const bad = [
          { key: "bad-id", value: unknownId },
          { key: "bad-json", value: Buffer.from('{"payment_id":"PAY-x"}') }
        ]
        yield* Effect.promise(() =>
          producer.send({
            topic: input,
            messages: [...messages.slice(0, 100), ...bad, ...messages.slice(100)],
            acks: -1
          })
        )

        const groupId = Cluster.unique("avro-job")
        yield* Effect.gen(function* () {
          const reader = yield* AvroSerde.make({ topic: input, schema: Payments.schemaText, codec: Payments.Payment })
          const writer = yield* AvroSerde.make({ topic: output, schema: Payments.schemaText, codec: Payments.Payment })
          yield* Effect.scoped(
            Effect.gen(function* () {
              const records = yield* KafkaSource.make(client, {
                topics: [input],
                groupId,
                commitInterval: "100 millis"
              })
              const job = yield* records.pipe(
                SerdePipeline.decode(reader),
                Pipeline.deadLetters(KafkaSink.make(producer, dlq)),
                Stream.mapEffect((e) =>
                  Effect.map(writer.encode({ ...e.value, payment_status: "checked" }), (bytes) =>
                    Envelope.make(e.origin, bytes, e.receipt)
                  )
                ),
                Stream.run(KafkaSink.make(producer, output)),
                Effect.forkChild
              )
              yield* Cluster.awaitCommittedToEnd(client, groupId, input)
              yield* Fiber.interrupt(job)
            })
          )
        }).pipe(withClient(registry.url))

        // Read back with the library's decoder.
        const out = yield* readAll(client, output, payments.length)
        const decoded = yield* Effect.forEach(out, (e) => Effect.promise(() => library.decode(asBuffer(e.value))))
        const byId = new Map(decoded.map((d) => [d.payment_id as string, d]))
        assert.strictEqual(byId.size, payments.length)
        for (const p of payments) {
          const d = byId.get(p.payment_id)!
          assert.deepStrictEqual(
            Array.from(d.payment_amount as Buffer),
            Array.from(decimalBytes(p.payment_amount.value))
          )
          assert.strictEqual(d.payment_date, DateTime.toEpochMillis(p.payment_date))
          assert.strictEqual(d.payment_status, "checked")
          assert.strictEqual(d.claim_id, p.claim_id)
        }
        // The output subject holds the same schema under the output topic's name.
        assert.strictEqual(yield* Effect.promise(() => library.getLatestSchemaId(`${output}-value`)), id)

        const dead = yield* readAll(client, dlq, 2)
        const reasons = new Map(
          dead.map((e) => [
            Buffer.from(e.origin.key ?? new Uint8Array()).toString(),
            Envelope.header(e.origin, DeadLetter.ReasonHeader)
          ])
        )
        assert.strictEqual(reasons.get("bad-id"), "unknown schema id 9999")
        assert.match(reasons.get("bad-json") ?? "", /unknown magic byte 123/)
        // The dead letter keeps the original bytes.
        const original = dead.find((e) => Buffer.from(e.origin.key ?? new Uint8Array()).toString() === "bad-id")!
        assert.deepStrictEqual(Array.from(asBuffer(original.value)), Array.from(unknownId))
      }),
    60_000
  )
})
