import { assert, describe, it } from "@effect/vitest"
import { BigDecimal, Effect, Result, Schema } from "effect"
import * as fc from "fast-check"
import * as ChangeEvent from "../src/ChangeEvent.ts"
import * as Debezium from "../src/Debezium.ts"
import * as Decimal from "../src/Decimal.ts"
import { property } from "./property.ts"

// Java's BigInteger.toByteArray, computed another way: 16 bytes of
// two's complement from Node's fixed-width writer, minus the leading bytes
// that only repeat the sign.
const referenceBase64 = (n: bigint): string => {
  const bytes = Buffer.alloc(16)
  bytes.writeBigInt64BE(n >> 64n, 0)
  bytes.writeBigUInt64BE(BigInt.asUintN(64, n), 8)
  let start = 0
  while (
    start < 15 &&
    ((bytes[start] === 0 && (bytes[start + 1]! & 0x80) === 0) ||
      (bytes[start] === 0xff && (bytes[start + 1]! & 0x80) !== 0))
  ) {
    start++
  }
  return bytes.subarray(start).toString("base64")
}

const unscaled = fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n })
const scale = fc.integer({ min: 0, max: 10 })

// Plain decimal text built from digits, the independent reference.
const plain = (value: bigint, s: number): string => {
  const digits = (value < 0n ? -value : value).toString().padStart(s + 1, "0")
  const text = s === 0 ? digits : `${digits.slice(0, -s)}.${digits.slice(-s)}`
  return value < 0n ? `-${text}` : text
}

describe("Decimal", () => {
  it("unscaledToBase64 - known vectors of Java's BigInteger.toByteArray", () => {
    const vectors: ReadonlyArray<readonly [bigint, string]> = [
      [0n, "AA=="],
      [127n, "fw=="],
      [128n, "AIA="],
      [-128n, "gA=="],
      [-129n, "/38="],
      [123450n, "AeI6"],
      [-1999n, "+DE="],
      [99999999n, "BfXg/w=="]
    ]
    for (const [n, b64] of vectors) {
      assert.strictEqual(Decimal.unscaledToBase64(n), b64)
      assert.strictEqual(Decimal.unscaledFromBase64(b64), n)
    }
    assert.isUndefined(Decimal.unscaledFromBase64("not*base64"))
    assert.isUndefined(Decimal.unscaledFromBase64(""))
  })

  it("unscaledToBase64 - matches a fixed-width two's-complement reference and reads back", () => {
    fc.assert(
      fc.property(unscaled, (n) => {
        const b64 = Decimal.unscaledToBase64(n)
        assert.strictEqual(b64, referenceBase64(n))
        assert.strictEqual(Decimal.unscaledFromBase64(b64), n)
      })
    )
  })

  it("toPlainString - keeps the scale and never uses an exponent", () => {
    fc.assert(
      fc.property(unscaled, scale, (n, s) => {
        assert.strictEqual(Decimal.toPlainString(BigDecimal.make(n, s)), plain(n, s))
      })
    )
    assert.strictEqual(Decimal.toPlainString(BigDecimal.make(15n, -3)), "15000")
  })

  it("fromText - exact, exponents accepted, garbage refused", () => {
    assert.strictEqual(Decimal.toPlainString(Result.getOrThrow(Decimal.fromText("1.5E-3"))), "0.0015")
    assert.isTrue(Result.isFailure(Decimal.fromText("NaN")))
    assert.isTrue(Result.isFailure(Decimal.fromText("1,5")))
  })

  // One row per scale, so `precise` has its column scale.
  const codecs = Array.from({ length: 11 }, (_, s) =>
    Debezium.changeEvent(
      Schema.Struct({
        id: Schema.Int,
        precise: Decimal.precise(s),
        variable: Decimal.variableScale,
        string: Decimal.string
      })
    )
  )

  it.effect(
    "encode → decode - random decimals at scales 0–10 in precise, variable-scale and string mode, schemas on and off",
    () =>
      property(fc.record({ n: unscaled, s: scale, schemas: fc.boolean() }), ({ n, s, schemas }) =>
        Effect.gen(function* () {
          const codec = codecs[s]!
          const value = BigDecimal.make(n, s)
          const event = ChangeEvent.make({
            op: "c",
            before: null,
            after: { id: 1, precise: value, variable: value, string: value },
            source: { name: "dbserver1", schema: "public", table: "t", ts_ms: 0 }
          })
          const decoded = yield* codec.decode((yield* codec.encode(event, { schemas }))!)
          assert.strictEqual(decoded._tag, "ChangeEvent")
          const after = (decoded as typeof event).after!
          // precise keeps the column scale, string keeps the text's: both are the same digits
          assert.strictEqual(Decimal.toPlainString(after.precise), plain(n, s))
          assert.strictEqual(Decimal.toPlainString(after.string), plain(n, s))
          // variable scale is normalized on the way out: equal in value
          assert.isTrue(BigDecimal.equals(after.variable, value))
        })
      )
  )

  const doubleCodec = Debezium.changeEvent(Schema.Struct({ amount: Decimal.double }))

  it.effect("encode → decode - double mode round-trips every decimal of at most 15 significant digits", () =>
    property(fc.record({ n: fc.bigInt({ min: -(10n ** 15n) + 1n, max: 10n ** 15n - 1n }), s: scale }), ({ n, s }) =>
      Effect.gen(function* () {
        const value = BigDecimal.make(n, s)
        const event = ChangeEvent.make({ op: "r", before: null, after: { amount: value }, source: {} })
        const decoded = (yield* doubleCodec.decode((yield* doubleCodec.encode(event))!)) as typeof event
        assert.isTrue(BigDecimal.equals(decoded.after!.amount, value), `${plain(n, s)}`)
      })
    )
  )

  it("precise - refuses to drop digits, widens a smaller scale", () => {
    const encode = Schema.encodeSync(Decimal.precise(2))
    assert.strictEqual(encode(BigDecimal.fromStringUnsafe("1234.5")), "AeI6")
    assert.throws(() => encode(BigDecimal.fromStringUnsafe("0.001")))
    const decode = Schema.decodeUnknownSync(Decimal.precise(2))
    assert.strictEqual(Decimal.toPlainString(decode("AeI6")), "1234.50")
    assert.strictEqual(Decimal.toPlainString(decode({ scale: 3, value: "AeI6" })), "123.450")
  })
})
