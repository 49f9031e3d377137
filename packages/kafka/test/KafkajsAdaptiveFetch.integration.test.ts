import { assert, describe, it } from "@effect/vitest"
import * as EmbeddedKafka from "@sluice/testkit/EmbeddedKafka"
import { Deferred, Effect, Fiber, Ref, Stream } from "effect"
import type * as KafkaLike from "../src/KafkaLike.ts"
import * as KafkaSink from "../src/KafkaSink.ts"
import * as KafkaSource from "../src/KafkaSource.ts"
import * as Cluster from "./fixtures/cluster.ts"

// Adaptive fetches (patches/kafkajs@2.2.4.patch, `idleMaxWaitTimeInMs`):
// after a fetch that brought records the next asks for `fetchMinBytes` within
// `fetchMaxWait`; after one that brought none, for one byte within
// `fetchIdleWait`. The embedded broker counts the Fetch requests, which is
// what tells the two modes apart: a consumer asking for many bytes with a
// short wait on an idle topic asks every wait, and one asking for one byte
// while records arrive asks once per record or two.

// A source on a fresh 3-partition topic of its own broker, read into `received`, once assigned.
const consuming = (fetch: Pick<KafkaSource.Options, "fetchMinBytes" | "fetchMaxWait" | "fetchIdleWait">) =>
  Effect.gen(function* () {
    const broker = yield* EmbeddedKafka.make({ port: 0, defaultPartitions: 3 })
    const client = yield* Cluster.client([broker.bootstrap])
    const topic = Cluster.unique("adaptive")
    yield* broker.createTopic(topic, 3)
    const assigned = yield* Deferred.make<void>()
    const received = yield* Ref.make<ReadonlyArray<number>>([])
    // Completed when `count` records have arrived.
    const waiting: Array<{ readonly count: number; readonly done: Deferred.Deferred<void> }> = []
    const arrived = (count: number) =>
      Effect.gen(function* () {
        const done = yield* Deferred.make<void>()
        waiting.push({ count, done })
        if ((yield* Ref.get(received)).length >= count) yield* Deferred.succeed(done, undefined)
        yield* Deferred.await(done).pipe(Effect.timeout("20 seconds"))
      })
    const records = yield* KafkaSource.make(client, {
      topics: [topic],
      groupId: Cluster.unique("adaptive-group"),
      ...fetch,
      onAssignment: (partitions) => (partitions.length > 0 ? Deferred.succeed(assigned, undefined) : Effect.void)
    })
    yield* records.pipe(
      Stream.runForEach((e) =>
        Effect.gen(function* () {
          yield* e.receipt.ack
          const now = yield* Ref.updateAndGet(received, (xs) => [
            ...xs,
            Number(typeof e.value === "string" ? e.value : new TextDecoder().decode(e.value ?? undefined))
          ])
          for (const w of waiting) if (now.length >= w.count) yield* Deferred.succeed(w.done, undefined)
        })
      ),
      Effect.forkScoped
    )
    yield* Deferred.await(assigned).pipe(Effect.timeout("30 seconds"))
    const producer = yield* KafkaSink.producer(client)
    const send = (messages: Array<KafkaLike.Message>) =>
      Effect.promise(() => producer.send({ topic, messages, acks: -1 }))
    return { broker, received, arrived, send }
  })

describe("kafkajs adaptive fetches", () => {
  it.live(
    "an idle consumer asks rarely, and the first record answers its fetch at once",
    () =>
      Effect.gen(function* () {
        // While records flow a fetch would wait 20 ms for 64 KiB; idle, 30 s for one byte.
        const { broker, arrived, send } = yield* consuming({
          fetchMinBytes: 64 * 1024,
          fetchMaxWait: "20 millis",
          fetchIdleWait: "30 seconds"
        })
        const before = yield* broker.requestCount("Fetch")
        yield* Effect.sleep("1 second")
        const idleFetches = (yield* broker.requestCount("Fetch")) - before
        // Without the idle mode: one fetch per 20 ms wait, about 50 in the second.
        assert.isAtMost(idleFetches, 2)
        const sentAt = Date.now()
        yield* send([{ key: "k", value: "1" }])
        yield* arrived(1)
        // Well before the idle wait: the fetch asked for one byte.
        assert.isBelow(Date.now() - sentAt, 10_000)
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "while records flow, a fetch waits for many bytes instead of answering every record",
    () =>
      Effect.gen(function* () {
        const { broker, received, arrived, send } = yield* consuming({
          fetchMinBytes: 1024 * 1024,
          fetchMaxWait: "300 millis",
          fetchIdleWait: "30 seconds"
        })
        // The first record turns the consumer busy.
        yield* send([{ key: "k0", value: "0" }])
        yield* arrived(1)
        const before = yield* broker.requestCount("Fetch")
        const count = 150
        // One record every 10 ms, each sent alone: a fetch asking for one byte is answered by each.
        const sending = yield* Effect.forkScoped(
          Effect.forEach(
            Array.from({ length: count }, (_, i) => i + 1),
            (i) => Effect.andThen(send([{ key: `k${i}`, value: String(i) }]), Effect.sleep("10 millis")),
            { discard: true }
          )
        )
        yield* Fiber.join(sending)
        yield* arrived(count + 1)
        const fetches = (yield* broker.requestCount("Fetch")) - before
        // At least ~1.5 s of sending in 300 ms waits: about 6 fetches, and a
        // few more around the start and the end; a fetch per record or two without it.
        assert.isAtMost(fetches, 20)
        assert.deepStrictEqual(
          [...(yield* Ref.get(received))].sort((a, b) => a - b),
          Array.from({ length: count + 1 }, (_, i) => i)
        )
      }).pipe(Effect.scoped),
    60_000
  )
})
