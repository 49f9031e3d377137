// The commit cycle of `MemberTransactions` on the test clock, over a fake
// client whose two transactional producers log what they are asked: outputs
// of several input partitions go in one request into one transaction, and
// the offsets of all of them commit with it, carrying the group generation;
// while one producer commits the records before the cut, the other already
// takes the outputs of the records after it, and commits them at the next
// cut, with their offsets, never before.
import { assert, describe, it } from "@effect/vitest"
import { OffsetTracker } from "@sluice/core"
import { Effect, Exit, Fiber, Scope } from "effect"
import { TestClock } from "effect/testing"
import * as MemberTransactions from "../src/MemberTransactions.ts"
import { fakeClient, heldSends } from "./fixtures/transactionalFake.ts"

const p0 = { topic: "in", partition: 0 }
const p1 = { topic: "in", partition: 1 }

const startWith = (hold: { until: Promise<void> | undefined } = { until: undefined }) =>
  Effect.gen(function* () {
    // The source's scope: closing it runs the last commit (or the aborts).
    const sourceScope = yield* Scope.make()
    const log: Array<string> = []
    const client = yield* fakeClient(log, { on: false }, hold)
    const tracker = yield* OffsetTracker.make({ maxInFlight: 10 })
    const transactions = yield* MemberTransactions.make(client, {
      groupId: "g",
      groupInstanceId: "i",
      commitInterval: "50 millis"
    })
    const committed: Array<string> = []
    yield* transactions.hooks
      .start(tracker, {
        fail: (error) => Effect.die(error),
        committed: (offsets) =>
          Effect.sync(() => {
            committed.push(offsets.map((o) => `${o.partition}@${o.offset}`).join(","))
          })
      })
      .pipe(Scope.provide(sourceScope))
    transactions.hooks.joined?.({ generationId: 3, memberId: "m", groupInstanceId: "i" })
    yield* transactions.hooks.claim(p0)
    yield* transactions.hooks.claim(p1)
    // Sends the output `value` of record `offset` of `tp`, which is done once the output is in a transaction.
    const output = (tp: typeof p0, offset: bigint, value: string) =>
      transactions.sendRecords(tp, "out", [{ value }], [offset], () => tracker.done(tp, offset))
    return { log, tracker, transactions, committed, output, closeSource: Scope.close(sourceScope, Exit.void) }
  })

const start = startWith()

describe("MemberTransactions commit cycle", () => {
  it.effect("one request and one commit for every partition, with the group generation, every 50 ms", () =>
    Effect.gen(function* () {
      const { log, tracker, transactions, committed } = yield* start
      yield* tracker.trackBatch(p0, [0n])
      yield* tracker.trackBatch(p1, [0n])
      const sendAll = transactions.sendRecordsAll!
      yield* sendAll("out", [
        { origin: p0, messages: [{ value: "a0" }], offsets: [0n], ack: () => tracker.done(p0, 0n) },
        { origin: p1, messages: [{ value: "b0" }], offsets: [0n], ack: () => tracker.done(p1, 0n) }
      ])
      assert.deepStrictEqual(log, ["g-i-a begin", "g-i-a send out a0,b0"])

      yield* TestClock.adjust("49 millis")
      assert.deepStrictEqual(committed, [])
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(log.slice(2), ["g-i-a offsets g 0@1,1@1 generation 3", "g-i-a commit"])
      assert.deepStrictEqual(committed, ["0@1,1@1"])
    })
  )

  it.effect(
    "two producers - outputs after the cut go to the other producer at once, and commit at the next cut with their offsets",
    () =>
      Effect.gen(function* () {
        const { log, tracker, committed, output } = yield* start
        // Record 1's output is sent before record 0's (out of order): the cut
        // is past record 1, and the commit waits for record 0.
        yield* tracker.trackBatch(p0, [0n, 1n])
        yield* output(p0, 1n, "r1")
        yield* TestClock.adjust("50 millis")
        assert.deepStrictEqual(committed, [], "the commit waits for record 0")
        // Record 2, tracked after the cut: its output goes into the other producer's transaction without waiting.
        yield* tracker.trackBatch(p0, [2n])
        yield* output(p0, 2n, "r2")
        assert.deepStrictEqual(log.slice(-2), ["g-i-b begin", "g-i-b send out r2"])
        // Record 0's output goes into the committing transaction, which then commits up to the cut only.
        yield* output(p0, 0n, "r0")
        yield* TestClock.adjust("1 millis")
        assert.deepStrictEqual(committed, ["0@2"])
        assert.deepStrictEqual(
          log.filter((line) => line.startsWith("g-i-a")),
          ["g-i-a begin", "g-i-a send out r1", "g-i-a send out r0", "g-i-a offsets g 0@2 generation 3", "g-i-a commit"]
        )
        // The next cut commits the other transaction, record 2's, with its offset.
        yield* TestClock.adjust("50 millis")
        assert.deepStrictEqual(committed, ["0@2", "0@3"])
        assert.deepStrictEqual(log.slice(-2), ["g-i-b offsets g 0@3 generation 3", "g-i-b commit"])
      })
  )

  it.effect(
    "a record still in the pipeline at the cut goes into the next transaction: the commit does not wait for it",
    () =>
      Effect.gen(function* () {
        const { log, tracker, committed, output } = yield* start
        // Record 0's output is in the transaction; record 1 is still being processed (nothing of it sent).
        yield* tracker.trackBatch(p0, [0n, 1n])
        yield* output(p0, 0n, "r0")
        yield* TestClock.adjust("50 millis")
        assert.deepStrictEqual(committed, ["0@1"], "committed at the tick")
        // Its output goes to the other producer, and commits at the next cut with its offset.
        yield* output(p0, 1n, "r1")
        assert.deepStrictEqual(log.slice(-2), ["g-i-b begin", "g-i-b send out r1"])
        yield* TestClock.adjust("50 millis")
        assert.deepStrictEqual(committed, ["0@1", "0@2"])
        assert.deepStrictEqual(log.slice(-2), ["g-i-b offsets g 0@2 generation 3", "g-i-b commit"])
      })
  )

  it.effect("shutdown - every record done: the open transaction commits with its offsets", () =>
    Effect.gen(function* () {
      const { log, tracker, committed, output, closeSource } = yield* start
      yield* tracker.trackBatch(p0, [0n])
      yield* output(p0, 0n, "r0")
      yield* closeSource
      assert.deepStrictEqual(committed, ["0@1"])
      assert.deepStrictEqual(log.slice(-2), ["g-i-a offsets g 0@1 generation 3", "g-i-a commit"])
    })
  )

  it.effect("shutdown - a commit still under way: both transactions are aborted, nothing is committed", () =>
    Effect.gen(function* () {
      const { log, tracker, committed, output, closeSource } = yield* start
      yield* tracker.trackBatch(p0, [0n, 1n])
      yield* output(p0, 1n, "r1")
      // The cut's commit waits for record 0, which never finishes; record 2 goes to the other producer.
      yield* TestClock.adjust("50 millis")
      yield* tracker.trackBatch(p0, [2n])
      yield* output(p0, 2n, "r2")
      yield* closeSource
      assert.deepStrictEqual(committed, [])
      assert.includeMembers(log, ["g-i-a abort", "g-i-b abort"])
      assert.notInclude(log.join("; "), "commit")
    })
  )

  it.effect(
    "revocation - outputs whose request was out when the partition was revoked: the transaction is aborted",
    () =>
      Effect.gen(function* () {
        const held = heldSends()
        const { log, tracker, transactions, committed, output } = yield* startWith(held.hold)
        yield* tracker.trackBatch(p0, [0n])
        // Record 0's output is on its way to the broker when both partitions are revoked.
        const sending = yield* Effect.forkChild(output(p0, 0n, "r0"))
        yield* Effect.yieldNow
        transactions.hooks.revoking(p0)
        transactions.hooks.revoking(p1)
        held.release()
        yield* Fiber.join(sending)
        yield* transactions.hooks.release(p0)
        yield* transactions.hooks.release(p1)
        yield* TestClock.adjust("100 millis")
        assert.deepStrictEqual(log, ["g-i-a begin", "g-i-a send out r0", "g-i-a abort"])
        assert.deepStrictEqual(committed, [], "nothing of the revoked partitions is committed")
      })
  )

  it.effect("revocation - a revoked partition's outputs are dropped, and a transaction holding some is aborted", () =>
    Effect.gen(function* () {
      const { log, tracker, transactions, committed, output } = yield* start
      yield* tracker.trackBatch(p0, [0n, 1n])
      yield* output(p0, 0n, "r0")
      // Eager rebalancing: both partitions are revoked together.
      transactions.hooks.revoking(p0)
      transactions.hooks.revoking(p1)
      // Dropped, yet acknowledged: the revocation need not wait for it.
      yield* output(p0, 1n, "r1")
      assert.strictEqual(yield* tracker.inFlight, 0)
      yield* transactions.hooks.release(p0)
      yield* transactions.hooks.release(p1)
      assert.deepStrictEqual(log, ["g-i-a begin", "g-i-a send out r0", "g-i-a abort"])
      yield* TestClock.adjust("100 millis")
      assert.deepStrictEqual(committed, [], "nothing of the revoked partitions is committed")
    })
  )
})
