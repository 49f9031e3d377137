import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect } from "effect"
import * as KafkaSource from "../src/KafkaSource.ts"
import * as Cluster from "./fixtures/cluster.ts"

// kafkajs 2.2.4's request queue re-armed a timer after every check of its
// pending requests, even with nothing pending: a 1 ms timer loop per broker
// connection that kept an idle consumer at several percent of a core. The
// patch (patches/kafkajs@2.2.4.patch) arms it only when a request waits or a
// throttle ends later. This counts the timers the request queue arms while a
// consumer sits on an empty topic.
describe("kafkajs request queue", () => {
  it.live(
    "an idle consumer arms no request-queue timers",
    () =>
      Effect.gen(function* () {
        const brokers = yield* Cluster.brokers
        const client = yield* Cluster.client(brokers)
        const topic = Cluster.unique("idle")
        yield* Effect.promise(() =>
          client.admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true })
        )
        const assigned = yield* Deferred.make<void>()
        yield* KafkaSource.make(client, {
          topics: [topic],
          groupId: Cluster.unique("idle-group"),
          onAssignment: (partitions) => (partitions.length > 0 ? Deferred.succeed(assigned, undefined) : Effect.void)
        })
        yield* Deferred.await(assigned).pipe(Effect.timeout("30 seconds"))
        const armed = yield* Effect.promise(async () => {
          const original = globalThis.setTimeout
          let count = 0
          const counting = ((...args: Parameters<typeof setTimeout>) => {
            if (new Error().stack?.includes("requestQueue") === true) count++
            return original(...args)
          }) as typeof setTimeout
          globalThis.setTimeout = counting
          try {
            await new Promise((resolve) => original(resolve, 2_000))
          } finally {
            globalThis.setTimeout = original
          }
          return count
        })
        // Fetches answer after their wait (5 s by default) and heartbeats go out every 3 s,
        // so a handful of requests in two seconds at most; the loop armed one per millisecond.
        assert.isBelow(armed, 20)
      }).pipe(Effect.scoped),
    60_000
  )
})
