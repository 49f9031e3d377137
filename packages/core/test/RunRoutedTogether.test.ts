import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Metric, Option, Sink, Stream } from "effect"
import * as Envelope from "../src/Envelope.ts"
import * as Metrics from "../src/Metrics.ts"
import * as OffsetTracker from "../src/OffsetTracker.ts"
import * as Pipeline from "../src/Pipeline.ts"
import * as Receipt from "../src/Receipt.ts"

const partitions = 3

// Records of three partitions, tracked by `tracker`, so a test can see what is committable.
const tracked = (tracker: OffsetTracker.OffsetTracker, n: number) =>
  Effect.gen(function* () {
    const origins: ReadonlyArray<Envelope.Origin> = Array.from({ length: n }, (_, i) => ({
      topic: "in",
      partition: i % partitions,
      offset: BigInt(Math.floor(i / partitions)),
      key: null,
      headers: [],
      timestamp: 0
    }))
    for (let p = 0; p < partitions; p++) {
      const offsets = origins.filter((o) => o.partition === p).map((o) => o.offset)
      yield* tracker.trackBatch({ topic: "in", partition: p }, offsets)
    }
    return origins.map((o, i) => Envelope.make(o, i, tracker.receipt(o)))
  })

// Zero, one or two outputs per record, with statuses.
const outputs = (i: number): ReadonlyArray<Pipeline.Output<"a" | "b", number>> =>
  i % 4 === 0
    ? []
    : i % 4 === 1
      ? [Pipeline.to("a", i)]
      : i % 4 === 2
        ? [Pipeline.to("b", i, "late")]
        : [Pipeline.to("a", i, "late"), Pipeline.to("b", i)]

describe("Pipeline.runRoutedTogether", () => {
  it.effect("every output in stream order, in chunks of at most the buffer, counted once acknowledged", () =>
    Effect.gen(function* () {
      const n = 2_000
      const tracker = yield* OffsetTracker.make({ maxInFlight: n })
      const records = yield* tracked(tracker, n)
      const chunks: Array<ReadonlyArray<Pipeline.Output<"a" | "b", number>>> = []
      // Acknowledges whole chunks as a Kafka sink does, each chunk twice.
      const sink = Sink.forEachArray((chunk: ReadonlyArray<Envelope.Envelope<Pipeline.Output<"a" | "b", number>>>) =>
        Effect.andThen(
          Effect.sync(() => chunks.push(chunk.map((e) => e.value))),
          Effect.andThen(Receipt.ackAll(chunk.map((e) => e.receipt)), Receipt.ackAll(chunk.map((e) => e.receipt)))
        )
      )
      yield* Stream.fromIterable(records).pipe(
        Stream.rechunk(97),
        Pipeline.route((i: number) => outputs(i)),
        Pipeline.runRoutedTogether(sink, ["a", "b"], { bufferSize: 200 })
      )
      // The reference: each input chunk of 97 records, routed, in order.
      const streamChunks: Array<ReadonlyArray<Pipeline.Output<"a" | "b", number>>> = []
      for (let start = 0; start < n; start += 97) {
        const chunk = Array.from({ length: Math.min(97, n - start) }, (_, j) => outputs(start + j)).flat()
        if (chunk.length > 0) streamChunks.push(chunk)
      }
      assert.deepStrictEqual(chunks.flat(), streamChunks.flat())
      for (const chunk of chunks) assert.isAtMost(chunk.length, 200)
      const expected = new Map<string, number>()
      for (const out of streamChunks.flat()) {
        const label = `${out.output}/${out.status ?? "ok"}`
        expected.set(label, (expected.get(label) ?? 0) + 1)
      }
      for (const [label, count] of expected) {
        const [output, status] = label.split("/") as [string, string]
        const value = yield* Metric.value(Metric.withAttributes(Metrics.recordsOut, { output, status }))
        assert.strictEqual(value.count, count, label)
      }
      assert.strictEqual(yield* tracker.completed, n)
      for (let p = 0; p < partitions; p++) {
        const last = records.filter((e) => e.origin.partition === p).at(-1)!.origin.offset
        assert.deepStrictEqual(yield* tracker.committable({ topic: "in", partition: p }), Option.some(last + 1n))
      }
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map()))
  )

  it.effect("what arrives while the sink is busy goes in its next chunk", () =>
    Effect.gen(function* () {
      const tracker = yield* OffsetTracker.make({ maxInFlight: 100 })
      const records = yield* tracked(tracker, 100)
      const drained = yield* Deferred.make<void>()
      const sizes: Array<number> = []
      // The first write waits until the stream has emitted everything.
      const sink = Sink.forEachArray((chunk: ReadonlyArray<Envelope.Envelope<Pipeline.Output<"a", number>>>) =>
        Effect.andThen(
          sizes.length === 0 ? Deferred.await(drained) : Effect.void,
          Effect.sync(() => sizes.push(chunk.length))
        )
      )
      yield* Stream.fromIterable(records).pipe(
        Stream.rechunk(10),
        Pipeline.route((i: number) => [Pipeline.to("a", i)]),
        Stream.concat(Stream.fromEffectDrain(Deferred.succeed(drained, undefined))),
        Pipeline.runRoutedTogether(sink, ["a"])
      )
      // Ten stream chunks: the first write may have taken one or more, the next took all the rest.
      assert.isAtMost(sizes.length, 2)
      assert.strictEqual(
        sizes.reduce((a, b) => a + b, 0),
        100
      )
    })
  )

  it.effect("a failed sink chunk leaves its records uncommitted and fails the run", () =>
    Effect.gen(function* () {
      const n = 300
      const tracker = yield* OffsetTracker.make({ maxInFlight: n })
      const records = yield* tracked(tracker, n)
      let calls = 0
      let written = 0
      const sink = Sink.forEachArray((chunk: ReadonlyArray<Envelope.Envelope<Pipeline.Output<"a" | "b", number>>>) => {
        if (++calls === 2) return Effect.fail("boom")
        written += chunk.length
        return Receipt.ackAll(chunk.map((e) => e.receipt))
      })
      const exit = yield* Stream.fromIterable(records).pipe(
        Stream.rechunk(100),
        Pipeline.route((i: number) => [Pipeline.to("a", i)]),
        Pipeline.runRoutedTogether(sink, ["a", "b"], { bufferSize: 100 }),
        Effect.exit
      )
      assert.isTrue(Exit.isFailure(exit))
      // Only the first sink chunk was acknowledged: records 0 to written - 1.
      assert.isAbove(written, 0)
      assert.isBelow(written, n)
      assert.strictEqual(yield* tracker.completed, written)
      for (let p = 0; p < partitions; p++) {
        const acked = records.slice(0, written).filter((e) => e.origin.partition === p)
        assert.deepStrictEqual(
          yield* tracker.committable({ topic: "in", partition: p }),
          acked.length === 0 ? Option.none() : Option.some(acked.at(-1)!.origin.offset + 1n)
        )
      }
    })
  )

  it.effect("dies on an output it was not given", () =>
    Effect.gen(function* () {
      const tracker = yield* OffsetTracker.make({ maxInFlight: 10 })
      const records = yield* tracked(tracker, 3)
      let sent = 0
      const exit = yield* Stream.fromIterable(records).pipe(
        Pipeline.route((i: number) => [Pipeline.to(i === 2 ? "c" : "a", i)]),
        Pipeline.runRoutedTogether(
          Sink.forEachArray((chunk: ReadonlyArray<unknown>) => Effect.sync(() => (sent += chunk.length))),
          ["a", "b"] as ReadonlyArray<"a" | "b" | "c">
        ),
        Effect.exit
      )
      assert.isTrue(Exit.hasDies(exit))
      assert.strictEqual(sent, 0)
    })
  )
})
