import { assert, describe, it } from "@effect/vitest"
import { BigDecimal, type Duration, Effect, Fiber, Metric, Option, Queue, Stream } from "effect"
import type * as Cause from "effect/Cause"
import { PrometheusMetrics } from "effect/observability"
import { TestClock } from "effect/testing"
import * as fc from "fast-check"
import * as Aggregator from "../src/Aggregator.ts"
import * as Envelope from "../src/Envelope.ts"
import * as Receipt from "../src/Receipt.ts"
import * as StateStore from "../src/StateStore.ts"
import * as Window from "../src/Window.ts"
import * as GatedStore from "./fixtures/gatedStore.ts"
import * as SpiedStore from "./fixtures/spiedStore.ts"

interface Event {
  readonly partition: number
  readonly key: string
  readonly t: number
  readonly amount: number
  readonly customer: string
}

const encoder = new TextEncoder()

const envelope = (e: Event, offset: number, onAck?: () => void): Envelope.Envelope<Event> =>
  Envelope.make(
    {
      topic: "orders",
      partition: e.partition,
      offset: BigInt(offset),
      key: encoder.encode(e.key),
      headers: [],
      timestamp: e.t
    },
    e,
    onAck === undefined ? Receipt.none : Receipt.makeUnsafe(onAck)
  )

const sales = Aggregator.struct({
  orders: Aggregator.count,
  revenue: Aggregator.sum((e: Event) => BigDecimal.fromNumberUnsafe(e.amount)),
  customers: Aggregator.distinctCount((e: Event) => e.customer),
  smallest: Aggregator.min((e: Event) => e.amount)
})

// What the aggregator computes, written out by hand for the reference.
const summarize = (events: ReadonlyArray<Event>) => ({
  orders: events.length,
  revenue: BigDecimal.format(
    BigDecimal.normalize(
      events.reduce((s, e) => BigDecimal.sum(s, BigDecimal.fromNumberUnsafe(e.amount)), BigDecimal.fromBigInt(0n))
    )
  ),
  customers: new Set(events.map((e) => e.customer)).size,
  smallest: Math.min(...events.map((e) => e.amount))
})

type Row = string

const row = (key: string, start: number, end: number, v: ReturnType<typeof summarize>): Row =>
  JSON.stringify([key, start, end, v.orders, v.revenue, v.customers, v.smallest])

const rowOf = (
  r: Window.Result<typeof sales extends Aggregator.Aggregator<Event, infer _Acc, infer O> ? O : never>
): Row =>
  row(r.key, r.start, r.end, {
    orders: r.value.orders,
    revenue: BigDecimal.format(r.value.revenue),
    customers: r.value.customers,
    smallest: Option.getOrElse(r.value.smallest, () => Number.NaN)
  })

interface Scenario {
  readonly events: ReadonlyArray<Event>
  readonly window: Window.Spec
  readonly grace: number
  readonly outOfOrderness: number
}

// Brute force: replay the watermark, decide lateness record by record, then
// compute every closed window's result from the accepted records alone.
const reference = (s: Scenario) => {
  const max = new Map<number, number>()
  let wm = Number.NEGATIVE_INFINITY
  const accepted: Array<{ e: Event; wm: number }> = []
  const late: Array<number> = []
  s.events.forEach((e, i) => {
    const isLate =
      s.window._tag === "Session"
        ? e.t + s.grace <= wm
        : Math.floor(e.t / s.window.slide) * s.window.slide + s.window.size + s.grace <= wm
    if (isLate) late.push(i)
    else accepted.push({ e, wm })
    max.set(e.partition, Math.max(max.get(e.partition) ?? Number.NEGATIVE_INFINITY, e.t))
    wm = Math.max(wm, Math.min(...[...max.values()].map((m) => m - s.outOfOrderness)))
  })
  const rows: Array<Row> = []
  const keys = new Set(s.events.map((e) => e.key))
  if (s.window._tag === "Hopping") {
    const { size, slide } = s.window
    const starts = new Set<number>()
    for (const { e } of accepted) {
      for (let st = Math.floor(e.t / slide) * slide; st > e.t - size; st -= slide) starts.add(st)
    }
    for (const key of keys) {
      for (const start of starts) {
        if (start + size + s.grace > wm) continue
        // A record counts in a window if the window was still open when it arrived.
        const inside = accepted
          .filter((a) => a.e.key === key && a.e.t >= start && a.e.t < start + size && a.wm < start + size + s.grace)
          .map((a) => a.e)
        if (inside.length > 0) rows.push(row(key, start, start + size, summarize(inside)))
      }
    }
  } else {
    const { gap } = s.window
    for (const key of keys) {
      const ts = accepted.filter((a) => a.e.key === key).sort((a, b) => a.e.t - b.e.t)
      let current: Array<Event> = []
      const flush = () => {
        if (current.length === 0) return
        const first = current[0]!.t
        const last = current[current.length - 1]!.t
        if (last + gap + s.grace <= wm) rows.push(row(key, first, last + gap, summarize(current)))
        current = []
      }
      for (const { e } of ts) {
        if (current.length > 0 && e.t - current[current.length - 1]!.t >= gap) flush()
        current.push(e)
      }
      flush()
    }
  }
  return { rows: rows.sort(), late }
}

const run = (
  s: Scenario,
  events: ReadonlyArray<Event>,
  offset: number,
  chunk: number,
  emit: Window.EmitMode = "final",
  ack = false
) =>
  Stream.fromIterable(events.map((e, i) => envelope(e, offset + i))).pipe(
    Stream.rechunk(chunk),
    Window.aggregate({
      name: "sales",
      key: (e) => e.key,
      window: s.window,
      aggregator: sales,
      grace: s.grace,
      emit,
      watermark: { outOfOrderness: s.outOfOrderness },
      partitions: [0, 1, 2]
    }),
    // A sink acknowledges what it wrote before it asks for more.
    Stream.tap((o) => (ack ? o.receipt.ack : Effect.void)),
    Stream.runCollect
  )

const collect = (
  outputs: ReadonlyArray<Envelope.Envelope<Window.Output<Event, Parameters<typeof rowOf>[0]["value"]>>>
) => ({
  rows: outputs.flatMap((o) => (o.value._tag === "Result" ? [rowOf(o.value)] : [])).sort(),
  late: outputs.flatMap((o) => (o.value._tag === "Late" ? [Number(o.origin.offset)] : []))
})

const scenario = fc
  .record({
    windowKind: fc.constantFrom("tumbling", "hopping", "session"),
    slide: fc.integer({ min: 10, max: 200 }),
    panes: fc.integer({ min: 1, max: 6 }),
    grace: fc.integer({ min: 0, max: 300 }),
    outOfOrderness: fc.integer({ min: 0, max: 300 }),
    partitions: fc.integer({ min: 1, max: 3 }),
    raw: fc.array(
      fc.record({
        key: fc.integer({ min: 0, max: 4 }),
        t: fc.integer({ min: 0, max: 3000 }),
        amount: fc.integer({ min: 1, max: 10_000 }),
        customer: fc.integer({ min: 0, max: 5 })
      }),
      { minLength: 1, maxLength: 120 }
    ),
    chunk: fc.integer({ min: 1, max: 40 }),
    cut: fc.nat()
  })
  .map((r) => {
    const window =
      r.windowKind === "tumbling"
        ? Window.tumbling(r.slide * r.panes)
        : r.windowKind === "hopping"
          ? Window.hopping({ size: r.slide * r.panes, slide: r.slide })
          : Window.session(r.slide)
    const events = r.raw.map((x) => ({
      // A key always lives in one partition, as state is partitioned like the input.
      partition: x.key % r.partitions,
      key: `k${x.key}`,
      t: x.t,
      amount: x.amount / 100,
      customer: `c${x.customer}`
    }))
    return {
      window,
      grace: r.grace,
      outOfOrderness: r.outOfOrderness,
      events,
      chunk: r.chunk,
      cut: r.cut % (events.length + 1)
    }
  })

// A fresh in-memory store (values round-tripped through their codecs) and metric registry per run.
const isolated = <A, E>(effect: Effect.Effect<A, E, StateStore.StateStore>) =>
  effect.pipe(
    Effect.provide(StateStore.layerMemory({ roundTrip: true })),
    Effect.provideService(Metric.MetricRegistry, new Map())
  )

describe("Window", () => {
  it("aggregate - final results and late records equal a brute-force reference", () =>
    fc.assert(
      fc.asyncProperty(scenario, (s) =>
        Effect.runPromise(
          Effect.gen(function* () {
            const outputs = yield* run(s, s.events, 0, s.chunk)
            const expected = reference(s)
            const actual = collect(outputs)
            assert.deepStrictEqual(actual.rows, expected.rows)
            assert.deepStrictEqual(actual.late, expected.late)
          }).pipe(isolated)
        )
      ),
      { numRuns: 150 }
    ))

  it("aggregate - the same with a restart over the same store", () =>
    fc.assert(
      fc.asyncProperty(scenario, (s) =>
        Effect.runPromise(
          Effect.gen(function* () {
            // The first run stops cleanly: everything it emitted was acknowledged.
            const first = yield* run(s, s.events.slice(0, s.cut), 0, s.chunk, "final", true)
            const second = yield* run(s, s.events.slice(s.cut), s.cut, s.chunk)

            const expected = reference(s)
            const actual = collect([...first, ...second])
            assert.deepStrictEqual(actual.rows, expected.rows)
            assert.deepStrictEqual(actual.late, expected.late)
          }).pipe(isolated)
        )
      ),
      { numRuns: 100 }
    ))
})

const at = (t: number, key = "k", partition = 0): Event => ({ partition, key, t, amount: 1, customer: "c" })

// Runs a count aggregation over the events (one chunk each) and returns results and late offsets.
const countOf = (events: ReadonlyArray<Event>, window: Window.Spec, grace: number, emit: Window.EmitMode = "final") =>
  Stream.fromIterable(events.map((e, i) => envelope(e, i))).pipe(
    Stream.rechunk(1),
    Window.aggregate({ name: "count", key: (e: Event) => e.key, window, aggregator: Aggregator.count, grace, emit }),
    Stream.runCollect,
    Effect.map((outputs) => ({
      results: outputs.flatMap((o) =>
        o.value._tag === "Result" ? [[o.value.key, o.value.start, o.value.end, o.value.value, o.value.final]] : []
      ),
      late: outputs.flatMap((o) => (o.value._tag === "Late" ? [Number(o.origin.offset)] : []))
    })),
    // The caller's metric registry, so a test can read the operator's metrics.
    Effect.provide(StateStore.layerMemory({ roundTrip: true }))
  )

describe("Window edge cases", () => {
  it.effect("tumbling - an event exactly at a boundary belongs to the window it starts", () =>
    Effect.gen(function* () {
      const { results } = yield* countOf([at(999), at(1000), at(2000)], Window.tumbling(1000), 0)
      assert.deepStrictEqual(results, [
        ["k", 0, 1000, 1, true],
        ["k", 1000, 2000, 1, true]
      ])
    })
  )

  it.effect("tumbling - a record is accepted until the watermark reaches end + grace, late from then on", () =>
    Effect.gen(function* () {
      // Window [0, 1000), grace 100: open while the watermark is below 1100.
      const { results, late } = yield* countOf(
        [at(0), at(1099), at(999), at(1100), at(999)],
        Window.tumbling(1000),
        100
      )
      assert.deepStrictEqual(late, [4])
      assert.deepStrictEqual(results, [["k", 0, 1000, 2, true]])
    })
  )

  it.effect("tumbling - a window with no events emits nothing", () =>
    Effect.gen(function* () {
      const { results } = yield* countOf([at(0), at(5000), at(9000)], Window.tumbling(1000), 0)
      assert.deepStrictEqual(
        results.map((r) => r[1]),
        [0, 5000]
      )
    })
  )

  it.effect("session - a record bridging two earlier sessions merges them", () =>
    Effect.gen(function* () {
      // Grace 100 keeps the record at 50 (watermark 100) on time.
      const { results, late } = yield* countOf([at(0), at(100), at(50), at(1000)], Window.session(60), 100)
      assert.deepStrictEqual(late, [])
      assert.deepStrictEqual(results, [["k", 0, 160, 3, true]])
    })
  )

  it.effect("hopping - updates mode emits every open window an event changes", () =>
    Effect.gen(function* () {
      const { results } = yield* countOf([at(0), at(150)], Window.hopping({ size: 200, slide: 100 }), 0, "updates")
      assert.deepStrictEqual(results, [
        ["k", -100, 100, 1, false],
        ["k", 0, 200, 1, false],
        ["k", 0, 200, 2, false],
        ["k", 100, 300, 1, false]
      ])
    })
  )

  it.effect("hopping - a 1 h / 5 min window makes one state write per event (shared panes)", () =>
    Effect.gen(function* () {
      let writes = 0
      const counting = yield* SpiedStore.make((name, store) =>
        name.endsWith(".panes")
          ? {
              ...store,
              set: (p, k, v, o) => {
                writes++
                return store.set(p, k, v, o)
              },
              setMany: (p, entries) => {
                const list = [...entries]
                writes += list.length
                return store.setMany(p, list)
              }
            }
          : store
      )
      const minute = 60_000
      const events = Array.from({ length: 200 }, (_, i) => at(i * 37 * 1000, `k${i % 7}`))
      const outputs = yield* Stream.fromIterable(events.map((e, i) => envelope(e, i))).pipe(
        Stream.rechunk(1),
        Window.aggregate({
          name: "hourly",
          key: (e: Event) => e.key,
          window: Window.hopping({ size: "1 hour", slide: "5 minutes" }),
          aggregator: Aggregator.count,
          grace: 0,
          emit: "final"
        }),
        Stream.runCollect,
        Effect.provideService(StateStore.StateStore, counting)
      )
      assert.strictEqual(writes, events.length)
      // Each closed window still counts every event of its hour, and every closed window with events is there.
      const maxT = events[events.length - 1]!.t
      const expected = new Set<string>()
      for (const e of events) {
        for (let start = Math.floor(e.t / (5 * minute)) * 5 * minute; start > e.t - 60 * minute; start -= 5 * minute) {
          if (start + 60 * minute <= maxT) expected.add(`${e.key}@${start}`)
        }
      }
      const seen = new Set<string>()
      for (const o of outputs) {
        if (o.value._tag !== "Result") continue
        const { key, start, end, value } = o.value
        seen.add(`${key}@${start}`)
        assert.strictEqual(value, events.filter((e) => e.key === key && e.t >= start && e.t < end).length)
      }
      assert.deepStrictEqual([...seen].sort(), [...expected].sort())
      assert.isAbove(seen.size, 0)
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map()))
  )
})

describe("Window metrics", () => {
  it.effect("aggregate - reports late events, open windows, state entries and watermark lag", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(10_000)
      // Window [0, 1000) closes at 1000; the record at 500 after it is late; [1000, 2000) stays open.
      yield* countOf([at(0), at(1500), at(500), at(1200, "other")], Window.tumbling(1000), 0)
      const text = yield* PrometheusMetrics.format()
      assert.match(text, /sluice_late_events_total\{operator="count"\} 1\b/)
      assert.match(text, /sluice_open_windows\{operator="count"\} 2\b/)
      assert.match(text, /sluice_state_entries\{store="count.panes"\} 2\b/)
      // Clock 10 000 minus the partition's watermark (1500).
      assert.match(text, /sluice_watermark_lag_ms\{operator="count",partition="0"\} 8500\b/)
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map()))
  )
})

describe("Window idle partitions", () => {
  // Feeds records through a queue while the test moves the TestClock.
  const live = (options: { readonly idleTimeout: Duration.Input; readonly advanceWhenIdle?: boolean }) =>
    Effect.gen(function* () {
      const queue = yield* Queue.unbounded<Envelope.Envelope<Event>, Cause.Done>()
      const results: Array<Window.Result<number>> = []
      const fiber = yield* Stream.fromQueue(queue).pipe(
        Window.aggregate({
          name: "idle",
          key: (e: Event) => e.key,
          window: Window.tumbling("1 minute"),
          aggregator: Aggregator.count,
          grace: 0,
          emit: "final",
          watermark: { idleTimeout: options.idleTimeout, advanceWhenIdle: options.advanceWhenIdle },
          tick: "1 second"
        }),
        Stream.runForEach((o) => Effect.sync(() => o.value._tag === "Result" && results.push(o.value))),
        Effect.forkChild
      )
      let offset = 0
      const offer = (e: Event) => Effect.andThen(Queue.offer(queue, envelope(e, offset++)), Effect.yieldNow)
      return { results, offer, fiber, end: Queue.end(queue) }
    })

  it.effect("aggregate - an idle partition stops holding the watermark back after idleTimeout", () =>
    Effect.gen(function* () {
      const { results, offer, fiber, end } = yield* live({ idleTimeout: "30 seconds" })
      yield* offer(at(0, "a", 0))
      yield* offer(at(0, "b", 1))
      yield* TestClock.adjust("20 seconds")
      // Partition 0 moves on; partition 1 (event time 0) still holds the watermark.
      yield* offer(at(61_000, "a", 0))
      yield* TestClock.adjust("9 seconds")
      assert.deepStrictEqual(results, [])
      // 30 s after its last record partition 1 is idle; partition 0 is not (its last record was 10 s ago).
      yield* TestClock.adjust("2 seconds")
      assert.deepStrictEqual(
        results.map((r) => [r.key, r.start, r.value]),
        [
          ["a", 0, 1],
          ["b", 0, 1]
        ]
      )
      yield* end
      yield* Fiber.join(fiber)
    }).pipe(isolated)
  )

  it.effect("aggregate - with advanceWhenIdle a quiet stream closes its windows by the clock", () =>
    Effect.gen(function* () {
      const { results, offer, fiber, end } = yield* live({ idleTimeout: "10 seconds", advanceWhenIdle: true })
      yield* offer(at(0, "a", 0))
      yield* TestClock.adjust("59 seconds")
      assert.deepStrictEqual(results, [])
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(
        results.map((r) => [r.key, r.start, r.end, r.value]),
        [["a", 0, 60_000, 1]]
      )
      yield* end
      yield* Fiber.join(fiber)
    }).pipe(isolated)
  )

  it.effect("aggregate - without advanceWhenIdle a quiet stream keeps its windows open", () =>
    Effect.gen(function* () {
      const { results, offer, fiber, end } = yield* live({ idleTimeout: "10 seconds" })
      yield* offer(at(0, "a", 0))
      yield* TestClock.adjust("10 minutes")
      assert.deepStrictEqual(results, [])
      yield* end
      yield* Fiber.join(fiber)
    }).pipe(isolated)
  )
})

describe("Window at-least-once", () => {
  // One run over the events (one chunk each) against `store`; acknowledges results only if `ackResults`.
  // Returns the results and the offsets whose receipts were acknowledged (the committable ones).
  const runOver = (
    store: StateStore.StateStore["Service"],
    events: ReadonlyArray<readonly [offset: number, event: Event]>,
    window: Window.Spec,
    ackResults: boolean
  ) =>
    Effect.gen(function* () {
      const done = new Set<number>()
      const outputs = yield* Stream.fromIterable(events.map(([o, e]) => envelope(e, o, () => done.add(o)))).pipe(
        Stream.rechunk(1),
        Window.aggregate({
          name: "count",
          key: (e: Event) => e.key,
          window,
          aggregator: Aggregator.count,
          grace: 0,
          emit: "final"
        }),
        Stream.tap((o) => (ackResults ? o.receipt.ack : Effect.void)),
        Stream.runCollect,
        Effect.provideService(StateStore.StateStore, store),
        Effect.provideService(Metric.MetricRegistry, new Map())
      )
      const results = outputs.flatMap((o) =>
        o.value._tag === "Result" ? [[o.value.key, o.value.start, o.value.end, o.value.value]] : []
      )
      return { results, done }
    })

  for (const [label, window] of [
    ["tumbling", Window.tumbling(1000)],
    ["session", Window.session(1000)]
  ] as const) {
    it.effect(`${label} - a result never acknowledged is emitted again when its records are replayed`, () =>
      Effect.gen(function* () {
        const store = yield* StateStore.makeMemory({ roundTrip: true })
        const events = [at(0), at(500), at(5000), at(9000)].map((e, i) => [i, e] as const)
        // The store's flush succeeds, but the sink never acknowledges the results: a crash before the commit.
        const first = yield* runOver(store, events, window, false)
        assert.isAbove(first.results.length, 0)
        // The restart resumes after the last committed offset (the offsets are contiguous from 0).
        let committed = 0
        while (first.done.has(committed)) committed++
        assert.isBelow(committed, events.length)
        const second = yield* runOver(store, events.slice(committed), window, true)
        // Every result of the first run comes out again (at least once; a replayed record may count twice).
        for (const r of first.results) {
          assert.isTrue(
            second.results.some((s) => s[0] === r[0] && s[1] === r[1] && (s[3] as number) >= (r[3] as number)),
            `result ${JSON.stringify(r)} lost after the restart`
          )
        }
      })
    )
  }

  it.effect("tumbling - results acknowledged before a restart are not emitted again", () =>
    Effect.gen(function* () {
      const store = yield* StateStore.makeMemory({ roundTrip: true })
      const events = [at(0), at(500), at(5000), at(9000)].map((e, i) => [i, e] as const)
      const first = yield* runOver(store, events, Window.tumbling(1000), true)
      assert.deepStrictEqual(first.results, [
        ["k", 0, 1000, 2],
        ["k", 5000, 6000, 1]
      ])
      assert.strictEqual(first.done.size, events.length)
      const second = yield* runOver(store, [[4, at(20_000)]], Window.tumbling(1000), true)
      assert.deepStrictEqual(second.results, [["k", 9000, 10000, 1]])
    })
  )
})

describe("Window pipelined flushes", () => {
  it.effect("aggregate - goes on with later chunks while flushes are outstanding; acks follow them, in order", () =>
    Effect.gen(function* () {
      const { service, gates } = yield* GatedStore.make
      const acked: Array<number> = []
      // Four records in one open window, one chunk each: each record's receipt waits only for its chunk's flushes.
      const events = [1, 2, 3, 4].map((i) => ({
        partition: 0,
        key: `k${i % 2}`,
        t: i * 1000,
        amount: i,
        customer: "c"
      }))
      const fiber = yield* Stream.fromIterable(events.map((e, i) => envelope(e, i, () => acked.push(i)))).pipe(
        Stream.rechunk(1),
        Window.aggregate({
          name: "count",
          key: (e: Event) => e.key,
          window: Window.tumbling("1 hour"),
          aggregator: Aggregator.count,
          grace: 0,
          emit: "final"
        }),
        Stream.runDrain,
        Effect.provideService(StateStore.StateStore, service),
        Effect.provideService(Metric.MetricRegistry, new Map()),
        Effect.forkChild
      )
      // Every chunk was processed (panes and time flushed per chunk) and nothing is acknowledged yet.
      assert.isTrue(yield* GatedStore.until(() => gates.length === 8))
      assert.deepStrictEqual(acked, [])
      for (const gate of gates.slice(2)) yield* gate.open
      yield* GatedStore.until(() => acked.length > 0, 100)
      assert.deepStrictEqual(acked, [])
      for (const gate of gates.slice(0, 2)) yield* gate.open
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(acked, [0, 1, 2, 3])
    })
  )
})

// A run whose source records count their acknowledgements; the sink acknowledges outputs when `ack` says.
const runCounted = (s: Scenario, chunk: number, emit: Window.EmitMode, ack: boolean) =>
  Effect.gen(function* () {
    const acked = new Set<number>()
    const outputs = yield* Stream.fromIterable(s.events.map((e, i) => envelope(e, i, () => acked.add(i)))).pipe(
      Stream.rechunk(chunk),
      Window.aggregate({
        name: "sales",
        key: (e) => e.key,
        window: s.window,
        aggregator: sales,
        grace: s.grace,
        emit,
        watermark: { outOfOrderness: s.outOfOrderness },
        partitions: [0, 1, 2]
      }),
      Stream.tap((o) => (ack ? o.receipt.ack : Effect.void)),
      Stream.runCollect
    )
    return { outputs, acked }
  })

// The last result of each window, as a table written from the results would hold it.
const lastRows = (
  outputs: ReadonlyArray<Envelope.Envelope<Window.Output<Event, Parameters<typeof rowOf>[0]["value"]>>>
) => {
  const table = new Map<string, Row>()
  for (const o of outputs) if (o.value._tag === "Result") table.set(`${o.value.key}/${o.value.start}`, rowOf(o.value))
  return [...table.entries()].sort()
}

describe("Window coalesced", () => {
  it("aggregate - coalesced leaves the table of updates, with no more results, and a record done once its results are", () =>
    fc.assert(
      fc.asyncProperty(scenario, (s) =>
        Effect.runPromise(
          Effect.gen(function* () {
            const updates = yield* runCounted(s, s.chunk, "updates", true).pipe(isolated)
            const coalesced = yield* runCounted(s, s.chunk, "coalesced", true).pipe(isolated)
            assert.deepStrictEqual(lastRows(coalesced.outputs), lastRows(updates.outputs))
            assert.deepStrictEqual(collect(coalesced.outputs).late, collect(updates.outputs).late)
            const count = (o: typeof updates.outputs) => o.filter((x) => x.value._tag === "Result").length
            assert.isAtMost(count(coalesced.outputs), count(updates.outputs))
            // Within one chunk a window comes out at most once.
            if (s.chunk === 1) assert.strictEqual(count(coalesced.outputs), count(updates.outputs))
            assert.strictEqual(coalesced.acked.size, s.events.length)
            // Nothing acknowledged downstream: every record changed a window or is late, so none is done.
            const unacked = yield* runCounted(s, s.chunk, "coalesced", false).pipe(isolated)
            assert.strictEqual(unacked.acked.size, 0)
          })
        )
      ),
      { numRuns: 100 }
    ))

  it.effect("hopping - coalesced emits each window a chunk changed once, with its value at the chunk's end", () =>
    Effect.gen(function* () {
      const events = [at(0), at(150), at(160)]
      const outputs = yield* Stream.fromIterable(events.map((e, i) => envelope(e, i))).pipe(
        Stream.rechunk(3),
        Window.aggregate({
          name: "count",
          key: (e: Event) => e.key,
          window: Window.hopping({ size: 200, slide: 100 }),
          aggregator: Aggregator.count,
          grace: 0,
          emit: "coalesced"
        }),
        Stream.runCollect,
        Effect.provide(StateStore.layerMemory({ roundTrip: true }))
      )
      const results = outputs.flatMap((o) =>
        o.value._tag === "Result" ? [[o.value.start, o.value.end, o.value.value, o.value.final]] : []
      )
      assert.deepStrictEqual(results, [
        [-100, 100, 1, false],
        [0, 200, 3, false],
        [100, 300, 2, false]
      ])
    })
  )
})
