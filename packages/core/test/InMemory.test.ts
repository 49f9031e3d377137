import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Metric, Schema, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as fc from "fast-check"
import type * as Envelope from "../src/Envelope.ts"
import * as InMemory from "../src/InMemory.ts"
import * as Metrics from "../src/Metrics.ts"
import * as Pipeline from "../src/Pipeline.ts"

const Event = Schema.Struct({ id: Schema.Number })
const EventJson = Schema.fromJsonString(Event)
const decoder = new TextDecoder()
const text = (p: Envelope.Payload): string => (p === null ? "" : typeof p === "string" ? p : decoder.decode(p))

// 300 records over 3 partitions; every 17th is malformed.
const seed = (broker: InMemory.Broker) =>
  Effect.gen(function* () {
    yield* InMemory.createTopic(broker, "events", 3)
    yield* InMemory.produce(
      broker,
      "events",
      Array.from({ length: 300 }, (_, id) => ({
        key: `user-${id % 11}`,
        value: id % 17 === 0 ? `broken-${id}` : JSON.stringify({ id })
      }))
    )
  })

interface JobOptions {
  readonly failAfter?: number | undefined
  readonly ordering?: Pipeline.Ordering
  readonly concurrency?: number
  readonly maxInFlight?: number
}

// Work takes a varying number of scheduler turns, so records complete out of order.
const work = (id: number) => Effect.as(Effect.repeat(Effect.yieldNow, { times: (id * 7919) % 5 }), id)

// The consumer's scope spans the whole run, so the final commit sees every acknowledgement.
const job = (broker: InMemory.Broker, options?: JobOptions) =>
  Effect.gen(function* () {
    const records = yield* InMemory.source(broker, {
      topic: "events",
      group: "job",
      maxInFlight: options?.maxInFlight ?? 32,
      commitEvery: 10
    })
    yield* records.pipe(
      Pipeline.decode(EventJson),
      Pipeline.deadLetters(InMemory.sink(broker, "events-dlq")),
      Pipeline.mapEffect((e) => work(e.id), {
        concurrency: options?.concurrency ?? 8,
        ordering: options?.ordering ?? "key"
      }),
      Pipeline.route((id) => [Pipeline.to("out", JSON.stringify({ id, doubled: id * 2 }))]),
      Pipeline.runRouted({ out: InMemory.sink(broker, "events-out", { failAfter: options?.failAfter }) })
    )
  }).pipe(Effect.scoped)

// Every record below a committed offset reached the output or the dead-letter topic.
const assertCommitsCoverOnlyDelivered = (broker: InMemory.Broker) =>
  Effect.gen(function* () {
    const { inputs, seen } = yield* delivered(broker)
    const committed = yield* InMemory.committed(broker, "job", "events")
    for (const m of inputs) {
      if (m.offset < (committed.get(m.partition) ?? 0n)) {
        assert.isTrue(seen.has(`${m.partition}@${m.offset}`), `${m.partition}@${m.offset}`)
      }
    }
  })

// Which input offsets (per partition) reached the output or the dead-letter topic.
const delivered = (broker: InMemory.Broker) =>
  Effect.gen(function* () {
    const inputs = yield* InMemory.messages(broker, "events")
    const idOf = new Map(inputs.map((m) => [text(m.value), m]))
    const seen = new Set<string>()
    for (const m of yield* InMemory.messages(broker, "events-out")) {
      const { id } = JSON.parse(text(m.value)) as { id: number }
      const input = idOf.get(JSON.stringify({ id }))!
      seen.add(`${input.partition}@${input.offset}`)
    }
    for (const m of yield* InMemory.messages(broker, "events-dlq")) {
      const input = idOf.get(text(m.value))!
      seen.add(`${input.partition}@${input.offset}`)
    }
    return { inputs, seen }
  })

describe("InMemory", () => {
  it.effect("source - a failure mid-stream and a restart from the last commit lose nothing", () =>
    Effect.gen(function* () {
      const broker = yield* InMemory.make
      yield* seed(broker)

      const failed = yield* Effect.exit(job(broker, { failAfter: 120 }))
      assert.isTrue(failed._tag === "Failure")

      // Nothing is committed whose output was not written.
      const afterFailure = yield* delivered(broker)
      const committed = yield* InMemory.committed(broker, "job", "events")
      assert.isTrue([...committed.values()].some((o) => o > 0n))
      for (const m of afterFailure.inputs) {
        const c = committed.get(m.partition) ?? 0n
        if (m.offset < c)
          assert.isTrue(afterFailure.seen.has(`${m.partition}@${m.offset}`), `${m.partition}@${m.offset}`)
      }
      assert.isBelow(afterFailure.seen.size, 300)

      yield* job(broker)

      const { inputs, seen } = yield* delivered(broker)
      for (const m of inputs) assert.isTrue(seen.has(`${m.partition}@${m.offset}`), `${m.partition}@${m.offset}`)
      const final = yield* InMemory.committed(broker, "job", "events")
      const ends = [0, 1, 2].map((p) => BigInt(inputs.filter((m) => m.partition === p).length))
      assert.deepStrictEqual(
        [0, 1, 2].map((p) => final.get(p)),
        ends
      )
      const dlq = yield* InMemory.messages(broker, "events-dlq")
      assert.strictEqual(new Set(dlq.map((m) => text(m.value))).size, 18)
      assert.isTrue(dlq.every((m) => m.headers.some(([name]) => name === "x-sluice-dlq-reason")))
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map()))
  )

  it("source - any failure point, ordering and bound: restarts lose nothing and commit only delivered records", () =>
    fc.assert(
      fc.asyncProperty(
        fc.record({
          failures: fc.array(fc.integer({ min: 0, max: 300 }), { maxLength: 3 }),
          ordering: fc.constantFrom<Pipeline.Ordering>("ordered", "key", "unordered"),
          concurrency: fc.integer({ min: 1, max: 16 }),
          maxInFlight: fc.integer({ min: 1, max: 64 })
        }),
        ({ failures, ordering, concurrency, maxInFlight }) =>
          Effect.runPromise(
            Effect.gen(function* () {
              const broker = yield* InMemory.make
              yield* seed(broker)
              for (const failAfter of failures) {
                yield* Effect.exit(job(broker, { failAfter, ordering, concurrency, maxInFlight }))
                yield* assertCommitsCoverOnlyDelivered(broker)
              }
              yield* job(broker, { ordering, concurrency, maxInFlight })
              const { inputs, seen } = yield* delivered(broker)
              assert.strictEqual(seen.size, inputs.length)
              const committed = yield* InMemory.committed(broker, "job", "events")
              for (const p of [0, 1, 2]) {
                assert.strictEqual(committed.get(p), BigInt(inputs.filter((m) => m.partition === p).length))
              }
            }).pipe(Effect.provideService(Metric.MetricRegistry, new Map()))
          )
      ),
      { numRuns: 40 }
    ))

  it.effect("source - starts from the group's last commit", () =>
    Effect.gen(function* () {
      const broker = yield* InMemory.make
      yield* InMemory.createTopic(broker, "t", 1)
      yield* InMemory.produce(broker, "t", [{ value: "a" }, { value: "b" }, { value: "c" }])
      broker.commits.set("g", new Map([["t", new Map([[0, 2n]])]]))
      const read = yield* Effect.scoped(
        Effect.flatMap(InMemory.source(broker, { topic: "t", group: "g" }), (records) =>
          records.pipe(
            Stream.tap((e) => e.receipt.ack),
            Stream.runCollect
          )
        )
      )
      assert.deepStrictEqual(
        read.map((e) => [e.origin.offset, e.value]),
        [[2n, "c"]]
      )
      assert.deepStrictEqual(yield* InMemory.committed(broker, "g", "t"), new Map([[0, 3n]]))
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map()))
  )

  it.effect("source - commits only offsets whose receipts were acknowledged", () =>
    Effect.gen(function* () {
      const broker = yield* InMemory.make
      yield* InMemory.createTopic(broker, "t", 1)
      yield* InMemory.produce(
        broker,
        "t",
        ["a", "b", "c", "d"].map((value) => ({ value }))
      )
      yield* Effect.scoped(
        Effect.flatMap(InMemory.source(broker, { topic: "t", group: "g" }), (records) =>
          records.pipe(
            // "c" is never acknowledged
            Stream.tap((e) => (e.value === "c" ? Effect.void : e.receipt.ack)),
            Stream.runDrain
          )
        )
      )
      assert.deepStrictEqual(yield* InMemory.committed(broker, "g", "t"), new Map([[0, 2n]]))
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map()))
  )

  it.effect("source - never has more than maxInFlight records in flight", () =>
    Effect.gen(function* () {
      const broker = yield* InMemory.make
      yield* InMemory.createTopic(broker, "t", 2)
      yield* InMemory.produce(
        broker,
        "t",
        Array.from({ length: 200 }, (_, i) => ({ value: `v${i}`, partition: i % 2 }))
      )
      let maxInFlight = 0
      yield* Effect.scoped(
        Effect.flatMap(InMemory.source(broker, { topic: "t", group: "g", maxInFlight: 8 }), (records) =>
          records.pipe(
            Pipeline.mapEffect(
              (_, e) =>
                Effect.gen(function* () {
                  maxInFlight = Math.max(maxInFlight, (yield* Metric.value(Metrics.inFlight)).value)
                  yield* Effect.sleep(`${Number(e.origin.offset % 7n)} millis`)
                  yield* e.receipt.ack
                }),
              { concurrency: 32, ordering: "unordered" }
            ),
            Stream.runDrain,
            Effect.forkChild,
            Effect.flatMap((fiber) =>
              Effect.gen(function* () {
                for (let i = 0; i < 10_000 && fiber.pollUnsafe() === undefined; i++) yield* TestClock.adjust("1 millis")
                yield* Fiber.join(fiber)
              })
            )
          )
        )
      )
      assert.strictEqual(maxInFlight, 8)
      assert.deepStrictEqual(
        yield* InMemory.committed(broker, "g", "t"),
        new Map([
          [0, 100n],
          [1, 100n]
        ])
      )
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map()))
  )

  it.effect("sink - fails with a retryable WriteFailed error after failAfter writes", () =>
    Effect.gen(function* () {
      const broker = yield* InMemory.make
      yield* InMemory.createTopic(broker, "in", 1)
      yield* InMemory.produce(
        broker,
        "in",
        ["a", "b", "c"].map((value) => ({ value }))
      )
      const error = yield* Effect.scoped(
        Effect.flatMap(InMemory.source(broker, { topic: "in", group: "g" }), (records) =>
          records.pipe(Stream.run(InMemory.sink(broker, "out", { failAfter: 2 })), Effect.flip)
        )
      )
      assert.strictEqual(error.reason, "WriteFailed")
      assert.isTrue(error.isRetryable)
      assert.deepStrictEqual(
        (yield* InMemory.messages(broker, "out")).map((m) => m.value),
        ["a", "b"]
      )
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map()))
  )
})
