// The windows operator (core `Window`) over the durable store: the operator
// builds `assign(p)` and then `range(p)` before running either, so a store
// that checked the partition when a call is built, not when it runs, failed
// on the first record with "partition 0 is not assigned". A run split by a
// restart must leave the same table of windows as a brute-force reference.
import { assert, describe, it } from "@effect/vitest"
import { Aggregator, Envelope, Receipt, StateStore, Window } from "@sluice/core"
import { BigDecimal, Effect, Layer, Stream } from "effect"
import * as DurableStateStore from "../src/DurableStateStore.ts"
import { broker, clientLayer, numberCodec, readAll, tempDir, unique } from "./fixtures/support.ts"

interface Order {
  readonly t: number
  readonly amount: number
}

const SIZE = 3_600_000
const SLIDE = 300_000
const T0 = 1_700_000_000_000

// Orders in event-time order, a seeded 0 to 20 minutes apart.
const orders = (count: number): ReadonlyArray<Order> => {
  let seed = 17
  const next = () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648
    return seed / 2_147_483_648
  }
  const out: Array<Order> = []
  let t = T0
  for (let i = 0; i < count; i++) {
    t += Math.floor(next() * 1_200_000)
    out.push({ t, amount: 1 + Math.floor(next() * 100) })
  }
  return out
}

const encoder = new TextEncoder()

const aggregator = Aggregator.struct({
  orders: Aggregator.count,
  revenue: Aggregator.sum((o: Order) => BigDecimal.fromNumberUnsafe(o.amount))
})

// Brute force: every window [s, s + SIZE) holding an order, with its count and sum.
const reference = (all: ReadonlyArray<Order>): Map<number, string> => {
  const table = new Map<number, string>()
  const starts = new Set<number>()
  for (const o of all) {
    const pane = Math.floor(o.t / SLIDE) * SLIDE
    for (let s = pane - SIZE + SLIDE; s <= pane; s += SLIDE) starts.add(s)
  }
  for (const s of starts) {
    const inside = all.filter((o) => o.t >= s && o.t < s + SIZE)
    table.set(s, `${inside.length}/${inside.reduce((sum, o) => sum + o.amount, 0)}`)
  }
  return table
}

// One run of the operator over `batch` (offsets from `first`), in its own scope: the store is
// closed (flushed) at the end, as a stopped job's is. Each update is upserted into `table`.
const run = (
  bootstrap: string,
  options: { group: string; directory: string; batch: ReadonlyArray<Order>; first: number },
  table: Map<number, string>
) =>
  Effect.scoped(
    Effect.gen(function* () {
      const service = yield* DurableStateStore.make({
        group: options.group,
        partitions: 1,
        directory: options.directory
      })
      let acked = 0
      const input = options.batch.map((o, i) =>
        Envelope.make(
          {
            topic: "orders",
            partition: 0,
            offset: BigInt(options.first + i),
            key: encoder.encode("all"),
            headers: [],
            timestamp: o.t
          },
          o,
          Receipt.makeUnsafe(() => {
            acked++
          })
        )
      )
      yield* Stream.fromIterable(input).pipe(
        Stream.rechunk(7),
        Window.aggregate({
          name: "sales",
          key: () => "all",
          timestamp: (o) => o.t,
          window: Window.hopping({ size: SIZE, slide: SLIDE }),
          aggregator,
          grace: 600_000,
          emit: "updates",
          watermark: { outOfOrderness: 300_000 }
        }),
        Stream.runForEach((e) =>
          Effect.gen(function* () {
            if (e.value._tag === "Result") {
              const v = e.value.value
              table.set(e.value.start, `${v.orders}/${BigDecimal.format(v.revenue)}`)
            }
            yield* e.receipt.ack
          })
        ),
        Effect.provideService(StateStore.StateStore, StateStore.StateStore.of(service))
      )
      return acked
    }).pipe(Effect.provide(Layer.fresh(clientLayer(bootstrap))))
  )

describe("DurableStateStore under Window", () => {
  it.live(
    "a call built before assign runs after it: range, set and flush() see the partition assigned just before",
    () =>
      Effect.gen(function* () {
        const bootstrap = yield* broker
        const directory = yield* tempDir
        const group = unique("built")
        const [found, logged] = yield* Effect.scoped(
          Effect.gen(function* () {
            const service = yield* DurableStateStore.make({ group, partitions: 3, directory })
            const store = yield* service.open("s", numberCodec)
            yield* Effect.andThen(store.assign([1]), store.set(1, "a", 5))
            // `flush()` flushes the partitions assigned when it runs, 2 included.
            yield* Effect.andThen(store.assign([2]), Effect.andThen(store.set(2, "b", 6), store.flush()))
            const found = yield* Effect.andThen(store.assign([0]), store.range(1, ""))
            // What the changelog holds before this store's closing flush.
            const logged = yield* readAll({ group, partitions: 3, name: "s" })
            return [found, logged] as const
          }).pipe(Effect.provide(Layer.fresh(clientLayer(bootstrap))))
        )
        assert.deepStrictEqual(found, [["a", 5]])
        assert.deepStrictEqual([...logged].sort(), [
          ["a", 5],
          ["b", 6]
        ])
      }),
    60_000
  )

  it.live.each(["the same directory", "a fresh directory (restored from the changelog)"])(
    "hopping windows restarted halfway on %s: the table equals the brute-force reference",
    (where) =>
      Effect.gen(function* () {
        const bootstrap = yield* broker
        const group = unique("sales")
        const all = orders(400)
        const half = 200
        const table = new Map<number, string>()
        const first = yield* tempDir
        const ackedFirst = yield* run(
          bootstrap,
          { group, directory: first, batch: all.slice(0, half), first: 0 },
          table
        )
        const second = where === "the same directory" ? first : yield* tempDir
        const ackedSecond = yield* run(
          bootstrap,
          { group, directory: second, batch: all.slice(half), first: half },
          table
        )
        // Every record is acknowledged: its state change reached the changelog.
        assert.deepStrictEqual([ackedFirst, ackedSecond], [half, all.length - half])
        const expected = reference(all)
        assert.deepStrictEqual(
          [...table].sort(([a], [b]) => a - b),
          [...expected].sort(([a], [b]) => a - b)
        )
      }),
    120_000
  )
})
