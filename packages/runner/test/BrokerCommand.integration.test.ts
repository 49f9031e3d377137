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
})
