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
 * orders, the net number of orders per customer, and how many customers
 * have a positive count. It is updated in place (as `Aggregator` allows):
 * copying the per-customer counts on every order made each order cost as
 * much as the customers of its pane, and each window's emit as much again.
 *
 * @since 0.3.0
 * @category models
 */
export interface Accumulator {
  revenue: BigDecimal.BigDecimal
  orders: number
  /** Net orders per customer id; no entry for a net count of zero. */
  readonly customers: Map<number, number>
  /** The customers whose net count is positive, kept as counts change. */
  unique: number
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

// The stored form: customers as a JSON object of counts (the form of earlier versions).
const stored = StateStore.jsonCodec(
  Schema.Struct({
    revenue: Schema.BigDecimalFromString,
    orders: Schema.Number,
    customers: Schema.Record(Schema.String, Schema.Number)
  })
)

const zero = BigDecimal.fromBigInt(0n)

/**
 * An empty accumulator.
 *
 * @since 0.3.0
 * @category constructors
 */
export const empty = (): Accumulator => ({ revenue: zero, orders: 0, customers: new Map(), unique: 0 })

// A pane may hold a retraction whose order was counted in an earlier pane, so
// a count can be negative inside a pane; only the window's sum is meaningful,
// and `unique` counts the positive ones.
const addCount = (acc: Accumulator, customer: number, n: number): void => {
  const before = acc.customers.get(customer) ?? 0
  const after = before + n
  if (after === 0) acc.customers.delete(customer)
  else acc.customers.set(customer, after)
  if (before > 0 && after <= 0) acc.unique--
  else if (before <= 0 && after > 0) acc.unique++
}

/**
 * The accumulator's stored bytes: JSON with exact decimals.
 *
 * @since 0.3.0
 * @category codecs
 */
export const codec: StateStore.Codec<Accumulator> = {
  encode: (acc) =>
    stored.encode({ revenue: acc.revenue, orders: acc.orders, customers: Object.fromEntries(acc.customers) }),
  decode: (bytes) => {
    const { revenue, orders, customers } = stored.decode(bytes)
    const acc: Accumulator = { revenue, orders, customers: new Map(), unique: 0 }
    for (const [customer, n] of Object.entries(customers)) addCount(acc, Number(customer), n)
    return acc
  }
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
 * The aggregator of the sales windows. `add` and `combine` update their
 * first accumulator in place.
 *
 * @since 0.3.0
 * @category aggregators
 */
export const aggregator: Aggregator.Aggregator<OrderDelta.OrderDelta, Accumulator, Metrics> = Aggregator.make({
  empty,
  add: (acc, delta) => {
    acc.revenue = BigDecimal.sum(acc.revenue, OrderDelta.signedAmount(delta))
    acc.orders += delta.sign
    addCount(acc, delta.customer_id, delta.sign)
    return acc
  },
  combine: (self, that) => {
    self.revenue = BigDecimal.sum(self.revenue, that.revenue)
    self.orders += that.orders
    for (const [customer, n] of that.customers) addCount(self, customer, n)
    return self
  },
  result: (acc) => ({
    totalRevenue: BigDecimal.scale(acc.revenue, 2),
    orderCount: acc.orders,
    averageOrderValue: average(acc.revenue, acc.orders),
    uniqueCustomers: acc.unique
  }),
  codec
})
