import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Ref, Schedule, Scope, Stream } from "effect"
import * as Admin from "../src/Admin.ts"
import * as KafkaClient from "../src/KafkaClient.ts"
import * as KafkaSink from "../src/KafkaSink.ts"
import * as KafkaSource from "../src/KafkaSource.ts"
import * as Cluster from "./fixtures/cluster.ts"

const text = new TextDecoder()

describe("KafkaSource under rebalances and stalls", () => {
  it.live(
    "rebalance - a second instance joins and the first leaves: every record reaches the output",
    () =>
      Effect.gen(function* () {
        const client = yield* Cluster.client(yield* Cluster.brokers)
        const input = Cluster.unique("in")
        const output = Cluster.unique("out")
        const groupId = Cluster.unique("job")
        yield* Admin.ensureTopics([
          { topic: input, partitions: 6 },
          { topic: output, partitions: 6 }
        ]).pipe(Effect.provideService(KafkaClient.KafkaClient, client))
        const producer = yield* KafkaSink.producer(client)
        const total = 3000
        yield* Effect.promise(() =>
          producer.send({
            topic: input,
            acks: -1,
            messages: Array.from({ length: total }, (_, i) => ({ key: `k${i % 50}`, value: `${i}` }))
          })
        )
        const processed = yield* Ref.make(0)
        // One pipeline instance in its own scope, processing slowly enough for rebalances to land mid-stream.
        const instance = Effect.gen(function* () {
          const scope = yield* Scope.make()
          const records = yield* KafkaSource.make(client, {
            topics: [input],
            groupId,
            commitInterval: "100 millis",
            ...Cluster.groupTimeouts,
            maxInFlight: 200
          }).pipe(Scope.provide(scope))
          const fiber = yield* records.pipe(
            Stream.tap(() =>
              Effect.andThen(
                Ref.update(processed, (n) => n + 1),
                Effect.sleep("1 millis")
              )
            ),
            Stream.run(KafkaSink.make(producer, output)),
            Effect.forkDetach
          )
          return Effect.andThen(Fiber.interrupt(fiber), Scope.close(scope, undefined as never))
        })

        const stopA = yield* instance
        yield* Effect.gen(function* () {
          if ((yield* Ref.get(processed)) < 300) return yield* Effect.fail("waiting")
        }).pipe(Effect.retry({ schedule: Schedule.spaced("50 millis"), times: 600 }))
        const stopB = yield* instance
        yield* Effect.gen(function* () {
          if ((yield* Ref.get(processed)) < 1500) return yield* Effect.fail("waiting")
        }).pipe(Effect.retry({ schedule: Schedule.spaced("50 millis"), times: 1200 }))
        yield* stopA
        yield* Cluster.awaitCommittedToEnd(client, groupId, input)
        yield* stopB

        // Read the output back and check every input value is there.
        const seen = new Map<string, number>()
        yield* Effect.scoped(
          Effect.gen(function* () {
            const records = yield* KafkaSource.make(client, { topics: [output], groupId: Cluster.unique("reader") })
            yield* records.pipe(
              Stream.tap((e) => e.receipt.ack),
              Stream.map((e) => text.decode(e.value as Uint8Array)),
              Stream.tap((v) => Effect.sync(() => seen.set(v, (seen.get(v) ?? 0) + 1))),
              Stream.takeUntil(() => seen.size === total),
              Stream.runDrain,
              Effect.timeout("60 seconds")
            )
          })
        )
        for (let i = 0; i < total; i++) assert.isTrue(seen.has(`${i}`), `record ${i} missing`)
        const duplicates = [...seen.values()].reduce((n, c) => n + c - 1, 0)
        // At least once: records in flight when a partition moves are replayed by its new owner, never more
        // than one in-flight window per revocation. Here: A revokes when B joins, A abandons its window when it
        // stops, and B revokes when A leaves — three windows of at most `maxInFlight` (200) records.
        assert.isAtMost(duplicates, 3 * 200)
      }),
    120_000
  )

  it.live(
    "backpressure - a stalled sink bounds the records handed over, heartbeats keep the member, and work resumes",
    () =>
      Effect.gen(function* () {
        const { client, input, groupId, producer } = yield* Cluster.consumerFixture(1)
        const total = 2000
        yield* Effect.promise(() =>
          producer.send({
            topic: input,
            acks: -1,
            messages: Array.from({ length: total }, (_, i) => ({ value: `${i}` }))
          })
        )
        const maxInFlight = 100
        const bufferSize = 16
        const received = yield* Ref.make(0)
        const stalled = yield* Ref.make(true)
        yield* Effect.scoped(
          Effect.gen(function* () {
            const records = yield* KafkaSource.make(client, {
              topics: [input],
              groupId,
              maxInFlight,
              bufferSize,
              ...Cluster.groupTimeouts,
              commitInterval: "100 millis"
            })
            const fiber = yield* records.pipe(
              Stream.tap(() => Ref.update(received, (n) => n + 1)),
              // The "sink": acknowledges only while not stalled.
              Stream.mapEffect(
                (e) =>
                  Effect.andThen(
                    Effect.repeat(Ref.get(stalled), { until: (s) => !s, schedule: Schedule.spaced("20 millis") }),
                    e.receipt.ack
                  ),
                { concurrency: "unbounded" }
              ),
              Stream.runDrain,
              Effect.forkChild
            )
            // Stall for longer than the session timeout: the member must survive on heartbeats.
            yield* Effect.sleep("8 seconds")
            assert.isAtMost(yield* Ref.get(received), maxInFlight)
            const group = yield* Effect.promise(() => client.admin.fetchOffsets({ groupId, topics: [input] }))
            assert.strictEqual(BigInt(group[0]!.partitions[0]!.offset), -1n)
            yield* Ref.set(stalled, false)
            yield* Cluster.awaitCommittedToEnd(client, groupId, input)
            // Exactly once here: no rebalance happened, so nothing was replayed.
            assert.strictEqual(yield* Ref.get(received), total)
            yield* Fiber.interrupt(fiber)
          })
        )
      }),
    60_000
  )
})
