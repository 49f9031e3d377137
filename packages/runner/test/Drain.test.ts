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
        topic: typeof topic === "string" ? topic : topic.topic,
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

  it("pending - with the consumer's invisible runs, drained exactly when no visible record is left uncommitted", () => {
    // Every layout of up to 7 offsets, each a visible record or invisible
    // (a marker or an aborted record), against a brute-force answer. The group
    // commits only after visible records (or not at all); the consumer reports
    // the invisible offsets after the last visible one as a run.
    for (let n = 1; n <= 7; n++) {
      for (let mask = 0; mask < 1 << n; mask++) {
        const visible = Array.from({ length: n }, (_, i) => ((mask >> i) & 1) === 1)
        const lastVisible = visible.lastIndexOf(true)
        const runs = new Map<number, Drain.Invisible>(
          lastVisible + 1 < n ? [[0, { from: BigInt(lastVisible + 1), to: BigInt(n) }]] : []
        )
        const commits = [undefined, ...visible.flatMap((v, i) => (v ? [i + 1] : []))]
        for (const c of commits) {
          const left = visible.some((v, i) => v && i >= (c ?? 0))
          const committed = new Map<number, bigint>(c === undefined ? [] : [[0, BigInt(c)]])
          const end: Drain.PartitionEnd = { partition: 0, low: 0n, high: BigInt(n) }
          assert.strictEqual(Drain.pending([end], committed, runs).length > 0, left, `${visible} committed ${c}`)
        }
      }
    }
  })

  it.effect("invisibleRuns - joins touching runs of its topic, keeps the later of disjoint ones", () =>
    Effect.gen(function* () {
      const runs = Drain.invisibleRuns("failed-payments")
      yield* runs.record({ topic: "failed-payments", partition: 0, from: 3n, to: 4n })
      yield* runs.record({ topic: "failed-payments", partition: 0, from: 4n, to: 6n })
      yield* runs.record({ topic: "failed-payments", partition: 1, from: 2n, to: 3n })
      yield* runs.record({ topic: "failed-payments", partition: 1, from: 7n, to: 8n })
      yield* runs.record({ topic: "other", partition: 2, from: 0n, to: 9n })
      assert.deepStrictEqual(
        [...(yield* runs.get).entries()],
        [
          [0, { from: 3n, to: 6n }],
          [1, { from: 7n, to: 8n }]
        ]
      )
    })
  )

  it.effect("awaitCommitted - ends when the commits stop at a run of invisible offsets reaching the end", () =>
    Effect.gen(function* () {
      // Commits stop one below each end: the transaction markers.
      let polls = 0
      const admin: Drain.Admin = {
        fetchTopicOffsets: async () => [],
        fetchOffsets: async ({ topics }) => {
          polls++
          return (topics ?? []).map((topic) => ({
            topic: typeof topic === "string" ? topic : topic.topic,
            partitions: ends.map((e) => ({ partition: e.partition, offset: (e.high - 1n).toString() }))
          }))
        }
      }
      // One poll interval on the test clock, then the admin's promise settles.
      const tick = Effect.andThen(
        TestClock.adjust("500 millis"),
        Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))
      )
      const invisible = Drain.invisibleRuns("failed-payments")
      const fiber = yield* Drain.awaitCommitted(admin, {
        groupId: "g",
        topic: "failed-payments",
        ends,
        interval: "500 millis",
        invisible
      }).pipe(Effect.forkChild)
      for (let i = 0; i < 3; i++) yield* tick
      yield* invisible.record({ topic: "failed-payments", partition: 0, from: 4n, to: 5n })
      for (let i = 0; i < 3; i++) yield* tick
      assert.isAtLeast(polls, 4)
      assert.isUndefined(fiber.pollUnsafe(), "partition 2 still ends in uncommitted offsets")
      yield* invisible.record({ topic: "failed-payments", partition: 2, from: 8n, to: 9n })
      for (let i = 0; i < 10 && fiber.pollUnsafe() === undefined; i++) yield* tick
      assert.isDefined(fiber.pollUnsafe(), "drained once every partition's commits reach an invisible run to its end")
      yield* Fiber.join(fiber)
    })
  )
})
