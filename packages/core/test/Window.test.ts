import { assert, describe, it } from "@effect/vitest"
import { BigDecimal, Effect, Metric, Option, Stream } from "effect"
import * as fc from "fast-check"
import * as Aggregator from "../src/Aggregator.ts"
import * as Envelope from "../src/Envelope.ts"
import * as Receipt from "../src/Receipt.ts"
import * as StateStore from "../src/StateStore.ts"
import * as Window from "../src/Window.ts"

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
  emit: Window.EmitMode = "final"
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
            const first = yield* run(s, s.events.slice(0, s.cut), 0, s.chunk)
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
