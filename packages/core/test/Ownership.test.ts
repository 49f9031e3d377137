import { assert, describe, it } from "@effect/vitest"
import { type Cause, Effect, Fiber, Metric, Option, Queue, Result, Schema, Stream } from "effect"
import * as Aggregator from "../src/Aggregator.ts"
import * as Envelope from "../src/Envelope.ts"
import * as Keyed from "../src/Keyed.ts"
import * as Ownership from "../src/Ownership.ts"
import * as Receipt from "../src/Receipt.ts"
import * as StateStore from "../src/StateStore.ts"
import * as Window from "../src/Window.ts"
import * as GatedStore from "./fixtures/gatedStore.ts"

interface Click {
  readonly user: string
  readonly t: number
}

const TOPIC = "clicks"
const encoder = new TextEncoder()

const envelope = (c: Click, offset: number, onAck?: () => void): Envelope.Envelope<Click> =>
  Envelope.make(
    { topic: TOPIC, partition: 0, offset: BigInt(offset), key: encoder.encode(c.user), headers: [], timestamp: c.t },
    c,
    onAck === undefined ? Receipt.none : Receipt.makeUnsafe(onAck)
  )

// Deterministic clicks of five users, in time order from `from`.
const clicks = (n: number, from: number, seed: number): Array<Click> => {
  let x = seed
  return Array.from({ length: n }, (_, i) => {
    x = (x * 1_103_515_245 + 12_345) % 2_147_483_648
    return { user: `u${x % 5}`, t: from + i }
  })
}

const countBy = (all: ReadonlyArray<Click>) => {
  const counts = new Map<string, number>()
  for (const c of all) counts.set(c.user, (counts.get(c.user) ?? 0) + 1)
  return counts
}

// A store service that logs every assign and revoke, in order.
const logged = (service: StateStore.StateStore["Service"], log: Array<string>): StateStore.StateStore["Service"] => ({
  open: (name, codec) =>
    Effect.map(service.open(name, codec), (store) => ({
      ...store,
      assign: (partitions) =>
        Effect.andThen(
          Effect.sync(() => log.push(`${name} assign ${[...partitions]}`)),
          store.assign(partitions)
        ),
      revoke: (partitions) =>
        Effect.andThen(
          store.revoke(partitions),
          Effect.sync(() => log.push(`${name} revoke ${[...partitions]}`))
        )
    }))
})

// An operator fed through a queue (the instance that owns the partition at
// first and gets it back), with outputs collected and acknowledged.
const live = <B>(
  operator: (s: Stream.Stream<Envelope.Envelope<Click>>) => Stream.Stream<Envelope.Envelope<B>, unknown, never>
) =>
  Effect.gen(function* () {
    const queue = yield* Queue.unbounded<Envelope.Envelope<Click>, Cause.Done>()
    const outputs: Array<B> = []
    const fiber = yield* Stream.fromQueue(queue).pipe(
      operator,
      Stream.runForEach((o) =>
        Effect.andThen(
          o.receipt.ack,
          Effect.sync(() => outputs.push(o.value))
        )
      ),
      Effect.forkChild
    )
    let offset = 0
    // Records done (state flushed, outputs acknowledged): a source revokes a partition only then.
    const done = { count: 0 }
    const offer = (cs: ReadonlyArray<Click>) =>
      Queue.offerAll(
        queue,
        cs.map((c) =>
          envelope(c, offset++, () => {
            done.count++
          })
        )
      )
    const stop = Effect.andThen(Queue.end(queue), Fiber.join(fiber))
    return { outputs, offer, stop, done }
  })

const counter = (name: string) =>
  Keyed.process({
    name,
    key: (c: Click) => c.user,
    codec: StateStore.jsonCodec(Schema.Number),
    onRecord: (ctx) =>
      Effect.sync(() => {
        const n = Option.getOrElse(ctx.state, () => 0) + 1
        ctx.set(n)
        return [[ctx.key, n] as const]
      })
  })

const revoked = [{ topic: TOPIC, partition: 0 }]
const isolated = Effect.provideService(Metric.MetricRegistry, new Map())

describe("Ownership", () => {
  it.effect("Keyed - a revoked partition goes back to the store; on its return, what another owner wrote is read", () =>
    Effect.gen(function* () {
      const memory = yield* StateStore.makeMemory()
      const log: Array<string> = []
      const service = logged(memory, log)
      const hub = yield* Ownership.make
      const [first, other, back] = [clicks(40, 0, 1), clicks(40, 1_000, 2), clicks(40, 2_000, 3)]
      const a = yield* live((s) =>
        s.pipe(
          counter("counts"),
          Stream.provideService(StateStore.StateStore, service),
          Stream.provideService(Ownership.Ownership, hub)
        )
      )
      yield* a.offer(first)
      assert.isTrue(yield* GatedStore.until(() => a.outputs.length === first.length))
      yield* hub.revoke(revoked)
      assert.deepStrictEqual(log.slice(-3), ["counts.state revoke 0", "counts.timers revoke 0", "counts.time revoke 0"])
      // Another instance owns the partition meanwhile: it restores it from the store and counts on.
      yield* Stream.fromIterable(other.map((c, i) => envelope(c, first.length + i))).pipe(
        counter("counts"),
        Stream.runDrain,
        Effect.provideService(StateStore.StateStore, service)
      )
      yield* a.offer(back)
      assert.isTrue(yield* GatedStore.until(() => a.outputs.length === first.length + back.length))
      yield* a.stop
      // The returning partition was assigned again (restored), not resumed from memory.
      assert.strictEqual(log.filter((l) => l === "counts.state assign 0").length, 3)
      const final = new Map(a.outputs.map(([user, n]) => [user, n]))
      const reference = countBy([...first, ...other, ...back])
      for (const user of new Set(back.map((c) => c.user))) assert.strictEqual(final.get(user), reference.get(user))
    }).pipe(isolated)
  )

  it.effect("Keyed - a revocation waits for the partition's outstanding flush", () =>
    Effect.gen(function* () {
      const { service: gated, gates } = yield* GatedStore.make
      const log: Array<string> = []
      const service = logged(gated, log)
      const hub = yield* Ownership.make
      const a = yield* live((s) =>
        s.pipe(
          counter("counts"),
          Stream.provideService(StateStore.StateStore, service),
          Stream.provideService(Ownership.Ownership, hub)
        )
      )
      yield* a.offer(clicks(3, 0, 7))
      // The chunk's three stores were flushed; the flushes are outstanding.
      assert.isTrue(yield* GatedStore.until(() => gates.length === 3))
      const revoking = yield* Effect.forkChild(hub.revoke(revoked))
      yield* GatedStore.until(() => revoking.pollUnsafe() !== undefined, 200)
      assert.isUndefined(revoking.pollUnsafe())
      assert.isFalse(log.some((l) => l.includes("revoke")))
      for (const gate of gates) yield* gate.open
      yield* Fiber.join(revoking)
      assert.deepStrictEqual(log.slice(-3), ["counts.state revoke 0", "counts.timers revoke 0", "counts.time revoke 0"])
      yield* a.stop
    }).pipe(isolated)
  )

  it.effect("Keyed - without a hub, the partition is kept (nothing subscribes)", () =>
    Effect.gen(function* () {
      const memory = yield* StateStore.makeMemory()
      const log: Array<string> = []
      const hub = yield* Ownership.make
      const a = yield* live((s) =>
        s.pipe(counter("counts"), Stream.provideService(StateStore.StateStore, logged(memory, log)))
      )
      yield* a.offer(clicks(5, 0, 9))
      assert.isTrue(yield* GatedStore.until(() => a.outputs.length === 5))
      yield* hub.revoke(revoked)
      yield* a.stop
      assert.isFalse(log.some((l) => l.includes("revoke")))
    }).pipe(isolated)
  )

  // Windows hold their open panes in memory: a partition resumed from memory would overwrite
  // what another owner added to the same window meanwhile.
  const windowRun = (withHub: boolean) =>
    Effect.gen(function* () {
      const service = yield* StateStore.makeMemory()
      const hub = yield* Ownership.make
      const windowed = (s: Stream.Stream<Envelope.Envelope<Click>>) =>
        s.pipe(
          Window.aggregate({
            name: "per-user",
            key: (c: Click) => c.user,
            window: Window.tumbling("10 seconds"),
            aggregator: Aggregator.count,
            grace: 0,
            emit: "final"
          }),
          Stream.filterMap((e) =>
            Window.isResult(e.value) ? Result.succeed({ ...e, value: e.value }) : Result.failVoid
          )
        )
      const [first, other, back] = [clicks(30, 0, 4), clicks(30, 1_000, 5), clicks(30, 2_000, 6)]
      // Closes the window [0, 10 s).
      const closer = { user: "u0", t: 20_000 }
      const a = yield* live((s) =>
        s.pipe(
          windowed,
          Stream.provideService(StateStore.StateStore, service),
          withHub ? Stream.provideService(Ownership.Ownership, hub) : (x) => x
        )
      )
      yield* a.offer(first)
      assert.isTrue(yield* GatedStore.until(() => a.done.count === first.length))
      yield* hub.revoke(revoked)
      yield* Stream.fromIterable(other.map((c, i) => envelope(c, 100 + i))).pipe(
        windowed,
        Stream.runDrain,
        Effect.provideService(StateStore.StateStore, service)
      )
      yield* a.offer([...back, closer])
      const reference = countBy([...first, ...other, ...back])
      assert.isTrue(yield* GatedStore.until(() => a.outputs.length === reference.size))
      assert.deepStrictEqual(new Set(countBy([...first, ...back]).keys()), new Set(reference.keys()))
      yield* a.stop
      const got = new Map(a.outputs.map((r) => [r.key, r.value]))
      return { got, reference, withoutOther: countBy([...first, ...back]) }
    }).pipe(isolated)

  it.effect("Window - the returning partition's open windows hold what another owner added", () =>
    Effect.gen(function* () {
      const { got, reference } = yield* windowRun(true)
      assert.deepStrictEqual(got, reference)
      // The same run without the hub resumes from memory and loses the other owner's records.
      const stale = yield* windowRun(false)
      assert.deepStrictEqual(stale.got, stale.withoutOther)
    })
  )
})
