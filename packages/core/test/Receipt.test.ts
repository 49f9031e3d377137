import { assert, describe, it } from "@effect/vitest"
import { Effect, Ref } from "effect"
import * as AckBatch from "../src/internal/ackBatch.ts"
import * as Receipt from "../src/Receipt.ts"

describe("Receipt", () => {
  it.effect("split - the parent is acknowledged once, after the last child", () =>
    Effect.gen(function* () {
      const acks = yield* Ref.make(0)
      const parent = Receipt.make(Ref.update(acks, (n) => n + 1))
      const [a, b, c] = yield* Receipt.split(parent, 3)
      yield* a!.ack
      yield* b!.ack
      yield* b!.ack
      assert.strictEqual(yield* Ref.get(acks), 0)
      yield* c!.ack
      yield* parent.ack
      assert.strictEqual(yield* Ref.get(acks), 1)
    })
  )

  it.effect("split - zero children acknowledge the parent at once", () =>
    Effect.gen(function* () {
      const acks = yield* Ref.make(0)
      const children = yield* Receipt.split(Receipt.make(Ref.update(acks, (n) => n + 1)), 0)
      assert.strictEqual(children.length, 0)
      assert.strictEqual(yield* Ref.get(acks), 1)
    })
  )

  it("children - one child is the parent itself", () => {
    const parent = Receipt.make(Effect.void)
    assert.deepStrictEqual(Receipt.children(parent, 1), [parent])
  })

  it.effect("onAck - runs the effect after the receipt, once", () =>
    Effect.gen(function* () {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const receipt = Receipt.onAck(
        Receipt.make(Ref.update(log, (xs) => [...xs, "ack"])),
        Ref.update(log, (xs) => [...xs, "then"])
      )
      yield* receipt.ack
      yield* receipt.ack
      assert.deepStrictEqual(yield* Ref.get(log), ["ack", "then"])
    })
  )

  it.effect("makeUnsafe - acknowledged once, by ack or ackUnsafe", () =>
    Effect.gen(function* () {
      let acks = 0
      const receipt = Receipt.makeUnsafe(() => acks++)
      yield* receipt.ack
      receipt.ackUnsafe!()
      yield* receipt.ack
      assert.strictEqual(acks, 1)
    })
  )

  it.effect("ackAll - acknowledges plain and effectful receipts alike", () =>
    Effect.gen(function* () {
      const effectful = yield* Ref.make(0)
      let plain = 0
      const receipts = [
        Receipt.makeUnsafe(() => plain++),
        Receipt.make(Ref.update(effectful, (n) => n + 1)),
        Receipt.makeUnsafe(() => plain++),
        Receipt.none
      ]
      yield* Receipt.ackAll(receipts)
      yield* Receipt.ackAll(receipts)
      assert.strictEqual(plain, 2)
      assert.strictEqual(yield* Ref.get(effectful), 1)
    })
  )

  it("ackAll - builds nothing until run", () => {
    let acks = 0
    const ackAll = Receipt.ackAll([Receipt.makeUnsafe(() => acks++)])
    assert.strictEqual(acks, 0)
    Effect.runSync(ackAll)
    assert.strictEqual(acks, 1)
  })

  it("ackAll - work deferred by its receipts runs once, after the outermost ackAll, even if one throws", () => {
    const log: Array<string> = []
    let scheduled = false
    // A receipt that defers its per-chunk work as the tracker's receipts do.
    const deferring = (name: string) =>
      Receipt.makeUnsafe(() => {
        log.push(name)
        if (AckBatch.active() && !scheduled) {
          scheduled = true
          AckBatch.atEnd(() => {
            scheduled = false
            log.push("flush")
          })
        }
      })
    const inner = Receipt.makeUnsafe(() => Effect.runSync(Receipt.ackAll([deferring("inner")])))
    Effect.runSync(Receipt.ackAll([deferring("a"), inner, deferring("b")]))
    assert.deepStrictEqual(log, ["a", "inner", "b", "flush"])
    assert.isFalse(AckBatch.active())
    const throwing = Receipt.makeUnsafe(() => {
      throw new Error("a receipt that breaks its contract")
    })
    assert.throws(() => Effect.runSync(Receipt.ackAll([deferring("c"), throwing])))
    assert.deepStrictEqual(log, ["a", "inner", "b", "flush", "c", "flush"])
    assert.isFalse(AckBatch.active())
  })

  it("children - of a plain parent, acknowledged as plain code, the parent after the last", () => {
    let acks = 0
    const children = Receipt.children(
      Receipt.makeUnsafe(() => acks++),
      3
    )
    for (const child of children) assert.isDefined(child.ackUnsafe)
    children[0]!.ackUnsafe!()
    children[0]!.ackUnsafe!()
    children[1]!.ackUnsafe!()
    assert.strictEqual(acks, 0)
    Effect.runSync(children[2]!.ack)
    assert.strictEqual(acks, 1)
  })

  it.effect("onAckUnsafe - runs after the receipt, once, as plain code when the receipt allows", () =>
    Effect.gen(function* () {
      const log: Array<string> = []
      const plain = Receipt.onAckUnsafe(
        Receipt.makeUnsafe(() => log.push("ack")),
        () => log.push("then")
      )
      assert.isDefined(plain.ackUnsafe)
      plain.ackUnsafe!()
      yield* plain.ack
      assert.deepStrictEqual(log, ["ack", "then"])

      const effectful = Receipt.onAckUnsafe(Receipt.make(Effect.sync(() => log.push("effect ack"))), () =>
        log.push("effect then")
      )
      assert.isUndefined(effectful.ackUnsafe)
      yield* effectful.ack
      yield* effectful.ack
      assert.deepStrictEqual(log, ["ack", "then", "effect ack", "effect then"])
    })
  )
})
