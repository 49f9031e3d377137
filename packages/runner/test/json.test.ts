import { assert, describe, it } from "@effect/vitest"
import { parseKeepingNumberText } from "../src/records/Json.ts"

const keys: ReadonlySet<string> = new Set(["payment_amount", "claim_amount"])
const parse = (text: string) => parseKeepingNumberText(text, keys)

describe("json", () => {
  it("parseKeepingNumberText - numbers under the keys become their exact source text", () => {
    assert.deepStrictEqual(parse('{"payment_id":"P","payment_amount":0.10,"claim_amount":1500.00}'), {
      payment_id: "P",
      payment_amount: "0.10",
      claim_amount: "1500.00"
    })
    assert.deepStrictEqual(parse('{ "payment_amount" :  0.1000000000000000001 , "n": 0.5}'), {
      payment_amount: "0.1000000000000000001",
      n: 0.5
    })
    assert.deepStrictEqual(parse('{"payment_amount":-1.5e+3}'), { payment_amount: "-1.5e+3" })
  })

  it("parseKeepingNumberText - values that are not numbers are left as they are", () => {
    assert.deepStrictEqual(parse('{"payment_amount":"0.10","claim_amount":null}'), {
      payment_amount: "0.10",
      claim_amount: null
    })
    assert.deepStrictEqual(parse('{"other":1.10}'), { other: 1.1 })
    assert.strictEqual(parse("1.10"), 1.1)
  })

  it("parseKeepingNumberText - keys elsewhere than once at the top are read exactly too", () => {
    // Nested, repeated, quoted in a string value, escaped, or under an array.
    assert.deepStrictEqual(parse('{"payment_amount":1.10,"x":{"payment_amount":2.50}}'), {
      payment_amount: "1.10",
      x: { payment_amount: "2.50" }
    })
    assert.deepStrictEqual(parse('{"x":{"payment_amount":0.1000000000000000001}}'), {
      x: { payment_amount: "0.1000000000000000001" }
    })
    assert.deepStrictEqual(parse('{"s":"payment_amount","payment_amount":0.10}'), {
      s: "payment_amount",
      payment_amount: "0.10"
    })
    assert.deepStrictEqual(parse('{"payment_amount":1,"payment_amount":0.1000000000000000001}'), {
      payment_amount: "0.1000000000000000001"
    })
    assert.deepStrictEqual(parse('{"payment\\u005famount":0.1000000000000000001,"s":"x"}'), {
      payment_amount: "0.1000000000000000001",
      s: "x"
    })
    assert.deepStrictEqual(parse('{"s":"a\\"b","payment_amount":0.1000000000000000001}'), {
      s: 'a"b',
      payment_amount: "0.1000000000000000001"
    })
    assert.deepStrictEqual(parse('[{"payment_amount":0.10}]'), [{ payment_amount: "0.10" }])
  })
})
