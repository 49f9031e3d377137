import { assert, describe, it } from "@effect/vitest"
import * as StateStore from "@sluice/core/StateStore"
import { BigDecimal, Schema } from "effect"
import * as fc from "fast-check"
import * as OrderDelta from "../src/jobs/commerce/OrderDelta.ts"
import * as OrderDeltaCodec from "../src/jobs/commerce/OrderDeltaCodec.ts"
import * as Segments from "../src/jobs/commerce/Segments.ts"
import * as StateCodec from "../src/jobs/commerce/StateCodec.ts"

// The references: the schema codecs the hand-written ones replace.
const deltaEncode = Schema.encodeSync(OrderDelta.OrderDeltaJson)
const deltaDecode = Schema.decodeUnknownSync(OrderDelta.OrderDeltaJson)
const stateCodec = StateStore.jsonCodec(Segments.State)

const decimal = fc
  .tuple(fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }), fc.integer({ min: 0, max: 10 }))
  .map(([value, scale]) => BigDecimal.make(value, scale))
const number = fc.oneof(
  fc.integer(),
  fc.maxSafeInteger(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, -0)
)
const integer = fc.oneof(
  fc.integer(),
  fc.maxSafeInteger(),
  fc.constantFrom(Number.POSITIVE_INFINITY, 2 ** 53, -(2 ** 53), 1.5)
)

const delta: fc.Arbitrary<OrderDelta.OrderDelta> = fc.record({
  order_id: integer,
  customer_id: integer,
  amount: decimal,
  sign: fc.constantFrom(1 as const, -1 as const),
  change: fc.constantFrom("c" as const, "u" as const, "d" as const),
  at: number
})

const state: fc.Arbitrary<Segments.State> = fc.record({
  frequency: number,
  monetary: decimal,
  lastOrderAt: fc.option(number, { nil: null }),
  asOf: number,
  idle: fc.constantFrom("active" as const, "at-risk" as const, "churned" as const)
})

/** The outcome of a call: its value's canonical text, or that it threw. */
const outcome = <A>(f: () => A, show: (a: A) => unknown): unknown => {
  let value: A
  try {
    value = f()
  } catch {
    return "threw"
  }
  return show(value)
}

// Decimals compare by value and scale: both must come out as the schema makes them.
const showDelta = (d: OrderDelta.OrderDelta) => ({ ...d, amount: [d.amount.value, d.amount.scale] })
const showState = (s: Segments.State) => ({ ...s, monetary: [s.monetary.value, s.monetary.scale] })

/** Texts a decoder may meet: valid ones, valid ones with one field replaced, and junk. */
const texts = <A>(valid: fc.Arbitrary<A>, encode: (a: A) => string, fields: ReadonlyArray<string>) =>
  fc.oneof(
    valid.map((a) => {
      try {
        return encode(a)
      } catch {
        return "{}"
      }
    }),
    fc.tuple(valid, fc.constantFrom(...fields), fc.jsonValue(), fc.boolean()).map(([a, field, replacement, drop]) => {
      let base: Record<string, unknown>
      try {
        base = JSON.parse(encode(a)) as Record<string, unknown>
      } catch {
        base = {}
      }
      if (drop) delete base[field]
      else base[field] = replacement
      return JSON.stringify(base)
    }),
    fc.constantFrom('{"order_id":1', "null", "[]", '"x"', '{"amount":"1e","frequency":"1"}'),
    fc.json(),
    fc.string()
  )

describe("OrderDeltaCodec", () => {
  it("encode - writes the schema codec's text", () => {
    fc.assert(
      fc.property(delta, (d) => {
        assert.deepStrictEqual(
          outcome(
            () => OrderDeltaCodec.encode(d),
            (t) => t
          ),
          outcome(
            () => deltaEncode(d),
            (t) => t
          )
        )
      }),
      { numRuns: 2000 }
    )
  })

  it("decode - reads what the schema codec reads, and refuses what it refuses", () => {
    const fields = ["order_id", "customer_id", "amount", "sign", "change", "at"]
    fc.assert(
      fc.property(texts(delta, deltaEncode, fields), (text) => {
        assert.deepStrictEqual(
          outcome(() => OrderDeltaCodec.decode(text), showDelta),
          outcome(() => deltaDecode(text), showDelta)
        )
      }),
      { numRuns: 3000 }
    )
  })
})

const textOf = (b: Uint8Array) => new TextDecoder().decode(b)
const bytesOf = (t: string) => new TextEncoder().encode(t)

describe("StateCodec", () => {
  it("encode - writes the schema codec's bytes", () => {
    fc.assert(
      fc.property(state, (s) => {
        assert.deepStrictEqual(
          outcome(() => StateCodec.encode(s), textOf),
          outcome(() => stateCodec.encode(s), textOf)
        )
      }),
      { numRuns: 2000 }
    )
  })

  it("decode - reads what the schema codec reads, and refuses what it refuses", () => {
    const fields = ["frequency", "monetary", "lastOrderAt", "asOf", "idle"]
    fc.assert(
      fc.property(
        texts(state, (s) => textOf(stateCodec.encode(s)), fields),
        fc.integer({ min: 0, max: 3 }),
        (text, offset) => {
          // A value read from a store may be a view into a larger buffer.
          const inner = bytesOf(text)
          const outer = new Uint8Array(inner.length + offset * 2)
          outer.set(inner, offset)
          const bytes = outer.subarray(offset, offset + inner.length)
          assert.deepStrictEqual(
            outcome(() => StateCodec.decode(bytes), showState),
            outcome(() => stateCodec.decode(bytes), showState)
          )
        }
      ),
      { numRuns: 3000 }
    )
  })
})
