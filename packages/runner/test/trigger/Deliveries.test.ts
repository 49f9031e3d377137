import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import * as Deliveries from "../../src/jobs/trigger/Deliveries.ts"

interface Item {
  readonly id: string
  readonly user: string
  readonly millis: number
}

// Records what a run of work sees: starts per user, overlaps within a user, the most in flight.
const recorder = () => {
  const started: Array<Item> = []
  const active = new Set<string>()
  const finished = new Set<string>()
  let inFlight = 0
  let maxInFlight = 0
  let overlaps = 0
  const work = (item: Item): Deliveries.Work<string> => ({
    user: item.user,
    run: Effect.gen(function* () {
      if (active.has(item.user)) overlaps++
      active.add(item.user)
      started.push(item)
      inFlight++
      maxInFlight = Math.max(maxInFlight, inFlight)
      yield* Effect.sleep(item.millis)
      inFlight--
      active.delete(item.user)
      finished.add(item.id)
      return item.id
    })
  })
  return {
    work,
    started,
    finished,
    get maxInFlight() {
      return maxInFlight
    },
    get overlaps() {
      return overlaps
    }
  }
}

// Moves the test clock until `fiber` is done (bounded, so a hang fails instead of looping).
const driveUntilDone = <A>(fiber: Fiber.Fiber<A>) =>
  Effect.gen(function* () {
    for (let i = 0; i < 10_000 && fiber.pollUnsafe() === undefined; i++) yield* TestClock.adjust("1 millis")
    return yield* Fiber.join(fiber)
  })

describe("Deliveries", () => {
  it.effect("submit - each user's work in order and one at a time across chunks, at most N in flight", () =>
    Effect.gen(function* () {
      const limit = 3
      const deliveries = yield* Deliveries.make({ concurrency: limit })
      const r = recorder()
      // Four chunks of 12 items over 5 users, durations varying so that orders would interleave.
      const chunks: Array<Array<Item>> = Array.from({ length: 4 }, (_, c) =>
        Array.from({ length: 12 }, (_, i) => {
          const n = c * 12 + i
          return { id: `e${n}`, user: `u${(n * 7) % 5}`, millis: ((n * 13) % 9) + 1 }
        })
      )
      // All chunks started before any is awaited, as the pipeline does.
      const awaits: Array<Effect.Effect<Array<string>>> = []
      for (const chunk of chunks) awaits.push(yield* deliveries.submit(chunk.map(r.work)))
      const fiber = yield* Effect.forkChild(Effect.forEach(awaits, (a) => a))
      const results = yield* driveUntilDone(fiber)

      // Results per chunk in submission order.
      assert.deepStrictEqual(
        results,
        chunks.map((chunk) => chunk.map((item) => item.id))
      )
      // The reference order per user: the order the items were submitted in.
      const all = chunks.flat()
      const users = [...new Set(all.map((item) => item.user))]
      for (const user of users) {
        assert.deepStrictEqual(
          r.started.filter((item) => item.user === user).map((item) => item.id),
          all.filter((item) => item.user === user).map((item) => item.id),
          `order of ${user}`
        )
      }
      assert.strictEqual(r.overlaps, 0)
      // The bound is reached (there are more users than slots) and never exceeded.
      assert.strictEqual(r.maxInFlight, Math.min(limit, users.length))
    })
  )

  it.effect("submit - a later chunk's work for other users does not wait for an earlier chunk's slow work", () =>
    Effect.gen(function* () {
      const deliveries = yield* Deliveries.make({ concurrency: 4 })
      const r = recorder()
      const first = yield* deliveries.submit([r.work({ id: "slow", user: "u0", millis: 60_000 })])
      const second = yield* deliveries.submit([
        r.work({ id: "quick", user: "u1", millis: 10 }),
        r.work({ id: "after-slow", user: "u0", millis: 10 })
      ])
      const firstFiber = yield* Effect.forkChild(first)
      yield* TestClock.adjust("1 second")
      assert.isTrue(r.finished.has("quick"))
      assert.isFalse(r.finished.has("slow"))
      // u0's next event waits for its slow one.
      assert.isFalse(r.started.some((item) => item.id === "after-slow"))
      yield* TestClock.adjust("1 minute")
      assert.deepStrictEqual(yield* Fiber.join(firstFiber), ["slow"])
      const secondFiber = yield* Effect.forkChild(second)
      assert.deepStrictEqual(yield* driveUntilDone(secondFiber), ["quick", "after-slow"])
    })
  )

  it.effect("submit - work waiting for its user's earlier work holds no slot", () =>
    Effect.gen(function* () {
      // Two slots: u0's first item takes one; its second waits without one, so u1 and u2 still run.
      const deliveries = yield* Deliveries.make({ concurrency: 2 })
      const r = recorder()
      yield* deliveries.submit([r.work({ id: "a1", user: "u0", millis: 1000 })])
      const later = yield* deliveries.submit([
        r.work({ id: "a2", user: "u0", millis: 10 }),
        r.work({ id: "b", user: "u1", millis: 10 }),
        r.work({ id: "c", user: "u2", millis: 10 })
      ])
      const fiber = yield* Effect.forkChild(later)
      yield* TestClock.adjust("100 millis")
      assert.isTrue(r.finished.has("b"))
      assert.isTrue(r.finished.has("c"))
      assert.isFalse(r.finished.has("a1"))
      yield* TestClock.adjust("2 seconds")
      assert.deepStrictEqual(yield* Fiber.join(fiber), ["a2", "b", "c"])
    })
  )
})
