import { assert, describe, it } from "@effect/vitest"
import type { OffsetTracker } from "@sluice/core"
import { Effect, Exit, Schedule, Scope, Stream } from "effect"
import * as KafkaSource from "../src/KafkaSource.ts"
import * as Cluster from "./fixtures/cluster.ts"

const waitFor = (condition: () => boolean) =>
  Effect.suspend(() => (condition() ? Effect.void : Effect.fail("waiting"))).pipe(
    Effect.retry({ schedule: Schedule.spaced("50 millis"), times: 600 })
  )

describe("KafkaSource onRevoke", () => {
  it.live(
    "tells every partition given up in a rebalance; a listener that never answers holds the group for revokeTimeout only",
    () =>
      Effect.gen(function* () {
        const { client, input, groupId, producer } = yield* Cluster.consumerFixture(2)
        const send = (from: number) =>
          Effect.promise(() =>
            producer.send({
              topic: input,
              acks: -1,
              messages: Array.from({ length: 100 }, (_, i) => ({ key: `k${from + i}`, value: `${from + i}` }))
            })
          )
        let consumed = 0
        const revoked: Array<OffsetTracker.TopicPartition> = []
        const instance = (onRevoke?: KafkaSource.Options["onRevoke"]) =>
          Effect.gen(function* () {
            const records = yield* KafkaSource.make(client, {
              topics: [input],
              groupId,
              commitInterval: "100 millis",
              ...Cluster.groupTimeouts,
              revokeTimeout: "1 second",
              ...(onRevoke === undefined ? {} : { onRevoke })
            })
            yield* records.pipe(
              Stream.runForEach((e) =>
                Effect.andThen(
                  e.receipt.ack,
                  Effect.sync(() => {
                    consumed++
                  })
                )
              ),
              Effect.forkScoped
            )
          })

        // A's listener records what it is told, then never answers.
        yield* instance((tps) =>
          Effect.andThen(
            Effect.sync(() => revoked.push(...tps)),
            Effect.never
          )
        )
        yield* send(0)
        yield* waitFor(() => consumed === 100)
        assert.deepStrictEqual(revoked, [])

        // B joins: A gives both partitions up (eager protocol) and is told each of them.
        const second = yield* Scope.make()
        yield* instance().pipe(Scope.provide(second))
        yield* waitFor(() => revoked.length >= 2)
        assert.deepStrictEqual([...new Set(revoked.map((tp) => `${tp.topic}/${tp.partition}`))].sort(), [
          `${input}/0`,
          `${input}/1`
        ])
        // The group goes on: everything produced after the rebalance is consumed and committed.
        yield* send(100)
        yield* waitFor(() => consumed >= 200)
        yield* Cluster.awaitCommittedToEnd(client, groupId, input)
        yield* Scope.close(second, Exit.void)
      }).pipe(Effect.scoped),
    60_000
  )
})
