import { assert, describe, it } from "@effect/vitest"
import { SchemaRegistry as ConfluentRegistry, SchemaType } from "@kafkajs/confluent-schema-registry"
import { SchemaRegistry as EmbeddedRegistry } from "@sluice/testkit"
import { Effect, Redacted } from "effect"
import { TestClock } from "effect/testing"
import * as SchemaRegistry from "../src/SchemaRegistry.ts"
import { withClient } from "./fixtures/registry.ts"

const record = (fields: ReadonlyArray<object>) =>
  JSON.stringify({ type: "record", name: "Payment", namespace: "sluice.test", fields })
const v1 = record([
  { name: "payment_id", type: "string" },
  { name: "amount", type: "double" }
])
const v2 = record([
  { name: "payment_id", type: "string" },
  { name: "amount", type: "double" },
  { name: "currency", type: "string", default: "EUR" }
])
const breaking = record([
  { name: "payment_id", type: "string" },
  { name: "amount", type: "double" },
  { name: "member_id", type: "string" }
])
const avro = (schema: string): SchemaRegistry.SchemaDefinition => ({ schemaType: "AVRO", schema })

const codeOf = (effect: Effect.Effect<unknown, import("../src/KafkaError.ts").KafkaError>) =>
  Effect.map(Effect.flip(effect), SchemaRegistry.errorCode)

describe("SchemaRegistry against the embedded registry", () => {
  it.effect(
    "@kafkajs/confluent-schema-registry - register, look up, evolve compatibly, refuse an incompatible change",
    () =>
      Effect.gen(function* () {
        const registry = yield* EmbeddedRegistry.make()
        const client = new ConfluentRegistry({ host: registry.url })
        const subject = "payments-value"
        const first = yield* Effect.promise(() => client.register({ type: SchemaType.AVRO, schema: v1 }, { subject }))
        const again = yield* Effect.promise(() => client.register({ type: SchemaType.AVRO, schema: v1 }, { subject }))
        assert.strictEqual(again.id, first.id)
        assert.strictEqual(yield* Effect.promise(() => client.getLatestSchemaId(subject)), first.id)
        assert.strictEqual(
          yield* Effect.promise(() => client.getRegistryIdBySchema(subject, { type: SchemaType.AVRO, schema: v1 })),
          first.id
        )
        const second = yield* Effect.promise(() => client.register({ type: SchemaType.AVRO, schema: v2 }, { subject }))
        assert.notStrictEqual(second.id, first.id)
        assert.strictEqual(yield* Effect.promise(() => client.getRegistryId(subject, 2)), second.id)
        assert.strictEqual(yield* Effect.promise(() => client.getRegistryId(subject, "latest")), second.id)
        const refused = yield* Effect.flip(
          Effect.tryPromise(() => client.register({ type: SchemaType.AVRO, schema: breaking }, { subject }))
        )
        const cause = refused.cause as { status?: number; message?: string }
        assert.strictEqual(cause.status, 409)
        assert.match(cause.message ?? "", /incompatible/)
        // The library reads records by id through GET /schemas/ids/{id}.
        const bytes = yield* Effect.promise(() =>
          client.encode(second.id, { payment_id: "p-1", amount: 1.5, currency: "USD" })
        )
        const fresh = new ConfluentRegistry({ host: registry.url })
        assert.deepStrictEqual(
          { ...(yield* Effect.promise(() => fresh.decode(bytes))) },
          { payment_id: "p-1", amount: 1.5, currency: "USD" }
        )
      })
  )

  it.effect("client - register, look up, versions and compatibility, with the registry's error codes", () =>
    Effect.gen(function* () {
      const { url } = yield* EmbeddedRegistry.make()
      yield* Effect.gen(function* () {
        const registry = yield* SchemaRegistry.SchemaRegistry
        const id1 = yield* registry.register("p-value", avro(v1))
        assert.strictEqual(yield* registry.register("p-value", avro(v1)), id1)
        assert.isTrue(yield* registry.isCompatible("p-value", avro(v2)))
        assert.isFalse(yield* registry.isCompatible("p-value", avro(breaking)))
        const id2 = yield* registry.register("p-value", avro(v2))
        assert.deepStrictEqual(yield* registry.versions("p-value"), [1, 2])
        assert.deepStrictEqual(yield* registry.subjects, ["p-value"])
        const latest = yield* registry.version("p-value")
        assert.deepStrictEqual(latest, { subject: "p-value", version: 2, id: id2, schemaType: "AVRO", schema: v2 })
        const found = yield* registry.lookup("p-value", avro(v1))
        assert.strictEqual(found.id, id1)
        assert.strictEqual(found.version, 1)
        assert.deepStrictEqual(yield* registry.schemaById(id1), avro(v1))
        assert.strictEqual(yield* codeOf(registry.register("p-value", avro(breaking))), 409)
        const incompatible = yield* Effect.flip(registry.register("p-value", avro(breaking)))
        assert.isFalse(incompatible.isRetryable)
        assert.strictEqual(yield* codeOf(registry.register("p-value", avro('{"type":"nope"}'))), 42201)
        assert.strictEqual(yield* codeOf(registry.schemaById(999)), 40403)
        assert.strictEqual(yield* codeOf(registry.version("nobody")), 40401)
        yield* registry.setCompatibility("NONE", "p-value")
        yield* registry.register("p-value", avro(breaking))
        assert.deepStrictEqual(yield* registry.deleteSubject("p-value"), [1, 2, 3])
      }).pipe(withClient(url))
    })
  )

  it.effect("client - an unreachable registry is a retryable Connection error", () =>
    Effect.gen(function* () {
      const registry = yield* Effect.scoped(EmbeddedRegistry.make())
      // The scope above closed the server: nothing listens on its port now.
      const error = yield* Effect.flip(
        Effect.flatMap(SchemaRegistry.SchemaRegistry, (r) => r.schemaById(1)).pipe(withClient(registry.url))
      )
      assert.strictEqual(error.reason._tag, "Connection")
      assert.isTrue(error.isRetryable)
    })
  )

  it.effect("client - basic auth from the options or from the URL; wrong credentials are an Authentication error", () =>
    Effect.gen(function* () {
      const registry = yield* EmbeddedRegistry.make({
        basicAuth: { username: "sluice", password: Redacted.make("s3cret") }
      })
      const list = Effect.flatMap(SchemaRegistry.SchemaRegistry, (r) => r.subjects)
      const denied = yield* Effect.flip(list.pipe(withClient(registry.url)))
      assert.strictEqual(denied.reason._tag, "Authentication")
      assert.deepStrictEqual(
        yield* list.pipe(
          withClient(registry.url, { basicAuth: { username: "sluice", password: Redacted.make("s3cret") } })
        ),
        []
      )
      assert.deepStrictEqual(yield* list.pipe(withClient(`http://sluice:s3cret@${registry.host}:${registry.port}`)), [])
    })
  )

  it.effect("client - an unknown id is asked once, remembered as unknown for unknownIdTtl, then asked again", () =>
    Effect.gen(function* () {
      const { url } = yield* EmbeddedRegistry.make()
      yield* Effect.gen(function* () {
        const registry = yield* SchemaRegistry.SchemaRegistry
        assert.strictEqual(yield* codeOf(registry.schemaById(1)), 40403)
        // The id now exists, but the answer "unknown" is still fresh.
        const id = yield* registry.register("late-value", avro(v1))
        assert.strictEqual(id, 1)
        assert.strictEqual(yield* codeOf(registry.schemaById(1)), 40403)
        yield* TestClock.adjust("59 seconds")
        assert.strictEqual(yield* codeOf(registry.schemaById(1)), 40403)
        yield* TestClock.adjust("2 seconds")
        assert.deepStrictEqual(yield* registry.schemaById(1), avro(v1))
      }).pipe(withClient(url, { unknownIdTtl: "1 minute" }))
    })
  )
})
