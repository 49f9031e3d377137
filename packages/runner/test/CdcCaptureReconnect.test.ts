import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Exit, Fiber, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as CaptureReconnect from "../src/jobs/cdc/CaptureReconnect.ts"

// A stream that fails while `fails(attempt)` holds, and otherwise emits one
// element and then fails; the Clock's time of every attempt is recorded.
const flaky = (fails: (attempt: number) => boolean) => {
  const attempts: Array<number> = []
  const stream = Stream.unwrap(
    Effect.gen(function* () {
      const attempt = attempts.length
      attempts.push(yield* Clock.currentTimeMillis)
      return fails(attempt)
        ? Stream.fail(new Error(`connection refused (attempt ${attempt})`))
        : Stream.concat(Stream.make(attempt), Stream.fail(new Error("connection reset")))
    })
  )
  return { attempts, stream }
}

// The waits the schedule should produce, computed on their own: doubling from
// `initial`, never above `max`, while less than `giveUpAfter` has elapsed.
const expectedWaits = (initial: number, max: number, giveUpAfter: number) => {
  const waits: Array<number> = []
  let elapsed = 0
  for (let k = 0; elapsed < giveUpAfter; k++) {
    const wait = Math.min(initial * 2 ** k, max)
    waits.push(wait)
    elapsed += wait
  }
  return waits
}

const gaps = (times: ReadonlyArray<number>) => times.slice(1).map((t, i) => t - times[i]!)

describe("CaptureReconnect", () => {
  it.effect("schedule - waits double up to the maximum, then the capture gives up with the last error", () =>
    Effect.gen(function* () {
      const { attempts, stream } = flaky(() => true)
      const fiber = yield* stream.pipe(
        Stream.retry(CaptureReconnect.schedule({ initial: "200 millis", max: "5 seconds", giveUpAfter: "1 minute" })),
        Stream.runDrain,
        Effect.forkScoped
      )
      yield* TestClock.adjust("10 minutes")
      const exit = yield* Fiber.await(fiber)
      assert.isTrue(Exit.isFailure(exit))
      assert.deepStrictEqual(gaps(attempts), expectedWaits(200, 5000, 60_000))
    })
  )

  it.effect("schedule - a run that delivers again starts the waits over", () =>
    Effect.gen(function* () {
      // Attempts 0-3 fail, 4 delivers, 5-7 fail, 8 delivers...
      const { attempts, stream } = flaky((attempt) => attempt % 4 !== 0 || attempt === 0)
      const delivered: Array<number> = []
      yield* stream.pipe(
        Stream.retry(CaptureReconnect.schedule({ initial: "1 second", max: "1 minute" })),
        Stream.take(2),
        Stream.runForEach((a) => Effect.sync(() => delivered.push(a))),
        Effect.forkScoped
      )
      yield* TestClock.adjust("1 hour")
      assert.deepStrictEqual(delivered, [4, 8])
      assert.deepStrictEqual(gaps(attempts), [1000, 2000, 4000, 8000, 1000, 2000, 4000, 8000])
    })
  )
})
