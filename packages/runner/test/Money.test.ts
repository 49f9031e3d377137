import { assert, describe, it } from "@effect/vitest"
import { BigDecimal } from "effect"
import * as fc from "fast-check"
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

// The BigDecimal path the fast paths must agree with: the JSON number grammar,
// `BigDecimal.fromString`, `normalize`, the amount rules, and `scale` to cents.
const referenceParse = (text: string): { amount: BigDecimal.BigDecimal } | { error: string } => {
  if (!/^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/.test(text)) return { error: "expected a decimal number" }
  const parsed = BigDecimal.fromString(text)
  if (parsed._tag === "None") return { error: "expected a decimal number" }
  const amount = BigDecimal.normalize(parsed.value)
  if (BigDecimal.isNegative(amount)) return { error: "must not be negative" }
  if (amount.scale > 2) return { error: "must have at most 2 decimal places" }
  if (BigDecimal.isGreaterThanOrEqualTo(amount, BigDecimal.fromBigInt(10_000_000_000n))) {
    return { error: "must be below 10000000000" }
  }
  return { amount }
}
const referenceFormat = (amount: BigDecimal.BigDecimal): string => {
  const scaled = BigDecimal.scale(amount, 2).value
  const negative = scaled < 0n
  const digits = (negative ? -scaled : scaled).toString().padStart(3, "0")
  return `${negative ? "-" : ""}${digits.slice(0, -2)}.${digits.slice(-2)}`
}

// Decimal texts around the DECIMAL(10,2) range: plain, with trailing zeros,
// exponents, signs, leading zeros and too many places.
const decimalTexts = fc.oneof(
  fc.tuple(fc.bigInt({ min: 0n, max: 99_999_999_999_999n }), fc.integer({ min: 0, max: 4 })).map(([units, places]) => {
    const digits = units.toString().padStart(places + 1, "0")
    return places === 0 ? digits : `${digits.slice(0, -places)}.${digits.slice(-places)}`
  }),
  fc.stringMatching(/^-?\d{1,12}(\.\d{0,4})?([eE][+-]?\d)?$/),
  fc.constantFrom("0", "0.0", "0.00", "-0", "00", "0.", ".5", "9999999999.99", "10000000000", "1e10", "1.5e1")
)

describe("Money fast paths", () => {
  it("parse - agrees with the BigDecimal path on value, scale and error", () => {
    fc.assert(
      fc.property(decimalTexts, (text) => {
        const got = Money.parse(text)
        const want = referenceParse(text)
        if ("error" in want) return "error" in got && got.error === want.error
        return "amount" in got && got.amount.value === want.amount.value && got.amount.scale === want.amount.scale
      }),
      { numRuns: 20_000 }
    )
  })

  it("format - agrees with the BigDecimal path for any value and scale", () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }),
        fc.integer({ min: -12, max: 6 }),
        (value, scale) => Money.format(BigDecimal.make(value, scale)) === referenceFormat(BigDecimal.make(value, scale))
      ),
      { numRuns: 20_000 }
    )
  })

  it("format - every cent of DECIMAL(10,2) near the edges and across the range", () => {
    const cents = [0n, 1n, 9n, 10n, 99n, 100n, 101n, 999_999_999_999n, 999_999_999_998n]
    for (let c = 0n; c < 1_000_000_000_000n; c += 7_777_777_777n) cents.push(c)
    for (const c of cents) {
      for (const amount of [BigDecimal.make(c, 2), BigDecimal.normalize(BigDecimal.make(c, 2))]) {
        assert.strictEqual(Money.format(amount), referenceFormat(amount))
      }
    }
  })
})
