// The exactly-once supervisor: a job whose transaction failed runs again on
// the restart schedule (TestClock), only for Kafka failures, and only under
// exactly-once.
import { assert, describe, it } from "@effect/vitest"
import { KafkaError } from "@sluice/kafka"
import { Effect, Exit, Fiber, Ref } from "effect"
import { TestClock } from "effect/testing"
import * as ProcessingGuarantee from "../src/ProcessingGuarantee.ts"

const fenced = KafkaError.timeout("commit", 1000)

// A job that fails with `error` on its first `failures` runs, then succeeds;
// `runs` counts the runs.
const flaky = (failures: number, error: unknown) =>
  Effect.gen(function* () {
    const runs = yield* Ref.make(0)
    const job = Ref.updateAndGet(runs, (n) => n + 1).pipe(
      Effect.flatMap((n) => (n <= failures ? Effect.fail(error) : Effect.succeed(n)))
    )
    return { runs, job }
  })

describe("ProcessingGuarantee.supervised", () => {
  it.effect("exactly-once: runs again after each Kafka failure, waiting 500 ms, then 1 s", () =>
    Effect.gen(function* () {
      const { runs, job } = yield* flaky(2, fenced)
      const fiber = yield* Effect.forkChild(ProcessingGuarantee.supervised("exactly-once", job))
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(yield* Ref.get(runs), 1)
      yield* TestClock.adjust("499 millis")
      assert.strictEqual(yield* Ref.get(runs), 2, "the second run after 500 ms")
      yield* TestClock.adjust("999 millis")
      assert.strictEqual(yield* Ref.get(runs), 2, "not before the doubled wait")
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(yield* Fiber.join(fiber), 3)
    })
  )

  it.effect("exactly-once: gives up after the schedule's limit with the last error", () =>
    Effect.gen(function* () {
      const { runs, job } = yield* flaky(1_000, fenced)
      const fiber = yield* Effect.forkChild(
        ProcessingGuarantee.supervised("exactly-once", job, ProcessingGuarantee.restartSchedule("20 seconds"))
      )
      yield* TestClock.adjust("1 minute")
      const exit = yield* Fiber.await(fiber)
      assert.isTrue(Exit.isFailure(exit))
      // 0.5 + 1 + 2 + 4 + 5 + 5 + 5 s: the run after 22.5 s is not allowed by a 20 s limit.
      assert.isAbove(yield* Ref.get(runs), 3)
      assert.isBelow(yield* Ref.get(runs), 10)
    })
  )

  it.effect("exactly-once: a failure that is not Kafka's ends the job at once", () =>
    Effect.gen(function* () {
      const { runs, job } = yield* flaky(1, new Error("the database URL is invalid"))
      const exit = yield* Effect.exit(ProcessingGuarantee.supervised("exactly-once", job))
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual(yield* Ref.get(runs), 1)
    })
  )

  it.effect("at-least-once: the job runs once", () =>
    Effect.gen(function* () {
      const { runs, job } = yield* flaky(1, fenced)
      const exit = yield* Effect.exit(ProcessingGuarantee.supervised("at-least-once", job))
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual(yield* Ref.get(runs), 1)
    })
  )
})
