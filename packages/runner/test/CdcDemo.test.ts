import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import * as DemoCommand from "../src/jobs/cdc/DemoCommand.ts"

describe("cdc DemoCommand", () => {
  it.effect("paced - every event sent once, each batch at its share of the rate", () =>
    Effect.gen(function* () {
      const sends: Array<{ readonly at: number; readonly from: number; readonly n: number }> = []
      const fiber = yield* DemoCommand.paced({ count: 250, eventsPerSecond: 200 }, (from, n) =>
        Effect.map(Clock.currentTimeMillis, (at) => {
          sends.push({ at, from, n })
        })
      ).pipe(Effect.forkChild)
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.join(fiber)
      // Batches of a tenth of a second (20 events); batch k is sent when the
      // k batches before it have had their time: 100 ms each.
      const expected = Array.from({ length: 13 }, (_, k) => ({ at: k * 100, from: k * 20, n: k === 12 ? 10 : 20 }))
      assert.deepStrictEqual(sends, expected)
    })
  )

  it.effect("paced - a slow send is not followed by a wait: the run keeps the rate's end time", () =>
    Effect.gen(function* () {
      const sends: Array<number> = []
      const fiber = yield* DemoCommand.paced({ count: 40, eventsPerSecond: 100 }, (from) =>
        Effect.andThen(
          Effect.map(Clock.currentTimeMillis, (at) => {
            sends.push(at)
          }),
          // The first batch takes longer than its own 100 ms.
          from === 0 ? Effect.sleep("250 millis") : Effect.void
        )
      ).pipe(Effect.forkChild)
      yield* TestClock.adjust("5 seconds")
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(sends, [0, 250, 250, 300])
    })
  )
})
