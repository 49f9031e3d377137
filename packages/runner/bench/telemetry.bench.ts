/**
 * What the per-batch spans cost, as ratios against a baseline measured in the
 * same run (absolute numbers depend on the machine).
 *
 *   node packages/runner/bench/telemetry.bench.ts [lookups]
 *
 * The workload is the span-heaviest path a job has: `lookups` distinct keys
 * through `Lookup.make` (batches of 100, 1,600 gets in flight) whose fetch
 * answers from memory, so each batch is almost nothing but the resolver and
 * its `sluice.lookup.batch` span. Against a real database a batch costs a
 * round trip of a millisecond or more, and the share of the span is far
 * smaller; this is the worst case. Modes, interleaved over the rounds:
 *
 * - no spans: tracing disabled (`References.TracerEnabled`), the baseline;
 * - unset: Effect's own in-process tracer, what a job pays without
 *   `OTEL_EXPORTER_OTLP_ENDPOINT`;
 * - otlp: `Telemetry.layerFrom`, spans batched and posted as OTLP/JSON to a
 *   receiver in this process (its work counts against the mode too).
 *
 * Each run is timed by the CPU time of this process rather than the wall
 * clock, which other processes on a shared machine would distort; the OTLP
 * exporter works in this process, so its work is counted.
 *
 * Results go to stdout and to `bench/results/telemetry.json`.
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { join } from "node:path"
import { Lookup } from "@sluice/lookup"
import { Duration, Effect, Layer, References } from "effect"
import * as Telemetry from "../src/Telemetry.ts"

const lookups = Number(process.argv[2] ?? 200_000)
// The default queue (2,048 spans) would drop most spans of this burst, and
// with them most of the export work: every span is exported here.
process.env.OTEL_BSP_MAX_QUEUE_SIZE = String(lookups)
const ROUNDS = 11
const keys = Array.from({ length: lookups }, (_, i) => `K-${i}`)

let batches = 0
let spansReceived = 0
const lookup = Lookup.make<string, number>({
  name: "bench",
  maxBatchSize: 100,
  fetch: (batch) =>
    Effect.sync(() => {
      batches++
      return new Map(batch.map((k) => [k, 1]))
    })
})
const work = Effect.forEach(keys, lookup.get, { concurrency: 1_600, discard: true })

const receiver = Effect.acquireRelease(
  Effect.promise(
    () =>
      new Promise<{ close: () => Promise<void>; url: string }>((resolve) => {
        const server = createServer((req, res) => {
          let body = ""
          req.on("data", (c) => {
            body += c
          })
          req.on("end", () => {
            if (req.url === "/v1/traces") spansReceived += body.split('"sluice.lookup.batch"').length - 1
            res.writeHead(200, { "content-type": "application/json" }).end("{}")
          })
        })
        server.listen(0, "127.0.0.1", () =>
          resolve({
            url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
            close: () => new Promise((done) => server.close(() => done()))
          })
        )
      })
  ),
  (r) => Effect.promise(r.close)
)

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const program = Effect.gen(function* () {
  const { url } = yield* receiver
  const otlp = yield* Layer.build(
    Telemetry.layerFrom({
      endpoint: url,
      serviceName: "sluice-bench",
      headers: {},
      metricExportInterval: Duration.minutes(10)
    })
  )
  const modes = {
    "no spans": Effect.provideService(work, References.TracerEnabled, false),
    unset: work,
    otlp: Effect.provideContext(work, otlp)
  }
  const times: Record<string, Array<number>> = { "no spans": [], unset: [], otlp: [] }
  for (const effect of Object.values(modes)) yield* effect // warm-up, not counted
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, effect] of Object.entries(modes)) {
      const start = process.cpuUsage()
      yield* effect
      const used = process.cpuUsage(start)
      times[name]!.push((used.user + used.system) / 1000)
    }
  }
  const spansPerRun = batches / (ROUNDS + 1) / Object.keys(modes).length
  const base = median(times["no spans"]!)
  const rows = Object.entries(times).map(([mode, ts]) => ({
    mode,
    ratio: median(ts) / base,
    extraMicrosPerSpan: ((median(ts) - base) * 1000) / spansPerRun
  }))
  console.log(
    `${lookups} lookups, ${Math.round(spansPerRun)} batches (spans) per run, ${ROUNDS} rounds, medians of CPU time`
  )
  console.log("mode       time / no-spans   extra µs per span")
  for (const r of rows) {
    console.log(
      `${r.mode.padEnd(10)} ${r.ratio.toFixed(3).padStart(15)}   ${r.extraMicrosPerSpan.toFixed(1).padStart(17)}`
    )
  }
  return { lookups, spansPerRun, rows }
})

Effect.runPromise(Effect.scoped(program)).then(
  (result) => {
    console.log(`(the receiver got ${spansReceived} lookup spans)`)
    const out = join(import.meta.dirname, "..", "..", "..", "bench", "results")
    mkdirSync(out, { recursive: true })
    writeFileSync(join(out, "telemetry.json"), `${JSON.stringify({ ...result, spansReceived }, null, 2)}\n`)
    console.log("\nwritten to bench/results/telemetry.json")
  },
  (error) => {
    console.error(error)
    process.exit(1)
  }
)
