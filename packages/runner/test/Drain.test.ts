import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import * as Drain from "../src/Drain.ts"

const ends: ReadonlyArray<Drain.PartitionEnd> = [
  { partition: 0, low: 0n, high: 5n },
  { partition: 1, low: 3n, high: 3n },
  { partition: 2, low: 2n, high: 9n }
]

// An admin whose group commits `step` more offsets on every partition at each poll.
const advancingAdmin = (step: bigint) => {
  let polls = 0
  const admin: Drain.Admin = {
    fetchTopicOffsets: async () =>
      ends.map((e) => ({
        partition: e.partition,
        offset: e.high.toString(),
        low: e.low.toString(),
        high: e.high.toString()
      })),
    fetchOffsets: async ({ topics }) => {
      polls++
      const committed = BigInt(polls) * step
      return (topics ?? []).map((topic) => ({
        topic,
        partitions: ends.map((e) => ({ partition: e.partition, offset: polls === 1 ? "-1" : committed.toString() }))
      }))
    }
  }
  return { admin, polls: () => polls }
}

describe("Drain", () => {
  it("pending - partitions with uncommitted records below their end; empty ones never", () => {
    assert.deepStrictEqual(
      Drain.pending(ends, new Map()).map((e) => e.partition),
      [0, 2]
    )
    assert.deepStrictEqual(
      Drain.pending(
        ends,
        new Map([
          [0, 5n],
          [2, 8n]
        ])
      ).map((e) => e.partition),
      [2]
    )
    assert.deepStrictEqual(
      Drain.pending(
        ends,
        new Map([
          [0, 7n],
          [2, 9n]
        ])
      ),
      []
    )
  })

  it.effect("endOffsets and committedOffsets - read the admin's answers, -1 as no commit", () =>
    Effect.gen(function* () {
      const { admin } = advancingAdmin(1n)
      assert.deepStrictEqual(yield* Drain.endOffsets(admin, "failed-payments"), ends)
      assert.deepStrictEqual(yield* Drain.committedOffsets(admin, "g", "failed-payments"), new Map())
      assert.deepStrictEqual(
        [...(yield* Drain.committedOffsets(admin, "g", "failed-payments")).entries()],
        [
          [0, 2n],
          [1, 2n],
          [2, 2n]
        ]
      )
    })
  )

  it.effect("awaitCommitted - polls on its interval until every partition is committed up to its end", () =>
    Effect.gen(function* () {
      // Commits reach 9 (the highest end) at the third poll.
      const { admin, polls } = advancingAdmin(3n)
      const fiber = yield* Drain.awaitCommitted(admin, {
        groupId: "g",
        topic: "failed-payments",
        ends,
        interval: "500 millis"
      }).pipe(Effect.forkChild)
      yield* Effect.yieldNow
      assert.strictEqual(polls(), 1)
      yield* TestClock.adjust("499 millis")
      assert.strictEqual(polls(), 1)
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(polls(), 2)
      assert.isUndefined(fiber.pollUnsafe())
      yield* TestClock.adjust("500 millis")
      yield* Fiber.join(fiber)
      assert.strictEqual(polls(), 3)
    })
  )
})
