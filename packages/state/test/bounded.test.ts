// The bound on a store's look-ups of the broker: an attempt that never
// answers is given up after its timeout and tried again; one that keeps not
// answering fails with the caller's error instead of waiting for ever.
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { bounded } from "../src/internal/bounded.ts"

// A look-up whose first `silent` attempts never answer; the others answer with their number.
const lookup = (silent: number) => {
  let calls = 0
  const effect = Effect.suspend(() => {
    calls++
    return calls <= silent ? Effect.never : Effect.succeed(calls)
  })
  return { effect, calls: () => calls }
}

const options = { timeout: "10 seconds", attempts: 3, onTimeout: () => "timed out" } as const

describe("bounded", () => {
  it.effect("an attempt that never answers is tried again after the timeout", () =>
    Effect.gen(function* () {
      const l = lookup(1)
      const fiber = yield* Effect.forkChild(bounded(l.effect, options))
      yield* TestClock.adjust("9 seconds")
      assert.strictEqual(fiber.pollUnsafe(), undefined)
      assert.strictEqual(l.calls(), 1)
      yield* TestClock.adjust("2 seconds")
      assert.strictEqual(yield* Fiber.join(fiber), 2)
    })
  )

  it.effect("a look-up that never answers fails after the last attempt", () =>
    Effect.gen(function* () {
      const l = lookup(Number.POSITIVE_INFINITY)
      const fiber = yield* Effect.forkChild(bounded(l.effect, options))
      for (let i = 0; i < options.attempts; i++) yield* TestClock.adjust("11 seconds")
      const exit = yield* Fiber.await(fiber)
      assert.deepStrictEqual(exit, Exit.fail("timed out"))
      assert.strictEqual(l.calls(), options.attempts)
    })
  )
})
