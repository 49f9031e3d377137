import { assert, describe, it } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import { Kafka, logLevel } from "kafkajs"
import { spawnSluice } from "./support/spawnSluice.ts"

describe("sluice broker", () => {
  it.live(
    "broker - serves Kafka clients on the printed address and exits 0 on SIGTERM",
    () =>
      Effect.gen(function* () {
        const run = spawnSluice(["broker", "--port", "0"])
        const bootstrap = yield* Effect.sync(() => /listening on (\S+)/.exec(run.output().stdout)?.[1]).pipe(
          Effect.flatMap((address) =>
            address === undefined ? Effect.fail("not listening yet") : Effect.succeed(address)
          ),
          Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 150 }),
          Effect.onError(() => Effect.sync(() => run.child.kill("SIGKILL")))
        )
        const admin = new Kafka({ brokers: [bootstrap], clientId: "broker-test", logLevel: logLevel.NOTHING }).admin()
        yield* Effect.promise(() => admin.connect())
        yield* Effect.promise(() => admin.createTopics({ topics: [{ topic: "hello", numPartitions: 2 }] }))
        const topics = yield* Effect.promise(() => admin.listTopics())
        yield* Effect.promise(() => admin.disconnect())
        assert.include(topics, "hello")

        run.child.kill("SIGTERM")
        const exit = yield* Effect.promise(() => run.done)
        assert.strictEqual(exit.status, 0, exit.stderr)
      }),
    60_000
  )

  it.live(
    "broker --partitions - a topic created on first use gets that many partitions",
    () =>
      Effect.gen(function* () {
        const run = spawnSluice(["broker", "--port", "0", "--partitions", "4"])
        const bootstrap = yield* Effect.sync(() => /listening on (\S+)/.exec(run.output().stdout)?.[1]).pipe(
          Effect.flatMap((address) =>
            address === undefined ? Effect.fail("not listening yet") : Effect.succeed(address)
          ),
          Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 150 }),
          Effect.onError(() => Effect.sync(() => run.child.kill("SIGKILL")))
        )
        const kafka = new Kafka({ brokers: [bootstrap], clientId: "broker-test", logLevel: logLevel.NOTHING })
        const producer = kafka.producer({ allowAutoTopicCreation: true })
        yield* Effect.promise(() => producer.connect())
        yield* Effect.promise(() => producer.send({ topic: "auto-created", messages: [{ value: "x" }] }))
        yield* Effect.promise(() => producer.disconnect())
        const admin = kafka.admin()
        yield* Effect.promise(() => admin.connect())
        const metadata = yield* Effect.promise(() => admin.fetchTopicMetadata({ topics: ["auto-created"] }))
        yield* Effect.promise(() => admin.disconnect())
        assert.strictEqual(metadata.topics[0]?.partitions.length, 4)

        run.child.kill("SIGTERM")
        const exit = yield* Effect.promise(() => run.done)
        assert.strictEqual(exit.status, 0, exit.stderr)
      }),
    60_000
  )
})
