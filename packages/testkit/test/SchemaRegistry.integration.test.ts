import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted, Scope } from "effect"
import * as SchemaRegistry from "../src/SchemaRegistry.ts"

interface Answer {
  readonly status: number
  readonly contentType: string | null
  readonly body: unknown
}

const call = (
  registry: SchemaRegistry.Registry,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {}
): Effect.Effect<Answer> =>
  Effect.promise(async () => {
    const response = await fetch(`${registry.url}${path}`, {
      method,
      headers: { "content-type": SchemaRegistry.contentType, ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) })
    })
    return { status: response.status, contentType: response.headers.get("content-type"), body: await response.json() }
  })

const record = (fields: ReadonlyArray<object>) =>
  JSON.stringify({ type: "record", name: "Payment", namespace: "sluice.test", fields })

const v1 = record([
  { name: "payment_id", type: "string" },
  { name: "amount", type: "double" }
])
// Adds a field with a default: a reader on v2 can read v1 data.
const v2 = record([
  { name: "payment_id", type: "string" },
  { name: "amount", type: "double" },
  { name: "currency", type: "string", default: "EUR" }
])
// Adds a field without a default: v1 data has nothing to fill it with.
const breaking = record([
  { name: "payment_id", type: "string" },
  { name: "amount", type: "double" },
  { name: "member_id", type: "string" }
])

const errorCode = (answer: Answer): unknown => (answer.body as { error_code?: unknown }).error_code

const temporaryDir = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "sluice-registry-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

describe("SchemaRegistry", () => {
  it.effect("register - the same schema keeps its id, a compatible change gets a new version", () =>
    Effect.gen(function* () {
      const registry = yield* SchemaRegistry.make()
      const first = yield* call(registry, "POST", "/subjects/payments-value/versions", { schema: v1 })
      assert.strictEqual(first.status, 200)
      assert.strictEqual(first.contentType, SchemaRegistry.contentType)
      const id1 = (first.body as { id: number }).id
      // Formatting differs, the schema does not.
      const again = yield* call(registry, "POST", "/subjects/payments-value/versions", {
        schema: JSON.stringify(JSON.parse(v1), null, 2)
      })
      assert.deepStrictEqual(again.body, { id: id1 })
      const second = yield* call(registry, "POST", "/subjects/payments-value/versions", { schema: v2 })
      const id2 = (second.body as { id: number }).id
      assert.notStrictEqual(id2, id1)
      assert.deepStrictEqual((yield* call(registry, "GET", "/subjects/payments-value/versions")).body, [1, 2])
      assert.deepStrictEqual((yield* call(registry, "GET", "/subjects")).body, ["payments-value"])
      const latest = yield* call(registry, "GET", "/subjects/payments-value/versions/latest")
      assert.deepStrictEqual(latest.body, { subject: "payments-value", version: 2, id: id2, schema: v2 })
      assert.deepStrictEqual((yield* call(registry, "GET", `/schemas/ids/${id1}`)).body, { schema: v1 })
      assert.deepStrictEqual((yield* call(registry, "GET", `/schemas/ids/${id2}/versions`)).body, [
        { subject: "payments-value", version: 2 }
      ])
      const lookup = yield* call(registry, "POST", "/subjects/payments-value", { schema: v1 })
      assert.deepStrictEqual(lookup.body, { subject: "payments-value", version: 1, id: id1, schema: v1 })
      // Another subject registering a known schema shares its id.
      const shared = yield* call(registry, "POST", "/subjects/other-value/versions", { schema: v2 })
      assert.deepStrictEqual(shared.body, { id: id2 })
    })
  )

  it.effect("register - an incompatible schema is refused with 409, an invalid one with 42201", () =>
    Effect.gen(function* () {
      const registry = yield* SchemaRegistry.make()
      yield* call(registry, "POST", "/subjects/p-value/versions", { schema: v1 })
      const refused = yield* call(registry, "POST", "/subjects/p-value/versions", { schema: breaking })
      assert.strictEqual(refused.status, 409)
      assert.strictEqual(errorCode(refused), 409)
      const check = yield* call(registry, "POST", "/compatibility/subjects/p-value/versions/latest", {
        schema: breaking
      })
      assert.deepStrictEqual(check.body, { is_compatible: false })
      const fine = yield* call(registry, "POST", "/compatibility/subjects/p-value/versions/1", { schema: v2 })
      assert.deepStrictEqual(fine.body, { is_compatible: true })
      const invalid = yield* call(registry, "POST", "/subjects/p-value/versions", { schema: '{"type":"recrod"}' })
      assert.strictEqual(invalid.status, 422)
      assert.strictEqual(errorCode(invalid), 42201)
      const notJson = yield* call(registry, "POST", "/subjects/p-value/versions", { schema: "{" })
      assert.strictEqual(errorCode(notJson), 42201)
      assert.strictEqual(errorCode(yield* call(registry, "GET", "/subjects/nope/versions")), 40401)
      assert.strictEqual(errorCode(yield* call(registry, "GET", "/subjects/p-value/versions/7")), 40402)
      assert.strictEqual(errorCode(yield* call(registry, "GET", "/schemas/ids/99")), 40403)
      assert.strictEqual(errorCode(yield* call(registry, "POST", "/subjects/p-value", { schema: v2 })), 40403)
    })
  )

  it.effect("config - NONE per subject lets a breaking change in, FORWARD and FULL check the other way", () =>
    Effect.gen(function* () {
      const registry = yield* SchemaRegistry.make()
      assert.deepStrictEqual((yield* call(registry, "GET", "/config")).body, { compatibilityLevel: "BACKWARD" })
      yield* call(registry, "POST", "/subjects/a/versions", { schema: v1 })
      assert.strictEqual(errorCode(yield* call(registry, "GET", "/config/a")), 40408)
      const set = yield* call(registry, "PUT", "/config/a", { compatibility: "NONE" })
      assert.deepStrictEqual(set.body, { compatibility: "NONE" })
      assert.deepStrictEqual((yield* call(registry, "GET", "/config/a")).body, { compatibilityLevel: "NONE" })
      assert.strictEqual((yield* call(registry, "POST", "/subjects/a/versions", { schema: breaking })).status, 200)
      // FORWARD: the old schema must read new data. Adding a field without a
      // default is fine, removing one the old schema needs is not.
      yield* call(registry, "PUT", "/config", { compatibility: "FORWARD" })
      yield* call(registry, "POST", "/subjects/b/versions", { schema: v2 })
      const dropsAmount = record([{ name: "payment_id", type: "string" }])
      assert.strictEqual((yield* call(registry, "POST", "/subjects/b/versions", { schema: dropsAmount })).status, 409)
      assert.strictEqual((yield* call(registry, "POST", "/subjects/b/versions", { schema: v1 })).status, 200)
      assert.strictEqual((yield* call(registry, "POST", "/subjects/b/versions", { schema: breaking })).status, 200)
      yield* call(registry, "PUT", "/config/c", { compatibility: "FULL" })
      yield* call(registry, "POST", "/subjects/c/versions", { schema: v1 })
      assert.strictEqual((yield* call(registry, "POST", "/subjects/c/versions", { schema: breaking })).status, 409)
      assert.strictEqual((yield* call(registry, "POST", "/subjects/c/versions", { schema: v2 })).status, 200)
      assert.strictEqual(errorCode(yield* call(registry, "PUT", "/config", { compatibility: "SIDEWAYS" })), 42203)
    })
  )

  it.effect("config - BACKWARD_TRANSITIVE checks every version, BACKWARD only the latest", () =>
    Effect.gen(function* () {
      const registry = yield* SchemaRegistry.make()
      const v3 = record([
        { name: "payment_id", type: "string" },
        { name: "amount", type: "double" },
        { name: "currency", type: "string" }
      ])
      for (const [subject, level] of [
        ["plain", "BACKWARD"],
        ["transitive", "BACKWARD_TRANSITIVE"]
      ] as const) {
        yield* call(registry, "PUT", `/config/${subject}`, { compatibility: level })
        yield* call(registry, "POST", `/subjects/${subject}/versions`, { schema: v1 })
        yield* call(registry, "POST", `/subjects/${subject}/versions`, { schema: v2 })
      }
      // v3 reads v2 data (currency is there) but not v1 data.
      assert.strictEqual((yield* call(registry, "POST", "/subjects/plain/versions", { schema: v3 })).status, 200)
      assert.strictEqual((yield* call(registry, "POST", "/subjects/transitive/versions", { schema: v3 })).status, 409)
    })
  )

  it.effect(
    "JSON Schema - added required property, removed property of a closed schema and type change are breaking",
    () =>
      Effect.gen(function* () {
        const registry = yield* SchemaRegistry.make()
        const schema = (properties: object, required: ReadonlyArray<string>, closed = false) => ({
          schemaType: "JSON",
          schema: JSON.stringify({
            type: "object",
            properties,
            required,
            ...(closed ? { additionalProperties: false } : {})
          })
        })
        const base = { id: { type: "string" }, amount: { type: "number" }, note: { type: "string" } }
        const register = (subject: string, body: object) =>
          call(registry, "POST", `/subjects/${subject}/versions`, body)
        for (const subject of ["required", "closed", "type", "ok"]) {
          assert.strictEqual((yield* register(subject, schema(base, ["id"], true))).status, 200)
        }
        const added = yield* register(
          "required",
          schema({ ...base, member: { type: "string" } }, ["id", "member"], true)
        )
        assert.strictEqual(added.status, 409)
        const { note: _, ...withoutNote } = base
        assert.strictEqual((yield* register("closed", schema(withoutNote, ["id"], true))).status, 409)
        assert.strictEqual(
          (yield* register("type", schema({ ...base, amount: { type: "string" } }, ["id"], true))).status,
          409
        )
        // An optional property, a required one with a default, and a widened type are fine.
        const evolved = schema(
          {
            ...base,
            amount: { type: ["number", "string"] },
            extra: { type: "string" },
            flag: { type: "boolean", default: false }
          },
          ["id", "flag"],
          true
        )
        const answer = yield* register("ok", evolved)
        assert.strictEqual(answer.status, 200)
        const stored = yield* call(registry, "GET", "/subjects/ok/versions/2")
        assert.strictEqual((stored.body as { schemaType?: string }).schemaType, "JSON")
      })
  )

  it.effect("delete - soft deletes hide versions, numbering continues, permanent needs a soft delete first", () =>
    Effect.gen(function* () {
      const registry = yield* SchemaRegistry.make()
      const { id } = (yield* call(registry, "POST", "/subjects/d/versions", { schema: v1 })).body as { id: number }
      yield* call(registry, "POST", "/subjects/d/versions", { schema: v2 })
      assert.deepStrictEqual((yield* call(registry, "DELETE", "/subjects/d/versions/2")).body, 2)
      assert.deepStrictEqual((yield* call(registry, "GET", "/subjects/d/versions")).body, [1])
      assert.deepStrictEqual((yield* call(registry, "GET", "/subjects/d/versions?deleted=true")).body, [1, 2])
      assert.strictEqual((yield* call(registry, "DELETE", "/subjects/d?permanent=true")).status, 404)
      assert.deepStrictEqual((yield* call(registry, "DELETE", "/subjects/d")).body, [1])
      assert.deepStrictEqual((yield* call(registry, "GET", "/subjects")).body, [])
      // Schemas stay readable by id: records written with them still decode.
      assert.deepStrictEqual((yield* call(registry, "GET", `/schemas/ids/${id}`)).body, { schema: v1 })
      const again = yield* call(registry, "POST", "/subjects/d/versions", { schema: v1 })
      assert.deepStrictEqual(again.body, { id })
      assert.deepStrictEqual((yield* call(registry, "GET", "/subjects/d/versions/latest")).body, {
        subject: "d",
        version: 3,
        id,
        schema: v1
      })
    })
  )

  it.effect("dataDir - a restart keeps ids, versions and configuration", () =>
    Effect.gen(function* () {
      const dataDir = yield* temporaryDir
      const first = yield* Scope.make()
      const before = yield* SchemaRegistry.make({ dataDir }).pipe(Scope.provide(first))
      const id1 = ((yield* call(before, "POST", "/subjects/r/versions", { schema: v1 })).body as { id: number }).id
      const id2 = ((yield* call(before, "POST", "/subjects/r/versions", { schema: v2 })).body as { id: number }).id
      yield* call(before, "PUT", "/config/r", { compatibility: "FULL" })
      yield* call(before, "DELETE", "/subjects/r/versions/1")
      yield* Scope.close(first, undefined as never)
      const after = yield* SchemaRegistry.make({ dataDir })
      assert.deepStrictEqual((yield* call(after, "GET", "/subjects/r/versions?deleted=true")).body, [1, 2])
      assert.deepStrictEqual((yield* call(after, "GET", "/subjects/r/versions")).body, [2])
      assert.deepStrictEqual((yield* call(after, "GET", `/schemas/ids/${id1}`)).body, { schema: v1 })
      assert.deepStrictEqual((yield* call(after, "GET", "/subjects/r/versions/2")).body, {
        subject: "r",
        version: 2,
        id: id2,
        schema: v2
      })
      assert.deepStrictEqual((yield* call(after, "GET", "/config/r")).body, { compatibilityLevel: "FULL" })
      // New ids continue after the old ones.
      const v3 = record([
        { name: "payment_id", type: "string" },
        { name: "amount", type: "double" },
        { name: "currency", type: "string", default: "EUR" },
        { name: "note", type: ["null", "string"], default: null }
      ])
      const { id: id3 } = (yield* call(after, "POST", "/subjects/r/versions", { schema: v3 })).body as { id: number }
      assert.isTrue(id3 > id2)
    })
  )

  it.effect("basicAuth - a request without the credentials gets 401", () =>
    Effect.gen(function* () {
      const registry = yield* SchemaRegistry.make({
        basicAuth: { username: "sluice", password: Redacted.make("secret") }
      })
      const denied = yield* call(registry, "GET", "/subjects")
      assert.strictEqual(denied.status, 401)
      assert.strictEqual(errorCode(denied), 40101)
      const wrong = yield* call(registry, "GET", "/subjects", undefined, {
        authorization: `Basic ${Buffer.from("sluice:nope").toString("base64")}`
      })
      assert.strictEqual(wrong.status, 401)
      const allowed = yield* call(registry, "GET", "/subjects", undefined, {
        authorization: `Basic ${Buffer.from("sluice:secret").toString("base64")}`
      })
      assert.strictEqual(allowed.status, 200)
    })
  )
})
