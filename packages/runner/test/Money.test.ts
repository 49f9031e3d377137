import { assert, describe, it } from "@effect/vitest"
import { BigDecimal } from "effect"
import * as Money from "../src/jobs/claims/Money.ts"

const amount = (text: string) => {
  const r = Money.parse(text)
  if (!("amount" in r)) throw new Error(`expected ${text} to parse: ${r.error}`)
  return r.amount
}
const error = (text: string) => {
  const r = Money.parse(text)
  return "error" in r ? r.error : undefined
}

describe("Money", () => {
  it("parse/format - round-trips 0.10 and 99999999.99 exactly", () => {
    assert.strictEqual(Money.format(amount("0.10")), "0.10")
    assert.strictEqual(Money.format(amount("99999999.99")), "99999999.99")
    assert.strictEqual(Money.format(amount("1500")), "1500.00")
    assert.strictEqual(Money.format(amount("1.500")), "1.50")
    assert.strictEqual(Money.format(amount("1e3")), "1000.00")
    assert.strictEqual(Money.format(amount("0")), "0.00")
  })

  it("parse - rejects negative, non-numeric, sub-cent and absurd amounts", () => {
    assert.strictEqual(error("-1.00"), "must not be negative")
    assert.strictEqual(error("NaN"), "expected a decimal number")
    assert.strictEqual(error("1."), "expected a decimal number")
    assert.strictEqual(error(" 1"), "expected a decimal number")
    assert.strictEqual(error("0.105"), "must have at most 2 decimal places")
    assert.strictEqual(error("0.1000000000000000001"), "must have at most 2 decimal places")
    assert.strictEqual(error("10000000000"), "must be below 10000000000")
    assert.isUndefined(error("9999999999.99"))
  })

  it("format - keeps values beyond double precision", () => {
    const big = BigDecimal.make(999999999999n, 2)
    assert.strictEqual(Money.format(big), "9999999999.99")
  })
})
