// The commit cycle of `Transactions` on the test clock, over a fake client
// that records what the producers are asked: a cycle commits every
// `commitInterval` (100 ms by default), never before; it waits for the
// records in flight (the source meanwhile waits in `admit`), then sends the
// partition's offset and commits in the same transaction.
import { assert, describe, it } from "@effect/vitest"
import { OffsetTracker } from "@sluice/core"
import { Deferred, type Duration, Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import * as KafkaError from "../src/KafkaError.ts"
import * as Transactions from "../src/Transactions.ts"
import { fakeClient, heldSends } from "./fixtures/transactionalFake.ts"

const tp = { topic: "in", partition: 0 }

// A pipelined commit cycle started over the fake client.
const startPipelined = (
  commitInterval?: Duration.Input,
  hold: { until: Promise<void> | undefined } = { until: undefined }
) =>
  Effect.gen(function* () {
    const log: Array<string> = []
    const client = yield* fakeClient(log, { on: false }, hold)
    const tracker = yield* OffsetTracker.make({ maxInFlight: 10 })
    const transactions = yield* Transactions.make(client, { groupId: "g", pipelined: true, commitInterval })
    yield* transactions.hooks.start(tracker, { fail: (error) => Effect.die(error), committed: () => Effect.void })
    return { log, tracker, transactions }
  })

describe("Transactions commit cycle", () => {
  it.effect("interval - commits outputs and the offset together every 100 ms, not before", () =>
    Effect.gen(function* () {
      const log: Array<string> = []
      const client = yield* fakeClient(log)
      const tracker = yield* OffsetTracker.make({ maxInFlight: 10 })
      const transactions = yield* Transactions.make(client, { groupId: "g" })
      const committed = yield* Deferred.make<ReadonlyArray<OffsetTracker.CommittableOffset>>()
      yield* transactions.hooks.start(tracker, {
        fail: (error) => Effect.die(error),
        committed: (offsets) => Deferred.succeed(committed, offsets)
      })
      assert.strictEqual(yield* transactions.hooks.claim(tp), undefined)
      assert.deepStrictEqual(log, ["g-in-0 begin"])
      yield* tracker.trackBatch(tp, [0n, 1n])
      assert.isTrue(yield* transactions.send(tp, "out", [{ value: "a" }, { value: "b" }]))
      yield* tracker.done(tp, 0n)
      yield* tracker.done(tp, 1n)

      yield* TestClock.adjust("99 millis")
      assert.isFalse(yield* Deferred.isDone(committed))
      assert.deepStrictEqual(log, ["g-in-0 begin", "g-in-0 send out a,b"])

      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(yield* Deferred.await(committed), [{ ...tp, offset: 2n }])
      assert.deepStrictEqual(log.slice(2), ["g-in-0 offsets g 0@2", "g-in-0 commit"])
    })
  )

  it.effect("drain - a commit waits for the records in flight, and the source waits in admit meanwhile", () =>
    Effect.gen(function* () {
      const log: Array<string> = []
      const client = yield* fakeClient(log)
      const tracker = yield* OffsetTracker.make({ maxInFlight: 10 })
      const transactions = yield* Transactions.make(client, { groupId: "g", commitInterval: "1 second" })
      const committed = yield* Deferred.make<ReadonlyArray<OffsetTracker.CommittableOffset>>()
      yield* transactions.hooks.start(tracker, {
        fail: (error) => Effect.die(error),
        committed: (offsets) => Deferred.succeed(committed, offsets)
      })
      yield* transactions.hooks.claim(tp)
      yield* tracker.trackBatch(tp, [0n, 1n])
      yield* transactions.send(tp, "out", [{ value: "a" }])
      yield* tracker.done(tp, 0n)

      yield* TestClock.adjust("1 second")
      // Record 1 is still in flight: the cycle drains, the source is held.
      assert.isTrue(transactions.hooks.draining())
      const admitted = yield* Effect.forkChild(transactions.hooks.admit)
      yield* TestClock.adjust("50 millis")
      assert.isUndefined(admitted.pollUnsafe())
      assert.isFalse(log.some((l) => l.endsWith("commit")))

      yield* transactions.send(tp, "out", [{ value: "b" }])
      yield* tracker.done(tp, 1n)
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(yield* Deferred.await(committed), [{ ...tp, offset: 2n }])
      yield* Fiber.join(admitted)
      assert.isFalse(transactions.hooks.draining())
      assert.deepStrictEqual(log.slice(-2), ["g-in-0 offsets g 0@2", "g-in-0 commit"])
    })
  )

  it.effect("release - a released partition's open transaction is aborted and its sends refused", () =>
    Effect.gen(function* () {
      const log: Array<string> = []
      const client = yield* fakeClient(log)
      const transactions = yield* Transactions.make(client, { groupId: "g" })
      yield* transactions.hooks.claim(tp)
      yield* transactions.send(tp, "out", [{ value: "a" }])
      yield* transactions.hooks.release(tp)
      assert.isFalse(yield* transactions.send(tp, "out", [{ value: "b" }]))
      assert.deepStrictEqual(log, ["g-in-0 begin", "g-in-0 send out a", "g-in-0 abort"])
    })
  )
  it.effect(
    "send - outputs of a partition claimed by its next owner while being revoked are dropped and answered as done",
    () =>
      Effect.gen(function* () {
        const log: Array<string> = []
        const fence = { on: false }
        const client = yield* fakeClient(log, fence)
        const transactions = yield* Transactions.make(client, { groupId: "g" })
        const other = { topic: "in", partition: 1 }
        yield* transactions.hooks.claim(tp)
        yield* transactions.hooks.claim(other)
        transactions.hooks.revoking(tp)
        fence.on = true
        // Done with (the sink acknowledges them), so the revocation need not wait for them.
        assert.isTrue(yield* transactions.send(tp, "out", [{ value: "a" }]))
        assert.isTrue(yield* transactions.send(tp, "out", [{ value: "b" }]))
        // A fence on a partition the member is not giving up: a zombie, the job fails.
        const zombie = yield* Effect.flip(transactions.send(other, "out", [{ value: "c" }]))
        assert.isTrue(KafkaError.isFenced(zombie))
        yield* transactions.hooks.release(tp)
        assert.isFalse(yield* transactions.send(tp, "out", [{ value: "d" }]))
      })
  )

  it.effect("interval - pipelined commits come every 50 ms by default, not before", () =>
    Effect.gen(function* () {
      const { log, tracker, transactions } = yield* startPipelined()
      yield* transactions.hooks.claim(tp)
      yield* tracker.trackBatch(tp, [0n])
      yield* transactions.sendRecords(tp, "out", [{ value: "a" }], [0n], () => tracker.done(tp, 0n))
      yield* TestClock.adjust("49 millis")
      assert.isFalse(log.some((l) => l.endsWith("commit")))
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(log.slice(-2), ["g-in-0 offsets g 0@1", "g-in-0 commit"])
    })
  )

  it.effect("pipelined - a partition waiting for a slow record does not delay the next commits of the others", () =>
    Effect.gen(function* () {
      const { log, tracker, transactions } = yield* startPipelined("100 millis")
      const slow = { topic: "in", partition: 0 }
      const fast = { topic: "in", partition: 1 }
      yield* transactions.hooks.claim(slow)
      yield* transactions.hooks.claim(fast)
      // One record of `fast` at `offset`, done once its output is in a transaction.
      const record = (offset: bigint, value: string) =>
        Effect.andThen(
          tracker.trackBatch(fast, [offset]),
          transactions.sendRecords(fast, "out", [{ value }], [offset], () => tracker.done(fast, offset))
        )
      // `slow`'s record 0 stays in flight while record 1's output is sent (out
      // of order): its partition's first commit is cut past record 1 and waits for record 0.
      yield* tracker.trackBatch(slow, [0n, 1n])
      yield* transactions.sendRecords(slow, "out", [{ value: "s1" }], [1n], () => tracker.done(slow, 1n))
      yield* record(0n, "a")
      yield* TestClock.adjust("100 millis")
      assert.deepStrictEqual(log.slice(-2), ["g-in-1 offsets g 1@1", "g-in-1 commit"])

      yield* record(1n, "b")
      yield* TestClock.adjust("100 millis")
      assert.deepStrictEqual(log.slice(-2), ["g-in-1 offsets g 1@2", "g-in-1 commit"])
      assert.isFalse(log.some((l) => l.startsWith("g-in-0 offsets")))

      yield* transactions.sendRecords(slow, "out", [{ value: "s0" }], [0n], () => tracker.done(slow, 0n))
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(log.slice(-2), ["g-in-0 offsets g 0@2", "g-in-0 commit"])
    })
  )

  it.effect("pipelined - a partition whose commit outlasts a tick is cut again as soon as the commit ends", () =>
    Effect.gen(function* () {
      const { log, tracker, transactions } = yield* startPipelined("50 millis")
      yield* transactions.hooks.claim(tp)
      // Record 0 is slow and record 1's output is sent first: the cut at 50 ms
      // is past record 1 and waits for record 0 past the tick at 100 ms.
      yield* tracker.trackBatch(tp, [0n, 1n])
      yield* transactions.sendRecords(tp, "out", [{ value: "b" }], [1n], () => tracker.done(tp, 1n))
      yield* TestClock.adjust("60 millis")
      // Record 2 comes after the cut: its output waits for the commit, then goes into the next transaction.
      yield* tracker.trackBatch(tp, [2n])
      yield* transactions.sendRecords(tp, "out", [{ value: "c" }], [2n], () => tracker.done(tp, 2n))
      yield* TestClock.adjust("60 millis")
      assert.isFalse(
        log.some((l) => l.includes("offsets")),
        "nothing committed while record 0 is in flight"
      )
      yield* transactions.sendRecords(tp, "out", [{ value: "a" }], [0n], () => tracker.done(tp, 0n))
      // Millisecond by millisecond: a step runs the sleeps due by its end, not those they start.
      for (let i = 0; i < 10; i++) yield* TestClock.adjust("1 millis")
      // By 130 ms: the first commit, and right after it the second, without waiting for the tick at 150 ms.
      assert.deepStrictEqual(
        log.filter((l) => l.includes("offsets") || l.endsWith("commit")),
        ["g-in-0 offsets g 0@2", "g-in-0 commit", "g-in-0 offsets g 0@3", "g-in-0 commit"]
      )
    })
  )

  it.effect(
    "pipelined - records tracked after a cut of a partition with nothing done yet are sent and committed, not dropped",
    () =>
      Effect.gen(function* () {
        const held = heldSends()
        const { log, tracker, transactions } = yield* startPipelined("50 millis", held.hold)
        yield* transactions.hooks.claim(tp)
        // Record 0's output is in the open transaction, its send slow: it
        // holds the partition's lock across the next cut, which finds nothing
        // done and waits for record 0.
        yield* tracker.trackBatch(tp, [0n])
        const slow = yield* Effect.forkChild(
          transactions.sendRecords(tp, "out", [{ value: "slow" }], [0n], () => tracker.done(tp, 0n))
        )
        yield* Effect.yieldNow
        yield* TestClock.adjust("50 millis")
        // Meanwhile record 1 arrives: it is after the cut, so its output is
        // kept aside for the transaction after the commit.
        yield* tracker.trackBatch(tp, [1n])
        yield* transactions.sendRecords(tp, "out", [{ value: "a" }], [1n], () => tracker.done(tp, 1n))
        assert.notInclude(log, "g-in-0 send out a", "kept aside during the commit")
        held.release()
        yield* Fiber.join(slow)
        yield* TestClock.adjust("1 millis")
        yield* TestClock.adjust("50 millis")
        const sent = log.indexOf("g-in-0 send out a")
        assert.isAbove(sent, log.indexOf("g-in-0 offsets g 0@1"), "the record's output was sent after the first commit")
        assert.isAbove(log.indexOf("g-in-0 offsets g 0@2"), sent, "and its offset committed with it")
        assert.notInclude(log, "g-in-0 abort")
      })
  )

  it.effect(
    "pipelined - a record still in the pipeline at the cut goes into the next transaction: the commit does not wait for it",
    () =>
      Effect.gen(function* () {
        const { log, tracker, transactions } = yield* startPipelined("50 millis")
        yield* transactions.hooks.claim(tp)
        // Record 0's output is in the transaction; record 1 is still being
        // processed (nothing of it sent) when the tick comes.
        yield* tracker.trackBatch(tp, [0n, 1n])
        yield* transactions.sendRecords(tp, "out", [{ value: "a" }], [0n], () => tracker.done(tp, 0n))
        yield* TestClock.adjust("50 millis")
        assert.deepStrictEqual(log.slice(-2), ["g-in-0 offsets g 0@1", "g-in-0 commit"], "committed at the tick")
        // Its output goes into the next transaction, with its offset.
        yield* transactions.sendRecords(tp, "out", [{ value: "b" }], [1n], () => tracker.done(tp, 1n))
        yield* TestClock.adjust("50 millis")
        assert.deepStrictEqual(log.slice(-3), ["g-in-0 send out b", "g-in-0 offsets g 0@2", "g-in-0 commit"])
      })
  )

  it("cutAt - past every record sent into the transaction and every record done, only when past the last commit", () => {
    // sentBelow, committable, committed -> the cut
    assert.strictEqual(Transactions.cutAt(5n, 3n, 2n), 5n, "a record sent ahead of one still in flight")
    assert.strictEqual(Transactions.cutAt(3n, 7n, 2n), 7n, "records done with nothing to send")
    assert.strictEqual(Transactions.cutAt(undefined, 4n, undefined), 4n)
    assert.strictEqual(Transactions.cutAt(4n, 4n, 4n), undefined, "nothing past the last commit")
    assert.strictEqual(Transactions.cutAt(undefined, undefined, undefined), undefined, "nothing at all")
  })
})
