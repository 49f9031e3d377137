/**
 * The record work of the hand-written commerce job (`commerceByHand.ts`), in
 * plain TypeScript with no framework: what a careful engineer writes when the
 * tables must hold what `sluice commerce sales` and `sluice commerce
 * segments` write. Orders are read with `JSON.parse` (Debezium's JSON, bare
 * or `{schema, payload}`), amounts as integer cents from the base64
 * two's-complement unscaled value (exact: a `number` holds every cent below
 * 2^53), dates as epoch ms from the `MicroTimestamp`.
 *
 * The arithmetic is the jobs' (README, "Commerce analytics"): every change
 * becomes signed contributions dated by the row's `order_date`; sales windows
 * of 1 h sliding by 5 min with a watermark 5 min behind the highest date and
 * 10 min of grace; per customer RFM state with event-time timers at the latest
 * order + 30 and + 90 days, fired when the watermark (the least, over the
 * re-keyed partitions, of their highest date, minus 5 min) passes them. No
 * durability: the state is in `Map`s and lost with the process.
 */
import { Buffer } from "node:buffer"

export const DAY = 86_400_000
export const settings = { size: 3_600_000, slide: 300_000, grace: 600_000, outOfOrderness: 300_000 } as const

/** One signed contribution of an order, in integer cents. */
export interface Contribution {
  readonly customer: number
  readonly cents: number
  readonly sign: 1 | -1
  readonly at: number
}

interface OrderRow {
  readonly customer: number
  readonly cents: number
  readonly at: number
}

/** The unscaled value of a `precise` decimal: base64 of a big-endian two's-complement integer. */
export const unscaled = (base64: string): number => {
  const bytes = Buffer.from(base64, "base64")
  if (bytes.length === 0 || bytes.length > 6) return Number.NaN
  let v = 0
  for (const b of bytes) v = v * 256 + b
  return (bytes[0]! & 0x80) !== 0 ? v - 2 ** (8 * bytes.length) : v
}

const rowOf = (row: unknown): OrderRow | undefined => {
  if (typeof row !== "object" || row === null) return undefined
  const r = row as Record<string, unknown>
  if (
    typeof r.id !== "number" ||
    typeof r.customer_id !== "number" ||
    typeof r.status !== "string" ||
    typeof r.total_amount !== "string" ||
    typeof r.order_date !== "number"
  )
    return undefined
  const cents = unscaled(r.total_amount)
  if (!Number.isSafeInteger(cents)) return undefined
  return { customer: r.customer_id, cents, at: Math.floor(r.order_date / 1000) }
}

/** The contributions of one `orders` record value, or `undefined` for a record the job sends to its dead letters. */
export const decode = (value: string | null): ReadonlyArray<Contribution> | undefined => {
  if (value === null) return []
  let parsed: unknown
  try {
    parsed = JSON.parse(value)
  } catch {
    return undefined
  }
  if (typeof parsed !== "object" || parsed === null) return undefined
  const outer = parsed as Record<string, unknown>
  const event = ("payload" in outer && "schema" in outer ? outer.payload : outer) as Record<string, unknown> | null
  if (event === null || typeof event !== "object") return undefined
  const before = event.before === null || event.before === undefined ? null : rowOf(event.before)
  const after = event.after === null || event.after === undefined ? null : rowOf(event.after)
  if (before === undefined || after === undefined) return undefined
  const of = (row: OrderRow, sign: 1 | -1): Contribution => ({ ...row, sign })
  switch (event.op) {
    case "c":
    case "r":
      return after === null ? undefined : [of(after, 1)]
    case "u":
      return before === null || after === null ? undefined : [of(before, -1), of(after, 1)]
    case "d":
      return before === null ? undefined : [of(before, -1)]
    case "t":
      return []
    default:
      return undefined
  }
}

const formatCents = (c: number): string => {
  const abs = Math.abs(c)
  return `${c < 0 ? "-" : ""}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, "0")}`
}
const iso = (ms: number) => new Date(ms).toISOString()

/** Revenue / orders in cents, rounded half-even (as `SalesMetrics.average`). */
export const averageCents = (revenue: number, orders: number): number | null => {
  if (orders <= 0) return null
  const q = Math.trunc(revenue / orders)
  const r = Math.abs(revenue - q * orders)
  const sign = revenue < 0 ? -1 : 1
  return 2 * r > orders || (2 * r === orders && q % 2 !== 0) ? q + sign : q
}

/** A row as text values in the table's column order (`Tables.salesMetrics`, `Tables.customerSegments`). */
export type TextRow = ReadonlyArray<string | null>

interface Window {
  revenue: number
  orders: number
  readonly customers: Map<number, number>
}

/** The sales windows, kept until they close. */
export class Sales {
  private readonly windows = new Map<number, Window>()
  private max = Number.NEGATIVE_INFINITY
  /** Window starts changed since the last `drain`. */
  private readonly changed = new Set<number>()
  late = 0

  /** Adds one record's contributions; the watermark is the one before the record. */
  add(record: ReadonlyArray<Contribution>): void {
    const watermark = this.max - settings.outOfOrderness
    for (const c of record) {
      const lastStart = Math.floor(c.at / settings.slide) * settings.slide
      // An order whose every window has closed changes nothing.
      if (lastStart + settings.size + settings.grace <= watermark) {
        this.late++
        continue
      }
      for (let start = lastStart - settings.size + settings.slide; start <= lastStart; start += settings.slide) {
        if (start + settings.size + settings.grace <= watermark) continue
        let w = this.windows.get(start)
        if (w === undefined) {
          w = { revenue: 0, orders: 0, customers: new Map() }
          this.windows.set(start, w)
        }
        w.revenue += c.sign * c.cents
        w.orders += c.sign
        const n = (w.customers.get(c.customer) ?? 0) + c.sign
        if (n === 0) w.customers.delete(c.customer)
        else w.customers.set(c.customer, n)
        this.changed.add(start)
      }
    }
    for (const c of record) if (c.at > this.max) this.max = c.at
  }

  /** The rows of the windows changed since the last call; then forgets the windows that can no longer change. */
  drain(): Array<TextRow> {
    const rows: Array<TextRow> = []
    for (const start of this.changed) {
      const w = this.windows.get(start)!
      let unique = 0
      for (const n of w.customers.values()) if (n > 0) unique++
      const avg = averageCents(w.revenue, w.orders)
      rows.push([
        `${iso(start)}/${iso(start + settings.size)}`,
        iso(start),
        iso(start + settings.size),
        formatCents(w.revenue),
        String(w.orders),
        avg === null ? null : formatCents(avg),
        String(unique)
      ])
    }
    this.changed.clear()
    const watermark = this.max - settings.outOfOrderness
    for (const start of this.windows.keys())
      if (start + settings.size + settings.grace <= watermark) this.windows.delete(start)
    return rows
  }
}

export type Segment = "Churned" | "At-Risk" | "VIP" | "Regular" | "New" | "None"

interface Customer {
  frequency: number
  cents: number
  last: number | null
  asOf: number
  idle: "active" | "at-risk" | "churned"
}

const segmentOf = (c: Customer): Segment =>
  c.frequency <= 0
    ? "None"
    : c.idle === "churned"
      ? "Churned"
      : c.idle === "at-risk"
        ? "At-Risk"
        : c.frequency >= 5 && c.cents >= 50_000
          ? "VIP"
          : c.frequency >= 3
            ? "Regular"
            : "New"

/** The partition of a re-keyed customer (FNV-1a of the key, as the job's repartition does). */
export const partitionOf = (key: string, partitions: number): number => {
  let hash = 0x811c9dc5
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193)
  return (hash >>> 0) % partitions
}

/** A min-heap of timers (time, customer); a cancelled timer stays in and is ignored when it fires. */
class Timers {
  private readonly times: Array<number> = []
  private readonly customers: Array<number> = []
  get size() {
    return this.times.length
  }
  peek(): number {
    return this.times[0] ?? Number.POSITIVE_INFINITY
  }
  push(time: number, customer: number) {
    const t = this.times
    const c = this.customers
    let i = t.length
    t.push(time)
    c.push(customer)
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (t[parent]! <= time) break
      t[i] = t[parent]!
      c[i] = c[parent]!
      i = parent
    }
    t[i] = time
    c[i] = customer
  }
  pop(): number {
    const t = this.times
    const c = this.customers
    const top = c[0]!
    const lastT = t.pop()!
    const lastC = c.pop()!
    const n = t.length
    if (n > 0) {
      let i = 0
      while (true) {
        const l = 2 * i + 1
        if (l >= n) break
        const child = l + 1 < n && t[l + 1]! < t[l]! ? l + 1 : l
        if (t[child]! >= lastT) break
        t[i] = t[child]!
        c[i] = c[child]!
        i = child
      }
      t[i] = lastT
      c[i] = lastC
    }
    return top
  }
}

/** A segment change, as the job writes it to the segment-changes topic. */
export interface Change {
  readonly customer: number
  readonly json: string
}

/** The customers' RFM state and timers. */
export class Segments {
  private readonly customers = new Map<number, Customer>()
  private readonly maxByPartition: Array<number>
  private readonly timers = new Timers()
  private readonly changed = new Set<number>()
  private readonly changes: Array<Change> = []
  private watermark = Number.NEGATIVE_INFINITY
  private readonly partitions: number

  constructor(partitions: number) {
    this.partitions = partitions
    this.maxByPartition = Array.from({ length: partitions }, () => Number.NEGATIVE_INFINITY)
  }

  private updated(id: number, before: Segment | undefined, c: Customer) {
    this.changed.add(id)
    const segment = segmentOf(c)
    if (before === segment) return
    this.changes.push({
      customer: id,
      json: JSON.stringify({
        customer_id: id,
        from: before ?? "None",
        to: segment,
        frequency: c.frequency,
        monetary_value: formatCents(c.cents),
        as_of: iso(c.asOf)
      })
    })
  }

  /** Applies one contribution, then fires the timers the watermark has passed. */
  add(c: Contribution): void {
    const existing = this.customers.get(c.customer)
    const before = existing === undefined ? undefined : segmentOf(existing)
    const state: Customer = existing ?? { frequency: 0, cents: 0, last: null, asOf: c.at, idle: "active" }
    state.frequency += c.sign
    state.cents += c.sign * c.cents
    // Only a later order moves the latest order date, and with it the timers.
    if (c.sign === 1 && (state.last === null || c.at > state.last)) {
      this.timers.push(c.at + 30 * DAY, c.customer)
      this.timers.push(c.at + 90 * DAY, c.customer)
      state.last = c.at
      state.asOf = c.at
      state.idle = "active"
    }
    if (existing === undefined) this.customers.set(c.customer, state)
    this.updated(c.customer, before, state)
    const p = partitionOf(String(c.customer), this.partitions)
    if (c.at > this.maxByPartition[p]!) {
      this.maxByPartition[p] = c.at
      let least = Number.POSITIVE_INFINITY
      for (const m of this.maxByPartition) if (m < least) least = m
      this.watermark = least - settings.outOfOrderness
      this.fire()
    }
  }

  private fire() {
    while (this.timers.size > 0 && this.timers.peek() <= this.watermark) {
      const time = this.timers.peek()
      const id = this.timers.pop()
      const state = this.customers.get(id)
      if (state === undefined || state.last === null) continue
      // A timer of an earlier latest order was cancelled by the later one: it matches neither time.
      const idle =
        time === state.last + 90 * DAY
          ? "churned"
          : time === state.last + 30 * DAY && state.idle !== "churned"
            ? "at-risk"
            : undefined
      if (idle === undefined) continue
      const before = segmentOf(state)
      state.idle = idle
      state.asOf = time
      this.updated(id, before, state)
    }
  }

  /** The rows of the customers changed since the last call, and the segment changes. */
  drain(): { readonly rows: Array<TextRow>; readonly changes: Array<Change> } {
    const rows: Array<TextRow> = []
    for (const id of this.changed) {
      const c = this.customers.get(id)!
      rows.push([
        String(id),
        segmentOf(c),
        String(c.last === null ? 0 : Math.floor((c.asOf - c.last) / DAY)),
        String(c.frequency),
        formatCents(c.cents),
        c.last === null ? null : iso(c.last),
        iso(c.asOf)
      ])
    }
    this.changed.clear()
    return { rows, changes: this.changes.splice(0) }
  }
}

/** A table's name and its columns (key first) with their SQL types, as `PgUpsertSink.Table` has them. */
export interface TableShape {
  readonly name: string
  readonly key: ReadonlyArray<{ readonly name: string; readonly type: string }>
  readonly columns: ReadonlyArray<{ readonly name: string; readonly type: string }>
}

/**
 * One multi-row `INSERT … VALUES ($1::type, …), … ON CONFLICT (key) DO
 * UPDATE` of `rows` (distinct keys), text parameters cast in SQL: the bare
 * upsert loop a hand-written job runs, no `COPY`, no `unnest`.
 */
export const valuesUpsert = (
  table: TableShape,
  rows: ReadonlyArray<TextRow>
): { readonly text: string; readonly params: Array<string | null> } => {
  const all = [...table.key, ...table.columns]
  const params: Array<string | null> = []
  const tuples: Array<string> = []
  for (const row of rows) {
    const cells: Array<string> = []
    for (let i = 0; i < all.length; i++) {
      params.push(row[i] ?? null)
      cells.push(`$${params.length}::${all[i]!.type}`)
    }
    tuples.push(`(${cells.join(",")})`)
  }
  const names = all.map((c) => `"${c.name}"`).join(",")
  const updates = table.columns.map((c) => `"${c.name}" = EXCLUDED."${c.name}"`).join(",")
  const keys = table.key.map((c) => `"${c.name}"`).join(",")
  return {
    text: `INSERT INTO "${table.name}" (${names}) VALUES ${tuples.join(",")} ON CONFLICT (${keys}) DO UPDATE SET ${updates}`,
    params
  }
}

/** The last row of each key (the first column), in first-seen order: an upsert may touch a row once. */
export const lastPerKey = (rows: ReadonlyArray<TextRow>): Array<TextRow> => {
  const byKey = new Map<string | null, TextRow>()
  for (const row of rows) byKey.set(row[0]!, row)
  return [...byKey.values()]
}
