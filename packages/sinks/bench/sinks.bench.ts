/**
 * The sinks against real servers, every figure next to a baseline measured in
 * the same run (absolute numbers depend on the machine).
 *
 *   node packages/sinks/bench/sinks.bench.ts [rows] [deliveries]
 *
 * PostgreSQL upsert, `rows` rows (200,000 by default) over 50,000 keys, so
 * most writes update an existing row, in chunks of 1,000 (keys distinct
 * within a chunk), one client connection:
 * - hand-written (baseline): postgres.js, one `INSERT … VALUES ($1, …), … ON
 *   CONFLICT (key) DO UPDATE` per chunk with the values as parameters; and
 *   the same statement prepared (its text repeats for every full chunk).
 * - sluice sink: envelopes through `Stream.run(PgUpsertSink.make(...))`:
 *   encoding, dedupe, the unnest upsert per chunk, receipts acknowledged.
 * Each scenario starts from an empty table; rounds alternate the order after a
 * warm-up round, and the median of the per-round ratios is reported.
 *
 * Webhook, `deliveries` POSTs (5,000 by default) to the testkit's
 * `FakeWebhook` on loopback, 16 in flight:
 * - fetch loop (baseline): plain `fetch` with the same headers and body.
 * - sluice sink: `WebhookSink.make` (per-attempt timeout, policy with retry
 *   and breaker, receipts), once with Effect's fetch client
 *   (`FetchHttpClient`) and once with its undici client
 *   (`NodeHttpClient.layerUndici` from `@effect/platform-node`).
 *
 * Results go to stdout and to `bench/results/sinks.json`.
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { NodeHttpClient } from "@effect/platform-node"
import { Envelope, Receipt } from "@sluice/core"
import { FakeWebhook } from "@sluice/testkit"
import { Effect, Layer, Redacted, Stream } from "effect"
import { FetchHttpClient, type HttpClient } from "effect/http"
import postgres from "postgres"
import { scopedDatabase } from "../../../bench/support/benchDatabase.ts"
import * as PgUpsertSink from "../src/PgUpsertSink.ts"
import * as WebhookSink from "../src/WebhookSink.ts"

const rowCount = Number(process.argv[2] ?? 200_000)
const deliveries = Number(process.argv[3] ?? 5_000)
const KEYS = 50_000
const CHUNK = 1_000
const ROUNDS = 5
const IN_FLIGHT = 16

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

const table: PgUpsertSink.Table = {
  name: "bench_metrics",
  key: [{ name: "id", type: "text" }],
  columns: [
    { name: "region", type: "text" },
    { name: "revenue", type: "numeric(20,4)" },
    { name: "orders", type: "bigint" }
  ]
}

interface Metric {
  readonly id: string
  readonly region: string
  readonly revenue: string
  readonly orders: number
}

const metrics: Array<Metric> = Array.from({ length: rowCount }, (_, i) => ({
  id: `metric-${i % KEYS}`,
  region: ["eu", "us", "apac"][i % 3]!,
  revenue: `${(i * 7919) % 10_000_000}.${String(i % 10_000).padStart(4, "0")}`,
  orders: i % 997
}))

const origin: Envelope.Origin = { topic: "bench", partition: 0, offset: 0n, key: null, headers: [], timestamp: 0 }

const program = Effect.gen(function* () {
  const db = yield* scopedDatabase("sinks_bench")
  const sql = yield* Effect.acquireRelease(
    Effect.sync(() => postgres(Redacted.value(db.url), { max: 1, onnotice: () => {} })),
    (s) => Effect.promise(() => s.end({ timeout: 2 }))
  )
  yield* PgUpsertSink.createTable(sql, table)

  const handWritten = (prepare: boolean) => async () => {
    for (let start = 0; start < metrics.length; start += CHUNK) {
      const chunk = metrics.slice(start, start + CHUNK)
      const params: Array<string> = []
      const values = chunk.map((m, i) => {
        params.push(m.id, m.region, m.revenue, String(m.orders))
        const p = i * 4
        return `($${p + 1}, $${p + 2}, $${p + 3}::numeric, $${p + 4}::bigint)`
      })
      await sql.unsafe(
        `INSERT INTO bench_metrics (id, region, revenue, orders) VALUES ${values.join(", ")}
         ON CONFLICT (id) DO UPDATE SET region = EXCLUDED.region, revenue = EXCLUDED.revenue, orders = EXCLUDED.orders`,
        params,
        { prepare }
      )
    }
  }
  let acked = 0
  const sink = PgUpsertSink.make(sql, table, (m: Metric) => ({ ...m }))
  const viaSink = () =>
    Effect.runPromise(
      Stream.fromIterable(metrics).pipe(
        Stream.map((m) =>
          Envelope.make(
            origin,
            m,
            Receipt.makeUnsafe(() => acked++)
          )
        ),
        Stream.rechunk(CHUNK),
        Stream.run(sink)
      )
    )

  const pgScenarios = [
    { name: "hand-written multi-row insert", run: handWritten(false) },
    { name: "hand-written, prepared", run: handWritten(true) },
    { name: "sluice PgUpsertSink", run: viaSink }
  ]
  const pgTimes = new Map<string, Array<number>>(pgScenarios.map((s) => [s.name, []]))
  for (let round = 0; round <= ROUNDS; round++) {
    for (let i = 0; i < pgScenarios.length; i++) {
      const scenario = pgScenarios[(i + round) % pgScenarios.length]!
      yield* Effect.promise(() => sql.unsafe("TRUNCATE bench_metrics"))
      const start = performance.now()
      yield* Effect.promise(scenario.run)
      if (round > 0) pgTimes.get(scenario.name)!.push(performance.now() - start)
    }
  }
  const check = yield* Effect.promise(() => sql.unsafe("SELECT count(*)::int AS n FROM bench_metrics"))
  if (check[0]!.n !== Math.min(KEYS, rowCount)) throw new Error(`unexpected row count ${check[0]!.n}`)
  if (acked !== rowCount * (ROUNDS + 1)) throw new Error(`unexpected acks ${acked}`)

  // Webhook deliveries.
  const receiver = yield* FakeWebhook.make()
  const bodies = Array.from({ length: deliveries }, (_, i) => ({ event_id: `evt-${i}`, user_id: `user-${i % 977}` }))
  const fetchLoop = async () => {
    let next = 0
    const worker = async () => {
      while (next < bodies.length) {
        const body = bodies[next++]!
        const response = await fetch(receiver.url, {
          method: "POST",
          headers: { "content-type": "application/json", "idempotency-key": body.event_id },
          body: JSON.stringify(body)
        })
        await response.text()
        if (response.status !== 200) throw new Error(`status ${response.status}`)
      }
    }
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker))
  }
  // Each client is built once in the benchmark's scope, as a job would (the undici one owns a dispatcher).
  const hookSink = (client: Layer.Layer<HttpClient.HttpClient>) =>
    Effect.flatMap(Layer.build(client), (context) =>
      WebhookSink.make<{ event_id: string; user_id: string }, string>({
        url: receiver.url,
        idempotencyKey: (e) => e.value.event_id,
        concurrency: IN_FLIGHT,
        fallback: () => Effect.fail("a delivery failed in the benchmark")
      }).pipe(Effect.provide(context))
    )
  const fetchSink = yield* hookSink(FetchHttpClient.layer)
  const undiciSink = yield* hookSink(NodeHttpClient.layerUndici)
  const viaWebhook = (sink: typeof fetchSink) => () =>
    Effect.runPromise(
      Stream.fromIterable(bodies).pipe(
        Stream.map((b) => Envelope.make(origin, b)),
        Stream.rechunk(IN_FLIGHT * 8),
        Stream.run(sink)
      )
    )
  const hookScenarios = [
    { name: "fetch loop", run: fetchLoop },
    { name: "sluice WebhookSink, fetch client", run: viaWebhook(fetchSink) },
    { name: "sluice WebhookSink, undici client", run: viaWebhook(undiciSink) }
  ]
  const hookTimes = new Map<string, Array<number>>(hookScenarios.map((s) => [s.name, []]))
  for (let round = 0; round <= 3; round++) {
    for (let i = 0; i < hookScenarios.length; i++) {
      const scenario = hookScenarios[(i + round) % hookScenarios.length]!
      const start = performance.now()
      yield* Effect.promise(scenario.run)
      if (round > 0) hookTimes.get(scenario.name)!.push(performance.now() - start)
    }
  }
  if ((yield* receiver.delivered).length !== deliveries * 4 * hookScenarios.length)
    throw new Error("missing deliveries")

  // Every scenario against each baseline: the median of the per-round ratios (baseline ms / scenario ms).
  const report = (
    title: string,
    unit: string,
    count: number,
    times: Map<string, Array<number>>,
    baselines: ReadonlyArray<string>
  ) => {
    console.log(`\n${title}\n`)
    console.log(
      `${"scenario".padEnd(34)} ${"median ms".padStart(10)} ${`${unit}/s`.padStart(14)} ${baselines.map((b) => `vs ${b}`.padStart(34)).join(" ")}`
    )
    return [...times.keys()].map((name) => {
      const ms = times.get(name)!
      const ratios = Object.fromEntries(
        baselines.map((b) => [b, median(ms.map((m, i) => times.get(b)![i]! / m))] as const)
      )
      const perSecond = Math.round((count / median(ms)) * 1000)
      console.log(
        `${name.padEnd(34)} ${median(ms).toFixed(1).padStart(10)} ${String(perSecond).padStart(14)} ${baselines.map((b) => `${ratios[b]!.toFixed(2)}x`.padStart(34)).join(" ")}`
      )
      return { scenario: name, medianMs: median(ms), perSecond, ratios, times: ms }
    })
  }
  const pgRows = report(
    `PostgreSQL upsert: ${rowCount} rows over ${KEYS} keys, chunks of ${CHUNK}, median of ${ROUNDS} interleaved rounds`,
    "rows",
    rowCount,
    pgTimes,
    ["hand-written multi-row insert", "hand-written, prepared"]
  )
  const hookRows = report(
    `Webhook: ${deliveries} POSTs to the fake receiver, ${IN_FLIGHT} in flight, median of 3 interleaved rounds`,
    "deliveries",
    deliveries,
    hookTimes,
    ["fetch loop"]
  )
  const out = join(import.meta.dirname, "..", "..", "..", "bench", "results")
  mkdirSync(out, { recursive: true })
  writeFileSync(
    join(out, "sinks.json"),
    `${JSON.stringify({ rowCount, keys: KEYS, chunk: CHUNK, deliveries, inFlight: IN_FLIGHT, postgres: pgRows, webhook: hookRows }, null, 2)}\n`
  )
  console.log(`\nwritten to bench/results/sinks.json`)
})

Effect.runPromise(Effect.scoped(program)).catch((error) => {
  console.error(error)
  process.exit(1)
})
