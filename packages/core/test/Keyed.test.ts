import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Metric, Option, Queue, Schema, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as Envelope from "../src/Envelope.ts"
import * as Keyed from "../src/Keyed.ts"
import * as Metrics from "../src/Metrics.ts"
import * as Receipt from "../src/Receipt.ts"
import * as StateStore from "../src/StateStore.ts"
import * as GatedStore from "./fixtures/gatedStore.ts"
import * as SpiedStore from "./fixtures/spiedStore.ts"

interface Click {
  readonly user: string
  readonly t: number
}

const envelope = (c: Click, offset: number, acked?: Array<number>) =>
  Envelope.make(
    { topic: "clicks", partition: 0, offset: BigInt(offset), key: null, headers: [], timestamp: c.t },
    c,
    acked === undefined ? Receipt.none : Receipt.makeUnsafe(() => acked.push(offset))
  )

const isolated = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  effect.pipe(Effect.provide(StateStore.layerMemory()), Effect.provideService(Metric.MetricRegistry, new Map()))

// Feeds records through a queue while the test moves the TestClock; collects outputs.
const live = <B>(
  operator: (
    s: Stream.Stream<Envelope.Envelope<Click>>
  ) => Stream.Stream<Envelope.Envelope<B>, unknown, StateStore.StateStore>
) =>
  Effect.gen(function* () {
    const queue = yield* Queue.unbounded<Envelope.Envelope<Click>, Cause.Done>()
    const outputs: Array<Envelope.Envelope<B>> = []
    const fiber = yield* Stream.fromQueue(queue).pipe(
      operator,
      Stream.runForEach((o) => Effect.sync(() => outputs.push(o))),
      Effect.forkChild
    )
    let offset = 0
    const offer = (c: Click) => Effect.andThen(Queue.offer(queue, envelope(c, offset++)), Effect.yieldNow)
    const stop = Effect.andThen(Queue.end(queue), Fiber.join(fiber))
    return { outputs, offer, stop }
  })

const counter = StateStore.jsonCodec(Schema.Number)

// Counts clicks per user, with no outputs.
const countClicks = (name: string) =>
  Keyed.process({
    name,
    key: (c: Click) => c.user,
    codec: counter,
    onRecord: (ctx) =>
      Effect.sync(() => {
        ctx.set(Option.getOrElse(ctx.state, () => 0) + 1)
        return []
      })
  })

describe("Keyed", () => {
  it.effect("process - state per key, outputs per record, receipts acked after the state is flushed", () =>
    Effect.gen(function* () {
      const acked: Array<number> = []
      const clicks: Array<Click> = [
        { user: "a", t: 1 },
        { user: "b", t: 2 },
        { user: "a", t: 3 },
        { user: "a", t: 4 }
      ]
      const outputs = yield* Stream.fromIterable(clicks.map((c, i) => envelope(c, i, acked))).pipe(
        Keyed.process({
          name: "counts",
          key: (c: Click) => c.user,
          codec: counter,
          onRecord: (ctx) =>
            Effect.sync(() => {
              const n = Option.getOrElse(ctx.state, () => 0) + 1
              ctx.set(n)
              // Every second click of a user is reported.
              return n % 2 === 0 ? [`${ctx.key}:${n}`] : []
            })
        }),
        Stream.runCollect
      )
      assert.deepStrictEqual(
        outputs.map((o) => o.value),
        ["a:2"]
      )
      // Records without outputs are done; the one with an output waits for it.
      assert.deepStrictEqual(acked, [0, 1, 3])
      yield* outputs[0]!.receipt.ack
      assert.deepStrictEqual(acked, [0, 1, 3, 2])
    }).pipe(isolated)
  )

  it.effect("process - event-time timers fire when the watermark passes them", () =>
    Effect.gen(function* () {
      const clicks: Array<Click> = [
        { user: "a", t: 1000 },
        { user: "b", t: 1500 },
        { user: "a", t: 2500 },
        { user: "c", t: 5000 }
      ]
      const outputs = yield* Stream.fromIterable(clicks.map((c, i) => envelope(c, i))).pipe(
        Stream.rechunk(1),
        Keyed.process({
          name: "sessions",
          key: (c: Click) => c.user,
          timestamp: (c) => c.t,
          codec: counter,
          onRecord: (ctx, c) =>
            Effect.sync(() => {
              // Inactivity timer: 1 s after the user's last click; the previous one is cancelled.
              if (Option.isSome(ctx.state)) ctx.cancelTimer(ctx.state.value + 1000, "event-time")
              ctx.set(c.t)
              ctx.setTimer(c.t + 1000, "event-time")
              return []
            }),
          onTimer: (ctx, timer) => Effect.succeed([`${ctx.key} idle at ${timer.time} (wm ${ctx.watermark})`])
        }),
        Stream.runCollect
      )
      assert.deepStrictEqual(
        outputs.map((o) => o.value),
        ["b idle at 2500 (wm 2500)", "a idle at 3500 (wm 5000)"]
      )
    }).pipe(isolated)
  )

  it.effect(
    "process - timers of many keys fire once each, in time order; the store is read for them only on assignment",
    () =>
      Effect.gen(function* () {
        // 300 users, 3,000 clicks in rising time with jitter; every click sets a timer 1 s later.
        let seed = 7
        const random = () => {
          seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648
          return seed / 2_147_483_648
        }
        const clicks: Array<Click> = Array.from({ length: 3_000 }, (_, i) => ({
          user: `u${Math.floor(random() * 300)}`,
          t: i * 10 + Math.floor(random() * 5)
        }))
        let ranges = 0
        const counting = yield* SpiedStore.make((_, store) => ({
          ...store,
          range: (partition, prefix) => {
            ranges++
            return store.range(partition, prefix)
          }
        }))
        const fired = yield* Stream.fromIterable(clicks.map((c, i) => envelope(c, i))).pipe(
          Stream.rechunk(7),
          Keyed.process({
            name: "reminders",
            key: (c: Click) => c.user,
            timestamp: (c) => c.t,
            codec: counter,
            onRecord: (ctx, c) =>
              Effect.sync(() => {
                ctx.setTimer(c.t + 1000, "event-time")
                return []
              }),
            onTimer: (ctx, timer) => Effect.succeed([[timer.time, ctx.key] as const])
          }),
          Stream.runCollect,
          Effect.provideService(StateStore.StateStore, counting)
        )
        // The reference: every timer set (one per user and time), due once the last click is seen.
        const last = Math.max(...clicks.map((c) => c.t))
        const expected = new Set(clicks.filter((c) => c.t + 1000 <= last).map((c) => `${c.t + 1000}/${c.user}`))
        const got = fired.map((o) => `${o.value[0]}/${o.value[1]}`)
        assert.strictEqual(got.length, new Set(got).size)
        assert.deepStrictEqual(new Set(got), expected)
        const times = fired.map((o) => o.value[0])
        assert.deepStrictEqual(
          times,
          [...times].sort((a, b) => a - b)
        )
        // Once per domain when the partition is assigned; firing reads nothing back.
        assert.strictEqual(ranges, 2)
      }).pipe(Effect.provideService(Metric.MetricRegistry, new Map()))
  )

  it.effect("process - a timer its handler sets already due fires in the same advance of the watermark", () =>
    Effect.gen(function* () {
      const clicks: Array<Click> = [
        { user: "a", t: 1000 },
        { user: "b", t: 5000 }
      ]
      const outputs = yield* Stream.fromIterable(clicks.map((c, i) => envelope(c, i))).pipe(
        Keyed.process({
          name: "chain",
          key: (c: Click) => c.user,
          timestamp: (c) => c.t,
          codec: counter,
          onRecord: (ctx, c) =>
            Effect.sync(() => {
              if (c.user === "a") ctx.setTimer(c.t + 100, "event-time")
              return []
            }),
          // Each timer sets the next one 100 ms later, three in all: the last two are due when set.
          onTimer: (ctx, timer) =>
            Effect.sync(() => {
              if (timer.time < 1300) ctx.setTimer(timer.time + 100, "event-time")
              return [`${ctx.key} at ${timer.time}`]
            })
        }),
        Stream.runCollect
      )
      assert.deepStrictEqual(
        outputs.map((o) => o.value),
        ["a at 1100", "a at 1200", "a at 1300"]
      )
    }).pipe(isolated)
  )

  it.effect("process - processing-time timers fire from the Clock; acked outputs remove the timer", () =>
    Effect.gen(function* () {
      const { outputs, offer, stop } = yield* live(
        Keyed.process({
          name: "reminders",
          key: (c: Click) => c.user,
          codec: counter,
          onRecord: (ctx) =>
            Effect.sync(() => {
              ctx.setTimer(ctx.now + 10 * 60_000, "processing-time")
              return []
            }),
          onTimer: (ctx) => Effect.succeed([`remind ${ctx.key}`])
        })
      )
      yield* offer({ user: "a", t: 0 })
      yield* TestClock.adjust("5 minutes")
      yield* offer({ user: "b", t: 0 })
      yield* TestClock.adjust("4 minutes")
      assert.deepStrictEqual(outputs, [])
      yield* TestClock.adjust("1 minute")
      assert.deepStrictEqual(
        outputs.map((o) => o.value),
        ["remind a"]
      )
      const timers = yield* (yield* StateStore.StateStore).open("reminders.timers", StateStore.numberCodec)
      yield* timers.assign([0])
      assert.strictEqual(yield* timers.size(0), 2)
      yield* outputs[0]!.receipt.ack
      assert.strictEqual(yield* timers.size(0), 1)
      yield* TestClock.adjust("5 minutes")
      assert.deepStrictEqual(
        outputs.map((o) => o.value),
        ["remind a", "remind b"]
      )
      yield* stop
    }).pipe(isolated)
  )

  it.effect("process - the state entries gauge follows every chunk, with the clock standing still", () =>
    Effect.gen(function* () {
      const { offer, stop } = yield* live(countClicks("gauged"))
      const gauge = Metric.withAttributes(Metrics.stateEntries, { store: "gauged.state" })
      const users = ["a", "b", "a", "c", "d", "b"]
      const seen = new Set<string>()
      for (const user of users) {
        yield* offer({ user, t: 0 })
        seen.add(user)
        assert.strictEqual((yield* Metric.value(gauge)).value, seen.size)
      }
      yield* stop
    }).pipe(isolated)
  )

  it.effect("process - processing-time TTL: state expires 10 minutes after its last update", () =>
    Effect.gen(function* () {
      const { outputs, offer, stop } = yield* live(
        Keyed.process({
          name: "ttl",
          key: (c: Click) => c.user,
          codec: counter,
          ttl: { ttl: "10 minutes", domain: "processing-time" },
          onRecord: (ctx) =>
            Effect.sync(() => {
              const n = Option.getOrElse(ctx.state, () => 0) + 1
              ctx.set(n)
              return [n]
            })
        })
      )
      yield* offer({ user: "a", t: 0 })
      yield* TestClock.adjust("9 minutes")
      yield* offer({ user: "a", t: 0 })
      yield* TestClock.adjust("9 minutes")
      yield* offer({ user: "a", t: 0 })
      yield* TestClock.adjust("10 minutes")
      yield* offer({ user: "a", t: 0 })
      assert.deepStrictEqual(
        outputs.map((o) => o.value),
        [1, 2, 3, 1]
      )
      yield* stop
    }).pipe(isolated)
  )

  it.effect("process - event-time TTL: state expires once the watermark passes its time plus the TTL", () =>
    Effect.gen(function* () {
      const clicks: Array<Click> = [
        { user: "a", t: 0 },
        { user: "a", t: 900 },
        { user: "b", t: 1899 },
        { user: "a", t: 1950 },
        { user: "b", t: 5000 },
        { user: "a", t: 5000 }
      ]
      const outputs = yield* Stream.fromIterable(clicks.map((c, i) => envelope(c, i))).pipe(
        Stream.rechunk(1),
        Keyed.process({
          name: "ttl-event",
          key: (c: Click) => c.user,
          timestamp: (c) => c.t,
          codec: counter,
          ttl: { ttl: 1000, domain: "event-time" },
          onRecord: (ctx) =>
            Effect.sync(() => {
              const n = Option.getOrElse(ctx.state, () => 0) + 1
              ctx.set(n)
              return [`${ctx.key}${n}`]
            })
        }),
        Stream.runCollect
      )
      // a's state from t=900 lives until the watermark reaches 1900, which happens only after
      // the record at 1950 was seen; b's (1899 + 1000) and a's (1950 + 1000) are gone once it is 5000.
      assert.deepStrictEqual(
        outputs.map((o) => o.value),
        ["a1", "a2", "b1", "a3", "b2", "a1"]
      )
    }).pipe(isolated)
  )

  it.effect("process - state and timers survive a restart over the same store", () =>
    Effect.gen(function* () {
      const operator = Keyed.process({
        name: "restart",
        key: (c: Click) => c.user,
        timestamp: (c) => c.t,
        codec: counter,
        partitions: [0],
        onRecord: (ctx, c) =>
          Effect.sync(() => {
            const n = Option.getOrElse(ctx.state, () => 0) + 1
            ctx.set(n)
            if (n === 1) ctx.setTimer(c.t + 1000, "event-time")
            return [`${ctx.key}${n}`]
          }),
        onTimer: (ctx, timer) => Effect.succeed([`${ctx.key} timer ${timer.time}`])
      })
      const run = (clicks: ReadonlyArray<Click>) =>
        Stream.fromIterable(clicks.map((c, i) => envelope(c, i))).pipe(
          operator,
          Stream.tap((o) => o.receipt.ack),
          Stream.runCollect,
          Effect.map((outs) => outs.map((o) => o.value))
        )
      assert.deepStrictEqual(
        yield* run([
          { user: "a", t: 0 },
          { user: "b", t: 500 }
        ]),
        ["a1", "b1"]
      )
      // The watermark (restored at 500) passes a's timer (1000) and then b's (1500).
      assert.deepStrictEqual(
        yield* run([
          { user: "a", t: 1200 },
          { user: "b", t: 2000 }
        ]),
        ["a2", "a timer 1000", "b2", "b timer 1500"]
      )
    }).pipe(isolated)
  )
})

describe("Keyed event time and watermark in the store", () => {
  it.effect("process - writes the `.time` keys only when they change, and keeps their newest values", () =>
    Effect.gen(function* () {
      // Out of order, one record per chunk: most chunks move neither the newest event time nor the watermark.
      const times = [100, 50, 60, 100, 200, 150, 200, 300, 10]
      const writes: Array<readonly [string, number]> = []
      const spied = yield* SpiedStore.make((name, store) =>
        name === "times.time"
          ? {
              ...store,
              set: (partition, key, value, options) => {
                writes.push([key, value as number])
                return store.set(partition, key, value, options)
              }
            }
          : store
      )
      const watermarks: Array<number> = []
      yield* Stream.fromIterable(times.map((t, i) => envelope({ user: "a", t }, i))).pipe(
        Stream.rechunk(1),
        Keyed.process({
          name: "times",
          key: (c: Click) => c.user,
          timestamp: (c) => c.t,
          codec: counter,
          onRecord: (ctx) =>
            Effect.sync(() => {
              watermarks.push(ctx.watermark)
              return []
            })
        }),
        Stream.runDrain,
        Effect.provideService(StateStore.StateStore, spied)
      )
      // No write repeats the value its key holds already.
      const last = new Map<string, number>()
      for (const [key, value] of writes) {
        assert.notStrictEqual(last.get(key), value, `${key} written again with ${value}`)
        last.set(key, value)
      }
      // The newest values are the last written: the newest event time, a watermark at least the last one seen.
      assert.strictEqual(last.get("max"), Math.max(...times))
      const store = yield* spied.open("times.time", StateStore.jsonCodec(Schema.Number))
      yield* store.assign([0])
      assert.deepStrictEqual(yield* store.get(0, "max"), Option.some(300))
      assert.deepStrictEqual(yield* store.get(0, "watermark"), Option.some(last.get("watermark")!))
      assert.isAtLeast(last.get("watermark")!, watermarks.at(-1)!)
    }).pipe(Effect.scoped, Effect.provideService(Metric.MetricRegistry, new Map()))
  )
})

describe("Keyed pipelined flushes", () => {
  // Four records, one chunk each, no outputs: each record's receipt waits only for its chunk's flushes.
  const run = (service: StateStore.StateStore["Service"], acked: Array<number>) =>
    Stream.fromIterable([1, 2, 3, 4].map((t, i) => envelope({ user: i % 2 === 0 ? "a" : "b", t }, i, acked))).pipe(
      Stream.rechunk(1),
      countClicks("counts"),
      Stream.runDrain,
      Effect.provideService(StateStore.StateStore, service),
      Effect.provideService(Metric.MetricRegistry, new Map())
    )

  it.effect("process - goes on with later chunks while flushes are outstanding; acks follow them, in order", () =>
    Effect.gen(function* () {
      const { service, gates } = yield* GatedStore.make
      const acked: Array<number> = []
      const fiber = yield* Effect.forkChild(run(service, acked))
      // Every chunk was processed (three stores flushed per chunk) and nothing is acknowledged yet.
      assert.isTrue(yield* GatedStore.until(() => gates.length === 12))
      assert.deepStrictEqual(acked, [])
      // The second chunk's flushes complete first: its record still waits for the first chunk's.
      for (const gate of gates.slice(3, 6)) yield* gate.open
      yield* GatedStore.until(() => acked.length > 0, 100)
      assert.deepStrictEqual(acked, [])
      for (const gate of gates.slice(0, 3)) yield* gate.open
      assert.isTrue(yield* GatedStore.until(() => acked.length === 2))
      assert.deepStrictEqual(acked, [0, 1])
      // The end of the input waits for the last flushes.
      for (const gate of gates.slice(6)) yield* gate.open
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(acked, [0, 1, 2, 3])
    })
  )

  it.effect("process - a failed flush acknowledges nothing from then on and fails the stream", () =>
    Effect.gen(function* () {
      const { service, gates } = yield* GatedStore.make
      const acked: Array<number> = []
      const fiber = yield* Effect.forkChild(Effect.exit(run(service, acked)))
      assert.isTrue(yield* GatedStore.until(() => gates.length === 12))
      for (const gate of gates.slice(0, 3)) yield* gate.open
      yield* gates[4]!.fail
      for (const gate of gates.slice(5)) yield* gate.open
      yield* gates[3]!.open
      const exit = yield* Fiber.join(fiber)
      assert.isTrue(Exit.isFailure(exit))
      assert.include(String(Exit.isFailure(exit) ? Cause.pretty(exit.cause) : ""), "injected flush failure")
      // The first record's flush completed; the others' offsets are never committed.
      assert.deepStrictEqual(acked, [0])
    })
  )
})

describe("Keyed timers without outputs", () => {
  // The memory store, counting the flushes started outside the chunks' barriers (`flush`) and
  // the barriers' own (`flushAsync`) of the timers store.
  const countingStore = Effect.gen(function* () {
    const calls = { flush: 0, flushAsync: 0 }
    const service = yield* SpiedStore.make((name, store) =>
      name.endsWith(".timers")
        ? {
            ...store,
            flush: (partitions) =>
              Effect.andThen(
                Effect.sync(() => calls.flush++),
                store.flush(partitions)
              ),
            flushAsync: (partitions) =>
              Effect.suspend(() => {
                calls.flushAsync++
                return store.flushAsync?.(partitions) ?? Effect.succeed(store.flush(partitions))
              })
          }
        : store
    )
    return { service, calls }
  })

  it.effect(
    "process - a timer that finds its deadline moved is deleted with the chunk's flush, not one of its own",
    () =>
      Effect.gen(function* () {
        const { service, calls } = yield* countingStore
        // As the segments job: one pending timer per key at its first deadline; a later record moves
        // the deadline (kept in the state) and the early timer, finding it moved, sets the current one.
        const clicks: ReadonlyArray<Click> = [
          { user: "a", t: 0 },
          { user: "b", t: 50 },
          { user: "a", t: 80 },
          { user: "b", t: 90 },
          { user: "c", t: 400 },
          { user: "d", t: 1000 }
        ]
        const acked: Array<number> = []
        const outputs = yield* Stream.fromIterable(clicks.map((c, i) => envelope(c, i, acked))).pipe(
          Stream.rechunk(1),
          Keyed.process({
            name: "moved",
            key: (c: Click) => c.user,
            timestamp: (c) => c.t,
            codec: counter,
            partitions: [0],
            onRecord: (ctx, c) =>
              Effect.sync(() => {
                if (Option.isNone(ctx.state)) ctx.setTimer(c.t + 100, "event-time")
                ctx.set(c.t + 100)
                return []
              }),
            onTimer: (ctx, timer) =>
              Effect.sync(() => {
                const due = Option.getOrElse(ctx.state, () => timer.time)
                if (timer.time < due) {
                  ctx.setTimer(due, "event-time")
                  return []
                }
                return [`${ctx.key} idle at ${timer.time}`]
              })
          }),
          Stream.tap((o) => o.receipt.ack),
          Stream.runCollect,
          Effect.provideService(StateStore.StateStore, service),
          Effect.provideService(Metric.MetricRegistry, new Map())
        )
        assert.deepStrictEqual(
          outputs.map((o) => o.value),
          ["a idle at 180", "b idle at 190", "c idle at 500"]
        )
        assert.deepStrictEqual(acked, [0, 1, 2, 3, 4, 5])
        // Two timers found their deadline moved (a's at 100, b's at 150): no flush of their own. The
        // three that fired with outputs flush once each after their outputs are acknowledged.
        assert.strictEqual(calls.flush, 3)
        assert.isAtLeast(calls.flushAsync, clicks.length)
        // Every fired timer is deleted; d's at 1100 is pending.
        const timers = yield* service.open("moved.timers", StateStore.numberCodec)
        yield* timers.assign([0])
        assert.deepStrictEqual(
          (yield* timers.range(0, "e/")).map(([, t]) => t),
          [1100]
        )
      })
  )
})
