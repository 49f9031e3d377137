import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import * as DynamoDbSink from "../src/DynamoDbSink.ts"
import type * as DynamoLike from "../src/DynamoLike.ts"

describe("DynamoDbSink", () => {
  it.effect("writer - unprocessed items are sent again after exponential delays", () =>
    Effect.gen(function* () {
      // Writes one item per request and hands the rest back as unprocessed.
      const sizes: Array<number> = []
      const oneAtATime: DynamoLike.BatchWriter = {
        batchWrite: async (input) => {
          const requests = input.RequestItems.t!
          sizes.push(requests.length)
          return { UnprocessedItems: requests.length > 1 ? { t: requests.slice(1) } : {} }
        }
      }
      const w = DynamoDbSink.writer(oneAtATime, { name: "t", key: ["id"] }, { unprocessed: { base: "100 millis" } })
      const fiber = yield* Effect.forkChild(w.write([{ id: 1 }, { id: 2 }, { id: 3 }, { id: 2 }]))
      yield* TestClock.adjust("0 millis")
      // Three distinct keys (the second id 2 replaces the first).
      assert.deepStrictEqual(sizes, [3])
      yield* TestClock.adjust("99 millis")
      assert.deepStrictEqual(sizes, [3])
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(sizes, [3, 2])
      yield* TestClock.adjust("199 millis")
      assert.deepStrictEqual(sizes, [3, 2])
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(sizes, [3, 2, 1])
      assert.strictEqual(yield* Fiber.join(fiber), 3)
    })
  )

  it.effect("writer - a chunk is split into requests of at most 25 items", () =>
    Effect.gen(function* () {
      const sizes: Array<number> = []
      const recorder: DynamoLike.BatchWriter = {
        batchWrite: async (input) => {
          sizes.push(input.RequestItems.t!.length)
          return {}
        }
      }
      const items = Array.from({ length: 60 }, (_, i) => ({ id: i }))
      assert.strictEqual(yield* DynamoDbSink.writer(recorder, { name: "t", key: ["id"] }).write(items), 60)
      assert.deepStrictEqual(
        sizes.sort((a, b) => a - b),
        [10, 25, 25]
      )
    })
  )
})
