import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Schedule, Scope } from "effect"
import { TestClock } from "effect/testing"
import { untilAcquired } from "../src/UntilAcquired.ts"

interface Down {
  readonly _tag: "Down"
  readonly retryable: boolean
}

// A resource whose first `failures` acquisitions fail after acquiring a part
// that must be released; tracks what is open.
const flaky = (failures: number, retryable = true) => {
  let attempts = 0
  const open = new Set<number>()
  const acquire = Effect.gen(function* () {
    const n = ++attempts
    yield* Effect.acquireRelease(
      Effect.sync(() => open.add(n)),
      () => Effect.sync(() => open.delete(n))
    )
    if (n <= failures) return yield* Effect.fail({ _tag: "Down", retryable } satisfies Down)
    return n
  })
  return { acquire, attempts: () => attempts, open }
}

describe("untilAcquired", () => {
  it.effect("tries again on the schedule, releasing each failed attempt at once", () =>
    Effect.gen(function* () {
      const resource = flaky(2)
      const retried: Array<number> = []
      const scope = yield* Scope.make()
      const fiber = yield* untilAcquired(resource.acquire, {
        retryable: (e) => e.retryable,
        schedule: Schedule.spaced("10 seconds"),
        onRetry: () => Effect.sync(() => retried.push(resource.attempts()))
      }).pipe(Scope.provide(scope), Effect.forkChild)
      yield* Effect.yieldNow
      assert.strictEqual(resource.attempts(), 1)
      assert.strictEqual(resource.open.size, 0)
      yield* TestClock.adjust("9 seconds")
      assert.strictEqual(resource.attempts(), 1)
      yield* TestClock.adjust("1 second")
      assert.strictEqual(resource.attempts(), 2)
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual(yield* Fiber.join(fiber), 3)
      assert.deepStrictEqual(retried, [1, 2])
      // The successful attempt stays open until the caller's scope closes.
      assert.deepStrictEqual([...resource.open], [3])
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual(resource.open.size, 0)
    })
  )

  it.effect("fails at once on an error that is not retryable", () =>
    Effect.gen(function* () {
      const resource = flaky(5, false)
      const exit = yield* untilAcquired(resource.acquire, {
        retryable: (e) => e.retryable,
        schedule: Schedule.spaced("1 second")
      }).pipe(Effect.scoped, Effect.exit)
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual(resource.attempts(), 1)
      assert.strictEqual(resource.open.size, 0)
    })
  )
})
