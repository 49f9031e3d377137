/**
 * The anomaly rules of seed 002, judged on each new order (a create or a
 * snapshot read) against what the job has kept of the same customer. Updates
 * and deletes raise no alert and take none back: an alert records what was
 * seen when the order was placed.
 *
 * | rule                  | fires when                                                              | severity                    |
 * | --------------------- | ----------------------------------------------------------------------- | --------------------------- |
 * | `order_spike`         | 5 or more of the customer's orders dated within the hour up to this one | high                        |
 * | `rapid_orders`        | another of the customer's orders dated within the 5 minutes up to it    | medium                      |
 * | `statistical_outlier` | after 5+ orders, the amount is more than 3 σ from their running mean    | medium; high beyond 5 σ     |
 * | `large_order`         | the amount is over $1,000                                               | medium; high over $5,000    |
 *
 * Mean and σ (population) are kept incrementally (Welford) over the amounts
 * of the customer's earlier orders, in the order the job reads them. The
 * order dates kept for the first two rules are those within 3 days of the
 * customer's latest, so an order up to 3 days late is judged like any other.
 * Each alert's id is `<order_id>:<rule>`, so a replayed order rewrites the
 * same alert rather than adding one.
 *
 * @since 0.3.0
 */
import { BigDecimal, Schema } from "effect"

/**
 * @since 0.3.0
 * @category models
 */
export type Rule = "order_spike" | "rapid_orders" | "statistical_outlier" | "large_order"

/**
 * @since 0.3.0
 * @category models
 */
export type Severity = "high" | "medium" | "low"

/**
 * An alert.
 *
 * @since 0.3.0
 * @category models
 */
export interface Alert {
  readonly rule: Rule
  readonly severity: Severity
  readonly description: string
}

/**
 * What is kept of a customer.
 *
 * @since 0.3.0
 * @category schemas
 */
export const State = Schema.Struct({
  /** Dates of the customer's orders within `keep` of the latest, epoch ms. */
  times: Schema.Array(Schema.Number),
  count: Schema.Number,
  mean: Schema.Number,
  m2: Schema.Number
})

/**
 * @since 0.3.0
 * @category models
 */
export type State = typeof State.Type

/**
 * The rules' constants.
 *
 * @since 0.3.0
 * @category constants
 */
export const limits = {
  spikeOrders: 5,
  spikeWindow: 3_600_000,
  rapidWindow: 300_000,
  outlierSigmas: 3,
  outlierHighSigmas: 5,
  outlierMinOrders: 5,
  large: BigDecimal.fromBigInt(1000n),
  veryLarge: BigDecimal.fromBigInt(5000n),
  keep: 3 * 86_400_000
} as const

/**
 * The state before a customer's first order.
 *
 * @since 0.3.0
 * @category constructors
 */
export const empty: State = { times: [], count: 0, mean: 0, m2: 0 }

/**
 * Judges one new order; returns its alerts and the customer's next state.
 *
 * @since 0.3.0
 * @category rules
 */
export const judge = (
  state: State,
  amount: BigDecimal.BigDecimal,
  at: number
): { readonly alerts: ReadonlyArray<Alert>; readonly state: State } => {
  const alerts: Array<Alert> = []
  const inHour = state.times.filter((t) => t > at - limits.spikeWindow && t <= at).length + 1
  if (inHour >= limits.spikeOrders)
    alerts.push({ rule: "order_spike", severity: "high", description: `${inHour} orders within one hour` })
  const rapid = state.times.filter((t) => t > at - limits.rapidWindow && t <= at).length
  if (rapid > 0)
    alerts.push({ rule: "rapid_orders", severity: "medium", description: `${rapid + 1} orders within 5 minutes` })
  // σ is for a statistical test, so binary floating point is what it needs; money stays exact elsewhere.
  const x = BigDecimal.toNumberUnsafe(amount)
  if (state.count >= limits.outlierMinOrders) {
    const sigma = Math.sqrt(state.m2 / state.count)
    const distance = Math.abs(x - state.mean)
    if (sigma > 0 && distance > limits.outlierSigmas * sigma)
      alerts.push({
        rule: "statistical_outlier",
        severity: distance > limits.outlierHighSigmas * sigma ? "high" : "medium",
        description: `${(distance / sigma).toFixed(1)} σ from the mean ${state.mean.toFixed(2)}`
      })
  }
  if (BigDecimal.isGreaterThan(amount, limits.large))
    alerts.push({
      rule: "large_order",
      severity: BigDecimal.isGreaterThan(amount, limits.veryLarge) ? "high" : "medium",
      description: `order of $${BigDecimal.format(BigDecimal.scale(amount, 2))}`
    })
  const count = state.count + 1
  const delta = x - state.mean
  const mean = state.mean + delta / count
  const latest = Math.max(at, ...state.times)
  const times = [...state.times, at].filter((t) => t > latest - limits.keep)
  return { alerts, state: { times, count, mean, m2: state.m2 + delta * (x - mean) } }
}
