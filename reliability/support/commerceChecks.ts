// Reconciles the commerce segmentation job's table with a brute-force
// reference computed from the orders topic as read back, and says what
// at-least-once allows it to differ by.
//
// Under at-least-once a record can be applied to a customer's state more
// than once, in two ways: the orders stage, replaying orders after a crash,
// writes their contributions to the re-keying topic again (seen there as
// extra copies of the same contribution); and the keyed stage, replaying the
// re-keying topic from its last commit, applies again a contribution whose
// state change had already reached the changelog (possible only for
// records in a replay window: between the group's committed offset and the
// end of the topic around a kill or a rebalance). Nothing is ever applied
// less than once. A contribution is signed (a delete or a discounting update
// takes an amount out), so a replay can move a figure down as well as up:
// "never below the reference" is not what at-least-once promises. What it
// does promise, checked here:
//
// - every customer of the reference has a row, and no other customer does;
// - every contribution of the reference is in the re-keying topic (none lost
//   between the stages), and nothing else is;
// - a customer none of whose contributions could have been applied twice
//   has exactly the reference's row;
// - any other customer's net orders and spend differ from the reference by
//   at most what the possible extra applications add up to.
import { BigDecimal, Effect, Schema } from "effect"
import * as OrderDelta from "../../packages/runner/src/jobs/commerce/OrderDelta.ts"
import * as Reference from "../../packages/runner/test/support/commerceReference.ts"
import type { Stored } from "./topics.ts"

type Contributions = Effect.Success<ReturnType<typeof Reference.decodeOrders>>["contributions"]

/** Offsets `[from, to)` of each partition of the re-keying topic that may have been processed twice. */
export type ReplayWindow = ReadonlyMap<number, { readonly from: number; readonly to: number }>

/** What the reconciliation found. */
export interface Reconciliation {
  /** Records of the orders topic. */
  readonly events: number
  /** Orders records the reference counts as malformed (the job must dead-letter them). */
  readonly malformed: number
  readonly reference: ReadonlyArray<Reference.SegmentRow>
  /** Customers of the reference without a row. */
  readonly missingCustomers: ReadonlyArray<string>
  /** Rows of customers the reference does not have. */
  readonly strayCustomers: ReadonlyArray<string>
  /** Contributions of the reference not in the re-keying topic. */
  readonly lostContributions: ReadonlyArray<string>
  /** Records of the re-keying topic that match no contribution of the reference. */
  readonly strayContributions: number
  /** Copies in the re-keying topic beyond the first of a contribution: the orders stage's replays. */
  readonly rekeyedTwice: number
  /** Contributions that may have been applied more than once (in a replay window or copied). */
  readonly exposedContributions: number
  /** Customers with at least one such contribution. */
  readonly exposedCustomers: number
  /** Customers whose row differs from the reference. */
  readonly differing: ReadonlyArray<Difference>
  /** Customers whose row differs by more than the replays can explain, or differs while not exposed. */
  readonly unexplained: ReadonlyArray<Difference>
}

/** How one customer's row differs from the reference, and the most replays can explain. */
export interface Difference {
  readonly customer: string
  readonly expected: Reference.SegmentRow
  readonly actual: Reference.SegmentRow
  /** Net orders: table minus reference. */
  readonly orders: number
  /** Spend in cents: table minus reference. */
  readonly cents: bigint
  /** The most extra applications of this customer's contributions can change net orders by. */
  readonly maxOrders: number
  /** The same for spend, in cents. */
  readonly maxCents: bigint
}

const centsOf = (text: string): bigint => BigDecimal.scale(BigDecimal.fromStringUnsafe(text), 2).value

const decodeDelta = Schema.decodeUnknownSync(OrderDelta.OrderDeltaJson)

// A contribution's identity: its order, the change it comes from, and its sign
// (an update gives one of each sign).
const identity = (order: number, change: string, sign: number) => `${order}:${change}:${sign}`

/** The reference contributions with their identities, from the orders records as read back. */
const identified = (contributions: Contributions) =>
  contributions.flatMap((record) =>
    record.map((c) => ({
      id: identity(c.order, record.length === 2 ? "u" : c.create ? "c" : "d", c.sign),
      customer: String(c.customer),
      cents: c.cents
    }))
  )

export const reconcile = (input: {
  readonly orders: ReadonlyArray<Stored>
  readonly rekeyed: ReadonlyArray<Stored>
  readonly windows: ReadonlyArray<ReplayWindow>
  readonly table: ReadonlyArray<Reference.SegmentRow>
  readonly partitions: number
  readonly outOfOrderness: number
}) =>
  Effect.gen(function* () {
    const decoded = yield* Reference.decodeOrders(
      input.orders.map((r) => ({
        table: "orders" as const,
        key: null,
        value: r.tombstone ? null : r.value.toString("utf8"),
        kind: "valid" as const
      }))
    )
    const reference = Reference.segments(decoded.contributions, {
      partitions: input.partitions,
      outOfOrderness: input.outOfOrderness
    })

    // How often each contribution should be in the re-keying topic, and is.
    const expected = new Map<string, { customer: string; cents: bigint; count: number }>()
    for (const c of identified(decoded.contributions)) {
      const e = expected.get(c.id)
      if (e === undefined) expected.set(c.id, { customer: c.customer, cents: c.cents, count: 1 })
      else e.count++
    }
    const copies = new Map<string, number>()
    // Extra applications each contribution may have had: copies beyond the
    // expected ones, plus one per replay window a copy lies in.
    const extra = new Map<string, number>()
    let strayContributions = 0
    for (const r of input.rekeyed) {
      const d = decodeDelta(r.value.toString("utf8"))
      const id = identity(d.order_id, d.change, d.sign)
      if (!expected.has(id)) {
        strayContributions++
        continue
      }
      copies.set(id, (copies.get(id) ?? 0) + 1)
      const replays = input.windows.filter((w) => {
        const range = w.get(r.partition)
        return range !== undefined && r.offset >= range.from && r.offset < range.to
      }).length
      extra.set(id, (extra.get(id) ?? 0) + replays)
    }
    const lostContributions: Array<string> = []
    let rekeyedTwice = 0
    for (const [id, e] of expected) {
      const n = copies.get(id) ?? 0
      if (n < e.count) lostContributions.push(id)
      rekeyedTwice += Math.max(0, n - e.count)
      extra.set(id, (extra.get(id) ?? 0) + Math.max(0, n - e.count))
    }

    const bound = new Map<string, { orders: number; cents: bigint }>()
    let exposedContributions = 0
    for (const [id, n] of extra) {
      if (n === 0) continue
      exposedContributions++
      const e = expected.get(id)!
      const b = bound.get(e.customer) ?? { orders: 0, cents: 0n }
      b.orders += n
      b.cents += BigInt(n) * e.cents
      bound.set(e.customer, b)
    }

    const actual = new Map(input.table.map((r) => [r.customer_id, r]))
    const wanted = new Map(reference.map((r) => [r.customer_id, r]))
    const differing: Array<Difference> = []
    for (const expectedRow of reference) {
      const row = actual.get(expectedRow.customer_id)
      if (row === undefined || JSON.stringify(row) === JSON.stringify(expectedRow)) continue
      const b = bound.get(expectedRow.customer_id) ?? { orders: 0, cents: 0n }
      differing.push({
        customer: expectedRow.customer_id,
        expected: expectedRow,
        actual: row,
        orders: row.frequency - expectedRow.frequency,
        cents: centsOf(row.monetary_value) - centsOf(expectedRow.monetary_value),
        maxOrders: b.orders,
        maxCents: b.cents
      })
    }
    const abs = (n: bigint) => (n < 0n ? -n : n)
    return {
      events: input.orders.length,
      malformed: decoded.malformed,
      reference,
      missingCustomers: reference.filter((r) => !actual.has(r.customer_id)).map((r) => r.customer_id),
      strayCustomers: input.table.filter((r) => !wanted.has(r.customer_id)).map((r) => r.customer_id),
      lostContributions,
      strayContributions,
      rekeyedTwice,
      exposedContributions,
      exposedCustomers: bound.size,
      differing,
      unexplained: differing.filter(
        (d) => d.maxOrders === 0 || Math.abs(d.orders) > d.maxOrders || abs(d.cents) > d.maxCents
      )
    } satisfies Reconciliation
  })
