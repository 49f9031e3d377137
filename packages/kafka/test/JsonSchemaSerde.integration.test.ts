import { assert, describe, it } from "@effect/vitest"
import { SchemaRegistry as EmbeddedRegistry } from "@sluice/testkit"
import { BigDecimal, Effect, Schema } from "effect"
import * as AvroSerde from "../src/AvroSerde.ts"
import * as ConfluentWire from "../src/ConfluentWire.ts"
import * as JsonSchemaSerde from "../src/JsonSchemaSerde.ts"
import type * as KafkaError from "../src/KafkaError.ts"
import * as SchemaRegistry from "../src/SchemaRegistry.ts"
import * as Payments from "./fixtures/payments.ts"
import { withClient } from "./fixtures/registry.ts"

const jsonSchema = {
  $schema: "http://json-schema.org/draft-07/schema#",
  title: "PaymentEvent",
  type: "object",
  properties: {
    payment_id: { type: "string", minLength: 1 },
    claim_id: { type: "string", minLength: 1 },
    payment_amount: { type: "string", pattern: "^-?[0-9]+(\\.[0-9]{1,2})?$" }
  },
  required: ["payment_id", "claim_id", "payment_amount"]
}

const Payment = Schema.Struct({
  payment_id: Schema.String,
  claim_id: Schema.String,
  payment_amount: Schema.BigDecimalFromString
})

const topic = "json-payments"
const serde = (schema: object = jsonSchema) => JsonSchemaSerde.make({ topic, schema, codec: Payment })
const payment = { payment_id: "PAY-1", claim_id: "CLM-000001", payment_amount: BigDecimal.fromStringUnsafe("1234.50") }

const detail = (error: KafkaError.KafkaError): string =>
  error.reason._tag === "Decode" || error.reason._tag === "Encode" ? error.reason.detail : error.message

describe("JsonSchemaSerde", () => {
  it.effect("round trip - JSON framed with the id of a JSON schema registered under <topic>-value", () =>
    Effect.gen(function* () {
      const { url } = yield* EmbeddedRegistry.make()
      yield* Effect.gen(function* () {
        const payments = yield* serde()
        const bytes = yield* payments.encode(payment)
        const framed = yield* ConfluentWire.unframe(bytes)
        assert.deepStrictEqual(JSON.parse(new TextDecoder().decode(framed.payload)), {
          payment_id: "PAY-1",
          claim_id: "CLM-000001",
          payment_amount: "1234.5"
        })
        const back = yield* payments.decode(bytes)
        assert.isTrue(BigDecimal.equals(back.payment_amount, payment.payment_amount))
        const registry = yield* SchemaRegistry.SchemaRegistry
        const latest = yield* registry.version(`${topic}-value`)
        assert.strictEqual(latest.id, framed.schemaId)
        assert.strictEqual(latest.schemaType, "JSON")
      }).pipe(withClient(url))
    })
  )

  it.effect("encode and decode - values outside the JSON Schema are refused with the path of the problem", () =>
    Effect.gen(function* () {
      const { url } = yield* EmbeddedRegistry.make()
      yield* Effect.gen(function* () {
        const payments = yield* serde()
        const refused = yield* Effect.flip(payments.encode({ ...payment, payment_id: "" }))
        assert.strictEqual(refused.reason._tag, "Encode")
        assert.match(detail(refused), /payment_id: must NOT have fewer than 1 characters/)
        const { schemaId } = yield* ConfluentWire.unframe(yield* payments.encode(payment))
        const frame = (json: string) => ConfluentWire.frame(schemaId, new TextEncoder().encode(json))
        const reason = (bytes: Uint8Array) =>
          Effect.map(Effect.flip(payments.decode(bytes)), (error) => {
            assert.strictEqual(error.reason._tag, "Decode")
            return detail(error)
          })
        assert.match(
          yield* reason(frame('{"payment_id":"p","claim_id":"c","payment_amount":"12.345"}')),
          /payment_amount: must match pattern/
        )
        assert.match(yield* reason(frame('{"payment_id":"p"}')), /must have required property 'claim_id'/)
        assert.match(yield* reason(frame("{not json")), /invalid JSON/)
        assert.strictEqual(yield* reason(ConfluentWire.frame(777, new Uint8Array([123, 125]))), "unknown schema id 777")
        // A record written with an Avro schema is not JSON Schema.
        const avro = yield* AvroSerde.make({ topic: "avro", schema: Payments.schemaText, codec: Payments.Payment })
        const avroId = (yield* ConfluentWire.unframe(yield* avro.encode(Payments.generate(1)[0]!))).schemaId
        assert.strictEqual(
          yield* reason(ConfluentWire.frame(avroId, new Uint8Array([123, 125]))),
          `schema id ${avroId} is AVRO, not JSON Schema`
        )
      }).pipe(withClient(url))
    })
  )

  it.effect(
    "evolution - a new required property is refused by the registry with 409, an optional one is accepted",
    () =>
      Effect.gen(function* () {
        const { url } = yield* EmbeddedRegistry.make()
        yield* Effect.gen(function* () {
          yield* (yield* serde()).encode(payment)
          const withMember = (required: boolean) => ({
            ...jsonSchema,
            properties: { ...jsonSchema.properties, member_id: { type: "string" } },
            required: required ? [...jsonSchema.required, "member_id"] : jsonSchema.required
          })
          const breaking = yield* JsonSchemaSerde.make({
            topic,
            schema: withMember(true),
            codec: Schema.Struct({ ...Payment.fields, member_id: Schema.String })
          })
          const error = yield* Effect.flip(breaking.encode({ ...payment, member_id: "M-1" }))
          assert.strictEqual(SchemaRegistry.errorCode(error), 409)
          assert.isFalse(error.isRetryable)
          const compatible = yield* serde(withMember(false))
          const bytes = yield* compatible.encode(payment)
          // Readers with the first schema read what the second one wrote.
          const first = yield* serde()
          assert.strictEqual((yield* first.decode(bytes)).payment_id, "PAY-1")
        }).pipe(withClient(url))
      })
  )
})
