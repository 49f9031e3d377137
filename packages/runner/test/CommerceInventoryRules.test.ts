import { assert, describe, it } from "@effect/vitest"
import { ChangeEvent } from "@sluice/cdc"
import { BigDecimal, Result } from "effect"
import * as Inventory from "../src/jobs/commerce/Inventory.ts"
import * as InventoryStream from "../src/jobs/commerce/InventoryStream.ts"
import type * as Model from "../src/jobs/commerce/Model.ts"

const DAY = Inventory.DAY
const t0 = 1_767_225_600_000 // a UTC midnight

const stock = (quantity: number, at: number, lsn: number | null = at): Inventory.Event => ({
  kind: "stock",
  product_id: 1,
  name: "p",
  category: "toys",
  stock: quantity,
  lsn: lsn === null ? null : String(lsn),
  at
})
const sale = (quantity: number, at: number): Inventory.Event => ({ kind: "sale", product_id: 1, quantity, at })

const run = (events: ReadonlyArray<Inventory.Event>): Inventory.State =>
  events.reduce<Inventory.State | undefined>((s, e) => Inventory.fold(s, e), undefined)!

const judged = (state: Inventory.State) => Inventory.insight({ ...state, stock: state.stock! })

describe("commerce inventory rules", () => {
  it("status - out of stock, under 3 days critical, under 7 days low, else healthy; restock to 21 days", () => {
    // 14 units in 7 days: 2 a day.
    const sold = [sale(7, t0 + 1000), sale(7, t0 + 2 * DAY)]
    const at = (units: number) => judged(run([stock(units, t0), ...sold]))
    assert.deepStrictEqual(
      [0, 5, 6, 13, 14].map((n) => [at(n).status, at(n).restockQuantity, at(n).urgency]),
      [
        ["out_of_stock", 42, "immediate"],
        ["critical", 37, "high"], // 2.5 days
        ["low", 36, "medium"], // exactly 3 days is not critical
        ["low", 29, "medium"],
        ["healthy", 0, "none"] // exactly 7 days is not low
      ]
    )
    assert.strictEqual(BigDecimal.format(at(5).velocity), "2")
    assert.strictEqual(BigDecimal.format(at(5).daysUntilStockout!), "2.5")
    // Out of stock with no sale in the window: a buyer decides.
    assert.deepStrictEqual(
      [judged(run([stock(0, t0)])).urgency, judged(run([stock(0, t0)])).restockQuantity],
      ["review", 0]
    )
  })

  it("velocity - the 7 UTC days ending on as_of's day, half-even, cancellations netted", () => {
    const state = run([stock(100, t0), sale(3, t0), sale(5, t0 + 6 * DAY), sale(-1, t0 + 6 * DAY + 5)])
    assert.strictEqual(judged(state).unitsSold7d, 7)
    // A day later the first day has left the window: 4 units, 0.571… → 0.57.
    const later = Inventory.advance(state, t0 + 7 * DAY)
    assert.strictEqual(judged(later).unitsSold7d, 4)
    assert.strictEqual(BigDecimal.format(judged(later).velocity), "0.57")
    assert.strictEqual(Inventory.windowExit(t0 + 5), t0 + 7 * DAY)
  })

  it("dead stock - stock on hand and no sale for 30 days, counted from first seen if it never sold", () => {
    const sold = run([stock(10, t0), sale(1, t0 + DAY)])
    assert.isFalse(judged(Inventory.advance(sold, t0 + 31 * DAY - 1)).deadStock)
    const dead = judged(Inventory.advance(sold, t0 + 31 * DAY))
    assert.deepStrictEqual([dead.deadStock, dead.status, dead.restockQuantity], [true, "healthy", 0])
    assert.isTrue(judged(Inventory.advance(run([stock(10, t0)]), t0 + 30 * DAY)).deadStock)
    assert.isFalse(judged(Inventory.advance(run([stock(0, t0)]), t0 + 30 * DAY)).deadStock)
  })

  it("stock - the highest WAL position wins, whatever the order read; a late sale still moves the latest sale", () => {
    const a = run([stock(5, t0, 10), stock(9, t0 + 1000, 20)])
    const b = run([stock(9, t0 + 1000, 20), stock(5, t0, 10)])
    assert.deepStrictEqual([a.stock, b.stock], [9, 9])
    // A sale dated before the window counts only as a sale.
    const late = run([stock(5, t0 + 20 * DAY), sale(2, t0)])
    assert.deepStrictEqual([judged(late).unitsSold7d, late.lastSaleAt], [0, t0])
  })

  it("InventoryStream - item create adds, update moves units, delete takes back; product delete is nothing", () => {
    const item = (quantity: number, product_id = 1): Model.OrderItem => ({
      id: 1,
      order_id: 1,
      product_id,
      quantity,
      unit_price: BigDecimal.fromStringUnsafe("1.00")
    })
    const source = { ts_ms: t0 }
    const units = (r: Result.Result<ReadonlyArray<Inventory.Event>, string>) =>
      Result.getOrThrow(r).map((e) => (e.kind === "sale" ? [e.product_id, e.quantity] : []))
    const items = (op: ChangeEvent.Op, before: Model.OrderItem | null, after: Model.OrderItem | null) =>
      InventoryStream.fromOrderItem(ChangeEvent.make({ op, before, after, source }))
    assert.deepStrictEqual(units(items("c", null, item(2))), [[1, 2]])
    assert.deepStrictEqual(units(items("u", item(2), item(3, 4))), [
      [1, -2],
      [4, 3]
    ])
    assert.deepStrictEqual(units(items("d", item(2), null)), [[1, -2]])
    assert.isTrue(Result.isFailure(items("u", null, item(3))))
    assert.deepStrictEqual(units(InventoryStream.fromOrderItem(ChangeEvent.tombstone)), [])
    const product: Model.Product = {
      id: 1,
      name: "p",
      category: "toys",
      price: BigDecimal.fromStringUnsafe("1.00"),
      stock_quantity: 4,
      updated_at: 0n
    }
    assert.deepStrictEqual(
      Result.getOrThrow(
        InventoryStream.fromProduct(ChangeEvent.make({ op: "d", before: product, after: null, source }))
      ),
      []
    )
    const updated = Result.getOrThrow(
      InventoryStream.fromProduct(
        ChangeEvent.make({ op: "u", before: null, after: product, source: { ...source, lsn: 7 } })
      )
    )
    assert.deepStrictEqual(updated, [
      { kind: "stock", product_id: 1, name: "p", category: "toys", stock: 4, lsn: "7", at: t0 }
    ])
  })
})
