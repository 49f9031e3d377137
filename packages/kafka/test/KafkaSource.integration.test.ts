import { assert, describe, it } from "@effect/vitest"
import { Envelope, Metrics } from "@sluice/core"
import { Deferred, Effect, Fiber, Metric, Schedule, Stream } from "effect"
import * as Admin from "../src/Admin.ts"
import * as KafkaClient from "../src/KafkaClient.ts"
import type * as KafkaLike from "../src/KafkaLike.ts"
import * as KafkaSink from "../src/KafkaSink.ts"
import * as KafkaSource from "../src/KafkaSource.ts"
import * as Cluster from "./fixtures/cluster.ts"

const text = new TextDecoder()

const produce = (producer: KafkaLike.Producer, topic: string, messages: Array<KafkaLike.Message>) =>
  Effect.promise(() => producer.send({ topic, messages, acks: -1 }))

// Reads a whole topic from the beginning with a throwaway group until `count` records arrived.
const readAll = (client: KafkaClient.KafkaClient["Service"], topic: string, count: number) =>
  Effect.scoped(
    Effect.gen(function* () {
      const records = yield* KafkaSource.make(client, { topics: [topic], groupId: Cluster.unique("reader") })
      return yield* records.pipe(
        Stream.tap((e) => e.receipt.ack),
        Stream.take(count),
        Stream.runCollect
      )
    })
  ).pipe(Effect.timeout("30 seconds"))

const committed = (client: KafkaClient.KafkaClient["Service"], groupId: string, topic: string) =>
  Effect.map(
    Effect.promise(() => client.admin.fetchOffsets({ groupId, topics: [topic] })),
    (topics) => new Map(topics[0]!.partitions.map((p) => [p.partition, BigInt(p.offset)]))
  )

const ends = (client: KafkaClient.KafkaClient["Service"], topic: string) =>
  Effect.map(
    Effect.promise(() => client.admin.fetchTopicOffsets(topic)),
    (partitions) => new Map(partitions.map((p) => [p.partition, BigInt(p.high)]))
  )

describe("KafkaSource and KafkaSink", () => {
  it.live(
    "round trip - source → pipeline → sink keeps keys and headers, and commits to the end",
    () =>
      Effect.gen(function* () {
        const client = yield* Cluster.client(yield* Cluster.brokers)
        const input = Cluster.unique("in")
        const output = Cluster.unique("out")
        const groupId = Cluster.unique("job")
        yield* Admin.ensureTopics([
          { topic: input, partitions: 3 },
          { topic: output, partitions: 3 }
        ]).pipe(Effect.provideService(KafkaClient.KafkaClient, client))
        const producer = yield* KafkaSink.producer(client)
        const total = 600
        yield* produce(
          producer,
          input,
          Array.from({ length: total }, (_, i) => ({
            key: `k${i % 17}`,
            value: `v${i}`,
            headers: { trace: `t${i}`, twice: ["a", "b"] }
          }))
        )

        yield* Effect.scoped(
          Effect.gen(function* () {
            const records = yield* KafkaSource.make(client, { topics: [input], groupId, commitInterval: "100 millis" })
            const job = yield* records.pipe(
              Stream.map(Envelope.map((value) => `${value === null ? "" : text.decode(value as Uint8Array)}!`)),
              Stream.run(KafkaSink.make(producer, output)),
              Effect.forkChild
            )
            // Done when the group has committed every input offset.
            yield* Cluster.awaitCommittedToEnd(client, groupId, input)
            yield* Fiber.interrupt(job)
          })
        )

        const target = yield* ends(client, input)
        const done = yield* committed(client, groupId, input)
        for (const [partition, end] of target) assert.strictEqual(done.get(partition), end)

        const out = yield* readAll(client, output, total)
        const values = new Set(out.map((e) => text.decode(e.value as Uint8Array)))
        assert.strictEqual(values.size, total)
        for (let i = 0; i < total; i++) assert.isTrue(values.has(`v${i}!`))
        const sample = out.find((e) => text.decode(e.value as Uint8Array) === "v42!")!
        assert.strictEqual(text.decode(sample.origin.key!), "k8")
        assert.strictEqual(Envelope.header(sample.origin, "trace"), "t42")
        assert.deepStrictEqual(
          sample.origin.headers.filter(([n]) => n === "twice").map(([, v]) => text.decode(v)),
          ["a", "b"]
        )
      }),
    60_000
  )

  it.live(
    "commits - nothing is committed past a record whose output was not acknowledged",
    () =>
      Effect.gen(function* () {
        const { client, input, groupId, producer } = yield* Cluster.consumerFixture(1)
        yield* produce(
          producer,
          input,
          Array.from({ length: 100 }, (_, i) => ({ value: `${i}` }))
        )
        // Every record but offset 40 is acknowledged; the final commit on close must stop at 40.
        yield* Effect.scoped(
          Effect.gen(function* () {
            const records = yield* KafkaSource.make(client, { topics: [input], groupId, commitInterval: "50 millis" })
            yield* records.pipe(
              Stream.tap((e) => (e.origin.offset === 40n ? Effect.void : e.receipt.ack)),
              Stream.take(100),
              Stream.runDrain
            )
          })
        )
        const done = yield* committed(client, groupId, input)
        assert.strictEqual(done.get(0), 40n)
      }),
    60_000
  )

  it.live(
    "consumer lag - records produced while the pipeline is stalled show as lag, which falls to 0 once they are committed",
    () =>
      Effect.gen(function* () {
        const { client, input, groupId, producer } = yield* Cluster.consumerFixture(1)
        const lag = Metric.withAttributes(Metrics.consumerLag, { topic: input, partition: "0" })
        // Polls the gauge until it reads `expected` (bounded), so the test waits for the source, not a timer.
        const awaitLag = (expected: number) =>
          Effect.gen(function* () {
            const value = (yield* Metric.value(lag)).value
            if (value !== expected) return yield* Effect.fail(`lag ${value}, waiting for ${expected}`)
          }).pipe(Effect.retry({ schedule: Schedule.spaced("50 millis"), times: 400 }))
        const first = 30
        const second = 45
        yield* produce(
          producer,
          input,
          Array.from({ length: first }, (_, i) => ({ value: `a${i}` }))
        )
        yield* Effect.scoped(
          Effect.gen(function* () {
            const records = yield* KafkaSource.make(client, { topics: [input], groupId, commitInterval: "50 millis" })
            // Nothing is acknowledged, so nothing is committed, until the gate opens.
            const gate = yield* Deferred.make<void>()
            yield* records.pipe(
              Stream.runForEach((e) => Effect.andThen(Deferred.await(gate), e.receipt.ack)),
              Effect.forkScoped
            )
            yield* awaitLag(first)
            yield* produce(
              producer,
              input,
              Array.from({ length: second }, (_, i) => ({ value: `b${i}` }))
            )
            yield* awaitLag(first + second)
            yield* Deferred.succeed(gate, undefined)
            yield* awaitLag(0)
            const done = yield* committed(client, groupId, input)
            assert.strictEqual(done.get(0), BigInt(first + second))
          })
        )
      }).pipe(Effect.provideService(Metric.MetricRegistry, new Map())),
    60_000
  )
})
