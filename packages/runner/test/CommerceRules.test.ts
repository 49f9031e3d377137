import { assert, describe, it } from "@effect/vitest"
import { ChangeEvent } from "@sluice/cdc"
import { BigDecimal, Effect, Fiber, Option, Result } from "effect"
import { TestClock } from "effect/testing"
import * as Generator from "../src/jobs/commerce/Generator.ts"
import type * as Model from "../src/jobs/commerce/Model.ts"
import * as OrderDelta from "../src/jobs/commerce/OrderDelta.ts"
import * as SalesMetrics from "../src/jobs/commerce/SalesMetrics.ts"
import * as Segments from "../src/jobs/commerce/Segments.ts"

const dec = (text: string) => BigDecimal.fromStringUnsafe(text)

const order = (id: number, amount: string, at: number): Model.Order => ({
  id,
  customer_id: 7,
  status: "pending",
  total_amount: dec(amount),
  order_date: BigInt(at) * 1_000_000n
})

const event = (op: ChangeEvent.Op, before: Model.Order | null, after: Model.Order | null) =>
  ChangeEvent.make<Model.Order>({ op, before, after, source: {} })

describe("commerce rules", () => {
  it("OrderDelta - create adds, update takes the old row out and adds the new, delete takes out", () => {
    const a = order(1, "10.50", 1000)
    const b = { ...a, total_amount: dec("9.45") }
    const amounts = (r: Result.Result<ReadonlyArray<OrderDelta.OrderDelta>, string>) =>
      Result.getOrThrow(r).map((d) => BigDecimal.format(OrderDelta.signedAmount(d)))
    assert.deepStrictEqual(amounts(OrderDelta.fromRecord(event("c", null, a))), ["10.5"])
    assert.deepStrictEqual(amounts(OrderDelta.fromRecord(event("u", a, b))), ["-10.5", "9.45"])
    assert.deepStrictEqual(amounts(OrderDelta.fromRecord(event("d", a, null))), ["-10.5"])
    assert.deepStrictEqual(amounts(OrderDelta.fromRecord(ChangeEvent.tombstone)), [])
    assert.deepStrictEqual(amounts(OrderDelta.fromRecord(event("t", null, null))), [])
    // Without the old row an update cannot be netted: refused, not guessed.
    assert.isTrue(Result.isFailure(OrderDelta.fromRecord(event("u", null, b))))
    assert.isTrue(Result.isFailure(OrderDelta.fromRecord(event("d", null, null))))
  })

  it("SalesMetrics.average - half-even cents, equal to a rational brute force", () => {
    for (let cents = 0n; cents < 2000n; cents += 7n)
      for (let n = 1; n <= 9; n++) {
        // Brute force: the two candidates around the quotient, the nearer one (even on a tie).
        const lo = cents / BigInt(n)
        const dLo = cents - lo * BigInt(n)
        const dHi = (lo + 1n) * BigInt(n) - cents
        const want = dLo < dHi ? lo : dHi < dLo ? lo + 1n : lo % 2n === 0n ? lo : lo + 1n
        const got = Option.getOrThrow(SalesMetrics.average(BigDecimal.make(cents, 2), n))
        assert.strictEqual(BigDecimal.scale(got, 2).value, want, `${cents}/${n}`)
      }
    assert.isTrue(Option.isNone(SalesMetrics.average(dec("10"), 0)))
  })

  it("Segments.segmentOf - time segments first, then VIP, Regular, New; None without orders", () => {
    const s = (frequency: number, monetary: string, idle: Segments.Idle) =>
      Segments.segmentOf({ frequency, monetary: dec(monetary), idle })
    assert.strictEqual(s(9, "9000", "churned"), "Churned")
    assert.strictEqual(s(9, "9000", "at-risk"), "At-Risk")
    assert.strictEqual(s(5, "500.00", "active"), "VIP")
    assert.strictEqual(s(5, "499.99", "active"), "Regular")
    assert.strictEqual(s(3, "10", "active"), "Regular")
    assert.strictEqual(s(2, "900", "active"), "New")
    assert.strictEqual(s(0, "0", "churned"), "None")
  })

  it.effect("Generator - the same seed gives the same records; another seed other ones", () =>
    Effect.gen(function* () {
      const options = { ...Generator.defaults, seed: 3, orders: 300 }
      const a = yield* Generator.generate(options)
      const b = yield* Generator.generate(options)
      const c = yield* Generator.generate({ ...options, seed: 4 })
      assert.deepStrictEqual(a, b)
      assert.notDeepEqual(a, c)
      assert.isTrue(a.some((r) => r.kind === "malformed"))
      assert.isTrue(a.some((r) => r.table === "orders" && r.value === null))
    })
  )

  it.effect("Generator.publish - paces the records by the clock", () =>
    Effect.gen(function* () {
      const records = yield* Generator.generate({ ...Generator.defaults, seed: 1, orders: 100 })
      let sent = 0
      const fiber = yield* Effect.forkChild(
        Generator.publish(records, 100, (chunk) => Effect.sync(() => (sent += chunk.length)))
      )
      yield* Effect.yieldNow
      assert.strictEqual(sent, 10)
      yield* TestClock.adjust("1 second")
      assert.strictEqual(sent, 110)
      yield* TestClock.adjust("1 hour")
      assert.strictEqual(yield* Fiber.join(fiber), records.length)
      assert.strictEqual(sent, records.length)
    })
  )
})
