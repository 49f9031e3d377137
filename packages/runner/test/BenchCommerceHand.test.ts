// The commerce benchmark's hand-written job (bench/jobs/commerceHand.ts) is only a fair
// reference if it does the jobs' work: the same records decode to the same contributions
// (or are refused alike), and its tables end equal to the brute-force reference that the
// integration tests hold `sluice commerce sales` and `segments` to.
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Hand from "../bench/jobs/commerceHand.ts"
import * as Orders from "../bench/jobs/commerceOrders.ts"
import * as Generator from "../src/jobs/commerce/Generator.ts"
import * as SalesJob from "../src/jobs/commerce/SalesJob.ts"
import * as SegmentsJob from "../src/jobs/commerce/SegmentsJob.ts"
import * as Reference from "./support/commerceReference.ts"

const PARTITIONS = 4

// Runs the hand job's core over the records in batches of `batch`, keeping the last row of
// each key as the upserts would.
const runHand = (values: ReadonlyArray<string | null>, batch: number) => {
  const sales = new Hand.Sales()
  const segments = new Hand.Segments(PARTITIONS)
  const salesTable = new Map<string, Hand.TextRow>()
  const segmentTable = new Map<string, Hand.TextRow>()
  let refused = 0
  for (let i = 0; i < values.length; i += batch) {
    for (const value of values.slice(i, i + batch)) {
      const record = Hand.decode(value)
      if (record === undefined) {
        refused++
        continue
      }
      sales.add(record)
      for (const c of record) segments.add(c)
    }
    for (const row of sales.drain()) salesTable.set(row[0]!, row)
    for (const row of segments.drain().rows) segmentTable.set(row[0]!, row)
  }
  return { salesTable, segmentTable, refused, late: sales.late }
}

const asSalesRows = (table: ReadonlyMap<string, Hand.TextRow>) =>
  [...table.values()]
    .map((r) => ({
      metric_id: r[0],
      total_revenue: r[3],
      order_count: Number(r[4]),
      avg_order_value: r[5],
      unique_customers: Number(r[6])
    }))
    .sort((a, b) => (a.metric_id! < b.metric_id! ? -1 : 1))

const asSegmentRows = (table: ReadonlyMap<string, Hand.TextRow>) =>
  [...table.values()]
    .map((r) => ({
      customer_id: r[0],
      segment: r[1],
      recency_days: Number(r[2]),
      frequency: Number(r[3]),
      monetary_value: r[4]
    }))
    .sort((a, b) => Number(a.customer_id) - Number(b.customer_id))

describe("bench hand-written commerce job", () => {
  it.effect("ends with the reference's sales and segment tables over the generator's history", () =>
    Effect.gen(function* () {
      const options = { ...Generator.defaults, seed: 7, orders: 600, spacingMillis: 14_400_000 }
      const records = (yield* Generator.generate(options)).filter((r) => r.table === "orders")
      const { contributions, malformed } = yield* Reference.decodeOrders(records)
      const expectedSales = Reference.sales(contributions, SalesJob.settings)
      const expectedSegments = Reference.segments(contributions, {
        partitions: PARTITIONS,
        outOfOrderness: SegmentsJob.outOfOrderness
      })
      // The history exercises what the rules are about.
      assert.isAbove(malformed, 0)
      assert.isAbove(expectedSales.late, 0)
      for (const segment of ["VIP", "At-Risk", "Churned"])
        assert.isTrue(
          expectedSegments.some((r) => r.segment === segment),
          segment
        )
      for (const batch of [1, 37, 5000]) {
        const hand = runHand(
          records.map((r) => r.value),
          batch
        )
        assert.strictEqual(hand.refused, malformed, `batch ${batch}: refused records`)
        assert.strictEqual(hand.late, expectedSales.late, `batch ${batch}: late contributions`)
        assert.deepStrictEqual(asSalesRows(hand.salesTable), [...expectedSales.rows], `batch ${batch}: sales`)
        assert.deepStrictEqual(asSegmentRows(hand.segmentTable), [...expectedSegments], `batch ${batch}: segments`)
      }
    })
  )

  it.effect("reads the benchmark's input as the job's codec does, contribution by contribution", () =>
    Effect.gen(function* () {
      const values = [...Orders.records({ ...Orders.defaults, customers: 300 }, 4000)].map((r) => r.value)
      const { contributions, malformed } = yield* Reference.decodeOrders(
        values.map((value) => ({ table: "orders", key: null, value, kind: "valid" }))
      )
      assert.strictEqual(malformed, 0)
      const hand = values.map(Hand.decode).filter((r) => r !== undefined && r.length > 0)
      assert.deepStrictEqual(
        hand.map((r) => r!.map((c) => [c.customer, BigInt(c.cents), c.sign, c.at])),
        contributions.map((r) => r.map((c) => [c.customer, c.cents, c.sign, c.at]))
      )
      // Every kind of change is in the input: updates (two contributions), deletes, tombstones, late orders.
      assert.isTrue(contributions.some((r) => r.length === 2))
      assert.isTrue(contributions.some((r) => r.length === 1 && r[0]!.sign === -1))
      assert.isTrue(values.includes(null))
      assert.isAbove(Reference.sales(contributions, SalesJob.settings).late, 0)
    })
  )
})
