import { assert, describe, it } from "@effect/vitest"
import { BigDecimal, DateTime, Effect, Result, Schema } from "effect"
import * as CdcError from "../src/CdcError.ts"
import * as ChangeEvent from "../src/ChangeEvent.ts"
import * as Debezium from "../src/Debezium.ts"
import * as Temporal from "../src/Temporal.ts"
import { doubleOrder, fixture, preciseOrder, stringOrder } from "./fixtures.ts"

const precise = Debezium.changeEvent(preciseOrder)
const string = Debezium.changeEvent(stringOrder)
const double = Debezium.changeEvent(doubleOrder)

const decimal = (text: string) => BigDecimal.fromStringUnsafe(text)
const assertDecimal = (actual: BigDecimal.BigDecimal | null | undefined, expected: string) => {
  assert.isDefined(actual)
  assert.isNotNull(actual)
  assert.isTrue(BigDecimal.equals(actual!, decimal(expected)), `${BigDecimal.format(actual!)} != ${expected}`)
}

// BigDecimal caches its normalized form lazily, so compare events through a
// canonical copy: decimals as unscaled value and scale.
const canonical = (u: unknown): unknown => {
  if (BigDecimal.isBigDecimal(u)) return `${u.value}e-${u.scale}`
  if (Array.isArray(u)) return u.map(canonical)
  if (typeof u === "object" && u !== null) {
    return Object.fromEntries(Object.entries(u).map(([k, v]) => [k, canonical(v)]))
  }
  return u
}

const change = <Row, Before>(record: ChangeEvent.Record<Row, Before>): ChangeEvent.ChangeEvent<Row, Before> => {
  assert.strictEqual(record._tag, "ChangeEvent")
  return record as ChangeEvent.ChangeEvent<Row, Before>
}

const orderMicros = 1_773_480_413_589_793n

describe("Debezium", () => {
  it.effect("decode - a create with schemas.enable: precise and variable-scale decimals, time types, jsonb", () =>
    Effect.gen(function* () {
      const e = change(yield* precise.decode(new TextEncoder().encode(fixture("orders-create.schema.json"))))
      assert.strictEqual(e.op, "c")
      assert.isNull(e.before)
      const after = e.after!
      assert.strictEqual(after.id, 1001)
      assertDecimal(after.total, "1234.50")
      assert.strictEqual(after.total.scale, 2)
      assertDecimal(after.discount, "0.125")
      assert.strictEqual(after.order_date, orderMicros * 1000n)
      assert.strictEqual(DateTime.formatIso(after.shipped_on!), "2026-03-16T00:00:00.000Z")
      assert.strictEqual(after.created_at, orderMicros * 1000n)
      assert.deepStrictEqual(after.notes, { gift: true, lines: [1, 2], big: 12345678901234567890n })
      assert.strictEqual(e.source.table, "orders")
      assert.strictEqual(e.source.lsn, 24024000)
      assert.strictEqual(e.source.txId, 771)
      assert.strictEqual(e.source.snapshot, "false")
      assert.strictEqual(e.ts_ms, 1773480413950)
      assert.isNull(e.transaction)
    })
  )

  it.effect("decode - the schema's scale wins over the codec's for a precise decimal", () =>
    Effect.gen(function* () {
      const text = fixture("orders-create.schema.json").replaceAll(
        '"scale": "2", "connect.decimal.precision"',
        '"scale": "3", "connect.decimal.precision"'
      )
      const e = change(yield* precise.decode(text))
      assertDecimal(e.after!.total, "123.450")
    })
  )

  it.effect("decode - an update, a delete, a snapshot read and a truncate as bare payloads", () =>
    Effect.gen(function* () {
      const u = change(yield* precise.decode(fixture("orders-update.json")))
      assert.strictEqual(u.op, "u")
      assert.strictEqual(u.before!.status, "NEW")
      assertDecimal(u.before!.total, "1234.50")
      assert.strictEqual(u.after!.status, "REFUNDED")
      assertDecimal(u.after!.total, "-19.99")
      assert.isNull(u.after!.discount)
      assert.deepStrictEqual(u.transaction, { id: "772:24024512", total_order: 1, data_collection_order: 1 })

      const d = change(yield* precise.decode(fixture("orders-delete.json")))
      assert.strictEqual(d.op, "d")
      assert.isNull(d.after)
      assert.strictEqual(d.before!.id, 1001)
      assert.strictEqual(ChangeEvent.row(d)?.status, "REFUNDED")

      const r = change(yield* precise.decode(fixture("orders-read.json")))
      assert.strictEqual(r.op, "r")
      assert.strictEqual(r.source.snapshot, "last")
      assertDecimal(r.after!.total, "0")
      assert.deepStrictEqual(r.after!.notes, [])

      const t = change(yield* precise.decode(fixture("orders-truncate.json")))
      assert.strictEqual(t.op, "t")
      assert.isNull(t.before)
      assert.isNull(t.after)
      assert.strictEqual(t.source.table, "orders")
    })
  )

  it.effect("decode - a null or empty value is the tombstone after a delete", () =>
    Effect.gen(function* () {
      assert.isTrue(ChangeEvent.isTombstone(yield* precise.decode(null)))
      assert.isTrue(ChangeEvent.isTombstone(yield* precise.decode(new Uint8Array(0))))
      assert.isTrue(ChangeEvent.isTombstone(yield* precise.decode('{"schema":null,"payload":null}')))
      assert.isNull(yield* precise.encode(ChangeEvent.tombstone))
    })
  )

  it.effect("decode - string mode", () =>
    Effect.gen(function* () {
      const e = change(yield* string.decode(fixture("orders-string-mode.json")))
      assertDecimal(e.after!.total, "1234.50")
      assert.strictEqual(e.after!.total.scale, 2)
      assertDecimal(e.after!.discount, "0.125")
    })
  )

  it.effect("decode - double mode reads the number's source text, not the nearest double", () =>
    Effect.gen(function* () {
      const e = change(yield* double.decode(fixture("orders-double-mode.json")))
      assertDecimal(e.after!.total, "1234.5")
      // 0.10000000000000000001 is 0.1 as a double; the text keeps every digit.
      assertDecimal(e.after!.discount, "0.10000000000000000001")
      // Without the text (an already parsed value) the limit is the double's.
      const parsed = change(yield* double.decodeUnknown(JSON.parse(fixture("orders-double-mode.json"))))
      assertDecimal(parsed.after!.discount, "0.1")
    })
  )

  it.effect("decode - the unwrapped form of ExtractNewRecordState, bare and with a schema", () =>
    Effect.gen(function* () {
      const u = change(yield* string.decode(fixture("orders-unwrapped-update.json")))
      assert.strictEqual(u.op, "u")
      assert.isNull(u.before)
      assert.strictEqual(u.after!.status, "SHIPPED")
      assertDecimal(u.after!.total, "1234.50")
      assert.strictEqual(u.source.table, "orders")
      assert.strictEqual(u.source.lsn, 24024512)
      assert.strictEqual(u.source.ts_ms, 1773480420000)

      const d = change(yield* precise.decode(fixture("orders-unwrapped-delete.schema.json")))
      assert.strictEqual(d.op, "d")
      assert.isNull(d.after)
      assert.strictEqual(d.before!.status, "REFUNDED")
      assertDecimal(d.before!.total, "-19.99")
      assert.strictEqual(d.source.ts_ms, 1773480480000)
    })
  )

  it.effect("decode - without __op, __deleted decides between delete and upsert", () =>
    Effect.gen(function* () {
      const row = JSON.parse(fixture("orders-unwrapped-update.json")) as Record<string, unknown>
      delete row.__op
      const upsert = change(yield* string.decodeUnknown(row))
      assert.strictEqual(upsert.op, "u")
      const deleted = change(yield* string.decodeUnknown({ ...row, __deleted: "true" }))
      assert.strictEqual(deleted.op, "d")
      assert.strictEqual(deleted.before!.id, 1001)
    })
  )

  it.effect("decode - failures are CdcErrors with a reason and a path", () =>
    Effect.gen(function* () {
      const bad = yield* Effect.flip(precise.decode(fixture("orders-bad-decimal.json")))
      assert.isTrue(CdcError.isCdcError(bad))
      assert.strictEqual(bad.reason._tag, "Invalid")
      assert.strictEqual((bad.reason as CdcError.Invalid).path, "after.total")
      assert.strictEqual(bad.kind, "decode")
      assert.isFalse(bad.isRetryable)

      const notJson = yield* Effect.flip(precise.decode("{ not json"))
      assert.strictEqual(notJson.reason._tag, "Malformed")
      const notObject = yield* Effect.flip(precise.decode("[1, 2]"))
      assert.strictEqual(notObject.reason._tag, "Malformed")

      const createWithoutAfter = JSON.parse(fixture("orders-read.json")) as Record<string, unknown>
      const missing = yield* Effect.flip(precise.decodeUnknown({ ...createWithoutAfter, op: "c", after: null }))
      assert.strictEqual(missing.reason._tag, "Invalid")
      const unknownOp = yield* Effect.flip(precise.decodeUnknown({ ...createWithoutAfter, op: "x" }))
      assert.include(unknownOp.message, "op")

      const origin = {
        topic: "dbserver1.public.orders",
        partition: 0,
        offset: 7n,
        key: null,
        headers: [],
        timestamp: 0
      }
      const dead = CdcError.toDeadLetter(bad, origin as never, "bytes")
      assert.strictEqual(dead.kind, "decode")
      assert.include(dead.reason, "after.total")
    })
  )

  it.effect("decode - a delete under the default replica identity: a key-only before schema", () =>
    Effect.gen(function* () {
      // With the full row schema the null columns are an error...
      const strict = yield* Effect.flip(precise.decode(fixture("orders-delete-default-identity.json")))
      assert.strictEqual(strict.reason._tag, "Invalid")
      // ...with a before schema of the key, the delete decodes.
      const keyed = Debezium.changeEvent(preciseOrder, { before: Schema.Struct({ id: Schema.Int }) })
      const d = change(yield* keyed.decode(fixture("orders-delete-default-identity.json")))
      assert.strictEqual(d.op, "d")
      assert.deepStrictEqual(d.before, { id: 1001 })
      const u = change(yield* keyed.decode(fixture("orders-update.json")))
      assert.strictEqual(u.before!.id, 1001)
      assert.strictEqual(u.after!.status, "REFUNDED")
      // The unwrapped delete takes the before schema too, and encodes back.
      const text = yield* keyed.encode(d, { unwrap: true, schemas: true })
      const back = change(yield* keyed.decode(text!))
      assert.deepStrictEqual(back.before, { id: 1001 })
      assert.isNull(back.after)
      const enveloped = change(yield* keyed.decode((yield* keyed.encode(d, { schemas: true }))!))
      assert.deepStrictEqual(enveloped.before, { id: 1001 })
    })
  )

  it.effect("encode - every fixture decodes, encodes and decodes to the same event, with and without schemas", () =>
    Effect.gen(function* () {
      for (const name of [
        "orders-create.schema.json",
        "orders-update.json",
        "orders-delete.json",
        "orders-read.json",
        "orders-truncate.json"
      ]) {
        const event = change(yield* precise.decode(fixture(name)))
        for (const schemas of [false, true]) {
          const text = yield* precise.encode(event, { schemas })
          const again = change(yield* precise.decode(text!))
          assert.deepStrictEqual(canonical(again), canonical(event), `${name} schemas=${schemas}`)
          const parsed = JSON.parse(text!) as Record<string, unknown>
          assert.strictEqual("schema" in parsed && "payload" in parsed, schemas)
        }
      }
    })
  )

  it.effect("encode - the Connect schema says what Debezium's does: decimal scale, logical type names", () =>
    Effect.gen(function* () {
      const event = change(yield* precise.decode(fixture("orders-create.schema.json")))
      const text = yield* precise.encode(event, { schemas: true })
      const { schema, payload } = JSON.parse(text!) as {
        schema: { name: string; fields: Array<{ field: string; fields?: Array<Record<string, unknown>> }> }
        payload: { after: Record<string, unknown> }
      }
      assert.strictEqual(schema.name, "dbserver1.public.orders.Envelope")
      const after = schema.fields.find((f) => f.field === "after")!.fields!
      const total = after.find((f) => f.field === "total")!
      assert.strictEqual(total.name, "org.apache.kafka.connect.data.Decimal")
      assert.deepStrictEqual(total.parameters, { scale: "2" })
      assert.strictEqual(after.find((f) => f.field === "order_date")!.name, "io.debezium.time.MicroTimestamp")
      assert.strictEqual(after.find((f) => f.field === "discount")!.optional, true)
      assert.strictEqual(payload.after.total, "AeI6")
      assert.strictEqual(payload.after.order_date, 1773480413589793)
    })
  )

  it.effect("encode - unwrapped, as ExtractNewRecordState writes it, and back", () =>
    Effect.gen(function* () {
      const update = change(yield* precise.decode(fixture("orders-update.json")))
      const text = yield* precise.encode(update, { unwrap: { addFields: ["op", "table", "lsn", "source.ts_ms"] } })
      const flat = JSON.parse(text!) as Record<string, unknown>
      assert.strictEqual(flat.__op, "u")
      assert.strictEqual(flat.__table, "orders")
      assert.strictEqual(flat.__lsn, 24024512)
      assert.strictEqual(flat.__source_ts_ms, 1773480420000)
      assert.strictEqual(flat.__deleted, "false")
      assert.strictEqual(flat.status, "REFUNDED")
      const back = change(yield* precise.decode(text!))
      assert.deepStrictEqual(canonical(back.after), canonical(update.after))
      assert.strictEqual(back.source.lsn, 24024512)

      const del = change(yield* precise.decode(fixture("orders-delete.json")))
      const delText = yield* precise.encode(del, { unwrap: true, schemas: true })
      const delBack = change(yield* precise.decode(delText!))
      assert.strictEqual(delBack.op, "d")
      assert.deepStrictEqual(canonical(delBack.before), canonical(del.before))

      const truncate = change(yield* precise.decode(fixture("orders-truncate.json")))
      const refused = yield* Effect.flip(precise.encode(truncate, { unwrap: true }))
      assert.strictEqual(refused.reason._tag, "Unencodable")
    })
  )

  it.effect("encode - a decimal with more places than its column is refused, not rounded", () =>
    Effect.gen(function* () {
      const event = change(yield* precise.decode(fixture("orders-read.json")))
      const tooPrecise = ChangeEvent.make({ ...event, after: { ...event.after!, total: decimal("1.005") } })
      const error = yield* Effect.flip(precise.encode(tooPrecise))
      assert.strictEqual(error.reason._tag, "Unencodable")
      assert.include(error.message, "1.005")
    })
  )

  it.effect("eventTime - the row's own time or source.ts_ms", () =>
    Effect.gen(function* () {
      const e = change(yield* precise.decode(fixture("orders-create.schema.json")))
      const byRow = Debezium.eventTime(precise, { field: "order_date" })
      const bySource = Debezium.eventTime(precise, "source")
      assert.strictEqual(Result.getOrThrow(byRow(e)), Temporal.toEpochMillis(orderMicros * 1000n))
      assert.strictEqual(Result.getOrThrow(byRow(e)), 1773480413589)
      assert.strictEqual(Result.getOrThrow(bySource(e)), 1773480413601)
      assert.strictEqual(Result.getOrThrow(Debezium.eventTime(precise, "connector")(e)), 1773480413950)
      const byDate = Debezium.eventTime(precise, { field: "shipped_on" })
      assert.strictEqual(Result.getOrThrow(byDate(e)), 20528 * 86_400_000)
      const noDate = change(yield* precise.decode(fixture("orders-read.json")))
      const missing = byDate(noDate)
      assert.isTrue(Result.isFailure(missing))
      const t = change(yield* precise.decode(fixture("orders-truncate.json")))
      assert.isTrue(Result.isFailure(byRow(t)))
    })
  )

  it.effect("key - with and without a Connect schema", () =>
    Effect.gen(function* () {
      const key = Debezium.key(Schema.Struct({ id: Schema.Int }))
      assert.deepStrictEqual(yield* key.decode(fixture("orders-key.schema.json")), { id: 1001 })
      assert.deepStrictEqual(yield* key.decode('{"id":1001}'), { id: 1001 })
      const withSchema = yield* key.encode({ id: 1001 }, { schemas: true, schemaName: "dbserver1.public.orders" })
      assert.deepStrictEqual(yield* key.decode(withSchema), { id: 1001 })
      assert.strictEqual(yield* key.encode({ id: 1001 }), '{"id":1001}')
      const bad = yield* Effect.flip(key.decode('{"id":"x"}'))
      assert.strictEqual(bad.reason._tag, "Invalid")
    })
  )
})
