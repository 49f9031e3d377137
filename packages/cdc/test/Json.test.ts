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

  it("column - a jsonb column is decoded to its document and written back as text", () => {
    const decode = Schema.decodeUnknownSync(Json.column)
    assert.deepStrictEqual(decode('{"loan":{"loanAmount":250000.00,"id":12345678901234567890}}'), {
      loan: { loanAmount: 250000, id: 12345678901234567890n }
    })
    assert.throws(() => decode("{oops"))
    assert.strictEqual(Schema.encodeSync(Json.column)({ a: [1, null] }), '{"a":[1,null]}')
  })
})
