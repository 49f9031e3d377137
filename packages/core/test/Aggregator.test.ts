import { assert, describe, it } from "@effect/vitest"
import { BigDecimal, Option } from "effect"
import * as fc from "fast-check"
import * as Aggregator from "../src/Aggregator.ts"

interface Sale {
  readonly amount: string
  readonly customer: string
  readonly qty: number
}

const all = Aggregator.struct({
  n: Aggregator.count,
  total: Aggregator.sum((s: Sale) => BigDecimal.fromStringUnsafe(s.amount)),
  mean: Aggregator.average((s: Sale) => BigDecimal.fromStringUnsafe(s.amount)),
  least: Aggregator.min((s: Sale) => s.qty),
  most: Aggregator.max((s: Sale) => s.qty),
  customers: Aggregator.distinctCount((s: Sale) => s.customer)
})

const fold = (sales: ReadonlyArray<Sale>) => sales.reduce(all.add, all.empty())
const show = (acc: ReturnType<typeof all.empty>) => {
  const r = all.result(acc)
  return {
    n: r.n,
    total: BigDecimal.format(r.total),
    mean: Option.map(r.mean, BigDecimal.format),
    least: r.least,
    most: r.most,
    customers: r.customers
  }
}

const sale = fc.record({
  amount: fc.integer({ min: -100_000, max: 100_000 }).map((c) => (c / 100).toFixed(2)),
  customer: fc.constantFrom("a", "b", "c", "d"),
  qty: fc.integer({ min: 0, max: 50 })
})

describe("Aggregator", () => {
  it("struct - combining the parts' accumulators equals folding everything, and survives the codec", () =>
    fc.assert(
      fc.property(fc.array(sale, { maxLength: 30 }), fc.nat(), (sales, cut) => {
        const at = cut % (sales.length + 1)
        const whole = show(fold(sales))
        const combined = all.combine(fold(sales.slice(0, at)), fold(sales.slice(at)))
        assert.deepStrictEqual(show(combined), whole)
        assert.deepStrictEqual(show(all.codec.decode(all.codec.encode(fold(sales)))), whole)
      }),
      { numRuns: 200 }
    ))

  it("sum and average - exact decimals", () => {
    const sales: Array<Sale> = [
      { amount: "0.10", customer: "a", qty: 1 },
      { amount: "0.20", customer: "a", qty: 3 }
    ]
    const r = all.result(fold(sales))
    assert.strictEqual(BigDecimal.format(r.total), "0.3")
    assert.deepStrictEqual(Option.map(r.mean, BigDecimal.format), Option.some("0.15"))
    assert.deepStrictEqual([r.least, r.most, r.customers], [Option.some(1), Option.some(3), 1])
    const empty = all.result(all.empty())
    assert.isTrue(Option.isNone(empty.mean) && Option.isNone(empty.least))
  })
})
