/**
 * The sales aggregation of seed 002: hopping windows of one hour sliding by
 * five minutes over the orders' contributions (`OrderDelta`), with total
 * revenue, order count, average order value and unique customers. Because
 * contributions are signed, an update or a delete of an order takes its old
 * amount back out of the windows it was counted in; unique customers are a
 * count per customer, so a customer whose only order was deleted stops
 * counting.
 *
 * @since 0.3.0
 */
import { Aggregator, StateStore } from "@sluice/core"
import { BigDecimal, Option, Schema } from "effect"
import * as OrderDelta from "./OrderDelta.ts"

/**
 * The accumulator of one window (or pane): exact revenue, the net number of
 * orders, and the net number of orders per customer.
 *
 * @since 0.3.0
 * @category models
 */
export interface Accumulator {
  readonly revenue: BigDecimal.BigDecimal
  readonly orders: number
  readonly customers: { readonly [customer: string]: number }
}

/**
 * A window's figures.
 *
 * @since 0.3.0
 * @category models
 */
export interface Metrics {
  readonly totalRevenue: BigDecimal.BigDecimal
  readonly orderCount: number
  /** Revenue / orders rounded half-even to cents; none without orders. */
  readonly averageOrderValue: Option.Option<BigDecimal.BigDecimal>
  readonly uniqueCustomers: number
}

const AccumulatorSchema = Schema.Struct({
  revenue: Schema.BigDecimalFromString,
  orders: Schema.Number,
  customers: Schema.Record(Schema.String, Schema.Number)
})

const zero = BigDecimal.fromBigInt(0n)

const mergeCounts = (
  self: { readonly [customer: string]: number },
  that: { readonly [customer: string]: number }
): { readonly [customer: string]: number } => {
  const out: { [customer: string]: number } = { ...self }
  for (const [customer, n] of Object.entries(that)) {
    const sum = (out[customer] ?? 0) + n
    if (sum === 0) delete out[customer]
    else out[customer] = sum
  }
  return out
}

// A pane may hold a retraction whose order was counted in an earlier pane, so
// a count can be negative inside a pane; only the window's sum is meaningful.
const positive = (counts: { readonly [customer: string]: number }): number => {
  let n = 0
  for (const customer in counts) if (counts[customer]! > 0) n++
  return n
}

/**
 * The average order value: exact revenue divided by the order count, rounded
 * half-even to cents.
 *
 * @since 0.3.0
 * @category math
 */
export const average = (revenue: BigDecimal.BigDecimal, orders: number): Option.Option<BigDecimal.BigDecimal> => {
  if (orders <= 0) return Option.none()
  // Integer arithmetic on cents keeps the rounding exact: cents·2 / orders, then halve with ties to even.
  const scaled = BigDecimal.scale(revenue, 2).value
  const n = BigInt(orders)
  const q = scaled / n
  const r = scaled % n
  const twice = 2n * (r < 0n ? -r : r)
  const sign = scaled < 0n ? -1n : 1n
  const rounded = twice > n || (twice === n && q % 2n !== 0n) ? q + sign : q
  return Option.some(BigDecimal.make(rounded, 2))
}

/**
 * The aggregator of the sales windows.
 *
 * @since 0.3.0
 * @category aggregators
 */
export const aggregator: Aggregator.Aggregator<OrderDelta.OrderDelta, Accumulator, Metrics> = Aggregator.make({
  empty: () => ({ revenue: zero, orders: 0, customers: {} }),
  add: (acc, delta) => ({
    revenue: BigDecimal.sum(acc.revenue, OrderDelta.signedAmount(delta)),
    orders: acc.orders + delta.sign,
    customers: mergeCounts(acc.customers, { [String(delta.customer_id)]: delta.sign })
  }),
  combine: (self, that) => ({
    revenue: BigDecimal.sum(self.revenue, that.revenue),
    orders: self.orders + that.orders,
    customers: mergeCounts(self.customers, that.customers)
  }),
  result: (acc) => ({
    totalRevenue: BigDecimal.scale(acc.revenue, 2),
    orderCount: acc.orders,
    averageOrderValue: average(acc.revenue, acc.orders),
    uniqueCustomers: positive(acc.customers)
  }),
  codec: StateStore.jsonCodec(AccumulatorSchema)
})
