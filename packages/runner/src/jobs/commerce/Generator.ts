/**
 * The commerce generator behind `sluice commerce generate`: a deterministic
 * (seeded) history of a shop as Debezium change events. Products are read
 * first (snapshot `r` events) and restocked now and then; each order is an
 * `orders` create followed by its `order_items`, its total the exact sum of
 * its items. The history has the shapes the jobs must catch:
 *
 * - VIP customers (ids ending in 1) order three times as often and buy more;
 * - customers who stop ordering: ids ending in 2 after the first 5% of the
 *   history (churned by the end), ids ending in 3 after the first half
 *   (at risk by the end);
 * - bursts: every 50th order starts five orders of one customer within 40
 *   minutes, the first two 2 minutes apart (the spacing must be over 40
 *   minutes for the orders to stay in date order);
 * - outliers (2%: twenty times the quantities, often over $1,000);
 * - out-of-order orders (5%: dated up to 4 minutes before the previous one)
 *   and late orders (1%: dated two days back);
 * - updates (4%: right after the order, a 10% discount and status `shipped`,
 *   with the old row, as with `REPLICA IDENTITY FULL`) and deletes (2%: the
 *   old row, then a tombstone; the order's items are deleted with it);
 * - stock: each sale lowers its product's `stock_quantity` (a `products`
 *   update, never below 0); every 25 orders the product with the least
 *   stock is restocked (20 to 120 units), so some run short; products
 *   whose id ends in 7 stop selling after 60% of the history (dead stock);
 * - malformed records (1% of orders: not JSON, or a row missing its amount;
 *   and an order item without product or quantity every 97th order), which
 *   the jobs send to their dead-letter topic.
 *
 * Event `i` of a run depends only on the seed and the options, so the same
 * seed always gives the same records, and tests compute their references
 * from them.
 *
 * @since 0.3.0
 */
import type { ChangeEvent } from "@sluice/cdc"
import { BigDecimal, Effect } from "effect"
import * as Prng from "../../Prng.ts"
import * as Model from "./Model.ts"

/**
 * Options of `generate`.
 *
 * @since 0.3.0
 * @category models
 */
export interface Options {
  readonly seed: number
  /** Number of orders (bursts included). */
  readonly orders: number
  readonly customers: number
  readonly products: number
  /** Event time between two orders, ms. */
  readonly spacingMillis: number
  /** Event time of the first order, epoch ms. */
  readonly start: number
}

/**
 * The defaults: 2,400 orders an hour apart (100 days) over 50 customers and 40 products.
 *
 * @since 0.3.0
 * @category constants
 */
export const defaults: Omit<Options, "seed"> = {
  orders: 2400,
  customers: 50,
  products: 40,
  spacingMillis: 3_600_000,
  start: 1_767_225_600_000 // 2026-01-01T00:00:00Z
}

/**
 * What a generated record is.
 *
 * @since 0.3.0
 * @category models
 */
export type Kind = "valid" | "malformed"

/**
 * One generated Kafka record: the table it belongs to, its key and value
 * (JSON text; a null value is a tombstone).
 *
 * @since 0.3.0
 * @category models
 */
export interface GeneratedRecord {
  readonly table: "orders" | "order_items" | "products"
  readonly key: string | null
  readonly value: string | null
  readonly kind: Kind
}

const MINUTE = 60_000
const DAY = 86_400_000

const cents = (n: bigint): BigDecimal.BigDecimal => BigDecimal.make(n, 2)

type Op = ChangeEvent.Op

const source = (table: string, at: number, lsn: number): ChangeEvent.Source => ({
  version: "2.7.0.Final",
  connector: "postgresql",
  name: "dbserver1",
  ts_ms: at,
  snapshot: "false",
  db: "commerce",
  schema: "public",
  table,
  lsn: BigInt(lsn)
})

/**
 * The customer kind of an id, by its last digit.
 *
 * @since 0.3.0
 * @category customers
 */
export const customerKind = (id: number): "vip" | "churner" | "lapsing" | "regular" =>
  id % 10 === 1 ? "vip" : id % 10 === 2 ? "churner" : id % 10 === 3 ? "lapsing" : "regular"

/**
 * Generates the whole history for `options`.
 *
 * @since 0.3.0
 * @category constructors
 */
export const generate = (options: Options): Effect.Effect<ReadonlyArray<GeneratedRecord>> =>
  Effect.gen(function* () {
    const out: Array<GeneratedRecord> = []
    let lsn = 1000
    const key = (id: number) => JSON.stringify({ id })
    const emit = <Row>(
      table: GeneratedRecord["table"],
      codec: { readonly encode: (record: ChangeEvent.Record<Row>) => Effect.Effect<string | null, unknown> },
      id: number,
      op: Op,
      before: Row | null,
      after: Row | null,
      at: number
    ) =>
      Effect.map(
        // The generator writes only rows its own schemas accept: a failure is a bug here.
        Effect.orDie(
          codec.encode({ _tag: "ChangeEvent", op, before, after, source: source(table, at, lsn++), ts_ms: at })
        ),
        (value) => {
          out.push({ table, key: key(id), value, kind: "valid" })
        }
      )

    // Products: a snapshot read of each.
    const prices: Array<bigint> = []
    const stock: Array<number> = []
    for (let p = 1; p <= options.products; p++) {
      const rng = Prng.make(options.seed, 1_000_000 + p)
      prices[p] = BigInt(rng.int(500, 12_000))
      stock[p] = rng.int(5, 80)
      yield* emit(
        "products",
        Model.products,
        p,
        "r",
        null,
        product(p, prices[p]!, stock[p]!, options.start),
        options.start
      )
    }

    const eligible = (id: number, n: number) => {
      const kind = customerKind(id)
      return kind === "churner" ? n < options.orders * 0.05 : kind === "lapsing" ? n < options.orders * 0.5 : true
    }
    // VIPs are listed three times so they are picked three times as often.
    const customers: Array<number> = []
    for (let c = 1; c <= options.customers; c++) {
      customers.push(c)
      if (customerKind(c) === "vip") customers.push(c, c)
    }

    let itemId = 0
    let maxTime = Number.NEGATIVE_INFINITY
    let n = 0
    let burst: { customer: number; left: number; base: number } | undefined
    while (n < options.orders) {
      const rng = Prng.make(options.seed, n)
      const orderId = n + 1
      const base = options.start + n * options.spacingMillis
      let customer: number
      let at: number
      if (burst !== undefined) {
        customer = burst.customer
        at = burst.base + [0, 2, 9, 20, 40][5 - burst.left]! * MINUTE
        burst.left--
        if (burst.left === 0) burst = undefined
      } else {
        do customer = rng.pick(customers)
        while (!eligible(customer, n))
        at = base + rng.int(0, 59) * 1000
        if (n % 50 === 7 && n + 5 <= options.orders) {
          burst = { customer, left: 4, base: at }
        }
      }
      const shape = rng.next()
      if (burst === undefined && shape < 0.05 && Number.isFinite(maxTime)) at = maxTime - rng.int(1, 240) * 1000
      else if (burst === undefined && shape < 0.06) at = at - 2 * DAY
      maxTime = Math.max(maxTime, at)

      // Items first: the order's total is their exact sum.
      const outlier = rng.next() < 0.02
      const count = rng.int(1, customerKind(customer) === "vip" ? 5 : 3)
      const items: Array<Model.OrderItem> = []
      let total = 0n
      for (let k = 0; k < count; k++) {
        const drawn = rng.int(1, options.products)
        // Products whose id ends in 7 stop selling after 60% of the history (dead stock); the
        // next lower id sells instead, so no extra draw shifts the rest of the history.
        const p = productStopped(drawn, n, options.orders) ? drawn - 1 : drawn
        const quantity = rng.int(1, 3) * (outlier ? 20 : 1)
        total += prices[p]! * BigInt(quantity)
        items.push({ id: ++itemId, order_id: orderId, product_id: p, quantity, unit_price: cents(prices[p]!) })
      }
      const order: Model.Order = {
        id: orderId,
        customer_id: customer,
        status: "pending",
        total_amount: cents(total),
        order_date: BigInt(at) * 1_000_000n
      }
      yield* emit("orders", Model.orders, orderId, "c", null, order, at)
      for (const item of items) yield* emit("order_items", Model.orderItems, item.id, "c", null, item, at)
      // The shop lowers each product's stock as it sells (at 0 it sells what it cannot ship: the row stays at 0).
      for (const item of items) {
        const p = item.product_id
        const before = product(p, prices[p]!, stock[p]!, at)
        stock[p] = Math.max(0, stock[p]! - item.quantity)
        yield* emit("products", Model.products, p, "u", before, product(p, prices[p]!, stock[p]!, at), at)
      }

      const change = rng.next()
      if (change < 0.04) {
        const discounted = (total * 9n) / 10n
        yield* emit(
          "orders",
          Model.orders,
          orderId,
          "u",
          order,
          { ...order, status: "shipped", total_amount: cents(discounted) },
          at + MINUTE
        )
      } else if (change < 0.06) {
        yield* emit("orders", Model.orders, orderId, "d", order, null, at + MINUTE)
        out.push({ table: "orders", key: key(orderId), value: null, kind: "valid" })
        // Its items go with it (the stock is not put back: returns are counted by hand).
        for (const item of items) {
          yield* emit("order_items", Model.orderItems, item.id, "d", item, null, at + MINUTE)
          out.push({ table: "order_items", key: key(item.id), value: null, kind: "valid" })
        }
      }
      if (rng.next() < 0.01) {
        const bad =
          rng.next() < 0.5
            ? "{not json"
            : JSON.stringify({
                op: "c",
                before: null,
                after: { id: orderId, customer_id: customer },
                source: { ts_ms: at }
              })
        out.push({ table: "orders", key: key(orderId), value: bad, kind: "malformed" })
      }
      // An order item the inventory job cannot read (no product or quantity), every 97th order.
      if (n % 97 === 13) {
        const bad = JSON.stringify({
          op: "c",
          before: null,
          after: { id: itemId, order_id: orderId },
          source: { ts_ms: at }
        })
        out.push({ table: "order_items", key: key(itemId), value: bad, kind: "malformed" })
      }
      // Every 25 orders the shop restocks the product with the least stock (the lowest id on a tie).
      if (n % 25 === 24) {
        let p = 1
        for (let q = 2; q <= options.products; q++) if (stock[q]! < stock[p]!) p = q
        const before = product(p, prices[p]!, stock[p]!, at)
        stock[p] = stock[p]! + rng.int(20, 120)
        yield* emit("products", Model.products, p, "u", before, product(p, prices[p]!, stock[p]!, at), at)
      }
      n++
    }
    return out
  })

/**
 * Whether product `id` no longer sells at order `n` of `orders`: ids ending
 * in 7 stop after 60% of the history.
 *
 * @since 0.3.0
 * @category products
 */
export const productStopped = (id: number, n: number, orders: number): boolean => id % 10 === 7 && n >= orders * 0.6

const product = (id: number, price: bigint, stock: number, at: number): Model.Product => ({
  id,
  name: `product-${id}`,
  category: ["books", "garden", "kitchen", "toys"][id % 4]!,
  price: cents(price),
  stock_quantity: stock,
  updated_at: BigInt(at) * 1_000_000n
})

/**
 * Hands `records` to `send` in order, a tenth of `eventsPerSecond` every
 * 100 ms (by `Clock`), and returns how many were sent.
 *
 * @since 0.3.0
 * @category running
 */
export const publish = <E, R>(
  records: ReadonlyArray<GeneratedRecord>,
  eventsPerSecond: number,
  send: (chunk: ReadonlyArray<GeneratedRecord>) => Effect.Effect<unknown, E, R>
): Effect.Effect<number, E, R> =>
  Effect.gen(function* () {
    const size = Math.max(1, Math.round(eventsPerSecond / 10))
    for (let i = 0; i < records.length; i += size) {
      yield* send(records.slice(i, i + size))
      if (i + size < records.length) yield* Effect.sleep("100 millis")
    }
    return records.length
  })
