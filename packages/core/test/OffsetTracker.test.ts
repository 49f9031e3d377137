import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Metric, Option, Ref } from "effect"
import { TestClock } from "effect/testing"
import * as fc from "fast-check"
import type * as Envelope from "../src/Envelope.ts"
import * as Metrics from "../src/Metrics.ts"
import * as OffsetTracker from "../src/OffsetTracker.ts"
import * as Receipt from "../src/Receipt.ts"

const tp = { topic: "payments", partition: 0 }
const other = { topic: "payments", partition: 1 }

const partitions = [0, 1, 2].map((partition) => ({ topic: "payments", partition }))

// A scenario per partition: a first offset and increasing gaps (compacted topics have holes).
// Steps interleave tracks ({ track: partition }) and dones ({ done: index into the pending records }).
const scenario = fc.record({
  logs: fc.array(
    fc.record({
      start: fc.bigInt({ min: 0n, max: 2n ** 62n }),
      gaps: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 60 })
    }),
    { minLength: partitions.length, maxLength: partitions.length }
  ),
  steps: fc.array(
    fc.oneof(
      { arbitrary: fc.record({ track: fc.integer({ min: 0, max: partitions.length - 1 }) }), weight: 3 },
      {
        arbitrary: fc.record({
          batch: fc.integer({ min: 0, max: partitions.length - 1 }),
          size: fc.integer({ min: 1, max: 20 })
        }),
        weight: 1
      },
      { arbitrary: fc.record({ done: fc.nat() }), weight: 2 }
    ),
    { maxLength: 500 }
  )
})

// What the committable offset must be, computed the slow way.
const expected = (tracked: ReadonlyArray<bigint>, done: ReadonlySet<bigint>): bigint | undefined => {
  if (tracked.length === 0 || !done.has(tracked[0]!)) return undefined
  const firstPending = tracked.find((o) => !done.has(o))
  return firstPending ?? tracked[tracked.length - 1]! + 1n
}

describe("OffsetTracker", () => {
  it("committable - never passes an offset that is not done and reaches max + 1 once all are done", () =>
    fc.assert(
      fc.asyncProperty(scenario, ({ logs, steps }) =>
        Effect.runPromise(
          Effect.gen(function* () {
            const offsets = logs.map(({ start, gaps }) => {
              let next = start
              return gaps.map((gap) => {
                const offset = next
                next += BigInt(gap)
                return offset
              })
            })
            const total = offsets.reduce((n, os) => n + os.length, 0)
            const tracker = yield* OffsetTracker.make({ maxInFlight: total })
            const tracked = partitions.map((): Array<bigint> => [])
            const done = partitions.map(() => new Set<bigint>())
            const pending: Array<{ readonly p: number; readonly offset: bigint }> = []

            const check = Effect.gen(function* () {
              let inFlight = 0
              for (const p of partitions.keys()) {
                const committable = Option.getOrUndefined(yield* tracker.committable(partitions[p]!))
                assert.strictEqual(committable, expected(tracked[p]!, done[p]!))
                for (const o of tracked[p]!) {
                  if (committable !== undefined && o < committable) assert.isTrue(done[p]!.has(o))
                  if (committable === undefined || o >= committable) inFlight++
                }
              }
              assert.strictEqual(yield* tracker.inFlight, inFlight)
            })
            const track = (p: number) =>
              Effect.gen(function* () {
                const offset = offsets[p]![tracked[p]!.length]
                if (offset === undefined) return
                assert.isTrue(yield* tracker.track(partitions[p]!, offset))
                tracked[p]!.push(offset)
                pending.push({ p, offset })
              })
            const trackBatch = (p: number, size: number) =>
              Effect.gen(function* () {
                const next = offsets[p]!.slice(tracked[p]!.length, tracked[p]!.length + size)
                if (next.length === 0) return
                // maxInFlight is the total, so there is always room for the whole run
                assert.strictEqual(yield* tracker.trackBatch(partitions[p]!, next), next.length)
                for (const offset of next) {
                  tracked[p]!.push(offset)
                  pending.push({ p, offset })
                }
              })
            const markDone = (i: number) =>
              Effect.gen(function* () {
                if (pending.length === 0) return
                const [{ p, offset }] = pending.splice(i % pending.length, 1) as [{ p: number; offset: bigint }]
                done[p]!.add(offset)
                yield* tracker.done(partitions[p]!, offset)
              })

            for (const step of steps) {
              yield* "track" in step
                ? track(step.track)
                : "batch" in step
                  ? trackBatch(step.batch, step.size)
                  : markDone(step.done)
              yield* check
            }
            for (const p of partitions.keys()) while (tracked[p]!.length < offsets[p]!.length) yield* track(p)
            while (pending.length > 0) {
              yield* markDone(pending.length >> 1)
              yield* check
            }
            for (const p of partitions.keys()) {
              const last = offsets[p]![offsets[p]!.length - 1]!
              assert.deepStrictEqual(yield* tracker.committable(partitions[p]!), Option.some(last + 1n))
            }
            assert.strictEqual((yield* tracker.snapshot).length, partitions.length)
            assert.strictEqual(yield* tracker.inFlight, 0)
          })
        )
      ),
      { numRuns: 200 }
    ))

  it.effect("committable - a gap in offsets does not hold the partition back", () =>
    Effect.gen(function* () {
      const tracker = yield* OffsetTracker.make({ maxInFlight: 10 })
      for (const o of [10n, 11n, 14n, 20n]) yield* tracker.track(tp, o)
      yield* tracker.done(tp, 11n)
      assert.isTrue(Option.isNone(yield* tracker.committable(tp)))
      yield* tracker.done(tp, 10n)
      assert.deepStrictEqual(yield* tracker.committable(tp), Option.some(14n))
      yield* tracker.done(tp, 20n)
      yield* tracker.done(tp, 14n)
      assert.deepStrictEqual(yield* tracker.committable(tp), Option.some(21n))
    })
  )

  it.effect("snapshot - lists each partition with a committable offset", () =>
    Effect.gen(function* () {
      const tracker = yield* OffsetTracker.make({ maxInFlight: 10 })
      yield* tracker.track(tp, 0n)
      yield* tracker.track(other, 5n)
      yield* tracker.done(other, 5n)
      assert.deepStrictEqual(yield* tracker.snapshot, [{ topic: "payments", partition: 1, offset: 6n }])
    })
  )

  it.effect("track - offsets that go backwards are a defect", () =>
    Effect.gen(function* () {
      const tracker = yield* OffsetTracker.make({ maxInFlight: 10 })
      yield* tracker.track(tp, 5n)
      const exit = yield* Effect.exit(tracker.track(tp, 5n))
      assert.isTrue(exit._tag === "Failure")
      assert.strictEqual(yield* tracker.inFlight, 1)
    })
  )

  it.effect("track - waits for room when maxInFlight records are in flight", () =>
    Effect.gen(function* () {
      const tracker = yield* OffsetTracker.make({ maxInFlight: 2 })
      yield* tracker.track(tp, 0n)
      yield* tracker.track(other, 0n)
      const third = yield* Effect.forkChild(tracker.track(tp, 1n))
      yield* Effect.yieldNow
      assert.isUndefined(third.pollUnsafe())
      yield* tracker.done(other, 0n)
      assert.isTrue(yield* Fiber.join(third))
      assert.strictEqual(yield* tracker.inFlight, 2)
    })
  )

  it.effect("track - an interrupted wait takes no permit", () =>
    Effect.gen(function* () {
      const tracker = yield* OffsetTracker.make({ maxInFlight: 1 })
      yield* tracker.track(tp, 0n)
      const waiting = yield* Effect.forkChild(tracker.track(other, 0n))
      yield* Effect.yieldNow
      yield* Fiber.interrupt(waiting)
      yield* tracker.done(tp, 0n)
      assert.isTrue(yield* tracker.track(tp, 1n))
      assert.strictEqual(yield* tracker.inFlight, 1)
      const blocked = yield* Effect.forkChild(tracker.track(tp, 2n))
      yield* Effect.yieldNow
      assert.isUndefined(blocked.pollUnsafe())
    })
  )

  it.effect("track - a done record behind a pending one keeps its slot", () =>
    Effect.gen(function* () {
      const tracker = yield* OffsetTracker.make({ maxInFlight: 2 })
      yield* tracker.track(tp, 0n)
      yield* tracker.track(tp, 1n)
      yield* tracker.done(tp, 1n)
      const third = yield* Effect.forkChild(tracker.track(tp, 2n))
      yield* Effect.yieldNow
      assert.isUndefined(third.pollUnsafe())
      yield* tracker.done(tp, 0n)
      assert.isTrue(yield* Fiber.join(third))
      assert.deepStrictEqual(yield* tracker.committable(tp), Option.some(2n))
    })
  )

  it.effect("revoke - waits for in-flight records and returns the final offset", () =>
    Effect.gen(function* () {
      const tracker = yield* OffsetTracker.make({ maxInFlight: 10 })
      yield* tracker.track(tp, 0n)
      yield* tracker.track(tp, 1n)
      yield* tracker.track(other, 7n)
      yield* tracker.done(tp, 0n)
      const revoked = yield* Effect.forkChild(tracker.revoke(tp, "30 seconds"))
      yield* Effect.yieldNow
      assert.isFalse(yield* tracker.track(tp, 2n))
      assert.isUndefined(revoked.pollUnsafe())
      yield* tracker.done(tp, 1n)
      assert.deepStrictEqual(yield* Fiber.join(revoked), Option.some(2n))
      assert.isTrue(Option.isNone(yield* tracker.committable(tp)))
      assert.strictEqual(yield* tracker.inFlight, 1)
    })
  )

  it.effect("revoke - gives up after the timeout and releases the partition's permits", () =>
    Effect.gen(function* () {
      const tracker = yield* OffsetTracker.make({ maxInFlight: 2 })
      yield* tracker.track(tp, 0n)
      yield* tracker.track(tp, 1n)
      yield* tracker.done(tp, 0n)
      const revoked = yield* Effect.forkChild(tracker.revoke(tp, "10 seconds"))
      yield* TestClock.adjust("9999 millis")
      assert.isUndefined(revoked.pollUnsafe())
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(yield* Fiber.join(revoked), Option.some(1n))
      assert.strictEqual(yield* tracker.inFlight, 0)
      // the permits of the forgotten partition are free again
      assert.isTrue(yield* tracker.track(other, 0n))
      assert.isTrue(yield* tracker.track(other, 1n))
    })
  )

  it.effect("revoke - a receipt of a claim that is over does not mark the next claim's record at its offset done", () =>
    Effect.gen(function* () {
      const tracker = yield* OffsetTracker.make({ maxInFlight: 10 })
      const origin: Envelope.Origin = { ...tp, offset: 5n, key: null, headers: [], timestamp: 0 }
      // The first claim's record 5 is still in the pipeline when the revocation gives up on it.
      yield* tracker.track(tp, 5n)
      const stale = tracker.receipt(origin)
      const revoked = yield* Effect.forkChild(tracker.revoke(tp, "1 second"))
      yield* TestClock.adjust("1 second")
      assert.isTrue(Option.isNone(yield* Fiber.join(revoked)))
      // Claimed again, the partition starts over from its last commit: record 5 once more.
      yield* tracker.track(tp, 5n)
      const current = tracker.receipt(origin)
      yield* stale.ack
      assert.isTrue(Option.isNone(yield* tracker.committable(tp)))
      assert.strictEqual(yield* tracker.inFlight, 1)
      yield* current.ack
      assert.deepStrictEqual(yield* tracker.committable(tp), Option.some(6n))
      assert.strictEqual(yield* tracker.inFlight, 0)
    })
  )

  it.effect("revoke - a track waiting for room is dropped when its partition is revoked", () =>
    Effect.gen(function* () {
      const tracker = yield* OffsetTracker.make({ maxInFlight: 1 })
      yield* tracker.track(tp, 0n)
      const waiting = yield* Effect.forkChild(tracker.track(tp, 1n))
      yield* Effect.yieldNow
      const revoked = yield* Effect.forkChild(tracker.revoke(tp, "1 second"))
      yield* TestClock.adjust("1 second")
      assert.isTrue(Option.isNone(yield* Fiber.join(revoked)))
      assert.isFalse(yield* Fiber.join(waiting))
      assert.strictEqual(yield* tracker.inFlight, 0)
    })
  )

  it("trackBatch - never exceeds maxInFlight and takes every free slot", () =>
    fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 16 }),
        fc.array(fc.oneof(fc.record({ batch: fc.integer({ min: 1, max: 24 }) }), fc.record({ done: fc.nat() })), {
          maxLength: 200
        }),
        (maxInFlight, steps) =>
          Effect.runPromise(
            Effect.gen(function* () {
              const tracker = yield* OffsetTracker.make({ maxInFlight })
              let next = 0n
              const pending: Array<bigint> = []
              let committed = 0n
              for (const step of steps) {
                const inFlight = yield* tracker.inFlight
                if ("batch" in step) {
                  // a run only waits when the tracker is full; skip it then
                  if (inFlight === maxInFlight) continue
                  const run = Array.from({ length: step.batch }, (_, i) => next + BigInt(i))
                  const n = yield* tracker.trackBatch(tp, run)
                  assert.strictEqual(n, Math.min(step.batch, maxInFlight - inFlight))
                  for (let i = 0; i < n; i++) pending.push(next++)
                } else if (pending.length > 0) {
                  const [offset] = pending.splice(step.done % pending.length, 1) as [bigint]
                  yield* tracker.done(tp, offset)
                }
                const after = yield* tracker.inFlight
                assert.isAtMost(after, maxInFlight)
                // in flight = tracked records at or above the committable offset
                committed = Option.getOrElse(yield* tracker.committable(tp), () => committed)
                assert.strictEqual(after, Number(next - committed))
              }
            })
          )
      ),
      { numRuns: 200 }
    ))

  it.effect("trackBatch - waits for room, then tracks the prefix that fits", () =>
    Effect.gen(function* () {
      const tracker = yield* OffsetTracker.make({ maxInFlight: 3 })
      assert.strictEqual(yield* tracker.trackBatch(tp, [0n, 1n]), 2)
      assert.strictEqual(yield* tracker.trackBatch(tp, [2n, 3n, 4n]), 1)
      const waiting = yield* Effect.forkChild(tracker.trackBatch(tp, [3n, 4n, 5n]))
      yield* Effect.yieldNow
      assert.isUndefined(waiting.pollUnsafe())
      // a done record behind a pending one frees nothing
      yield* tracker.done(tp, 1n)
      yield* Effect.yieldNow
      assert.isUndefined(waiting.pollUnsafe())
      yield* tracker.done(tp, 0n)
      assert.strictEqual(yield* Fiber.join(waiting), 2)
      assert.strictEqual(yield* tracker.inFlight, 3)
      assert.deepStrictEqual(yield* tracker.committable(tp), Option.some(2n))
    })
  )

  it.effect("trackBatch - a run that does not increase is a defect and tracks nothing", () =>
    Effect.gen(function* () {
      const tracker = yield* OffsetTracker.make({ maxInFlight: 10 })
      yield* tracker.track(tp, 5n)
      assert.isTrue((yield* Effect.exit(tracker.trackBatch(tp, [6n, 8n, 7n])))._tag === "Failure")
      assert.isTrue((yield* Effect.exit(tracker.trackBatch(tp, [5n, 6n])))._tag === "Failure")
      assert.strictEqual(yield* tracker.inFlight, 1)
      assert.strictEqual(yield* tracker.trackBatch(tp, [6n, 7n]), 2)
    })
  )

  it.effect("trackBatch - a run waiting for room is dropped when its partition is revoked", () =>
    Effect.gen(function* () {
      const tracker = yield* OffsetTracker.make({ maxInFlight: 1 })
      yield* tracker.track(tp, 0n)
      const waiting = yield* Effect.forkChild(tracker.trackBatch(tp, [1n, 2n]))
      yield* Effect.yieldNow
      const revoked = yield* Effect.forkChild(tracker.revoke(tp, "1 second"))
      yield* TestClock.adjust("1 second")
      assert.isTrue(Option.isNone(yield* Fiber.join(revoked)))
      assert.strictEqual(yield* Fiber.join(waiting), 0)
      assert.strictEqual(yield* tracker.inFlight, 0)
      assert.strictEqual(yield* tracker.trackBatch(other, [0n]), 1)
    })
  )

  it.effect("receipt - records the latency from the record's timestamp once, however often it is acked", () =>
    Effect.gen(function* () {
      yield* TestClock.adjust("1 second")
      const tracker = yield* OffsetTracker.make({ maxInFlight: 10 })
      const origin: Envelope.Origin = { ...tp, offset: 0n, key: null, headers: [], timestamp: 1000 }
      yield* tracker.track(origin, origin.offset)
      const receipt = tracker.receipt(origin)
      yield* TestClock.adjust("250 millis")
      yield* receipt.ack
      yield* receipt.ack
      const state = yield* Metric.value(Metrics.processingLatency)
      assert.strictEqual(state.count, 1)
      assert.strictEqual(state.sum, 250)
      assert.strictEqual(yield* tracker.completed, 1)
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map()))
  )

  it.effect("receipt - one ackAll makes one latency observation, its oldest record's, and one in-flight update", () =>
    Effect.gen(function* () {
      yield* TestClock.adjust("10 seconds")
      const tracker = yield* OffsetTracker.make({ maxInFlight: 100 })
      // Timestamps out of order, so the oldest is not simply the first.
      const timestamps = [9_400, 9_100, 9_700, 9_250, 9_900]
      const origins: ReadonlyArray<Envelope.Origin> = timestamps.map((timestamp, i) => ({
        ...tp,
        offset: BigInt(i),
        key: null,
        headers: [],
        timestamp
      }))
      yield* tracker.trackBatch(tp, [0n, 1n, 2n, 3n, 4n])
      assert.strictEqual((yield* Metric.value(Metrics.inFlight)).value, 5)
      const receipts = origins.map((o) => tracker.receipt(o))
      yield* TestClock.adjust("500 millis")
      const now = 10_500
      // The first three as one chunk, acknowledged twice: the second changes nothing.
      yield* Receipt.ackAll(receipts.slice(0, 3))
      yield* Receipt.ackAll(receipts.slice(0, 3))
      let state = yield* Metric.value(Metrics.processingLatency)
      assert.strictEqual(state.count, 1)
      assert.strictEqual(state.sum, now - Math.min(...timestamps.slice(0, 3)))
      assert.strictEqual((yield* Metric.value(Metrics.inFlight)).value, yield* tracker.inFlight)
      assert.strictEqual(yield* tracker.completed, 3)
      // A receipt acknowledged alone is observed alone.
      yield* receipts[4]!.ack
      state = yield* Metric.value(Metrics.processingLatency)
      assert.strictEqual(state.count, 2)
      assert.strictEqual(state.sum, now - 9_100 + (now - 9_900))
      yield* Receipt.ackAll([receipts[3]!])
      assert.strictEqual((yield* Metric.value(Metrics.inFlight)).value, 0)
      assert.strictEqual(yield* tracker.inFlight, 0)
      assert.deepStrictEqual(yield* tracker.committable(tp), Option.some(5n))
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map()))
  )

  it.effect("receipt - acknowledging marks the origin done", () =>
    Effect.gen(function* () {
      const tracker = yield* OffsetTracker.make({ maxInFlight: 10 })
      const origin: Envelope.Origin = { ...tp, offset: 3n, key: null, headers: [], timestamp: 0 }
      yield* tracker.track(origin, origin.offset)
      yield* OffsetTracker.receipt(tracker, origin).ack
      assert.deepStrictEqual(yield* tracker.committable(tp), Option.some(4n))
    })
  )

  it.effect("commitLoop - commits changed offsets every interval", () =>
    Effect.gen(function* () {
      const tracker = yield* OffsetTracker.make({ maxInFlight: 100 })
      const commits = yield* Ref.make<Array<ReadonlyArray<OffsetTracker.CommittableOffset>>>([])
      yield* OffsetTracker.commitLoop(tracker, (offsets) => Ref.update(commits, (cs) => [...cs, offsets]), {
        interval: "5 seconds",
        every: 1000
      })
      yield* tracker.track(tp, 0n)
      yield* tracker.done(tp, 0n)
      yield* TestClock.adjust("4999 millis")
      assert.deepStrictEqual(yield* Ref.get(commits), [])
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(yield* Ref.get(commits), [[{ ...tp, offset: 1n }]])
      // nothing changed: no commit
      yield* TestClock.adjust("5 seconds")
      assert.strictEqual((yield* Ref.get(commits)).length, 1)
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map()))
  )

  it.effect("commitLoop - commits early after `every` completed records", () =>
    Effect.gen(function* () {
      const tracker = yield* OffsetTracker.make({ maxInFlight: 100 })
      const commits = yield* Ref.make<Array<ReadonlyArray<OffsetTracker.CommittableOffset>>>([])
      yield* OffsetTracker.commitLoop(tracker, (offsets) => Ref.update(commits, (cs) => [...cs, offsets]), {
        interval: "1 hour",
        every: 3
      })
      yield* Effect.yieldNow
      for (const o of [0n, 1n, 2n]) yield* tracker.track(tp, o)
      yield* tracker.done(tp, 0n)
      yield* tracker.done(tp, 1n)
      yield* Effect.yieldNow
      assert.deepStrictEqual(yield* Ref.get(commits), [])
      yield* tracker.done(tp, 2n)
      // no time passes: the commit is triggered by the count alone
      for (let i = 0; i < 100 && (yield* Ref.get(commits)).length === 0; i++) yield* Effect.yieldNow
      assert.deepStrictEqual(yield* Ref.get(commits), [[{ ...tp, offset: 3n }]])
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map()))
  )

  it.effect("commitLoop - commits once more when the scope closes", () =>
    Effect.gen(function* () {
      const tracker = yield* OffsetTracker.make({ maxInFlight: 100 })
      const commits = yield* Ref.make<Array<ReadonlyArray<OffsetTracker.CommittableOffset>>>([])
      yield* Effect.scoped(
        Effect.gen(function* () {
          yield* OffsetTracker.commitLoop(tracker, (offsets) => Ref.update(commits, (cs) => [...cs, offsets]), {
            interval: "1 hour",
            every: 1000
          })
          yield* tracker.track(tp, 41n)
          yield* tracker.done(tp, 41n)
        })
      )
      assert.deepStrictEqual(yield* Ref.get(commits), [[{ ...tp, offset: 42n }]])
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map()))
  )

  it.effect("commitLoop - a failed commit is retried on the next round", () =>
    Effect.gen(function* () {
      const tracker = yield* OffsetTracker.make({ maxInFlight: 100 })
      const attempts = yield* Ref.make(0)
      const commits = yield* Ref.make<Array<ReadonlyArray<OffsetTracker.CommittableOffset>>>([])
      yield* OffsetTracker.commitLoop(
        tracker,
        (offsets) =>
          Effect.flatMap(
            Ref.updateAndGet(attempts, (n) => n + 1),
            (n) => (n === 1 ? Effect.fail("rebalancing") : Ref.update(commits, (cs) => [...cs, offsets]))
          ),
        { interval: "1 second", every: 1000 }
      )
      yield* tracker.track(tp, 0n)
      yield* tracker.done(tp, 0n)
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(yield* Ref.get(commits), [])
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(yield* Ref.get(commits), [[{ ...tp, offset: 1n }]])
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map()))
  )
})
