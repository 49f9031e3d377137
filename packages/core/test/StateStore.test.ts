import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Option, Schema } from "effect"
import { TestClock } from "effect/testing"
import * as StateStore from "../src/StateStore.ts"

const Counter = Schema.Struct({ n: Schema.Number })

const open = <V>(name: string, codec: StateStore.Codec<V>, options?: StateStore.MemoryOptions) =>
  Effect.flatMap(StateStore.makeMemory(options), (service) => service.open(name, codec))

describe("StateStore", () => {
  it.effect("makeMemory - get, set, delete and range by prefix in key order", () =>
    Effect.gen(function* () {
      const store = yield* open("s", StateStore.jsonCodec(Counter), { roundTrip: true })
      yield* store.assign([0, 1])
      yield* store.set(0, "b/2", { n: 2 })
      yield* store.set(0, "a/1", { n: 1 })
      yield* store.set(0, "b/1", { n: 3 })
      yield* store.set(1, "b/9", { n: 9 })
      assert.deepStrictEqual(yield* store.get(0, "a/1"), Option.some({ n: 1 }))
      assert.deepStrictEqual(
        (yield* store.range(0, "b/")).map(([k]) => k),
        ["b/1", "b/2"]
      )
      yield* store.delete(0, "b/1")
      assert.deepStrictEqual(yield* store.range(0, "b/"), [["b/2", { n: 2 }]])
      assert.strictEqual(yield* store.size(), 3)
      assert.strictEqual(yield* store.size(1), 1)
    })
  )

  it.effect("makeMemory - an unassigned partition fails with Closed", () =>
    Effect.gen(function* () {
      const store = yield* open("s", StateStore.numberCodec)
      const exit = yield* Effect.exit(store.get(3, "k"))
      assert.isTrue(Exit.isFailure(exit))
      const error = yield* Effect.flip(store.set(3, "k", 1))
      assert.strictEqual(error.reason, "Closed")
      assert.isFalse(error.isRetryable)
    })
  )

  it.effect("makeMemory - a value the codec rejects fails with Codec when round-tripping", () =>
    Effect.gen(function* () {
      const store = yield* open("s", StateStore.numberCodec, { roundTrip: true })
      yield* store.assign([0])
      const error = yield* Effect.flip(store.set(0, "k", Number.NaN))
      assert.strictEqual(error.reason, "Codec")
    })
  )

  it.effect("makeMemory - processing-time TTL expires by the Clock", () =>
    Effect.gen(function* () {
      const store = yield* open("s", StateStore.numberCodec)
      yield* store.assign([0])
      yield* store.set(0, "short", 1, { ttl: "10 minutes" })
      yield* store.set(0, "long", 2, { ttl: "1 hour" })
      yield* store.set(0, "forever", 3)
      yield* TestClock.adjust("9 minutes")
      assert.deepStrictEqual(yield* store.get(0, "short"), Option.some(1))
      yield* TestClock.adjust("1 minute")
      assert.deepStrictEqual(yield* store.get(0, "short"), Option.none())
      assert.strictEqual(yield* store.size(0), 2)
      yield* TestClock.adjust("50 minutes")
      assert.strictEqual(yield* store.expire(0), 1)
      assert.deepStrictEqual(
        (yield* store.range(0, "")).map(([k]) => k),
        ["forever"]
      )
    })
  )

  it.effect("makeMemory - event-time TTL expires when the partition's event time passes", () =>
    Effect.gen(function* () {
      const store = yield* open("s", StateStore.numberCodec)
      yield* store.assign([0, 1])
      yield* store.set(0, "k", 1, { ttl: 1000, ttlDomain: "event-time", now: 5000 })
      yield* store.set(1, "k", 1, { ttl: 1000, ttlDomain: "event-time", now: 5000 })
      assert.strictEqual(yield* store.expire(0, 5999), 0)
      // A clock far ahead does not expire event-time entries.
      yield* TestClock.adjust("1 day")
      assert.deepStrictEqual(yield* store.get(0, "k"), Option.some(1))
      assert.strictEqual(yield* store.expire(0, 6000), 1)
      assert.deepStrictEqual(yield* store.get(0, "k"), Option.none())
      // Event time is per partition.
      assert.deepStrictEqual(yield* store.get(1, "k"), Option.some(1))
    })
  )

  it.effect("makeMemory - state outlives the scope of one open, as for a restarted operator", () =>
    Effect.gen(function* () {
      const service = yield* StateStore.makeMemory()
      yield* Effect.scoped(
        Effect.gen(function* () {
          const store = yield* service.open("s", StateStore.numberCodec)
          yield* store.assign([0])
          yield* store.set(0, "k", 7)
          yield* store.revoke([0])
        })
      )
      const again = yield* service.open("s", StateStore.numberCodec)
      yield* again.assign([0])
      assert.deepStrictEqual(yield* again.get(0, "k"), Option.some(7))
    })
  )

  it("timeKey - text order is time order", () => {
    const times = [0, 9, 10, 1_700_000_000_000, 99, 1_000]
    const keys = times.map((t) => StateStore.timeKey(t, `k${t}`))
    const sorted = [...keys].sort()
    assert.deepStrictEqual(
      sorted.map((k) => StateStore.parseTimeKey(k)[0]),
      [...times].sort((a, b) => a - b)
    )
    assert.deepStrictEqual(StateStore.parseTimeKey(StateStore.timeKey(42, "a/b")), [42, "a/b"])
  })
})

describe("StateStore batches", () => {
  it.effect("makeMemory - setMany and deleteMany", () =>
    Effect.gen(function* () {
      const store = yield* open("s", StateStore.numberCodec, { roundTrip: true })
      yield* store.assign([0])
      yield* store.setMany(0, [
        ["a", 1],
        ["b", 2],
        ["c", 3]
      ])
      yield* store.deleteMany(0, ["a", "c"])
      assert.deepStrictEqual(yield* store.range(0, ""), [["b", 2]])
    })
  )
})
