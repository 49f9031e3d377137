import { assert, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import * as fc from "fast-check"
import * as Json from "../src/Json.ts"

describe("Json", () => {
  it("parse - integers past 2^53 become exact bigints, safe ones stay numbers", () => {
    const { value } = Json.parse('{"a":9007199254740993,"b":-9007199254740993,"c":42,"d":1.5,"e":1e300}')
    assert.deepStrictEqual(value, { a: 9007199254740993n, b: -9007199254740993n, c: 42, d: 1.5, e: 1e300 })
  })

  it("parse - keeps the source text of captured keys only", () => {
    const parsed = Json.parse(
      '{"x":{"amount":0.10000000000000000001,"other":0.10000000000000000001}}',
      new Set(["amount"])
    )
    const x = (parsed.value as { x: object }).x
    assert.strictEqual(parsed.sourceOf(x, "amount"), "0.10000000000000000001")
    assert.isUndefined(parsed.sourceOf(x, "other"))
  })

  it("stringify → parse - any JSON with big integers round-trips", () => {
    const big = fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n })
    const json = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: "small" },
        fc.string(),
        fc.boolean(),
        fc.constant(null),
        fc.integer(),
        big.filter((n) => n > 2n ** 53n || n < -(2n ** 53n)),
        fc.array(tie("value"), { maxLength: 4 }),
        fc.dictionary(fc.string(), tie("value"), { maxKeys: 4 })
      )
    })).value
    fc.assert(
      fc.property(json, (v) => {
        assert.deepStrictEqual(Json.parse(Json.stringify(v)!).value, v)
      })
    )
  })

  it("parse - equals parseExact: same values, same captured source texts", () => {
    const capture = new Set(["amount", "price"])
    const around = (n: bigint) => fc.bigInt({ min: n - 3n, max: n + 3n })
    const number = fc.oneof(
      fc.integer(),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }),
      around(2n ** 53n),
      around(-(2n ** 53n)),
      around(10n ** 15n),
      // Micro timestamps: 16 digits, safe.
      fc.bigInt({ min: 10n ** 15n, max: 2n * 10n ** 15n })
    )
    const key = fc.constantFrom("amount", "price", "other", "id", "9007199254740993")
    const json = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: "small" },
        fc.string(),
        fc.constant(null),
        number,
        fc.array(tie("value"), { maxLength: 4 }),
        fc.dictionary(key, tie("value"), { maxKeys: 4 })
      )
    })).value
    // Bigints in range are written as plain numbers; some keys are written with an escape.
    const text = fc.tuple(json, fc.boolean()).map(([v, escaped]) => {
      const t = Json.stringify(v)!
      return escaped ? t.replaceAll('"amount"', '"\\u0061mount"') : t
    })
    const sameSources = (a: Json.Parsed, b: Json.Parsed, x: unknown, y: unknown) => {
      if (typeof x !== "object" || x === null || typeof y !== "object" || y === null) return
      for (const k of capture) assert.strictEqual(a.sourceOf(x, k), b.sourceOf(y, k))
      for (const k of Object.keys(x))
        sameSources(a, b, (x as Record<string, unknown>)[k], (y as Record<string, unknown>)[k])
    }
    fc.assert(
      fc.property(text, fc.boolean(), (t, withCapture) => {
        const set = withCapture ? capture : undefined
        const fast = Json.parse(t, set)
        const exact = Json.parseExact(t, set)
        assert.deepStrictEqual(fast.value, exact.value)
        sameSources(fast, exact, fast.value, exact.value)
      }),
      { numRuns: 3000 }
    )
    assert.throws(() => Json.parse("{oops"))
  })

  it("column - a jsonb column is decoded to its document and written back as text", () => {
    const decode = Schema.decodeUnknownSync(Json.column)
    assert.deepStrictEqual(decode('{"loan":{"loanAmount":250000.00,"id":12345678901234567890}}'), {
      loan: { loanAmount: 250000, id: 12345678901234567890n }
    })
    assert.throws(() => decode("{oops"))
    assert.strictEqual(Schema.encodeSync(Json.column)({ a: [1, null] }), '{"a":[1,null]}')
  })
})
