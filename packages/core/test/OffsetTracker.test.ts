import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Metric, Option, Ref } from "effect"
import { TestClock } from "effect/testing"
import * as fc from "fast-check"
import type * as Envelope from "../src/Envelope.ts"
import * as OffsetTracker from "../src/OffsetTracker.ts"

const tp = { topic: "payments", partition: 0 }
const other = { topic: "payments", partition: 1 }

// A scenario: increasing offsets with gaps, and an interleaving of tracks and dones.
// `null` tracks the next offset; a number marks one of the pending offsets done.
const scenario = fc.record({
  start: fc.bigInt({ min: 0n, max: 2n ** 62n }),
  gaps: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 120 }),
  steps: fc.array(fc.option(fc.nat(), { nil: null, freq: 3 }), { maxLength: 400 }),
  finish: fc.array(fc.nat(), { maxLength: 200 })
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
      fc.asyncProperty(scenario, ({ start, gaps, steps, finish }) =>
        Effect.runPromise(
          Effect.gen(function* () {
            const offsets: Array<bigint> = []
            let next = start
            for (const gap of gaps) {
              offsets.push(next)
              next += BigInt(gap)
            }
            const tracker = yield* OffsetTracker.make({ maxInFlight: offsets.length })
            const tracked: Array<bigint> = []
            const pending: Array<bigint> = []
            const done = new Set<bigint>()
            const check = Effect.gen(function* () {
              const committable = Option.getOrUndefined(yield* tracker.committable(tp))
              assert.strictEqual(committable, expected(tracked, done))
              for (const o of tracked) if (committable !== undefined && o < committable) assert.isTrue(done.has(o))
              assert.strictEqual(
                yield* tracker.inFlight,
                committable === undefined ? tracked.length : tracked.filter((o) => o >= committable).length
              )
            })
            const markDone = (i: number) =>
              Effect.gen(function* () {
                const [offset] = pending.splice(i % pending.length, 1)
                done.add(offset!)
                yield* tracker.done(tp, offset!)
                yield* check
              })
            for (const step of steps) {
              if (step === null || pending.length === 0) {
                if (tracked.length === offsets.length) continue
                const offset = offsets[tracked.length]!
                assert.isTrue(yield* tracker.track(tp, offset))
                tracked.push(offset)
                pending.push(offset)
                yield* check
              } else {
                yield* markDone(step)
              }
            }
            while (tracked.length < offsets.length) {
              const offset = offsets[tracked.length]!
              yield* tracker.track(tp, offset)
              tracked.push(offset)
              pending.push(offset)
            }
            for (const i of finish) if (pending.length > 0) yield* markDone(i)
            while (pending.length > 0) yield* markDone(0)
            assert.deepStrictEqual(yield* tracker.committable(tp), Option.some(offsets[offsets.length - 1]! + 1n))
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
      yield* Effect.yieldNow
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
