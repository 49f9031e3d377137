import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Metric, Option, Ref, Schema, Sink, Stream } from "effect"
import { TestClock } from "effect/testing"
import type * as DeadLetter from "../src/DeadLetter.ts"
import * as Envelope from "../src/Envelope.ts"
import * as InMemory from "../src/InMemory.ts"
import * as Metrics from "../src/Metrics.ts"
import * as OffsetTracker from "../src/OffsetTracker.ts"
import * as Pipeline from "../src/Pipeline.ts"
import * as Receipt from "../src/Receipt.ts"

const encoder = new TextEncoder()

// Envelopes whose receipts record their offset in `acked` when acknowledged.
const envelopes = <A>(
  acked: Ref.Ref<ReadonlyArray<bigint>>,
  values: ReadonlyArray<A>,
  options?: { readonly partitions?: number; readonly key?: (i: number) => string | null }
): ReadonlyArray<Envelope.Envelope<A>> =>
  values.map((value, i) => {
    const key = options?.key?.(i) ?? null
    const origin: Envelope.Origin = {
      topic: "in",
      partition: i % (options?.partitions ?? 1),
      offset: BigInt(i),
      key: key === null ? null : encoder.encode(key),
      headers: [["trace", encoder.encode(`t${i}`)]],
      timestamp: 0
    }
    return Envelope.make(origin, value, Receipt.make(Ref.update(acked, (xs) => [...xs, BigInt(i)])))
  })

// Deterministic pseudo-random durations (a small LCG), so failures reproduce.
const durations = (n: number, seed: number, max: number): ReadonlyArray<number> => {
  let s = seed
  return Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2 ** 31
    return 1 + (s % max)
  })
}

// Runs `effect` while advancing the TestClock in small steps until it completes (bounded).
const runVirtual = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.gen(function* () {
    const fiber = yield* Effect.forkChild(effect)
    for (let i = 0; i < 10_000 && fiber.pollUnsafe() === undefined; i++) yield* TestClock.adjust("1 millis")
    return yield* Fiber.join(fiber)
  })

// A sink that runs `f` for each envelope.
const eachOf = <A, E>(f: (e: A) => Effect.Effect<unknown, E>) =>
  Sink.forEachArray((chunk: ReadonlyArray<A>) => Effect.forEach(chunk, f, { discard: true }))

const Event = Schema.Struct({ id: Schema.Number })

const collectAndAck = <A>(into: Ref.Ref<ReadonlyArray<Envelope.Envelope<A>>>) =>
  eachOf((e: Envelope.Envelope<A>) =>
    Effect.andThen(
      Ref.update(into, (xs) => [...xs, e]),
      e.receipt.ack
    )
  )

describe("Pipeline", () => {
  it.effect("decode - malformed input becomes a dead letter while good input continues", () =>
    Effect.gen(function* () {
      const acked = yield* Ref.make<ReadonlyArray<bigint>>([])
      const input = envelopes<Envelope.Payload>(acked, [
        encoder.encode('{"id":1}'),
        "{not json",
        '{"id":"two"}',
        null,
        new Uint8Array([0xff, 0xfe]),
        '{"id":6}'
      ])
      const dead = yield* Ref.make<ReadonlyArray<Envelope.Envelope<DeadLetter.DeadLetter>>>([])
      const valid = yield* Stream.fromIterable(input).pipe(
        Pipeline.decode(Schema.fromJsonString(Event)),
        Pipeline.deadLetters(collectAndAck(dead)),
        Stream.runCollect
      )
      assert.deepStrictEqual(
        valid.map((e) => [e.origin.offset, e.value.id]),
        [
          [0n, 1],
          [5n, 6]
        ]
      )
      const letters = (yield* Ref.get(dead)).map((e) => e.value)
      assert.deepStrictEqual(
        letters.map((d) => d.origin.offset),
        [1n, 2n, 3n, 4n]
      )
      assert.deepStrictEqual(letters[0]!.value, encoder.encode("{not json"))
      assert.deepStrictEqual(letters[3]!.value, new Uint8Array([0xff, 0xfe]))
      assert.isNull(letters[2]!.value)
      assert.match(letters[1]!.reason, /Expected number/)
      assert.isTrue(letters.every((d) => d.kind === "decode"))
      // the dead-letter sink acknowledged its records; the valid ones are still pending
      assert.deepStrictEqual([...(yield* Ref.get(acked))].sort(), [1n, 2n, 3n, 4n])
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map()))
  )

  it.effect("deadLetters - a dead letter is done only when the dead-letter sink acknowledges it", () =>
    Effect.gen(function* () {
      const acked = yield* Ref.make<ReadonlyArray<bigint>>([])
      const held = yield* Ref.make<ReadonlyArray<Envelope.Envelope<DeadLetter.DeadLetter>>>([])
      const holdingSink = eachOf((e: Envelope.Envelope<DeadLetter.DeadLetter>) => Ref.update(held, (xs) => [...xs, e]))
      yield* Stream.fromIterable(envelopes<Envelope.Payload>(acked, ["oops"])).pipe(
        Pipeline.decode(Schema.fromJsonString(Event)),
        Pipeline.deadLetters(holdingSink),
        Stream.runDrain
      )
      assert.deepStrictEqual(yield* Ref.get(acked), [])
      for (const e of yield* Ref.get(held)) yield* e.receipt.ack
      assert.deepStrictEqual(yield* Ref.get(acked), [0n])
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map()))
  )

  it.effect("mapEffect - ordered keeps each partition's input order under random latencies", () =>
    Effect.gen(function* () {
      const acked = yield* Ref.make<ReadonlyArray<bigint>>([])
      const n = 200
      const delays = durations(n, 7, 50)
      const completed = yield* Ref.make<ReadonlyArray<number>>([])
      const out = yield* runVirtual(
        Stream.fromIterable(
          envelopes(
            acked,
            Array.from({ length: n }, (_, i) => i),
            { partitions: 4 }
          )
        ).pipe(
          Pipeline.mapEffect(
            (i) =>
              Effect.sleep(delays[i]!).pipe(
                Effect.andThen(Ref.update(completed, (xs) => [...xs, i])),
                Effect.as(i * 10)
              ),
            { concurrency: 16, ordering: "ordered" }
          ),
          Stream.runCollect
        )
      )
      assert.strictEqual(out.length, n)
      for (const partition of [0, 1, 2, 3]) {
        const offsets = out.filter((e) => e.origin.partition === partition).map((e) => e.origin.offset)
        assert.deepStrictEqual(
          offsets,
          [...offsets].sort((a, b) => (a < b ? -1 : 1))
        )
        assert.strictEqual(offsets.length, n / 4)
      }
      assert.isTrue(out.every((e) => e.value === Number(e.origin.offset) * 10))
      // the work really did complete out of order
      const done = yield* Ref.get(completed)
      assert.notDeepEqual(
        done,
        [...done].sort((a, b) => a - b)
      )
    })
  )

  it.effect("mapEffect - ordered: a slow record holds back only its own partition", () =>
    Effect.gen(function* () {
      const acked = yield* Ref.make<ReadonlyArray<bigint>>([])
      const out = yield* runVirtual(
        Stream.fromIterable(envelopes(acked, [0, 1, 2, 3, 4, 5], { partitions: 2 })).pipe(
          Pipeline.mapEffect((i) => Effect.as(Effect.sleep(i === 0 ? 100 : 1), i), {
            concurrency: 6,
            ordering: "ordered"
          }),
          Stream.runCollect
        )
      )
      // partition 1 (odd values) is not held back by record 0 of partition 0
      assert.deepStrictEqual(
        out.map((e) => e.value),
        [1, 3, 5, 0, 2, 4]
      )
    })
  )

  it.effect("mapEffect - key keeps per-key order and never overlaps records of one key", () =>
    Effect.gen(function* () {
      const acked = yield* Ref.make<ReadonlyArray<bigint>>([])
      const n = 300
      const delays = durations(n, 11, 40)
      const keyOf = (i: number) => `k${(i * 7) % 13}`
      const active = new Map<string, number>()
      let overlapSameKey = 0
      let maxActive = 0
      let running = 0
      const out = yield* runVirtual(
        Stream.fromIterable(
          envelopes(
            acked,
            Array.from({ length: n }, (_, i) => i),
            { key: keyOf }
          )
        ).pipe(
          Pipeline.mapEffect(
            (i) =>
              Effect.acquireUseRelease(
                Effect.sync(() => {
                  const k = keyOf(i)
                  active.set(k, (active.get(k) ?? 0) + 1)
                  if (active.get(k)! > 1) overlapSameKey++
                  maxActive = Math.max(maxActive, ++running)
                }),
                () => Effect.sleep(delays[i]!),
                () =>
                  Effect.sync(() => {
                    active.set(keyOf(i), active.get(keyOf(i))! - 1)
                    running--
                  })
              ).pipe(Effect.as(i)),
            { concurrency: 8, ordering: "key" }
          ),
          Stream.runCollect
        )
      )
      assert.strictEqual(out.length, n)
      assert.strictEqual(overlapSameKey, 0)
      assert.isAbove(maxActive, 1)
      const byKey = new Map<string, Array<number>>()
      for (const e of out) byKey.set(keyOf(e.value), [...(byKey.get(keyOf(e.value)) ?? []), e.value])
      for (const values of byKey.values())
        assert.deepStrictEqual(
          values,
          [...values].sort((a, b) => a - b)
        )
      // different keys did overtake each other
      assert.notDeepEqual(
        out.map((e) => e.value),
        Array.from({ length: n }, (_, i) => i)
      )
    })
  )

  it.effect("mapEffect - unordered emits in completion order", () =>
    Effect.gen(function* () {
      const acked = yield* Ref.make<ReadonlyArray<bigint>>([])
      const out = yield* runVirtual(
        Stream.fromIterable(envelopes(acked, [0, 1, 2, 3, 4])).pipe(
          Pipeline.mapEffect((i) => Effect.as(Effect.sleep((5 - i) * 10), i), {
            concurrency: 5,
            ordering: "unordered"
          }),
          Stream.runCollect
        )
      )
      assert.deepStrictEqual(
        out.map((e) => e.value),
        [4, 3, 2, 1, 0]
      )
    })
  )

  it.effect("mapEffect - in-flight work is bounded by concurrency", () =>
    Effect.gen(function* () {
      const acked = yield* Ref.make<ReadonlyArray<bigint>>([])
      for (const ordering of ["ordered", "key", "unordered"] as const) {
        let running = 0
        let maxRunning = 0
        yield* runVirtual(
          Stream.fromIterable(
            envelopes(
              acked,
              Array.from({ length: 50 }, (_, i) => i),
              { key: (i) => `k${i}` }
            )
          ).pipe(
            Pipeline.mapEffect(
              (i) =>
                Effect.acquireUseRelease(
                  Effect.sync(() => (maxRunning = Math.max(maxRunning, ++running))),
                  () => Effect.sleep(1 + (i % 5)),
                  () => Effect.sync(() => running--)
                ),
              { concurrency: 4, ordering }
            ),
            Stream.runDrain
          )
        )
        assert.strictEqual(maxRunning, 4, ordering)
      }
    })
  )

  it.effect("mapChunksEffect - one call per chunk, cut to maxChunkSize, outputs keep origin and receipt", () =>
    Effect.gen(function* () {
      const acked = yield* Ref.make<ReadonlyArray<bigint>>([])
      const input = envelopes(
        acked,
        Array.from({ length: 10 }, (_, i) => i),
        { key: (i) => `k${i % 3}` }
      )
      const calls: Array<ReadonlyArray<number>> = []
      const out = yield* Stream.fromArrays(input.slice(0, 7), input.slice(7)).pipe(
        Pipeline.mapChunksEffect(
          (values) =>
            Effect.sync(() => {
              calls.push(values)
              return values.map((i) => `v${i}`)
            }),
          { concurrency: 2, maxChunkSize: 3 }
        ),
        Stream.runCollect
      )
      // 7 is cut into 3 + 3 + 1, and the short piece is not merged with the next chunk.
      assert.deepStrictEqual(calls, [[0, 1, 2], [3, 4, 5], [6], [7, 8, 9]])
      assert.deepStrictEqual(
        out.map((e) => e.value),
        input.map((e) => `v${e.value}`)
      )
      for (let i = 0; i < input.length; i++) {
        assert.strictEqual(out[i]!.origin, input[i]!.origin)
        assert.strictEqual(out[i]!.receipt, input[i]!.receipt)
      }
      assert.deepStrictEqual(yield* Ref.get(acked), [])
      yield* Effect.forEach(out, (e) => e.receipt.ack, { discard: true })
      assert.deepStrictEqual(
        yield* Ref.get(acked),
        input.map((e) => e.origin.offset)
      )
    })
  )

  it.effect("mapChunksEffect - ordered and key emit in input order across chunks that finish out of order", () =>
    Effect.gen(function* () {
      const acked = yield* Ref.make<ReadonlyArray<bigint>>([])
      const n = 120
      const delays = durations(n, 11, 40)
      for (const ordering of ["ordered", "key"] as const) {
        const completed: Array<number> = []
        let running = 0
        let maxRunning = 0
        const out = yield* runVirtual(
          Stream.fromIterable(
            envelopes(
              acked,
              Array.from({ length: n }, (_, i) => i),
              { partitions: 3, key: (i) => `k${i % 5}` }
            )
          ).pipe(
            Pipeline.mapChunksEffect(
              (values) =>
                Effect.acquireUseRelease(
                  Effect.sync(() => (maxRunning = Math.max(maxRunning, ++running))),
                  () => Effect.sleep(delays[values[0]!]!),
                  () => Effect.sync(() => running--)
                ).pipe(
                  Effect.andThen(Effect.sync(() => completed.push(values[0]!))),
                  Effect.as(values.map((i) => i * 10))
                ),
              { concurrency: 4, maxChunkSize: 7, ordering }
            ),
            Stream.runCollect
          )
        )
        assert.deepStrictEqual(
          out.map((e) => e.value),
          Array.from({ length: n }, (_, i) => i * 10),
          ordering
        )
        assert.isTrue(out.every((e) => e.value === Number(e.origin.offset) * 10))
        assert.strictEqual(maxRunning, 4, ordering)
        // the chunks really did complete out of order
        assert.notDeepEqual(
          completed,
          [...completed].sort((a, b) => a - b)
        )
      }
    })
  )

  it.effect("mapChunksEffect - unordered emits each chunk when it completes, in order within the chunk", () =>
    Effect.gen(function* () {
      const acked = yield* Ref.make<ReadonlyArray<bigint>>([])
      const out = yield* runVirtual(
        Stream.fromIterable(
          envelopes(
            acked,
            Array.from({ length: 6 }, (_, i) => i)
          )
        ).pipe(
          Pipeline.mapChunksEffect((values) => Effect.as(Effect.sleep(values[0] === 0 ? 50 : 5), values), {
            concurrency: 2,
            maxChunkSize: 3,
            ordering: "unordered"
          }),
          Stream.runCollect
        )
      )
      assert.deepStrictEqual(
        out.map((e) => e.value),
        [3, 4, 5, 0, 1, 2]
      )
    })
  )

  it.effect("mapChunksEffect - a failing chunk fails the stream and none of its records commit", () =>
    Effect.gen(function* () {
      const broker = yield* InMemory.make
      yield* InMemory.createTopic(broker, "in", 1)
      yield* InMemory.produce(
        broker,
        "in",
        Array.from({ length: 10 }, (_, i) => ({ key: "k", value: `${i}` }))
      )
      let failedChunk: ReadonlyArray<string> = []
      const job = (failOn: string | undefined) =>
        Effect.gen(function* () {
          const records = yield* InMemory.source(broker, { topic: "in", group: "g" })
          yield* records.pipe(
            Pipeline.mapChunksEffect(
              (payloads) => {
                const values = payloads.map((v) => (typeof v === "string" ? v : String(v)))
                if (!values.includes(failOn ?? "")) return Effect.succeed(values.map((v) => `out-${v}`))
                failedChunk = values
                return Effect.fail("lookup failed")
              },
              { concurrency: 1, maxChunkSize: 3 }
            ),
            Stream.run(InMemory.sink(broker, "out"))
          )
        }).pipe(Effect.scoped)
      assert.strictEqual(yield* Effect.flip(job("7")), "lookup failed")
      assert.include(failedChunk, "7")
      const first = Number(failedChunk[0])
      const written = yield* Effect.map(InMemory.messages(broker, "out"), (ms) => ms.map((m) => m.value))
      // Outputs went out in order, and none of the failed chunk or after it.
      assert.deepStrictEqual(
        written,
        Array.from({ length: written.length }, (_, i) => `out-${i}`)
      )
      assert.isAtMost(written.length, first)
      // The failed chunk's records were never acknowledged, so the commit stops before them.
      const committed = (yield* InMemory.committed(broker, "g", "in")).get(0) ?? 0n
      assert.isAtMost(Number(committed), first)

      // Running again without the failure picks up from the commit and finishes every record.
      yield* job(undefined)
      assert.strictEqual((yield* InMemory.committed(broker, "g", "in")).get(0), 10n)
      const again = yield* Effect.map(InMemory.messages(broker, "out"), (ms) => ms.map((m) => m.value))
      assert.deepStrictEqual(again.slice(-4), ["out-6", "out-7", "out-8", "out-9"])
    })
  )

  it.effect("mapChunksEffect - an answer of the wrong length is a defect", () =>
    Effect.gen(function* () {
      const acked = yield* Ref.make<ReadonlyArray<bigint>>([])
      const exit = yield* Stream.fromIterable(envelopes(acked, [1, 2, 3])).pipe(
        Pipeline.mapChunksEffect((values) => Effect.succeed(values.slice(1)), { concurrency: 1 }),
        Stream.runCollect,
        Effect.exit
      )
      assert.isTrue(Exit.hasDies(exit))
      assert.deepStrictEqual(yield* Ref.get(acked), [])
    })
  )

  it.effect("route - the input is done only when all of its outputs are acknowledged", () =>
    Effect.gen(function* () {
      const acked = yield* Ref.make<ReadonlyArray<bigint>>([])
      const routed = yield* Stream.fromIterable(envelopes(acked, [1, 0, 2])).pipe(
        Pipeline.route((n) => Array.from({ length: n }, (_, i) => Pipeline.to(i === 0 ? "a" : "b", n))),
        Stream.runCollect
      )
      assert.deepStrictEqual(
        routed.map((e) => [e.origin.offset, e.value.output]),
        [
          [0n, "a"],
          [2n, "a"],
          [2n, "b"]
        ]
      )
      // zero outputs: acknowledged at once
      assert.deepStrictEqual(yield* Ref.get(acked), [1n])
      yield* routed[1]!.receipt.ack
      assert.deepStrictEqual(yield* Ref.get(acked), [1n])
      yield* routed[2]!.receipt.ack
      yield* routed[0]!.receipt.ack
      assert.deepStrictEqual(yield* Ref.get(acked), [1n, 2n, 0n])
    })
  )

  it.effect("filter - dropped records are acknowledged at once", () =>
    Effect.gen(function* () {
      const acked = yield* Ref.make<ReadonlyArray<bigint>>([])
      const kept = yield* Stream.fromIterable(envelopes(acked, [1, 2, 3, 4])).pipe(
        Pipeline.filter((n) => n % 2 === 0),
        Stream.runCollect
      )
      assert.deepStrictEqual(
        kept.map((e) => e.value),
        [2, 4]
      )
      assert.deepStrictEqual(yield* Ref.get(acked), [0n, 2n])
    })
  )

  it.effect("runRouted - sends each output to the sink of its name and counts acknowledged outputs", () =>
    Effect.gen(function* () {
      const acked = yield* Ref.make<ReadonlyArray<bigint>>([])
      const evens = yield* Ref.make<ReadonlyArray<Envelope.Envelope<number>>>([])
      const labels = yield* Ref.make<ReadonlyArray<Envelope.Envelope<string>>>([])
      yield* Stream.fromIterable(
        envelopes(
          acked,
          Array.from({ length: 10 }, (_, i) => i)
        )
      ).pipe(
        Pipeline.route((n) =>
          n % 2 === 0
            ? [Pipeline.to("evens", n), Pipeline.to("labels", `n${n}`, "even")]
            : [Pipeline.to("labels", `n${n}`)]
        ),
        Pipeline.runRouted({ evens: collectAndAck(evens), labels: collectAndAck(labels) })
      )
      assert.deepStrictEqual(
        (yield* Ref.get(evens)).map((e) => e.value),
        [0, 2, 4, 6, 8]
      )
      assert.deepStrictEqual(
        (yield* Ref.get(labels)).map((e) => e.value),
        Array.from({ length: 10 }, (_, i) => `n${i}`)
      )
      assert.strictEqual((yield* Ref.get(acked)).length, 10)
      const counted = (status: string) =>
        Metric.value(Metric.withAttributes(Metrics.recordsOut, { output: "labels", status }))
      assert.strictEqual((yield* counted("even")).count, 5)
      assert.strictEqual((yield* counted("ok")).count, 5)
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map()))
  )

  it.effect(
    "runRouted - tracked records: outputs acknowledged a chunk at a time are counted once each and commit",
    () =>
      Effect.gen(function* () {
        const n = 2_000
        const tracker = yield* OffsetTracker.make({ maxInFlight: n })
        const partitions = 3
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
          assert.strictEqual(yield* tracker.trackBatch({ topic: "in", partition: p }, offsets), offsets.length)
        }
        // Zero, one or two outputs per record, with statuses, from a small LCG.
        const fanOut = durations(n, 7, 6).map((d) => d % 4)
        const outputs = (i: number): ReadonlyArray<Pipeline.Output<"a" | "b", number>> =>
          fanOut[i] === 0
            ? []
            : fanOut[i] === 1
              ? [Pipeline.to("a", i)]
              : fanOut[i] === 2
                ? [Pipeline.to("b", i, "late")]
                : [Pipeline.to("a", i, "late"), Pipeline.to("b", i)]
        // Sinks acknowledge whole chunks as a Kafka sink does, each chunk twice.
        const seen = { a: 0, b: 0 }
        const chunkSink = (name: "a" | "b") =>
          Sink.forEachArray((chunk: ReadonlyArray<Envelope.Envelope<number>>) =>
            Effect.andThen(
              Effect.sync(() => (seen[name] += chunk.length)),
              Effect.andThen(Receipt.ackAll(chunk.map((e) => e.receipt)), Receipt.ackAll(chunk.map((e) => e.receipt)))
            )
          )
        yield* Stream.fromIterable(origins.map((o, i) => Envelope.make(o, i, tracker.receipt(o)))).pipe(
          Stream.rechunk(97),
          Pipeline.route((i: number) => outputs(i)),
          Pipeline.runRouted({ a: chunkSink("a"), b: chunkSink("b") })
        )
        // The reference, counted over the same routing.
        const expected = new Map<string, number>()
        for (let i = 0; i < n; i++) {
          for (const out of outputs(i)) {
            const label = `${out.output}/${out.status ?? "ok"}`
            expected.set(label, (expected.get(label) ?? 0) + 1)
          }
        }
        for (const [label, count] of expected) {
          const [output, status] = label.split("/") as [string, string]
          const value = yield* Metric.value(Metric.withAttributes(Metrics.recordsOut, { output, status }))
          assert.strictEqual(value.count, count, label)
        }
        assert.strictEqual(
          seen.a + seen.b,
          [...expected.values()].reduce((x, y) => x + y, 0)
        )
        assert.strictEqual(yield* tracker.completed, n)
        assert.strictEqual(yield* tracker.inFlight, 0)
        assert.strictEqual((yield* Metric.value(Metrics.inFlight)).value, 0)
        for (let p = 0; p < partitions; p++) {
          const last = origins.filter((o) => o.partition === p).at(-1)!.offset
          assert.deepStrictEqual(yield* tracker.committable({ topic: "in", partition: p }), Option.some(last + 1n))
        }
      }).pipe(Effect.provideService(Metric.MetricRegistry, new Map()))
  )

  it.effect("runRouted - fails when a sink fails", () =>
    Effect.gen(function* () {
      const acked = yield* Ref.make<ReadonlyArray<bigint>>([])
      const exit = yield* Stream.fromIterable(
        envelopes(
          acked,
          Array.from({ length: 1000 }, (_, i) => i)
        )
      ).pipe(
        Pipeline.route((n) => [Pipeline.to("out", n)]),
        Pipeline.runRouted({
          out: eachOf((e: Envelope.Envelope<number>) => (e.value === 3 ? Effect.fail("boom") : e.receipt.ack))
        }),
        Effect.exit
      )
      assert.isTrue(exit._tag === "Failure")
      assert.deepStrictEqual(yield* Ref.get(acked), [0n, 1n, 2n])
    })
  )

  it.effect("runRouted - the module example dead-letters, enriches, routes and commits", () =>
    Effect.gen(function* () {
      const Payment = Schema.Struct({ payment_id: Schema.String, claim_id: Schema.String })
      const enrich = (p: typeof Payment.Type) =>
        Effect.succeed({ ...p, status: p.claim_id === "missing" ? "CLAIM_NOT_FOUND" : "SUCCESS" })
      const broker = yield* InMemory.make
      yield* InMemory.createTopic(broker, "payments", 2)
      yield* InMemory.produce(broker, "payments", [
        { key: "a", value: '{"payment_id":"p1","claim_id":"c1"}' },
        { key: "b", value: '{"payment_id":"p2","claim_id":"missing"}' },
        { key: "a", value: "not json" }
      ])
      const job = Effect.gen(function* () {
        const records = yield* InMemory.source(broker, { topic: "payments", group: "enricher" })
        yield* records.pipe(
          Pipeline.decode(Schema.fromJsonString(Payment)),
          Pipeline.deadLetters(InMemory.sink(broker, "payments-dlq")),
          Pipeline.mapEffect(enrich, { concurrency: 64, ordering: "key" }),
          Pipeline.route((r) =>
            r.status === "SUCCESS"
              ? [Pipeline.to("enriched", JSON.stringify(r))]
              : [Pipeline.to("failed", JSON.stringify(r), r.status)]
          ),
          Pipeline.runRouted({
            enriched: InMemory.sink(broker, "enriched-payments"),
            failed: InMemory.sink(broker, "failed-payments")
          })
        )
      }).pipe(Effect.scoped)
      yield* job
      const values = (topic: string) => Effect.map(InMemory.messages(broker, topic), (ms) => ms.map((m) => m.value))
      assert.deepStrictEqual(yield* values("enriched-payments"), [
        '{"payment_id":"p1","claim_id":"c1","status":"SUCCESS"}'
      ])
      assert.deepStrictEqual(yield* values("failed-payments"), [
        '{"payment_id":"p2","claim_id":"missing","status":"CLAIM_NOT_FOUND"}'
      ])
      assert.deepStrictEqual(yield* values("payments-dlq"), [encoder.encode("not json")])
      const committed = yield* InMemory.committed(broker, "enricher", "payments")
      assert.strictEqual(
        [...committed.values()].reduce((a, b) => a + b, 0n),
        3n
      )
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map()))
  )
})
