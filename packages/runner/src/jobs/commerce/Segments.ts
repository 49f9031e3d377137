/**
 * Customer segmentation (RFM) of seed 002 as rules over one customer's state:
 * frequency (net orders: a deleted order no longer counts), monetary value
 * (the exact sum of their current amounts), and the date of the latest
 * order. A customer with no order left (every one deleted) is `None`;
 * otherwise the first of these that matches:
 *
 * 1. `Churned`: no order for 90 days or more (event time);
 * 2. `At-Risk`: no order for 30 days or more;
 * 3. `VIP`: 5 or more orders and $500 or more;
 * 4. `Regular`: 3 or more orders (so 5+ orders under $500 too);
 * 5. `New`: 1 or 2 orders.
 *
 * Time comes first because the time segments are the ones a campaign acts
 * on: a VIP who has stopped ordering is exactly whom a win-back targets.
 * They change with time alone, so the job sets event-time timers at the
 * latest order + 30 and + 90 days; an order dated later moves them.
 * `recency_days` is counted up to the event time the row was computed at
 * (`as_of`): 0 when an order changed it, 30 or 90 when a timer did.
 *
 * @since 0.3.0
 */
import { BigDecimal, Schema } from "effect"

/**
 * A customer segment.
 *
 * @since 0.3.0
 * @category models
 */
export type Segment = "Churned" | "At-Risk" | "VIP" | "Regular" | "New" | "None"

/**
 * What event time alone has made of a customer.
 *
 * @since 0.3.0
 * @category models
 */
export type Idle = "active" | "at-risk" | "churned"

/**
 * One day in ms.
 *
 * @since 0.3.0
 * @category constants
 */
export const DAY = 86_400_000

/**
 * Days without an order before a customer is at risk, and churned.
 *
 * @since 0.3.0
 * @category constants
 */
export const thresholds = {
  atRiskDays: 30,
  churnedDays: 90,
  vipOrders: 5,
  vipSpend: BigDecimal.fromBigInt(500n),
  regularOrders: 3
} as const

/**
 * A customer's state.
 *
 * @since 0.3.0
 * @category schemas
 */
export const State = Schema.Struct({
  frequency: Schema.Number,
  monetary: Schema.BigDecimalFromString,
  /** Event time of the latest order, epoch ms; null before any. */
  lastOrderAt: Schema.NullOr(Schema.Number),
  /** The event time the figures are as of. */
  asOf: Schema.Number,
  idle: Schema.Literals(["active", "at-risk", "churned"])
})

/**
 * @since 0.3.0
 * @category models
 */
export type State = typeof State.Type

/**
 * The segment of a state, by the rules above.
 *
 * @since 0.3.0
 * @category rules
 */
export const segmentOf = (state: Pick<State, "frequency" | "monetary" | "idle">): Segment => {
  if (state.frequency <= 0) return "None"
  if (state.idle === "churned") return "Churned"
  if (state.idle === "at-risk") return "At-Risk"
  if (state.frequency >= thresholds.vipOrders && BigDecimal.isGreaterThanOrEqualTo(state.monetary, thresholds.vipSpend))
    return "VIP"
  if (state.frequency >= thresholds.regularOrders) return "Regular"
  return "New"
}

/**
 * Whole days from the latest order to `asOf`.
 *
 * @since 0.3.0
 * @category rules
 */
export const recencyDays = (state: State): number =>
  state.lastOrderAt === null ? 0 : Math.floor((state.asOf - state.lastOrderAt) / DAY)
