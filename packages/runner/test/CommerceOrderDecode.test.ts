import { assert, describe, it } from "@effect/vitest"
import type { ChangeEvent } from "@sluice/cdc"
import { BigDecimal, Effect, Result } from "effect"
import * as fc from "fast-check"
import * as Model from "../src/jobs/commerce/Model.ts"
import * as OrderDecode from "../src/jobs/commerce/OrderDecode.ts"
import * as OrderDelta from "../src/jobs/commerce/OrderDelta.ts"

// The reference: the schema path of `OrderStream` (the Debezium codec, then `OrderDelta.fromRecord`).
const reference = (value: string | null): unknown =>
  Effect.runSync(
    Model.orders.decode(value).pipe(
      Effect.map((record) =>
        Result.match(OrderDelta.fromRecord(record), { onSuccess: show, onFailure: () => "refused" })
      ),
      Effect.catch(() => Effect.succeed("dead letter"))
    )
  )

const show = (ds: ReadonlyArray<OrderDelta.OrderDelta>) =>
  ds.map((d) => ({ ...d, amount: [d.amount.value, d.amount.scale], atIsNegativeZero: Object.is(d.at, -0) }))

const int = fc.oneof(fc.integer(), fc.maxSafeInteger())

const order: fc.Arbitrary<Model.Order> = fc.record({
  id: int,
  customer_id: int,
  status: fc.string({ maxLength: 8 }),
  total_amount: fc
    .tuple(fc.bigInt({ min: -(10n ** 20n), max: 10n ** 20n }), fc.integer({ min: 0, max: 2 }))
    .map(([v, s]) => BigDecimal.make(v, s)),
  // Micro timestamps (the codec's instants are nanoseconds), around and far from the epoch.
  order_date: fc
    .oneof(fc.bigInt({ min: -(10n ** 17n), max: 10n ** 17n }), fc.bigInt({ min: -5000n, max: 5000n }))
    .map((micros) => micros * 1000n)
})

const source: fc.Arbitrary<ChangeEvent.Source> = fc.record(
  {
    version: fc.constant("2.7.0.Final"),
    connector: fc.constant("postgresql"),
    name: fc.constant("dbserver1"),
    ts_ms: fc.integer({ min: 0 }),
    ts_us: fc.oneof(fc.integer({ min: 0 }), fc.bigInt({ min: 0n, max: 10n ** 19n })),
    snapshot: fc.constantFrom("false", "true", "last", null, true),
    db: fc.constant("commerce"),
    sequence: fc.constantFrom(null, '["1","2"]'),
    schema: fc.constant("public"),
    table: fc.constant("orders"),
    txId: fc.option(fc.bigInt({ min: 0n, max: 10n ** 19n }), { nil: null }),
    lsn: fc.option(fc.bigInt({ min: 0n, max: 10n ** 19n }), { nil: null })
  },
  { requiredKeys: [] }
)

const record: fc.Arbitrary<ChangeEvent.ChangeEvent<Model.Order>> = fc
  .record({
    op: fc.constantFrom("c" as const, "r" as const, "u" as const, "d" as const, "t" as const),
    a: order,
    b: order,
    source,
    ts_ms: fc.option(fc.integer({ min: 0 }), { nil: undefined })
  })
  .map(({ op, a, b, source, ts_ms }) => ({
    _tag: "ChangeEvent" as const,
    op,
    before: op === "u" || op === "d" ? b : null,
    after: op === "c" || op === "r" || op === "u" ? a : null,
    source,
    ...(ts_ms === undefined ? {} : { ts_ms })
  }))

/** A valid record as Debezium may write it: bare, with its Connect schema, or unwrapped. */
const encoded = fc
  .tuple(record, fc.constantFrom({}, { schemas: true }, { unwrap: true }, { unwrap: true, schemas: true }))
  .map(([r, options]) => Effect.runSync(Effect.orElseSucceed(Model.orders.encode(r, options), () => "{}")) ?? "null")

// Number texts `JSON.stringify` never writes: integers past 2^53, out of range, negative zero, exponents.
const rawNumbers = [
  "12345678901234567890",
  "9007199254740993",
  "-9007199254740993",
  "1e400",
  "-0",
  "1.5",
  "1e20",
  "2e3"
]

const paths = [
  "op",
  "before",
  "after",
  "source",
  "ts_ms",
  "transaction",
  "schema",
  "payload",
  ...["id", "customer_id", "status", "total_amount", "order_date", "extra"].flatMap((f) => [
    `after.${f}`,
    `before.${f}`
  ]),
  ...Object.keys({ ts_ms: 0, ts_us: 0, ts_ns: 0, snapshot: 0, sequence: 0, txId: 0, lsn: 0, xmin: 0, db: 0 }).map(
    (f) => `source.${f}`
  )
]

const PLACEHOLDER = "\u0000raw\u0000"

/** A valid record with one field replaced (by any JSON value, or a raw number text) or removed. */
const altered = fc
  .tuple(
    encoded,
    fc.constantFrom(...paths),
    fc.oneof(
      fc.jsonValue().map((v) => ({ json: v })),
      fc.constantFrom(...rawNumbers).map((raw) => ({ raw })),
      fc.constant("drop" as const)
    )
  )
  .map(([text, path, change]) => {
    const root = JSON.parse(text) as Record<string, unknown>
    const parts = path.split(".")
    let holder: unknown = root
    for (const p of parts.slice(0, -1)) holder = (holder as Record<string, unknown> | null)?.[p]
    if (typeof holder !== "object" || holder === null) return text
    const target = holder as Record<string, unknown>
    const key = parts[parts.length - 1]!
    if (change === "drop") delete target[key]
    else target[key] = "json" in change ? change.json : PLACEHOLDER
    const out = JSON.stringify(root)
    return change !== "drop" && "raw" in change ? out.replace(JSON.stringify(PLACEHOLDER), change.raw) : out
  })

const junk = fc.oneof(
  fc.constantFrom("", "null", "[]", "{", '{"op":"c","source":[]}', '{"op":"c","source":{},"after":null}'),
  fc.json(),
  fc.string()
)

describe("OrderDecode", () => {
  it("deltas - when it answers, answers what the schema path does", () => {
    fc.assert(
      fc.property(fc.oneof(encoded, altered, altered, junk), (text) => {
        const fast = OrderDecode.deltas(text)
        if (fast !== undefined) assert.deepStrictEqual(show(fast), reference(text))
      }),
      { numRuns: 3000 }
    )
  }, 60_000)

  it("deltas - reads the bare envelopes of countable changes and tombstones itself, as bytes too", () => {
    const bare = record
      .filter((r) => r.op !== "t")
      .map((r) => Effect.runSync(Effect.orDie(Model.orders.encode(r))))
      .filter((text): text is string => text !== null)
    fc.assert(
      fc.property(bare, (text) => {
        // Within the fast path's reach: safe integers throughout (the generated ones are).
        const fast = OrderDecode.deltas(new TextEncoder().encode(text))
        const expected = reference(text)
        if (/\d{17}|9\d{15}/.test(text)) return
        assert.isDefined(fast)
        assert.deepStrictEqual(show(fast!), expected)
      }),
      { numRuns: 2000 }
    )
    assert.deepStrictEqual(OrderDecode.deltas(null), [])
    assert.deepStrictEqual(reference(null), [])
  }, 60_000)
})
