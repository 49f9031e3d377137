import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { SchemaRegistry as ConfluentRegistry, SchemaType } from "@kafkajs/confluent-schema-registry"
import { SchemaRegistry as EmbeddedRegistry } from "@sluice/testkit"
import avro from "avsc"
import { BigDecimal, DateTime, Effect, Exit, Schema, Scope } from "effect"
import * as AvroSerde from "../src/AvroSerde.ts"
import * as ConfluentWire from "../src/ConfluentWire.ts"
import type * as KafkaError from "../src/KafkaError.ts"
import * as SchemaRegistry from "../src/SchemaRegistry.ts"
import * as Payments from "./fixtures/payments.ts"
import { withClient } from "./fixtures/registry.ts"

const topic = "payment-events"
const serde = (schema: AvroSerde.AvroSchema = Payments.schemaText) =>
  AvroSerde.make({ topic, schema, codec: Payments.Payment })

const detail = (error: KafkaError.KafkaError): string =>
  error.reason._tag === "Decode" || error.reason._tag === "Encode" ? error.reason.detail : error.message

// The Avro specification's encoding of a decimal's unscaled value, worked out
// with arithmetic rather than bit operations: the shortest two's complement.
const referenceBytes = (unscaled: bigint): ReadonlyArray<number> => {
  let length = 1
  while (unscaled < -(2n ** BigInt(8 * length - 1)) || unscaled >= 2n ** BigInt(8 * length - 1)) length++
  let rest = unscaled < 0n ? unscaled + 2n ** BigInt(8 * length) : unscaled
  const out: Array<number> = []
  for (let i = 0; i < length; i++) {
    out.unshift(Number(rest % 256n))
    rest /= 256n
  }
  return out
}

const plainPayment = avro.Type.forSchema(Payments.schema as avro.Schema)

const same = (a: Payments.Payment, b: Payments.Payment) => {
  assert.isTrue(BigDecimal.equals(a.payment_amount, b.payment_amount), `${a.payment_id} amount`)
  assert.strictEqual(BigDecimal.format(a.payment_amount), BigDecimal.format(b.payment_amount))
  assert.strictEqual(DateTime.toEpochMillis(a.payment_date), DateTime.toEpochMillis(b.payment_date))
  assert.deepStrictEqual(
    { ...a, payment_amount: null, payment_date: null },
    { ...b, payment_amount: null, payment_date: null }
  )
}

describe("AvroSerde", () => {
  it.effect("round trip - payments come back exactly; decimals are the specification's two's complement bytes", () =>
    Effect.gen(function* () {
      const { url } = yield* EmbeddedRegistry.make()
      yield* Effect.gen(function* () {
        const payments = yield* serde()
        for (const payment of Payments.generate(300)) {
          const bytes = yield* payments.encode(payment)
          same(yield* payments.decode(bytes), payment)
          const framed = yield* ConfluentWire.unframe(bytes)
          const plain = plainPayment.fromBuffer(Buffer.from(framed.payload)) as { payment_amount: Buffer }
          assert.deepStrictEqual(Array.from(plain.payment_amount), referenceBytes(payment.payment_amount.value))
        }
        // Values from the specification's examples, written out by hand.
        assert.deepStrictEqual(referenceBytes(100n), [0x64])
        assert.deepStrictEqual(referenceBytes(-100n), [0x9c])
        assert.deepStrictEqual(referenceBytes(128n), [0x00, 0x80])
        assert.deepStrictEqual(referenceBytes(-129n), [0xff, 0x7f])
        const registry = yield* SchemaRegistry.SchemaRegistry
        assert.deepStrictEqual(yield* registry.versions("payment-events-value"), [1])
      }).pipe(withClient(url))
    })
  )

  it.effect("decimal - wide precisions over bytes and fixed round trip exactly", () =>
    Effect.gen(function* () {
      const { url } = yield* EmbeddedRegistry.make()
      yield* Effect.gen(function* () {
        const bytesType = { type: "bytes", logicalType: "decimal", precision: 38, scale: 4 }
        const fixedType = { type: "fixed", name: "Wide", size: 16, logicalType: "decimal", precision: 38, scale: 4 }
        const wide = yield* AvroSerde.make({
          topic: "wide",
          schema: bytesType as avro.Schema,
          codec: Schema.BigDecimal
        })
        const fixed = yield* AvroSerde.make({
          topic: "fixed",
          schema: fixedType as avro.Schema,
          codec: Schema.BigDecimal
        })
        const values = [0n, 1n, -1n, 2n ** 47n, -(2n ** 47n) - 1n, 10n ** 33n + 7n, -(10n ** 37n) + 3n, 2n ** 100n]
        for (const unscaled of values) {
          const value = BigDecimal.make(unscaled, 4)
          const viaBytes = yield* wide.encode(value)
          const payload = (yield* ConfluentWire.unframe(viaBytes)).payload
          // Avro bytes: a zig-zag length, then the two's complement.
          assert.deepStrictEqual(Array.from(payload.subarray(1)), referenceBytes(unscaled))
          assert.isTrue(BigDecimal.equals(yield* wide.decode(viaBytes), value))
          const viaFixed = yield* fixed.encode(value)
          const fixedPayload = Array.from((yield* ConfluentWire.unframe(viaFixed)).payload)
          const reference = referenceBytes(unscaled)
          const pad = unscaled < 0n ? 0xff : 0
          assert.deepStrictEqual(fixedPayload, [...Array(16 - reference.length).fill(pad), ...reference])
          assert.isTrue(BigDecimal.equals(yield* fixed.decode(viaFixed), value))
        }
      }).pipe(withClient(url))
    })
  )

  it.effect("encode - more places than the scale or more digits than the precision are refused, never rounded", () =>
    Effect.gen(function* () {
      const { url } = yield* EmbeddedRegistry.make()
      yield* Effect.gen(function* () {
        const payments = yield* serde()
        const [payment] = Payments.generate(1)
        const withAmount = (amount: string) => ({ ...payment!, payment_amount: BigDecimal.fromStringUnsafe(amount) })
        for (const amount of ["12.345", "100000000.00", "-100000000"]) {
          const error = yield* Effect.flip(payments.encode(withAmount(amount)))
          assert.strictEqual(error.reason._tag, "Encode")
          assert.match(detail(error), /payment_amount/)
        }
        // Trailing zeros past the scale are the same number.
        const ok = yield* payments.decode(yield* payments.encode(withAmount("12.3400")))
        assert.strictEqual(BigDecimal.format(ok.payment_amount), "12.34")
        assert.strictEqual(ok.payment_amount.scale, 2)
      }).pipe(withClient(url))
    })
  )

  it.effect(
    "decode - not the wire format, an unknown schema id and a payload that does not match are decode errors",
    () =>
      Effect.gen(function* () {
        const { url } = yield* EmbeddedRegistry.make()
        yield* Effect.gen(function* () {
          const payments = yield* serde()
          const bytes = yield* payments.encode(Payments.generate(1)[0]!)
          const framed = yield* ConfluentWire.unframe(bytes)
          const reason = (input: Uint8Array | null) =>
            Effect.map(Effect.flip(payments.decode(input)), (error) => {
              assert.strictEqual(error.reason._tag, "Decode")
              return detail(error)
            })
          assert.match(yield* reason(new TextEncoder().encode('{"payment_id":"p"}')), /unknown magic byte/)
          assert.strictEqual(yield* reason(ConfluentWire.frame(4242, framed.payload)), "unknown schema id 4242")
          assert.match(
            yield* reason(ConfluentWire.frame(framed.schemaId, framed.payload.subarray(0, 10))),
            /payload does not match schema id/
          )
          const trailing = new Uint8Array([...framed.payload, 1, 2, 3])
          assert.match(yield* reason(ConfluentWire.frame(framed.schemaId, trailing)), /payload does not match/)
          assert.strictEqual(yield* reason(null), "record has no value")
        }).pipe(withClient(url))
      })
  )

  it.effect("evolution - records written with an older schema read as the current one, defaults filled in", () =>
    Effect.gen(function* () {
      const { url } = yield* EmbeddedRegistry.make()
      yield* Effect.gen(function* () {
        const older = {
          ...Payments.schema,
          fields: Payments.schema.fields.filter((f) => f.name !== "payment_method" && f.name !== "payment_status")
        }
        const { Struct } = yield* Effect.promise(() => import("effect/Schema"))
        const { payment_method: _m, payment_status: _s, ...olderFields } = Payments.Payment.fields
        const writer = yield* AvroSerde.make({ topic, schema: older as avro.Schema, codec: Struct(olderFields) })
        const reader = yield* serde()
        const { payment_method: _pm, payment_status: _ps, ...payment } = Payments.generate(2)[1]!
        const bytes = yield* writer.encode(payment)
        const read = yield* reader.decode(bytes)
        same(read, { ...payment, payment_method: null, payment_status: null })
        // The other way: a current record read with the older schema drops the new fields.
        const back = yield* writer.decode(yield* reader.encode(Payments.generate(3)[2]!))
        assert.deepStrictEqual(Object.keys(back).sort(), Object.keys(olderFields).sort())
        // Each serde registered its schema on its first encode: the writer version 1, the reader version 2.
        const registry = yield* SchemaRegistry.SchemaRegistry
        assert.deepStrictEqual(yield* registry.versions(`${topic}-value`), [1, 2])
      }).pipe(withClient(url))
    })
  )

  it.effect(
    "interop - what @kafkajs/confluent-schema-registry writes decodes, and what the serde writes the library reads",
    () =>
      Effect.gen(function* () {
        const { url } = yield* EmbeddedRegistry.make()
        const library = new ConfluentRegistry({ host: url })
        const { id } = yield* Effect.promise(() =>
          library.register({ type: SchemaType.AVRO, schema: Payments.schemaText }, { subject: `${topic}-value` })
        )
        yield* Effect.gen(function* () {
          const payments = yield* serde()
          for (const payment of Payments.generate(50, 7)) {
            // The library knows no logical types: it writes the underlying bytes and long.
            const written = yield* Effect.promise(() =>
              library.encode(id, {
                ...payment,
                payment_amount: Buffer.from(referenceBytes(payment.payment_amount.value)),
                payment_date: DateTime.toEpochMillis(payment.payment_date)
              })
            )
            same(yield* payments.decode(written), payment)
            const ours = yield* payments.encode(payment)
            assert.strictEqual((yield* ConfluentWire.unframe(ours)).schemaId, id)
            const read = yield* Effect.promise(() => library.decode(Buffer.from(ours)))
            assert.deepStrictEqual(
              Array.from(read.payment_amount as Buffer),
              referenceBytes(payment.payment_amount.value)
            )
            assert.strictEqual(read.payment_date, DateTime.toEpochMillis(payment.payment_date))
            assert.strictEqual(read.claim_id, payment.claim_id)
          }
        }).pipe(withClient(url))
      })
  )

  it.effect(
    "restart - after the registry restarts on its data directory, records written before decode and ids stay",
    () =>
      Effect.gen(function* () {
        const dataDir = yield* Effect.acquireRelease(
          Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "sluice-registry-"))),
          (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
        )
        const payment = Payments.generate(5, 11)[4]!
        const first = yield* Scope.make()
        const before = yield* EmbeddedRegistry.make({ dataDir }).pipe(Scope.provide(first))
        const bytes = yield* Effect.flatMap(serde(), (s) => s.encode(payment)).pipe(withClient(before.url))
        yield* Scope.close(first, Exit.void)
        const after = yield* EmbeddedRegistry.make({ dataDir, port: before.port })
        yield* Effect.gen(function* () {
          const payments = yield* serde()
          same(yield* payments.decode(bytes), payment)
          // Registering again finds the same id and version.
          const again = yield* payments.encode(payment)
          assert.strictEqual(
            (yield* ConfluentWire.unframe(again)).schemaId,
            (yield* ConfluentWire.unframe(bytes)).schemaId
          )
          const registry = yield* SchemaRegistry.SchemaRegistry
          assert.deepStrictEqual(yield* registry.versions(`${topic}-value`), [1])
        }).pipe(withClient(after.url))
      })
  )

  it.effect("schemas - the schema files parse, and each registers under RecordNameStrategy by its full name", () =>
    Effect.gen(function* () {
      const { url } = yield* EmbeddedRegistry.make()
      const dir = Path.join(import.meta.dirname, "../schemas")
      const files = Fs.readdirSync(dir)
        .filter((f) => f.endsWith(".avsc"))
        .sort()
      assert.deepStrictEqual(files, ["enriched-payment.avsc", "filtered-event.avsc", "payment.avsc", "raw-event.avsc"])
      yield* Effect.gen(function* () {
        for (const file of files) {
          const text = Fs.readFileSync(Path.join(dir, file), "utf8")
          const { Unknown } = yield* Effect.promise(() => import("effect/Schema"))
          yield* AvroSerde.make({
            topic: "any",
            schema: text,
            codec: Unknown,
            subjectNameStrategy: "RecordNameStrategy"
          })
        }
        // Serdes register on first encode; the names are what they would use.
        assert.deepStrictEqual(
          files.map((file) => AvroSerde.parse(Fs.readFileSync(Path.join(dir, file), "utf8")).name),
          [
            "sluice.claims.EnrichedPayment",
            "sluice.cdc.FilteredEvent",
            "sluice.claims.PaymentEvent",
            "sluice.cdc.RawEvent"
          ]
        )
        // Under RecordNameStrategy two topics carrying payments share one subject.
        for (const name of ["payments-a", "payments-b"]) {
          const payments = yield* AvroSerde.make({
            topic: name,
            schema: Payments.schemaText,
            codec: Payments.Payment,
            subjectNameStrategy: "RecordNameStrategy"
          })
          yield* payments.encode(Payments.generate(1)[0]!)
        }
        const registry = yield* SchemaRegistry.SchemaRegistry
        assert.deepStrictEqual(yield* registry.subjects, ["sluice.claims.PaymentEvent"])
        assert.deepStrictEqual(yield* registry.versions("sluice.claims.PaymentEvent"), [1])
      }).pipe(withClient(url))
    })
  )
})
