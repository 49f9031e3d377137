import { assert, describe, it } from "@effect/vitest"
import { Effect, Ref } from "effect"
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
})
