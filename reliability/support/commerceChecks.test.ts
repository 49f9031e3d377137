// The commerce reconciliation on its own, over a small generated history:
// the table the reference describes passes; a difference no replay window
// or extra copy explains, a lost contribution, a missing customer and an
// over-count beyond the replays each fail it.
import { assert, describe, it } from "@effect/vitest"
import { BigDecimal, Effect, Result, Schema } from "effect"
import * as Generator from "../../packages/runner/src/jobs/commerce/Generator.ts"
import * as Model from "../../packages/runner/src/jobs/commerce/Model.ts"
import * as OrderDelta from "../../packages/runner/src/jobs/commerce/OrderDelta.ts"
import * as CommerceChecks from "./commerceChecks.ts"
import type { Stored } from "./topics.ts"

const partitions = 2
const outOfOrderness = 300_000
const encodeDelta = Schema.encodeSync(OrderDelta.OrderDeltaJson)

const stored = (topic: string, partition: number, offset: number, value: string | null): Stored => ({
  topic,
  partition,
  offset,
  value: Buffer.from(value ?? ""),
  tombstone: value === null,
  headers: {}
})

// The orders topic and a re-keying topic holding every contribution once, in
// partition `customer % partitions` (any partitioning will do for the check).
const history = Effect.gen(function* () {
  const records = yield* Generator.generate({ ...Generator.defaults, seed: 5, orders: 300, customers: 20 })
  const orders = records.filter((r) => r.table === "orders").map((r, i) => stored("orders", 0, i, r.value))
  const next = new Map<number, number>()
  const rekeyed: Array<Stored> = []
  const deltas: Array<OrderDelta.OrderDelta> = []
  for (const r of orders) {
    const record = yield* Effect.result(Model.orders.decode(r.tombstone ? null : r.value.toString("utf8")))
    if (Result.isFailure(record)) continue
    const out = OrderDelta.fromRecord(record.success)
    if (Result.isFailure(out)) continue
    for (const d of out.success) {
      const p = d.customer_id % partitions
      const offset = next.get(p) ?? 0
      next.set(p, offset + 1)
      rekeyed.push(stored("by-customer", p, offset, encodeDelta(d)))
      deltas.push(d)
    }
  }
  return { orders, rekeyed, deltas }
})

type SegmentRow = CommerceChecks.Reconciliation["reference"][number]

const check = (
  h: Effect.Success<typeof history>,
  changes: {
    readonly rekeyed?: ReadonlyArray<Stored>
    readonly windows?: ReadonlyArray<CommerceChecks.ReplayWindow>
    readonly table?: (rows: ReadonlyArray<SegmentRow>) => ReadonlyArray<SegmentRow>
  } = {}
) =>
  Effect.gen(function* () {
    const base = yield* CommerceChecks.reconcile({
      ...h,
      windows: [],
      table: [],
      partitions,
      outOfOrderness
    })
    return yield* CommerceChecks.reconcile({
      orders: h.orders,
      rekeyed: changes.rekeyed ?? h.rekeyed,
      windows: changes.windows ?? [],
      table: (changes.table ?? ((rows) => rows))(base.reference),
      partitions,
      outOfOrderness
    })
  })

const formatCents = (c: bigint) => {
  const abs = c < 0n ? -c : c
  return `${c < 0n ? "-" : ""}${abs / 100n}.${String(abs % 100n).padStart(2, "0")}`
}

// The table with one more order of `d`'s amount for `d`'s customer.
const plusOrder = (d: OrderDelta.OrderDelta) => (rows: ReadonlyArray<SegmentRow>) =>
  rows.map((r) => {
    if (r.customer_id !== String(d.customer_id)) return r
    const cents = BigDecimal.scale(BigDecimal.fromStringUnsafe(r.monetary_value), 2).value
    const added = BigDecimal.scale(d.amount, 2).value
    return { ...r, frequency: r.frequency + 1, monetary_value: formatCents(cents + added) }
  })

describe("commerce reconciliation", () => {
  it.effect("the reference's own table passes with nothing exposed", () =>
    Effect.gen(function* () {
      const r = yield* check(yield* history)
      assert.isAbove(r.reference.length, 5)
      assert.deepStrictEqual(
        [r.differing.length, r.unexplained.length, r.lostContributions.length, r.rekeyedTwice, r.exposedCustomers],
        [0, 0, 0, 0, 0]
      )
    })
  )

  it.effect("an extra order no replay explains fails; a copy in the re-keying topic explains it", () =>
    Effect.gen(function* () {
      const h = yield* history
      const first = h.deltas.findIndex((d) => d.change === "c")
      const d = h.deltas[first]!
      const added = plusOrder(d)

      const unexplained = yield* check(h, { table: added })
      assert.deepStrictEqual(
        unexplained.unexplained.map((u) => [u.customer, u.orders, u.maxOrders]),
        [[String(d.customer_id), 1, 0]]
      )

      const copy = { ...h.rekeyed[first]!, offset: 1_000_000 }
      const copied = yield* check(h, { table: added, rekeyed: [...h.rekeyed, copy] })
      assert.strictEqual(copied.rekeyedTwice, 1)
      assert.deepStrictEqual(copied.unexplained, [])
      assert.strictEqual(copied.differing.length, 1)

      // In a replay window instead of copied: explained as well.
      const at = h.rekeyed[first]!
      const windowed = yield* check(h, {
        table: added,
        windows: [new Map([[at.partition, { from: at.offset, to: at.offset + 1 }]])]
      })
      assert.deepStrictEqual(windowed.unexplained, [])

      // Two extra orders where one replay was possible: beyond the bound.
      const twice = yield* check(h, {
        table: (rows) => added(added(rows)),
        windows: [new Map([[at.partition, { from: at.offset, to: at.offset + 1 }]])]
      })
      assert.strictEqual(twice.unexplained.length, 1)
    })
  )

  it.effect("a lost contribution and a missing customer are reported", () =>
    Effect.gen(function* () {
      const h = yield* history
      const r = yield* check(h, {
        rekeyed: h.rekeyed.slice(1),
        table: (rows) => rows.slice(1)
      })
      assert.strictEqual(r.lostContributions.length, 1)
      assert.strictEqual(r.missingCustomers.length, 1)
    })
  )
})
