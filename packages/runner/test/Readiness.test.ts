import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Scope } from "effect"
import { TestClock } from "effect/testing"
import * as Readiness from "../src/http/Readiness.ts"

describe("Readiness", () => {
  it.effect("run - ready only while every registered check passes", () =>
    Effect.gen(function* () {
      const readiness = yield* Readiness.make()
      assert.isTrue(Readiness.isReady(yield* readiness.run))
      yield* readiness.register("kafka", Effect.void)
      const scope = yield* Scope.make()
      yield* readiness.register("database", Effect.fail("connection refused")).pipe(Scope.provide(scope))
      const results = yield* readiness.run
      assert.isFalse(Readiness.isReady(results))
      assert.deepStrictEqual(
        results.find((r) => r.name === "database"),
        { name: "database", ok: false, detail: "connection refused" }
      )
      yield* Scope.close(scope, { _tag: "Success", value: undefined } as never)
      assert.deepStrictEqual(
        (yield* readiness.run).map((r) => r.name),
        ["kafka"]
      )
      assert.isTrue(Readiness.isReady(yield* readiness.run))
    })
  )

  it.effect("run - a check that does not answer fails after the timeout", () =>
    Effect.gen(function* () {
      const readiness = yield* Readiness.make({ timeout: "1 seconds" })
      yield* readiness.register("partitions", Effect.never)
      const fiber = yield* Effect.forkChild(readiness.run)
      yield* Effect.yieldNow
      yield* TestClock.adjust("999 millis")
      assert.isUndefined(fiber.pollUnsafe())
      yield* TestClock.adjust("1 millis")
      const results = yield* Fiber.join(fiber)
      assert.isFalse(Readiness.isReady(results))
      assert.include(results[0]!.detail, "no answer within 1s")
    })
  )
})
