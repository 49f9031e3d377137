/**
 * `sluice commerce inventory` as a composition over `@sluice/core`: the
 * stock updates (`products`) and the sales (`order_items`) read as one
 * stream of inventory events (`InventoryStream`), re-keyed by product
 * through an internal topic so both sides of a product meet in one
 * partition, then joined in a keyed process holding each product's state
 * (`Inventory`): its current row on one side, its daily sales on the other.
 * Every change of a product, and every timer (a day of sales leaving the
 * 7-day window, 30 days after an event for dead stock), upserts the
 * product's row of `inventory_insights`.
 *
 * This is `Keyed.process` over the union of both sides rather than
 * `Join.join`, because the insight changes with event time alone (velocity
 * decays, stock goes dead) and a join has no timers. Event time is the
 * change's `source.ts_ms`; the watermark trails the highest of each
 * internal partition by 5 minutes.
 *
 * @since 0.3.0
 */
import type * as DeadLetter from "@sluice/core/DeadLetter"
import type * as Envelope from "@sluice/core/Envelope"
import * as Keyed from "@sluice/core/Keyed"
import * as Pipeline from "@sluice/core/Pipeline"
import type * as Repartition from "@sluice/core/Repartition"
import * as StateStore from "@sluice/core/StateStore"
import type { PgUpsertSink } from "@sluice/sinks"
import { DateTime, Effect, Option, type Sink, Stream } from "effect"
import * as Log from "../../Log.ts"
import * as Inventory from "./Inventory.ts"
import * as InventoryStream from "./InventoryStream.ts"

/**
 * How far the watermark trails the highest event time.
 *
 * @since 0.3.0
 * @category constants
 */
export const outOfOrderness = 300_000

/**
 * The row of a product whose stock is known; none before its first row.
 *
 * @since 0.3.0
 * @category rows
 */
export const toRow = (productId: number, state: Inventory.State): ReadonlyArray<PgUpsertSink.Row> => {
  if (state.stock === null) return []
  const i = Inventory.insight({ ...state, stock: state.stock })
  return [
    {
      product_id: productId,
      product_name: state.name,
      category: state.category,
      stock_quantity: i.stock,
      units_sold_7d: i.unitsSold7d,
      velocity_units_per_day: i.velocity,
      days_until_stockout: i.daysUntilStockout,
      stock_status: i.status,
      dead_stock: i.deadStock,
      restock_quantity: i.restockQuantity,
      restock_urgency: i.urgency,
      last_sale_at: state.lastSaleAt === null ? null : DateTime.makeUnsafe(state.lastSaleAt),
      as_of: DateTime.makeUnsafe(state.asOf)
    }
  ]
}

/**
 * The sinks of the job.
 *
 * @since 0.3.0
 * @category models
 */
export interface Sinks<E1, R1, E2, R2> {
  /** Upserts rows of `inventory_insights`. */
  readonly insights: Sink.Sink<unknown, Envelope.Envelope<PgUpsertSink.Row>, unknown, E1, R1>
  readonly deadLetters: Sink.Sink<unknown, Envelope.Envelope<DeadLetter.DeadLetter>, unknown, E2, R2>
}

/**
 * The job's stream of rows, for `run` and tests.
 *
 * @since 0.3.0
 * @category running
 */
export const rows = <E, R, E2, R2, E3>(
  records: Stream.Stream<Envelope.Envelope<Envelope.Payload>, E, R>,
  topics: InventoryStream.Topics,
  deadLetters: Sink.Sink<unknown, Envelope.Envelope<DeadLetter.DeadLetter>, unknown, E2, R2>,
  byProduct: Repartition.Topic<E3>
) =>
  records.pipe(
    InventoryStream.events(topics)(deadLetters),
    Pipeline.repartition(byProduct, {
      key: (event) => String(event.product_id),
      schema: Inventory.EventJson
    }),
    Keyed.process({
      name: "commerce-inventory",
      key: (event) => String(event.product_id),
      codec: StateStore.jsonCodec(Inventory.State),
      timestamp: (event) => event.at,
      watermark: { outOfOrderness },
      onRecord: (ctx, event) =>
        Effect.sync(() => {
          const next = Inventory.fold(Option.getOrUndefined(ctx.state), event)
          ctx.set(next)
          // Every event may be the last for 30 days; a day's sales leave the window a week later.
          ctx.setTimer(Inventory.deadStockCheck(event.at), "event-time")
          if (event.kind === "sale") ctx.setTimer(Inventory.windowExit(event.at), "event-time")
          return toRow(event.product_id, next)
        }),
      onTimer: (ctx, timer) =>
        Effect.sync(() => {
          if (Option.isNone(ctx.state)) return []
          const next = Inventory.advance(ctx.state.value, timer.time)
          ctx.set(next)
          return toRow(Number(ctx.key), next)
        })
    })
  )

/**
 * Runs the inventory job until `records` ends or a sink fails.
 *
 * @since 0.3.0
 * @category running
 */
export const run = <E, R, E1, R1, E2, R2, E3>(
  records: Stream.Stream<Envelope.Envelope<Envelope.Payload>, E, R>,
  topics: InventoryStream.Topics,
  sinks: Sinks<E1, R1, E2, R2>,
  byProduct: Repartition.Topic<E3>
) =>
  rows(records, topics, sinks.deadLetters, byProduct).pipe(
    Stream.run(sinks.insights),
    Log.withJob("commerce-inventory")
  )
