/**
 * How a change of an order counts. Sales windows and customer segments are
 * sums, so every change becomes signed contributions: a create (or a snapshot
 * read) adds the new row, an update takes the old row back and adds the new
 * one, a delete takes the old row back. Each contribution carries its row's
 * own `order_date`, so an update that moves an order's amount changes the
 * windows of that order, not the windows of when it was edited.
 *
 * This needs the old row of updates and deletes, which PostgreSQL hands
 * Debezium only with `REPLICA IDENTITY FULL` on `orders`; an update or a
 * delete without it cannot be counted and is refused (dead letter).
 * Tombstones and truncates contribute nothing.
 *
 * @since 0.3.0
 */
import type { ChangeEvent } from "@sluice/cdc"
import { BigDecimal, Result, Schema } from "effect"
import * as Model from "./Model.ts"

/**
 * One signed contribution of an order.
 *
 * @since 0.3.0
 * @category schemas
 */
export const OrderDelta = Schema.Struct({
  order_id: Schema.Int,
  customer_id: Schema.Int,
  /** The order's amount (not signed: `sign` says whether it is added or taken back). */
  amount: Schema.BigDecimalFromString,
  sign: Schema.Literals([1, -1]),
  /** The change it comes from: `c` for a create or snapshot read, `u` for an update, `d` for a delete. */
  change: Schema.Literals(["c", "u", "d"]),
  /** The order's event time, epoch ms. */
  at: Schema.Number
})

/**
 * @since 0.3.0
 * @category models
 */
export type OrderDelta = typeof OrderDelta.Type

/**
 * The JSON text form of a contribution on the internal topics; the jobs
 * write and read it through `OrderDeltaCodec`, held to this schema by tests.
 *
 * @since 0.3.0
 * @category schemas
 */
export const OrderDeltaJson = Schema.fromJsonString(OrderDelta)

const of = (order: Model.Order, sign: 1 | -1, change: "c" | "u" | "d" = "c"): OrderDelta => ({
  order_id: order.id,
  customer_id: order.customer_id,
  amount: order.total_amount,
  sign,
  change,
  at: Model.orderTime(order)
})

/**
 * The contributions of one decoded `orders` record, or why it cannot be counted.
 *
 * @since 0.3.0
 * @category constructors
 */
export const fromRecord = (
  record: ChangeEvent.Record<Model.Order>
): Result.Result<ReadonlyArray<OrderDelta>, string> => {
  if (record._tag === "Tombstone") return Result.succeed([])
  switch (record.op) {
    case "c":
    case "r":
      return record.after === null
        ? Result.fail(`a "${record.op}" event without an after row`)
        : Result.succeed([of(record.after, 1)])
    case "u":
      if (record.before === null)
        return Result.fail("an update without the old row (set REPLICA IDENTITY FULL on orders)")
      if (record.after === null) return Result.fail("an update without an after row")
      return Result.succeed([of(record.before, -1, "u"), of(record.after, 1, "u")])
    case "d":
      return record.before === null
        ? Result.fail("a delete without the old row (set REPLICA IDENTITY FULL on orders)")
        : Result.succeed([of(record.before, -1, "d")])
    case "t":
      return Result.succeed([])
  }
}

/**
 * The signed amount of a contribution.
 *
 * @since 0.3.0
 * @category getters
 */
export const signedAmount = (delta: OrderDelta): BigDecimal.BigDecimal =>
  delta.sign === 1 ? delta.amount : BigDecimal.negate(delta.amount)
