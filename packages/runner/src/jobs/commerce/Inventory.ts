/**
 * The inventory optimizer of seed 002 as rules over one product's state: the
 * product's latest row (stock on hand), the units sold per UTC day, the
 * latest sale and when the product was first seen. The insight is computed
 * at the product's `asOf`, the latest event time the product has seen (a
 * change of it or a timer):
 *
 * - **units sold in 7 days**: net units (a cancelled item takes its units
 *   back) in the 7 UTC days ending on `asOf`'s day, never below 0;
 * - **velocity**: those units / 7, in units per day (2 decimals, half-even);
 * - **days until stockout**: stock / velocity, rounded down to a tenth (the
 *   cautious side); none when nothing sold;
 * - **status**, the first that matches: `out_of_stock` (stock 0 or less),
 *   `critical` (under 3 days of stock), `low` (under 7 days, a usual
 *   supplier lead time), otherwise `healthy` (including nothing sold);
 * - **dead stock**: stock on hand and no sale for 30 days or more (counted
 *   from when the product was first seen if it never sold); a separate flag,
 *   because a dead product is not short of anything;
 * - **restock**: for `critical`, `low` and `out_of_stock`, enough to cover 21
 *   days of velocity (7 days of lead time + 14 of sales), i.e. 3 × the units
 *   of the last 7 days − stock, never below 0; urgency `immediate`
 *   (out of stock and selling), `high` (critical), `medium` (low), `review`
 *   (out of stock but nothing sold in 7 days: a buyer decides), else `none`.
 *   Dead stock is never restocked.
 *
 * Both velocity and dead stock change with time alone, so the job sets
 * event-time timers when a day's sales leave the 7-day window and 30 days
 * after each event; a timer moves `asOf` to its time.
 *
 * @since 0.3.0
 */
import { BigDecimal, Schema } from "effect"

/**
 * One day in ms.
 *
 * @since 0.3.0
 * @category constants
 */
export const DAY = 86_400_000

/**
 * The rules' thresholds.
 *
 * @since 0.3.0
 * @category constants
 */
export const thresholds = {
  velocityDays: 7,
  criticalDays: 3,
  lowDays: 7,
  coverDays: 21,
  deadStockDays: 30
} as const

/**
 * What a product change or a sale contributes, after decoding.
 *
 * @since 0.3.0
 * @category schemas
 */
export const Event = Schema.Union([
  Schema.Struct({
    kind: Schema.Literal("stock"),
    product_id: Schema.Int,
    name: Schema.String,
    category: Schema.String,
    stock: Schema.Int,
    /** The change's WAL position, as decimal text: the highest is the current row. Null when unknown. */
    lsn: Schema.NullOr(Schema.String),
    at: Schema.Number
  }),
  Schema.Struct({
    kind: Schema.Literal("sale"),
    product_id: Schema.Int,
    /** Signed: a deleted or reduced item takes units back. */
    quantity: Schema.Int,
    at: Schema.Number
  })
])

/**
 * @since 0.3.0
 * @category models
 */
export type Event = typeof Event.Type

/**
 * The JSON text form of an event, for the internal topic.
 *
 * @since 0.3.0
 * @category schemas
 */
export const EventJson = Schema.fromJsonString(Event)

/**
 * A product's state.
 *
 * @since 0.3.0
 * @category schemas
 */
export const State = Schema.Struct({
  name: Schema.NullOr(Schema.String),
  category: Schema.NullOr(Schema.String),
  stock: Schema.NullOr(Schema.Int),
  stockLsn: Schema.NullOr(Schema.String),
  /** Net units per UTC day number, only the days still inside the window. */
  sales: Schema.Record(Schema.String, Schema.Int),
  lastSaleAt: Schema.NullOr(Schema.Number),
  firstSeenAt: Schema.Number,
  asOf: Schema.Number
})

/**
 * @since 0.3.0
 * @category models
 */
export type State = typeof State.Type

/**
 * The UTC day number of a time.
 *
 * @since 0.3.0
 * @category time
 */
export const dayOf = (at: number): number => Math.floor(at / DAY)

/**
 * When the sales of a day leave the window: the start of the 7th day after.
 *
 * @since 0.3.0
 * @category time
 */
export const windowExit = (at: number): number => (dayOf(at) + thresholds.velocityDays) * DAY

/**
 * When an event's time alone may make a product dead stock.
 *
 * @since 0.3.0
 * @category time
 */
export const deadStockCheck = (at: number): number => at + thresholds.deadStockDays * DAY

const empty = (at: number): State => ({
  name: null,
  category: null,
  stock: null,
  stockLsn: null,
  sales: {},
  lastSaleAt: null,
  firstSeenAt: at,
  asOf: at
})

// Later by WAL position; a row without one is taken as the latest (it arrived last).
const isNewer = (lsn: string | null, than: string | null): boolean =>
  lsn === null || than === null || BigInt(lsn) > BigInt(than)

// Drops the days that have left the window at `asOf`.
const prune = (state: State): State => {
  const first = dayOf(state.asOf) - thresholds.velocityDays + 1
  const sales: Record<string, number> = {}
  for (const [day, units] of Object.entries(state.sales)) if (Number(day) >= first) sales[day] = units
  return { ...state, sales }
}

/**
 * Moves a state to a later time (a timer), dropping what left the window.
 *
 * @since 0.3.0
 * @category transitions
 */
export const advance = (state: State, to: number): State => prune({ ...state, asOf: Math.max(state.asOf, to) })

/**
 * Folds one event into a product's state.
 *
 * @since 0.3.0
 * @category transitions
 */
export const fold = (current: State | undefined, event: Event): State => {
  const base = current ?? empty(event.at)
  const state: State = { ...base, firstSeenAt: Math.min(base.firstSeenAt, event.at) }
  if (event.kind === "stock") {
    if (!isNewer(event.lsn, state.stockLsn)) return advance(state, event.at)
    return advance(
      { ...state, name: event.name, category: event.category, stock: event.stock, stockLsn: event.lsn },
      event.at
    )
  }
  const moved = advance(state, event.at)
  const lastSaleAt =
    event.quantity > 0 ? Math.max(moved.lastSaleAt ?? Number.NEGATIVE_INFINITY, event.at) : moved.lastSaleAt
  const day = dayOf(event.at)
  // A sale older than the window (a late one) counts only for the latest sale.
  if (day < dayOf(moved.asOf) - thresholds.velocityDays + 1) return { ...moved, lastSaleAt }
  const key = String(day)
  return { ...moved, lastSaleAt, sales: { ...moved.sales, [key]: (moved.sales[key] ?? 0) + event.quantity } }
}

/**
 * The stock status.
 *
 * @since 0.3.0
 * @category models
 */
export type Status = "out_of_stock" | "critical" | "low" | "healthy"

/**
 * The restock urgency.
 *
 * @since 0.3.0
 * @category models
 */
export type Urgency = "immediate" | "high" | "medium" | "review" | "none"

/**
 * A product's insight at its `asOf`.
 *
 * @since 0.3.0
 * @category models
 */
export interface Insight {
  readonly stock: number
  readonly unitsSold7d: number
  readonly velocity: BigDecimal.BigDecimal
  readonly daysUntilStockout: BigDecimal.BigDecimal | null
  readonly status: Status
  readonly deadStock: boolean
  readonly restockQuantity: number
  readonly urgency: Urgency
}

// a / b rounded half-even to `scale` decimals, for non-negative integers.
const divideHalfEven = (a: bigint, b: bigint, scale: number): BigDecimal.BigDecimal => {
  const scaled = a * 10n ** BigInt(scale)
  let q = scaled / b
  const r = scaled - q * b
  if (2n * r > b || (2n * r === b && q % 2n === 1n)) q += 1n
  return BigDecimal.make(q, scale)
}

/**
 * The insight of a state whose stock is known.
 *
 * @since 0.3.0
 * @category rules
 */
export const insight = (state: State & { readonly stock: number }): Insight => {
  const t = thresholds
  const sold = Math.max(
    0,
    Object.values(state.sales).reduce((a, b) => a + b, 0)
  )
  const stock = state.stock
  const units = BigInt(sold)
  const days = BigInt(t.velocityDays)
  // days of stock = stock / (sold / 7); compared as stock × 7 < threshold × sold, in integers.
  const coverUnder = (threshold: number) => BigInt(stock) * days < BigInt(threshold) * units
  const status: Status =
    stock <= 0
      ? "out_of_stock"
      : sold === 0
        ? "healthy"
        : coverUnder(t.criticalDays)
          ? "critical"
          : coverUnder(t.lowDays)
            ? "low"
            : "healthy"
  const since = state.lastSaleAt ?? state.firstSeenAt
  const deadStock = stock > 0 && state.asOf - since >= t.deadStockDays * DAY
  const needs = status !== "healthy" && !deadStock
  const restockQuantity = needs ? Math.max(0, Math.ceil((sold * t.coverDays) / t.velocityDays) - stock) : 0
  const urgency: Urgency = !needs
    ? "none"
    : status === "out_of_stock"
      ? sold > 0
        ? "immediate"
        : "review"
      : status === "critical"
        ? "high"
        : "medium"
  return {
    stock,
    unitsSold7d: sold,
    velocity: divideHalfEven(units, days, 2),
    daysUntilStockout: sold === 0 ? null : BigDecimal.make((BigInt(Math.max(0, stock)) * days * 10n) / units, 1),
    status,
    deadStock,
    restockQuantity,
    urgency
  }
}
