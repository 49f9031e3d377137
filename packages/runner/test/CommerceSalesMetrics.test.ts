import { assert, describe, it } from "@effect/vitest"
import { BigDecimal, Option } from "effect"
import * as fc from "fast-check"
import type * as OrderDelta from "../src/jobs/commerce/OrderDelta.ts"
import * as SalesMetrics from "../src/jobs/commerce/SalesMetrics.ts"

const { aggregator } = SalesMetrics

// Contributions of a few customers, some taking an amount back, spread over a few panes.
const deltas = fc.array(
  fc.record({
    pane: fc.integer({ min: 0, max: 5 }),
    customer: fc.integer({ min: 1, max: 8 }),
    cents: fc.integer({ min: 1, max: 500_000 }),
    sign: fc.constantFrom(1 as const, -1 as const)
  }),
  { maxLength: 80 }
)

const toDelta = (d: { customer: number; cents: number; sign: 1 | -1 }, i: number): OrderDelta.OrderDelta => ({
  order_id: i,
  customer_id: d.customer,
  amount: BigDecimal.make(BigInt(d.cents), 2),
  sign: d.sign,
  change: d.sign === 1 ? "c" : "d",
  at: 0
})

// Brute force over the whole list: integer cents, net orders per customer.
const reference = (ds: ReadonlyArray<{ customer: number; cents: number; sign: 1 | -1 }>) => {
  let cents = 0n
  let orders = 0
  const net = new Map<number, number>()
  for (const d of ds) {
    cents += BigInt(d.sign * d.cents)
    orders += d.sign
    net.set(d.customer, (net.get(d.customer) ?? 0) + d.sign)
  }
  return {
    revenue: BigDecimal.format(BigDecimal.make(cents, 2)),
    orders,
    unique: [...net.values()].filter((n) => n > 0).length
  }
}

const figures = (m: SalesMetrics.Metrics) => ({
  revenue: BigDecimal.format(m.totalRevenue),
  orders: m.orderCount,
  unique: m.uniqueCustomers
})

describe("SalesMetrics", () => {
  it("panes added in place, stored and combined in any grouping equal a brute force over all contributions", () =>
    fc.assert(
      fc.property(deltas, fc.boolean(), (ds, leftToRight) => {
        const panes = Array.from({ length: 6 }, () => aggregator.empty())
        ds.forEach((d, i) => {
          panes[d.pane] = aggregator.add(panes[d.pane]!, toDelta(d, i))
        })
        // Through the codec, as a durable store keeps panes.
        const stored = panes.map((p) => aggregator.codec.decode(aggregator.codec.encode(p)))
        const before = stored.map((p) => aggregator.codec.encode(p))
        const order = leftToRight ? stored : [...stored].reverse()
        const window = order.reduce((acc, p) => aggregator.combine(acc, p), aggregator.empty())
        const expected = reference(ds)
        assert.deepStrictEqual(figures(aggregator.result(window)), expected)
        // Combining never changes its second argument: the panes stay as they were.
        assert.deepStrictEqual(
          stored.map((p) => aggregator.codec.encode(p)),
          before
        )
        // The average is the exact one of the window's figures.
        const cents = ds.reduce((sum, d) => sum + BigInt(d.sign * d.cents), 0n)
        assert.deepStrictEqual(
          Option.map(aggregator.result(window).averageOrderValue, BigDecimal.format),
          Option.map(SalesMetrics.average(BigDecimal.make(cents, 2), expected.orders), BigDecimal.format)
        )
      }),
      { numRuns: 300 }
    ))

  it("a customer whose only order was taken back stops counting, in the pane and in the window", () => {
    const pane = aggregator.empty()
    aggregator.add(pane, toDelta({ customer: 1, cents: 1000, sign: 1 }, 1))
    aggregator.add(pane, toDelta({ customer: 2, cents: 500, sign: 1 }, 2))
    const later = aggregator.add(aggregator.empty(), toDelta({ customer: 1, cents: 1000, sign: -1 }, 1))
    assert.strictEqual(aggregator.result(pane).uniqueCustomers, 2)
    // The retraction alone is a negative count: no customer in that pane.
    assert.strictEqual(aggregator.result(later).uniqueCustomers, 0)
    const window = aggregator.combine(aggregator.combine(aggregator.empty(), pane), later)
    assert.strictEqual(aggregator.result(window).uniqueCustomers, 1)
    assert.strictEqual(aggregator.result(window).orderCount, 1)
  })
})
