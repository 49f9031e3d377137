/**
 * The commerce benchmark's input: `orders` change events only, as Debezium
 * writes them (encoded by the job's own codec, `Model.orders`), many
 * customers and a steady rate of orders, which `Generator` (a whole shop held
 * in memory, items and stock included) is not sized for. Deterministic: event
 * `i` depends on the seed and the options only.
 *
 * Orders are `spacingMillis` apart in event time, by customers drawn
 * uniformly, with the shapes the jobs count: 5% dated up to 4 minutes before
 * the previous one (out of order, never late), 1% two days back (late for
 * the sales windows), 4% updated right after (10% off, the old row with it)
 * and 2% deleted (the old row, then a tombstone).
 */
import { BigDecimal, Effect } from "effect"
import * as Model from "../../src/jobs/commerce/Model.ts"
import * as Prng from "../../src/Prng.ts"

export interface Options {
  readonly seed: number
  readonly customers: number
  /** Event time between two orders, ms. */
  readonly spacingMillis: number
  /** Event time of the first order, epoch ms. */
  readonly start: number
}

export const defaults: Omit<Options, "customers"> = {
  seed: 16,
  spacingMillis: 8_640, // a million orders over 100 days
  start: 1_767_225_600_000 // 2026-01-01T00:00:00Z
}

/** One record of the orders topic: key and value as JSON text (a null value is a tombstone). */
export interface OrderRecord {
  readonly key: string
  readonly value: string | null
}

const MINUTE = 60_000
const DAY = 86_400_000

const encode = (op: "c" | "u" | "d", before: Model.Order | null, after: Model.Order | null, at: number, lsn: number) =>
  Effect.runSync(
    Effect.orDie(
      Model.orders.encode({
        _tag: "ChangeEvent",
        op,
        before,
        after,
        source: {
          version: "2.7.0.Final",
          connector: "postgresql",
          name: "dbserver1",
          ts_ms: at,
          snapshot: "false",
          db: "commerce",
          schema: "public",
          table: "orders",
          lsn: BigInt(lsn)
        },
        ts_ms: at
      })
    )
  )

/** The first `events` records of the orders topic (an order's update or delete always follows it). */
export function* records(options: Options, events: number): Generator<OrderRecord> {
  let emitted = 0
  let maxTime = Number.NEGATIVE_INFINITY
  for (let n = 0; emitted < events; n++) {
    const rng = Prng.make(options.seed, n)
    const id = n + 1
    const key = JSON.stringify({ id })
    let at = options.start + n * options.spacingMillis
    const shape = rng.next()
    if (shape < 0.05 && Number.isFinite(maxTime)) at = maxTime - rng.int(1, 240) * 1000
    else if (shape < 0.06) at -= 2 * DAY
    maxTime = Math.max(maxTime, at)
    const order: Model.Order = {
      id,
      customer_id: rng.int(1, options.customers),
      status: "pending",
      total_amount: BigDecimal.make(BigInt(rng.int(500, 40_000)), 2),
      order_date: BigInt(at) * 1_000_000n
    }
    yield { key, value: encode("c", null, order, at, 2 * n) }
    emitted++
    const change = rng.next()
    if (change < 0.04 && emitted < events) {
      const discounted = (BigDecimal.scale(order.total_amount, 2).value * 9n) / 10n
      const after = { ...order, status: "shipped", total_amount: BigDecimal.make(discounted, 2) }
      yield { key, value: encode("u", order, after, at + MINUTE, 2 * n + 1) }
      emitted++
    } else if (change < 0.06 && emitted + 1 < events) {
      yield { key, value: encode("d", order, null, at + MINUTE, 2 * n + 1) }
      yield { key, value: null }
      emitted += 2
    }
  }
}
