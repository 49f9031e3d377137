/**
 * The first stage of the inventory job: the `products` and `order_items`
 * change events, read from one source, as inventory events.
 *
 * - A product create, snapshot read or update is its row as it is now: the
 *   stock on hand (the shop's database lowers it as it sells and raises it on
 *   a restock). A product delete, a tombstone or a truncate changes nothing.
 * - An order item is a sale of its quantity: a create adds it, an update takes
 *   the old row back and adds the new one (so moving an item to another
 *   product moves its units), a delete takes it back. Like the orders, this
 *   needs the old row (`REPLICA IDENTITY FULL` on `order_items`).
 *
 * Event time is the change's `source.ts_ms` (an item row has no time of its
 * own), so a cancellation counts on the day it was made.
 *
 * @since 0.3.0
 */
import { CdcError, type ChangeEvent, type Debezium } from "@sluice/cdc"
import * as DeadLetter from "@sluice/core/DeadLetter"
import type * as Envelope from "@sluice/core/Envelope"
import { Effect, Result } from "effect"
import type * as Inventory from "./Inventory.ts"
import * as Model from "./Model.ts"
import * as OrderStream from "./OrderStream.ts"

/**
 * The topics the stage reads.
 *
 * @since 0.3.0
 * @category models
 */
export interface Topics {
  readonly products: string
  readonly orderItems: string
}

const timeOf = (event: ChangeEvent.ChangeEvent<unknown>): number | undefined => event.source.ts_ms ?? event.ts_ms

/**
 * The events of one decoded `products` record, or why it cannot be counted.
 *
 * @since 0.3.0
 * @category constructors
 */
export const fromProduct = (
  record: ChangeEvent.Record<Model.Product>
): Result.Result<ReadonlyArray<Inventory.Event>, string> => {
  if (record._tag === "Tombstone" || record.op === "d" || record.op === "t") return Result.succeed([])
  const at = timeOf(record)
  if (at === undefined) return Result.fail("a change without source.ts_ms")
  const row = record.after
  if (row === null) return Result.fail(`a "${record.op}" event without an after row`)
  const lsn = record.source.lsn
  return Result.succeed([
    {
      kind: "stock",
      product_id: row.id,
      name: row.name,
      category: row.category,
      stock: row.stock_quantity,
      lsn: lsn === undefined || lsn === null ? null : BigInt(lsn).toString(),
      at
    }
  ])
}

/**
 * The sales of one decoded `order_items` record, or why it cannot be counted.
 *
 * @since 0.3.0
 * @category constructors
 */
export const fromOrderItem = (
  record: ChangeEvent.Record<Model.OrderItem>
): Result.Result<ReadonlyArray<Inventory.Event>, string> => {
  if (record._tag === "Tombstone" || record.op === "t") return Result.succeed([])
  const at = timeOf(record)
  if (at === undefined) return Result.fail("a change without source.ts_ms")
  const sale = (item: Model.OrderItem, sign: 1 | -1): Inventory.Event => ({
    kind: "sale",
    product_id: item.product_id,
    quantity: sign * item.quantity,
    at
  })
  switch (record.op) {
    case "c":
    case "r":
      return record.after === null
        ? Result.fail(`a "${record.op}" event without an after row`)
        : Result.succeed([sale(record.after, 1)])
    case "u":
      if (record.before === null)
        return Result.fail("an update without the old row (set REPLICA IDENTITY FULL on order_items)")
      if (record.after === null) return Result.fail("an update without an after row")
      return Result.succeed([sale(record.before, -1), sale(record.after, 1)])
    case "d":
      return record.before === null
        ? Result.fail("a delete without the old row (set REPLICA IDENTITY FULL on order_items)")
        : Result.succeed([sale(record.before, -1)])
  }
}

const decodeWith =
  <Row>(
    codec: Debezium.Codec<Row>,
    events: (record: ChangeEvent.Record<Row>) => Result.Result<ReadonlyArray<Inventory.Event>, string>
  ) =>
  (e: Envelope.Envelope<Envelope.Payload>) =>
    codec.decode(e.value).pipe(
      Effect.map((record) =>
        Result.mapError(events(record), (detail) => DeadLetter.make(e.origin, e.value, "uncountable", detail))
      ),
      Effect.catch((error: CdcError.CdcError) =>
        Effect.succeed(Result.fail(CdcError.toDeadLetter(error, e.origin, e.value)))
      )
    )

/**
 * The inventory events of the records of both topics; dead letters go to the sink given next.
 *
 * @since 0.3.0
 * @category combinators
 */
export const events = (topics: Topics) => {
  const product = decodeWith(Model.products, fromProduct)
  const item = decodeWith(Model.orderItems, fromOrderItem)
  return OrderStream.decodeEach((e: Envelope.Envelope<Envelope.Payload>) =>
    e.origin.topic === topics.products
      ? product(e)
      : e.origin.topic === topics.orderItems
        ? item(e)
        : Effect.succeed(
            Result.fail(
              DeadLetter.make(e.origin, e.value, "unexpected-topic", `not ${topics.products} or ${topics.orderItems}`)
            )
          )
  )
}
