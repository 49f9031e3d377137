// `KafkaOutputs.make` hands `--commit-interval` to `Transactions`: on the
// test clock, over a fake client whose transactional producers log what they
// are asked, a partition's first commit comes at the interval given, or at
// `Transactions`' own default when none is.
import { assert, describe, it } from "@effect/vitest"
import { OffsetTracker } from "@sluice/core"
import { Deferred, Duration, Effect } from "effect"
import { TestClock } from "effect/testing"
// The kafka package's fake: producers log each transactional call as `<transactional id> <call>`.
import { fakeClient } from "../../kafka/test/fixtures/transactionalFake.ts"
import * as KafkaOutputs from "../src/KafkaOutputs.ts"

const tp = { topic: "payment-events", partition: 0 }

// Exactly-once outputs whose source has claimed `tp` and finished a record
// of it at time 0; answers the log and the first commit's offsets.
const started = (options: Parameters<typeof KafkaOutputs.make>[3]) =>
  Effect.gen(function* () {
    const log: Array<string> = []
    const outputs = yield* KafkaOutputs.make(yield* fakeClient(log), "g", "exactly-once", options)
    const hooks = outputs.source.transactions
    assert.isDefined(hooks)
    const tracker = yield* OffsetTracker.make({ maxInFlight: 10 })
    const committed = yield* Deferred.make<ReadonlyArray<OffsetTracker.CommittableOffset>>()
    yield* hooks.start(tracker, {
      fail: (error) => Effect.die(error),
      committed: (offsets) => Deferred.succeed(committed, offsets)
    })
    yield* hooks.claim(tp)
    yield* tracker.trackBatch(tp, [0n])
    yield* tracker.done(tp, 0n)
    return { log, committed }
  })

// Nothing is committed until `interval`, then the record's offset is.
const firstCommitAt = (interval: Duration.Input, options: Parameters<typeof KafkaOutputs.make>[3]) =>
  Effect.gen(function* () {
    const { log, committed } = yield* started(options)
    yield* TestClock.adjust(Duration.subtract(Duration.fromInputUnsafe(interval), Duration.millis(1)))
    assert.deepStrictEqual(log, ["g-payment-events-0 begin"])
    yield* TestClock.adjust("1 millis")
    assert.deepStrictEqual(yield* Deferred.await(committed), [{ ...tp, offset: 1n }])
    assert.deepStrictEqual(log.slice(1), ["g-payment-events-0 offsets g 0@1", "g-payment-events-0 commit"])
  })

describe("KafkaOutputs", () => {
  it.effect("make - exactly-once commits every commitInterval given", () =>
    firstCommitAt("2 seconds", { commitInterval: Duration.seconds(2) })
  )

  it.effect("make - a pipelined job's interval is the one given too", () =>
    firstCommitAt("2 seconds", { pipelined: true, commitInterval: Duration.seconds(2) })
  )

  it.effect("make - no interval keeps Transactions' defaults: 100 ms, 50 ms pipelined", () =>
    Effect.gen(function* () {
      yield* firstCommitAt("100 millis", {})
      yield* firstCommitAt("100 millis", { commitInterval: undefined })
      yield* firstCommitAt("50 millis", { pipelined: true })
    })
  )

  it.effect("make - member scope: one transaction for the member, its offsets with the group generation", () =>
    Effect.gen(function* () {
      const log: Array<string> = []
      const outputs = yield* KafkaOutputs.make(yield* fakeClient(log), "g", "exactly-once", {
        pipelined: true,
        transactionScope: "member",
        groupInstanceId: "i"
      })
      const hooks = outputs.source.transactions
      assert.isDefined(hooks)
      const tracker = yield* OffsetTracker.make({ maxInFlight: 10 })
      yield* hooks.start(tracker, { fail: (error) => Effect.die(error), committed: () => Effect.void })
      hooks.joined?.({ generationId: 7, memberId: "m", groupInstanceId: "i" })
      for (const partition of [0, 1]) {
        const p = { ...tp, partition }
        yield* hooks.claim(p)
        yield* tracker.trackBatch(p, [0n])
        yield* tracker.done(p, 0n)
      }
      yield* TestClock.adjust("50 millis")
      assert.deepStrictEqual(log, ["g-i-a begin", "g-i-a offsets g 0@1,1@1 generation 7", "g-i-a commit"])
    })
  )

  it.effect("make - at-least-once has no transactions, whatever the interval", () =>
    Effect.gen(function* () {
      const log: Array<string> = []
      const outputs = yield* KafkaOutputs.make(yield* fakeClient(log), "g", "at-least-once", {
        commitInterval: Duration.seconds(2)
      })
      assert.isUndefined(outputs.transactions)
      assert.deepStrictEqual(outputs.source, {})
    })
  )
})
