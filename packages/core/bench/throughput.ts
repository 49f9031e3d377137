/**
 * Throughput of the core hot paths, each reported as a ratio against a
 * baseline measured in the same run (absolute figures depend on the machine).
 *
 *   node packages/core/bench/throughput.ts [records]
 *
 * - tracker: a Stream that tracks every record and acknowledges its receipt,
 *   in order and out of order, against the same Stream running one no-op
 *   effect per record.
 * - mapEffect: `Pipeline.mapEffect` in each ordering against Effect's own
 *   `Stream.mapEffect` with the same concurrency (ordered: global input
 *   order; Pipeline's ordered mode keeps order per partition).
 */
import { Effect, Stream } from "effect"
import * as Envelope from "../src/Envelope.ts"
import * as OffsetTracker from "../src/OffsetTracker.ts"
import * as Pipeline from "../src/Pipeline.ts"
import type * as Receipt from "../src/Receipt.ts"

const n = Number(process.argv[2] ?? 200_000)
const partitions = 8
const encoder = new TextEncoder()

const origins: ReadonlyArray<Envelope.Origin> = Array.from({ length: n }, (_, i) => ({
  topic: "bench",
  partition: i % partitions,
  offset: BigInt(Math.floor(i / partitions)),
  key: encoder.encode(`key-${i % 1000}`),
  headers: [],
  timestamp: 0
}))

const time = async (effect: Effect.Effect<unknown>): Promise<number> => {
  // one warm-up run, then the best of three
  await Effect.runPromise(effect)
  let best = Number.POSITIVE_INFINITY
  for (let i = 0; i < 3; i++) {
    const start = performance.now()
    await Effect.runPromise(effect)
    best = Math.min(best, performance.now() - start)
  }
  return best
}

const report = (name: string, ms: number, baselineMs: number) =>
  console.log(
    `${name.padEnd(44)} ${(n / (ms / 1000)).toFixed(0).padStart(10)} rec/s   ${(baselineMs / ms).toFixed(2)}x baseline`
  )

const noOpPerRecord = Stream.fromIterable(origins).pipe(
  Stream.mapEffect((o) => Effect.succeed(o)),
  Stream.runDrain
)

// Track on the way in, acknowledge at the end of the stream, in order.
const trackedInOrder = Effect.gen(function* () {
  const tracker = yield* OffsetTracker.make({ maxInFlight: 10_000 })
  yield* Stream.fromIterable(origins).pipe(
    Stream.mapEffect((o) => Effect.as(tracker.track(o, o.offset), OffsetTracker.receipt(tracker, o))),
    Stream.mapEffect((r) => r.ack),
    Stream.runDrain
  )
})

// Acknowledge in reverse within windows of 1000 records: the head completes last.
const trackedOutOfOrder = Effect.gen(function* () {
  const tracker = yield* OffsetTracker.make({ maxInFlight: 10_000 })
  yield* Stream.fromIterable(origins).pipe(
    Stream.mapEffect((o) => Effect.as(tracker.track(o, o.offset), OffsetTracker.receipt(tracker, o))),
    Stream.grouped(1000),
    Stream.mapEffect((window: ReadonlyArray<Receipt.Receipt>) =>
      Effect.forEach([...window].reverse(), (r) => r.ack, { discard: true })
    ),
    Stream.runDrain
  )
})

const envelopes = origins.map((o) => Envelope.make(o, o.offset))
const work = (x: bigint) => Effect.as(Effect.yieldNow, x + 1n)

const streamMapEffect = (unordered: boolean) =>
  Stream.fromIterable(envelopes).pipe(
    Stream.mapEffect((e) => Effect.map(work(e.value), (v) => Envelope.make(e.origin, v, e.receipt)), {
      concurrency: 16,
      unordered
    }),
    Stream.runDrain
  )

const pipelineMapEffect = (ordering: Pipeline.Ordering) =>
  Stream.fromIterable(envelopes).pipe(
    Pipeline.mapEffect((v: bigint) => work(v), { concurrency: 16, ordering }),
    Stream.runDrain
  )

const main = async () => {
  console.log(`records: ${n}, partitions: ${partitions}, node ${process.version}`)
  const baseline = await time(noOpPerRecord)
  report("baseline: Stream.mapEffect no-op per record", baseline, baseline)
  report("OffsetTracker track + ack, in order", await time(trackedInOrder), baseline)
  report("OffsetTracker track + ack, reversed windows", await time(trackedOutOfOrder), baseline)

  const ordered = await time(streamMapEffect(false))
  report("baseline: Stream.mapEffect concurrency 16", ordered, ordered)
  report("Pipeline.mapEffect ordered", await time(pipelineMapEffect("ordered")), ordered)
  report("Pipeline.mapEffect key", await time(pipelineMapEffect("key")), ordered)
  const unordered = await time(streamMapEffect(true))
  report("baseline: Stream.mapEffect unordered", unordered, unordered)
  report("Pipeline.mapEffect unordered", await time(pipelineMapEffect("unordered")), unordered)
}

main()
