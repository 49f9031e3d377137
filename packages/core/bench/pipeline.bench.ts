/**
 * CPU cost per record of the combinators a chunked job is made of, without
 * Kafka or a database: the shape of the claims enrichment, on records whose
 * receipts come from a real `OffsetTracker`.
 *
 *   node packages/core/bench/pipeline.bench.ts [records]
 *
 * Source chunks of 500 records (as a Kafka batch arrives) go through
 * `deadLetters` (1% invalid), `mapChunksEffect` (chunks of 32, two at once,
 * a lookup that answers at once), `route` (90% to `enriched`, 10% to
 * `failed`, as the claims data splits) and `runRouted` into two sinks that
 * acknowledge each chunk the way a Kafka sink does after its produce request.
 * Reported per record and as a ratio against a baseline measured in the same
 * run: the same chunks, tracked and acknowledged by one `Stream.runForEachArray`
 * (what any job pays to read and acknowledge records, whatever its combinators).
 */
import { Effect, Result, Sink, Stream } from "effect"
import * as DeadLetter from "../src/DeadLetter.ts"
import * as Envelope from "../src/Envelope.ts"
import * as OffsetTracker from "../src/OffsetTracker.ts"
import * as Pipeline from "../src/Pipeline.ts"
import * as Receipt from "../src/Receipt.ts"

const n = Number(process.argv[2] ?? 200_000)
const sourceChunk = 500
const partitions = 6

const origins: ReadonlyArray<Envelope.Origin> = Array.from({ length: n }, (_, i) => ({
  topic: "bench",
  partition: i % partitions,
  offset: BigInt(Math.floor(i / partitions)),
  key: null,
  headers: [],
  timestamp: 0
}))
const batches: ReadonlyArray<ReadonlyArray<Envelope.Origin>> = Array.from(
  { length: Math.ceil(n / sourceChunk) },
  (_, i) => origins.slice(i * sourceChunk, (i + 1) * sourceChunk)
)

// A source of decoded records: every chunk tracked at once, one receipt per record.
const source = (tracker: OffsetTracker.OffsetTracker) =>
  Stream.fromIterable(batches).pipe(
    Stream.mapEffect((batch) =>
      Effect.as(
        Effect.forEach(batch, (o) => tracker.track(o, o.offset), { discard: true }),
        batch.map((o) =>
          Envelope.make(
            o,
            o.offset % 100n === 7n
              ? Result.fail(DeadLetter.make(o, null, "decode", "bench"))
              : Result.succeed(Number(o.offset)),
            tracker.receipt(o)
          )
        )
      )
    ),
    Stream.flattenIterable,
    Stream.rechunk(sourceChunk)
  )

// Acknowledges each chunk once it is "written", as a Kafka sink does.
const sink = <A>(): Sink.Sink<void, Envelope.Envelope<A>> =>
  Sink.forEachArray((chunk: ReadonlyArray<Envelope.Envelope<A>>) => Receipt.ackAll(chunk.map((e) => e.receipt)))

const pipeline = Effect.gen(function* () {
  const tracker = yield* OffsetTracker.make({ maxInFlight: 10_000 })
  yield* source(tracker).pipe(
    Pipeline.deadLetters(sink()),
    Pipeline.mapChunksEffect((values) => Effect.succeed(values.map((v) => v + 1)), {
      concurrency: 2,
      maxChunkSize: 32
    }),
    Pipeline.route((v) => [
      v % 10 === 3 ? Pipeline.to("failed", v, "NOT_FOUND") : Pipeline.to("enriched", v, "SUCCESS")
    ]),
    Pipeline.runRouted({ enriched: sink<number>(), failed: sink<number>() })
  )
  if ((yield* tracker.completed) !== n) return yield* Effect.die(new Error("not every record was acknowledged"))
})

const baseline = Effect.gen(function* () {
  const tracker = yield* OffsetTracker.make({ maxInFlight: 10_000 })
  yield* source(tracker).pipe(Stream.runForEachArray((chunk) => Receipt.ackAll(chunk.map((e) => e.receipt))))
  if ((yield* tracker.completed) !== n) return yield* Effect.die(new Error("not every record was acknowledged"))
})

// CPU time (user + system) of the process, the best of three after a warm-up.
const cpu = async (effect: Effect.Effect<unknown>): Promise<number> => {
  await Effect.runPromise(effect)
  let best = Number.POSITIVE_INFINITY
  for (let i = 0; i < 3; i++) {
    const start = process.cpuUsage()
    await Effect.runPromise(effect)
    const used = process.cpuUsage(start)
    best = Math.min(best, used.user + used.system)
  }
  return best
}

const main = async () => {
  console.log(`records: ${n}, source chunks of ${sourceChunk}, node ${process.version}`)
  const base = await cpu(baseline)
  const full = await cpu(pipeline)
  const line = (name: string, micros: number) =>
    console.log(
      `${name.padEnd(60)} ${(micros / n).toFixed(2).padStart(7)} µs CPU/record   ${(micros / base).toFixed(2)}x baseline`
    )
  line("baseline: track + ack per chunk", base)
  line("deadLetters + mapChunksEffect + route + runRouted", full)
}

main()
