/**
 * Hopping windows, 1 h sliding by 5 min, sum + count + distinct customers
 * per key, over N events with 10,000 keys, all in memory:
 *
 *   node packages/core/bench/windows.bench.ts [events]      (1,000,000 by default)
 *
 * Reports events/s of `Window.aggregate` (with the in-memory `StateStore`)
 * and its ratio against a floor measured in the same run: a plain
 * `Stream.runFold` over the same events doing the same arithmetic by hand in
 * a `Map` (one pane per key and 5 minutes, a window's result combined from
 * its 12 panes when the watermark passes its end; the operator must emit the
 * same number of results). Then the operator's peak RSS and live heap (the
 * largest heap left after a full GC, sampled every 250,000 events) at N and
 * 4N events, each in a fresh process, to show whether memory follows keys ×
 * panes or events. Events are generated on the fly, in chunks of 1,000, so
 * the input itself takes no memory.
 */
import { spawnSync } from "node:child_process"
import { BigDecimal, Effect, Metric, Stream } from "effect"
import * as Aggregator from "../src/Aggregator.ts"
import * as Envelope from "../src/Envelope.ts"
import * as Receipt from "../src/Receipt.ts"
import * as StateStore from "../src/StateStore.ts"
import * as Window from "../src/Window.ts"

const keys = 10_000
const customers = 5_000
const slide = 5 * 60_000
const size = 60 * 60_000
const outOfOrderness = 10_000
// 36 ms of event time per event: 1M events span 10 hours, so windows keep closing.
const step = 36

interface Sale {
  readonly key: string
  readonly customer: string
  readonly amount: BigDecimal.BigDecimal
  readonly t: number
}

const amounts = Array.from({ length: 1000 }, (_, i) => BigDecimal.make(BigInt(100 + i * 7), 2))
const keyNames = Array.from({ length: keys }, (_, i) => `k${i}`)
const customerNames = Array.from({ length: customers }, (_, i) => `c${i}`)

// With --expose-gc (the memory runs): the largest heap left after a full GC,
// sampled every 250,000 events, i.e. what the run really holds.
const gc = (globalThis as { gc?: () => void }).gc
let liveMB = 0
const sampleLive = () => {
  if (gc === undefined) return
  gc()
  liveMB = Math.max(liveMB, process.memoryUsage().heapUsed / 2 ** 20)
}

// Deterministic events; up to 5 s out of order.
function* chunks(n: number): Generator<ReadonlyArray<Envelope.Envelope<Sale>>> {
  let s = 12345
  for (let from = 0; from < n; from += 1000) {
    if (from % 250_000 === 0 && from > 0) sampleLive()
    const chunk: Array<Envelope.Envelope<Sale>> = []
    for (let i = from; i < Math.min(n, from + 1000); i++) {
      s = (s * 1103515245 + 12345) % 2 ** 31
      const t = i * step + (s % 5000)
      const sale: Sale = {
        key: keyNames[s % keys]!,
        customer: customerNames[(s >> 8) % customers]!,
        amount: amounts[s % 1000]!,
        t
      }
      chunk.push(
        Envelope.make(
          { topic: "sales", partition: 0, offset: BigInt(i), key: null, headers: [], timestamp: t },
          sale,
          Receipt.none
        )
      )
    }
    yield chunk
  }
}

// One generated chunk per pull: by default `fromIterable` would pull thousands
// of the generator's chunks into one array, i.e. hold millions of events at once.
const events = (n: number) =>
  Stream.fromIterable(chunks(n), { chunkSize: 1 }).pipe(Stream.flattenIterable, Stream.rechunk(1000))

const aggregator = Aggregator.struct({
  orders: Aggregator.count,
  revenue: Aggregator.sum((s: Sale) => s.amount),
  customers: Aggregator.distinctCount((s: Sale) => s.customer)
})

const operator = (n: number) =>
  events(n).pipe(
    Window.aggregate({
      name: "bench",
      key: (s: Sale) => s.key,
      timestamp: (s) => s.t,
      window: Window.hopping({ size, slide }),
      aggregator,
      grace: 0,
      emit: "final",
      watermark: { outOfOrderness }
    }),
    Stream.runFold(
      () => 0,
      (count) => count + 1
    ),
    Effect.provide(StateStore.layerMemory()),
    Effect.provideService(Metric.MetricRegistry, new Map())
  )

interface Pane {
  orders: number
  revenue: BigDecimal.BigDecimal
  customers: Set<string>
}

// The floor: the same panes and window results, by hand.
const floor = (n: number) =>
  Effect.map(
    Stream.runFold(
      events(n),
      () => ({
        panes: new Map<number, Map<string, Pane>>(),
        max: Number.NEGATIVE_INFINITY,
        closed: Number.NEGATIVE_INFINITY,
        results: 0
      }),
      (acc, e) => {
        const s = e.value
        const pane = Math.floor(s.t / slide) * slide
        let m = acc.panes.get(pane)
        if (m === undefined) {
          m = new Map()
          acc.panes.set(pane, m)
        }
        const p = m.get(s.key)
        if (p === undefined) m.set(s.key, { orders: 1, revenue: s.amount, customers: new Set([s.customer]) })
        else {
          p.orders++
          p.revenue = BigDecimal.sum(p.revenue, s.amount)
          p.customers.add(s.customer)
        }
        if (s.t > acc.max) acc.max = s.t
        const watermark = acc.max - outOfOrderness
        // Close every window whose end the watermark passed.
        const first =
          acc.closed === Number.NEGATIVE_INFINITY ? Math.min(...acc.panes.keys()) - size + slide : acc.closed
        for (let start = first; start + size <= watermark; start += slide) {
          const windowKeys = new Map<string, Pane>()
          for (let q = start; q < start + size; q += slide) {
            for (const [k, part] of acc.panes.get(q) ?? []) {
              const w = windowKeys.get(k)
              if (w === undefined)
                windowKeys.set(k, { orders: part.orders, revenue: part.revenue, customers: new Set(part.customers) })
              else {
                w.orders += part.orders
                w.revenue = BigDecimal.sum(w.revenue, part.revenue)
                for (const c of part.customers) w.customers.add(c)
              }
            }
          }
          acc.results += windowKeys.size
          acc.panes.delete(start)
          acc.closed = start + slide
        }
        return acc
      }
    ),
    (acc) => acc.results
  )

const measure = async (effect: Effect.Effect<number, unknown>) => {
  const start = performance.now()
  const results = await Effect.runPromise(effect)
  return { ms: performance.now() - start, results }
}

const mode = process.argv[2]
if (mode === "child") {
  // One measurement in a fresh process: `child <operator|floor> <events>`.
  const [which, count] = process.argv.slice(3)
  const n = Number(count)
  const { ms, results } = await measure(which === "floor" ? floor(n) : operator(n))
  console.log(JSON.stringify({ ms, results, maxRssMB: process.resourceUsage().maxRSS / 1024, liveMB }))
} else {
  const n = Number(mode ?? 1_000_000)
  const child = (which: string, count: number, flags: ReadonlyArray<string> = []) => {
    const run = spawnSync(process.execPath, [...flags, import.meta.filename, "child", which, String(count)], {
      encoding: "utf8",
      maxBuffer: 1 << 20
    })
    if (run.status !== 0) throw new Error(`${which} ${count} failed: ${run.stderr}`)
    return JSON.parse(run.stdout.trim().split("\n").at(-1)!) as {
      ms: number
      results: number
      maxRssMB: number
      liveMB: number
    }
  }
  const base = child("floor", n)
  const op = child("operator", n)
  if (op.results !== base.results) throw new Error(`operator emitted ${op.results} results, the floor ${base.results}`)
  // Memory runs: fresh processes that also sample the live heap.
  const floorMemory = child("floor", n, ["--expose-gc"])
  const small = child("operator", n, ["--expose-gc"])
  const big = child("operator", 4 * n, ["--expose-gc"])
  const rate = (count: number, ms: number) => Math.round((count / ms) * 1000)
  const mb = (x: number) => `${x.toFixed(0)} MB`
  console.log(`hopping 1 h / 5 min, sum + count + distinct, ${keys} keys, in memory`)
  console.log(
    `  floor (Stream.runFold + Map)  ${n} events  ${rate(n, base.ms)} events/s  (${base.results} window results)`
  )
  console.log(
    `  Window.aggregate               ${n} events  ${rate(n, op.ms)} events/s  ratio ${(base.ms / op.ms).toFixed(2)}x of the floor`
  )
  console.log(
    `  Window.aggregate memory: ${n} events: peak RSS ${mb(small.maxRssMB)}, live heap ${mb(small.liveMB)}; ` +
      `${4 * n} events: peak RSS ${mb(big.maxRssMB)}, live heap ${mb(big.liveMB)}`
  )
  // What the floor, which keeps only its panes, holds over the same stream: the operator's
  // own state is the difference, as the stream itself may hold memory.
  console.log(
    `  floor memory: ${n} events: peak RSS ${mb(floorMemory.maxRssMB)}, live heap ${mb(floorMemory.liveMB)}; ` +
      `operator minus floor live heap at ${n}: ${mb(small.liveMB - floorMemory.liveMB)}`
  )
}
