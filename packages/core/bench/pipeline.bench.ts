/**
 * CPU cost per record of the combinators a chunked job is made of, without
 * Kafka or a database: the shape of the claims enrichment, on records whose
 * receipts come from a real `OffsetTracker`.
 *
 *   node packages/core/bench/pipeline.bench.ts [records] [rounds]
 *
 * Source chunks of 500 records of one partition each (as a Kafka fetch
 * arrives, tracked with `trackBatch`) go through
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
// Room for the whole input: the bench measures CPU per record, not backpressure.
const maxInFlight = n + 1

// As Kafka delivers them: each fetch holds one partition's next records.
const perPartition = Math.ceil(n / partitions)
const batches: Array<ReadonlyArray<Envelope.Origin>> = []
for (let start = 0; start < perPartition; start += sourceChunk) {
  for (let partition = 0; partition < partitions; partition++) {
    const batch: Array<Envelope.Origin> = []
    for (let offset = start; offset < Math.min(start + sourceChunk, perPartition); offset++) {
      if (offset * partitions + partition >= n) break
      batch.push({ topic: "bench", partition, offset: BigInt(offset), key: null, headers: [], timestamp: 0 })
    }
    if (batch.length > 0) batches.push(batch)
  }
}
const offsetsOf = batches.map((batch) => batch.map((o) => o.offset))

// A source of decoded records as the Kafka source is: each fetch tracked in
// one step (`trackBatch`), one receipt per record, 1% that do not decode.
const source = (tracker: OffsetTracker.OffsetTracker) =>
  Stream.fromIterable(batches.keys()).pipe(
    Stream.mapEffect((b) =>
      Effect.map(tracker.trackBatch(batches[b]![0]!, offsetsOf[b]!), (tracked) => {
        const batch = batches[b]!
        if (tracked !== batch.length) throw new Error("the bench's tracker has room for every fetch")
        return batch.map((o, i) =>
          Envelope.make(
            o,
            i % 100 === 7 ? Result.fail(DeadLetter.make(o, null, "decode", "bench")) : Result.succeed(Number(o.offset)),
            tracker.receipt(o)
          )
        )
      })
    ),
    Stream.flattenIterable,
    Stream.rechunk(sourceChunk)
  )

// Acknowledges each chunk once it is "written", as a Kafka sink does.
const sink = <A>(): Sink.Sink<void, Envelope.Envelope<A>> =>
  Sink.forEachArray((chunk: ReadonlyArray<Envelope.Envelope<A>>) => Receipt.ackAll(chunk.map((e) => e.receipt)))

const pipeline = Effect.gen(function* () {
  const tracker = yield* OffsetTracker.make({ maxInFlight })
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
  const tracker = yield* OffsetTracker.make({ maxInFlight })
  yield* source(tracker).pipe(Stream.runForEachArray((chunk) => Receipt.ackAll(chunk.map((e) => e.receipt))))
  if ((yield* tracker.completed) !== n) return yield* Effect.die(new Error("not every record was acknowledged"))
})

const rounds = Number(process.argv[3] ?? 5)

// CPU time (user + system) of the process for one run, in microseconds.
const cpu = async (effect: Effect.Effect<unknown>): Promise<number> => {
  const start = process.cpuUsage()
  await Effect.runPromise(effect)
  const used = process.cpuUsage(start)
  return used.user + used.system
}

// After a warm-up of each, the baseline and the pipeline alternate, so a
// burst of load from elsewhere spoils one round of both rather than one of them.
const main = async () => {
  console.log(`records: ${n}, source chunks of ${sourceChunk}, ${rounds} rounds, node ${process.version}`)
  await cpu(baseline)
  await cpu(pipeline)
  const base: Array<number> = []
  const full: Array<number> = []
  for (let i = 0; i < rounds; i++) {
    base.push(await cpu(baseline))
    full.push(await cpu(pipeline))
  }
  const best = Math.min(...base)
  const line = (name: string, runs: ReadonlyArray<number>) => {
    const perRecord = runs.map((micros) => micros / n)
    console.log(
      `${name.padEnd(52)} best ${(Math.min(...runs) / n).toFixed(2).padStart(5)} µs CPU/record ` +
        `(${Math.min(...perRecord).toFixed(2)}–${Math.max(...perRecord).toFixed(2)})   ` +
        `${(Math.min(...runs) / best).toFixed(2)}x best baseline`
    )
  }
  line("baseline: track + ack per chunk", base)
  line("deadLetters + mapChunksEffect + route + runRouted", full)
}

main()
