/**
 * Brute-force references of the commerce jobs, computed from the generated
 * records with plain maps and integer cents, independently of the jobs'
 * operators: what the job tables must hold at the end.
 */
import { ChangeEvent, Temporal } from "@sluice/cdc"
import { BigDecimal, Effect } from "effect"
import type * as Generator from "../../src/jobs/commerce/Generator.ts"
import * as Model from "../../src/jobs/commerce/Model.ts"

const DAY = 86_400_000

/** One signed contribution, in cents. */
interface Contribution {
  readonly order: number
  readonly create: boolean
  readonly customer: number
  readonly cents: bigint
  readonly sign: 1 | -1
  readonly at: number
}

const centsOf = (d: BigDecimal.BigDecimal): bigint => BigDecimal.scale(d, 2).value

/** The orders records in topic order, decoded; malformed ones counted. */
export const decodeOrders = (records: ReadonlyArray<Generator.GeneratedRecord>) =>
  Effect.gen(function* () {
    const out: Array<ReadonlyArray<Contribution>> = []
    let malformed = 0
    for (const r of records.filter((r) => r.table === "orders")) {
      const decoded = yield* Effect.result(Model.orders.decode(r.value))
      if (decoded._tag === "Failure") {
        malformed++
        continue
      }
      const record = decoded.success
      if (ChangeEvent.isTombstone(record)) continue
      const of = (o: Model.Order, sign: 1 | -1): Contribution => ({
        order: o.id,
        create: record.op === "c",
        customer: o.customer_id,
        cents: centsOf(o.total_amount),
        sign,
        at: Temporal.toEpochMillis(o.order_date)
      })
      if (record.op === "c") out.push([of(record.after!, 1)])
      else if (record.op === "u") out.push([of(record.before!, -1), of(record.after!, 1)])
      else if (record.op === "d") out.push([of(record.before!, -1)])
    }
    return { contributions: out, malformed }
  })

const formatCents = (c: bigint): string => {
  const negative = c < 0n
  const abs = negative ? -c : c
  return `${negative ? "-" : ""}${abs / 100n}.${String(abs % 100n).padStart(2, "0")}`
}

/** A row of `realtime_sales_metrics` as text. */
export interface SalesRow {
  readonly metric_id: string
  readonly total_revenue: string
  readonly order_count: number
  readonly avg_order_value: string | null
  readonly unique_customers: number
}

/**
 * The sales windows: every window of every contribution that is not late,
 * where late means that the watermark (highest event time before it minus
 * `outOfOrderness`) is at or past the end + grace of its last window. A
 * contribution with only some windows closed would need the operator's exact
 * timing; the generator is meant never to produce one, and this throws if it does.
 */
export const sales = (
  contributions: ReadonlyArray<ReadonlyArray<Contribution>>,
  s: { readonly size: number; readonly slide: number; readonly grace: number; readonly outOfOrderness: number }
): { readonly rows: ReadonlyArray<SalesRow>; readonly late: number } => {
  const windows = new Map<number, { revenue: bigint; orders: number; customers: Map<number, number> }>()
  let max = Number.NEGATIVE_INFINITY
  let late = 0
  for (const record of contributions) {
    const watermark = max - s.outOfOrderness
    for (const c of record) {
      const lastStart = Math.floor(c.at / s.slide) * s.slide
      const firstStart = lastStart - s.size + s.slide
      const lastClosed = lastStart + s.size + s.grace <= watermark
      const firstClosed = firstStart + s.size + s.grace <= watermark
      if (lastClosed) {
        late++
        continue
      }
      if (firstClosed) throw new Error(`contribution at ${c.at} has some windows closed (watermark ${watermark})`)
      for (let start = firstStart; start <= lastStart; start += s.slide) {
        let w = windows.get(start)
        if (w === undefined) {
          w = { revenue: 0n, orders: 0, customers: new Map() }
          windows.set(start, w)
        }
        w.revenue += BigInt(c.sign) * c.cents
        w.orders += c.sign
        w.customers.set(c.customer, (w.customers.get(c.customer) ?? 0) + c.sign)
      }
    }
    for (const c of record) max = Math.max(max, c.at)
  }
  const rows = [...windows.entries()].map(([start, w]): SalesRow => {
    let avg: string | null = null
    if (w.orders > 0) {
      const n = BigInt(w.orders)
      let q = w.revenue / n
      const r = w.revenue - q * n
      if (2n * r > n || (2n * r === n && q % 2n === 1n)) q += 1n
      avg = formatCents(q)
    }
    return {
      metric_id: `${new Date(start).toISOString()}/${new Date(start + s.size).toISOString()}`,
      total_revenue: formatCents(w.revenue),
      order_count: w.orders,
      avg_order_value: avg,
      unique_customers: [...w.customers.values()].filter((n) => n > 0).length
    }
  })
  rows.sort((a, b) => (a.metric_id < b.metric_id ? -1 : 1))
  return { rows, late }
}

/** A row of `customer_segments` as text. */
export interface SegmentRow {
  readonly customer_id: string
  readonly segment: string
  readonly recency_days: number
  readonly frequency: number
  readonly monetary_value: string
}

// The internal topic's partitioner (FNV-1a of the key), as the job's repartition uses.
const partitionOf = (key: string, partitions: number): number => {
  let hash = 0x811c9dc5
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193)
  return (hash >>> 0) % partitions
}

/**
 * The segments at the end: each customer's net orders and spend, their
 * latest order, and the final watermark (the least over the internal
 * partitions of their highest event time, minus `outOfOrderness`), which
 * decides whether the 30- and 90-day timers have fired.
 */
export const segments = (
  contributions: ReadonlyArray<ReadonlyArray<Contribution>>,
  s: { readonly partitions: number; readonly outOfOrderness: number }
): ReadonlyArray<SegmentRow> => {
  const customers = new Map<number, { frequency: number; cents: bigint; last: number | null }>()
  const maxByPartition = new Map<number, number>()
  for (const record of contributions)
    for (const c of record) {
      const p = partitionOf(String(c.customer), s.partitions)
      maxByPartition.set(p, Math.max(maxByPartition.get(p) ?? Number.NEGATIVE_INFINITY, c.at))
      const state = customers.get(c.customer) ?? { frequency: 0, cents: 0n, last: null }
      state.frequency += c.sign
      state.cents += BigInt(c.sign) * c.cents
      if (c.sign === 1) state.last = state.last === null ? c.at : Math.max(state.last, c.at)
      customers.set(c.customer, state)
    }
  const watermark = Math.min(...maxByPartition.values()) - s.outOfOrderness
  const rows = [...customers.entries()].map(([id, c]): SegmentRow => {
    const churned = c.last !== null && c.last + 90 * DAY <= watermark
    const atRisk = c.last !== null && c.last + 30 * DAY <= watermark
    const segment =
      c.frequency <= 0
        ? "None"
        : churned
          ? "Churned"
          : atRisk
            ? "At-Risk"
            : c.frequency >= 5 && c.cents >= 50_000n
              ? "VIP"
              : c.frequency >= 3
                ? "Regular"
                : "New"
    return {
      customer_id: String(id),
      segment,
      recency_days: churned ? 90 : atRisk ? 30 : 0,
      frequency: c.frequency,
      monetary_value: formatCents(c.cents)
    }
  })
  rows.sort((a, b) => Number(a.customer_id) - Number(b.customer_id))
  return rows
}

/** A row of `anomaly_alerts` as text. */
export interface AlertRow {
  readonly alert_id: string
  readonly anomaly_type: string
  readonly severity: string
  readonly order_amount: string
}

/**
 * The alerts: each created order judged against all of its customer's
 * earlier created orders (dates and amounts, in the order read), with the
 * mean and σ computed from scratch each time.
 */
export const anomalies = (contributions: ReadonlyArray<ReadonlyArray<Contribution>>): ReadonlyArray<AlertRow> => {
  const seen = new Map<number, Array<{ at: number; amount: number }>>()
  const rows: Array<AlertRow> = []
  for (const record of contributions)
    for (const c of record) {
      if (!c.create) continue
      const earlier = seen.get(c.customer) ?? []
      const amount = Number(c.cents) / 100
      const add = (rule: string, severity: string) =>
        rows.push({ alert_id: `${c.order}:${rule}`, anomaly_type: rule, severity, order_amount: formatCents(c.cents) })
      if (earlier.filter((o) => o.at > c.at - 3_600_000 && o.at <= c.at).length + 1 >= 5) add("order_spike", "high")
      if (earlier.some((o) => o.at > c.at - 300_000 && o.at <= c.at)) add("rapid_orders", "medium")
      if (earlier.length >= 5) {
        const mean = earlier.reduce((a, o) => a + o.amount, 0) / earlier.length
        const sigma = Math.sqrt(earlier.reduce((a, o) => a + (o.amount - mean) ** 2, 0) / earlier.length)
        const distance = Math.abs(amount - mean)
        if (sigma > 0 && distance > 3 * sigma) add("statistical_outlier", distance > 5 * sigma ? "high" : "medium")
      }
      if (c.cents > 100_000n) add("large_order", c.cents > 500_000n ? "high" : "medium")
      earlier.push({ at: c.at, amount })
      seen.set(c.customer, earlier)
    }
  rows.sort((a, b) => (a.alert_id < b.alert_id ? -1 : 1))
  return rows
}

/** A row of `inventory_insights` as text. */
export interface InventoryRow {
  readonly product_id: string
  readonly stock_quantity: number
  readonly units_sold_7d: number
  readonly velocity_units_per_day: string
  readonly days_until_stockout: string | null
  readonly stock_status: string
  readonly dead_stock: boolean
  readonly restock_quantity: number
  readonly restock_urgency: string
  readonly as_of: string
}

const tenths = (n: number): string => `${Math.floor(n / 10)}.${n % 10}`

interface ProductEvent {
  readonly product: number
  readonly at: number
  /** For a sale, the signed units; for a stock row, null. */
  readonly units: number | null
  readonly stock?: { readonly quantity: number; readonly lsn: bigint }
}

/**
 * The inventory at the end, from the `products` and `order_items` records:
 * each product's row with the highest WAL position, and its sales over the
 * 7 UTC days ending on the day of its final time, which is its latest event
 * or the latest of its timers (each event + 30 days, each sale's day + 7
 * days) at or before the final watermark. Every figure is recomputed from
 * the full list of events, in integers.
 */
export const inventory = (
  records: ReadonlyArray<Generator.GeneratedRecord>,
  s: { readonly partitions: number; readonly outOfOrderness: number }
) =>
  Effect.gen(function* () {
    const events: Array<ProductEvent> = []
    let itemDeletes = 0
    for (const r of records) {
      if (r.table === "products") {
        const record = yield* Model.products.decode(r.value)
        if (ChangeEvent.isTombstone(record) || record.after === null) continue
        events.push({
          product: record.after.id,
          at: record.source.ts_ms!,
          units: null,
          stock: { quantity: record.after.stock_quantity, lsn: BigInt(record.source.lsn!) }
        })
      } else if (r.table === "order_items") {
        const decoded = yield* Effect.result(Model.orderItems.decode(r.value))
        if (decoded._tag === "Failure") continue
        const record = decoded.success
        if (ChangeEvent.isTombstone(record)) continue
        const at = record.source.ts_ms!
        if (record.before !== null)
          events.push({ product: record.before.product_id, at, units: -record.before.quantity })
        if (record.after !== null) events.push({ product: record.after.product_id, at, units: record.after.quantity })
        if (record.op === "d") itemDeletes++
      }
    }
    const maxByPartition = new Map<number, number>()
    for (const e of events) {
      const p = partitionOf(String(e.product), s.partitions)
      maxByPartition.set(p, Math.max(maxByPartition.get(p) ?? Number.NEGATIVE_INFINITY, e.at))
    }
    const watermark = Math.min(...maxByPartition.values()) - s.outOfOrderness
    const products = [...new Set(events.map((e) => e.product))].sort((a, b) => a - b)
    const rows = products.map((id): InventoryRow => {
      const mine = events.filter((e) => e.product === id)
      const latest = mine.filter((e) => e.stock !== undefined).reduce((a, b) => (b.stock!.lsn > a.stock!.lsn ? b : a))
      const stock = latest.stock!.quantity
      const timers = mine.flatMap((e) =>
        e.units === null ? [e.at + 30 * DAY] : [e.at + 30 * DAY, (Math.floor(e.at / DAY) + 7) * DAY]
      )
      const asOf = Math.max(...mine.map((e) => e.at), ...timers.filter((t) => t <= watermark))
      const lastDay = Math.floor(asOf / DAY)
      const sold = Math.max(
        0,
        mine.filter((e) => e.units !== null && Math.floor(e.at / DAY) > lastDay - 7).reduce((a, e) => a + e.units!, 0)
      )
      const sales = mine.filter((e) => e.units !== null && e.units > 0).map((e) => e.at)
      const since = sales.length > 0 ? Math.max(...sales) : Math.min(...mine.map((e) => e.at))
      const dead = stock > 0 && asOf - since >= 30 * DAY
      // days of stock = 7 × stock / sold
      const status =
        stock <= 0
          ? "out_of_stock"
          : sold === 0
            ? "healthy"
            : 7 * stock < 3 * sold
              ? "critical"
              : 7 * stock < 7 * sold
                ? "low"
                : "healthy"
      const restock = status !== "healthy" && !dead
      // velocity in hundredths, half-even
      let hundredths = Math.floor((sold * 100) / 7)
      const rest = sold * 100 - hundredths * 7
      if (2 * rest > 7 || (2 * rest === 7 && hundredths % 2 === 1)) hundredths++
      return {
        product_id: String(id),
        stock_quantity: stock,
        units_sold_7d: sold,
        velocity_units_per_day: formatCents(BigInt(hundredths)),
        days_until_stockout: sold === 0 ? null : tenths(Math.floor((Math.max(0, stock) * 70) / sold)),
        stock_status: status,
        dead_stock: dead,
        restock_quantity: restock ? Math.max(0, 3 * sold - stock) : 0,
        restock_urgency: !restock
          ? "none"
          : status === "out_of_stock"
            ? sold > 0
              ? "immediate"
              : "review"
            : status === "critical"
              ? "high"
              : "medium",
        as_of: String(asOf)
      }
    })
    return { rows, itemDeletes }
  })
