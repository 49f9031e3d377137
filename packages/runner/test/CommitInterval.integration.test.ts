// `sluice claims large --processing-guarantee exactly-once --commit-interval
// 2s`, the command itself run in this process against the embedded broker,
// on a test clock of its own: its outputs stay invisible to `read_committed`
// readers until the clock reaches 2 s, and are committed with their input
// offsets then. The job's default interval (50 ms, pipelined) would have
// committed the first output before the second was written: a pipelined
// partition's outputs after a cut are sent only once the commit before them
// is over, so, the second output written, the first would be visible.
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { EmbeddedKafka } from "@sluice/testkit"
import { ConfigProvider, Effect, Layer, Schedule } from "effect"
import { Command } from "effect/cli"
import { TestClock } from "effect/testing"
import { Kafka, logLevel } from "kafkajs"
import * as ClaimsCommand from "../src/jobs/claims/ClaimsCommand.ts"

const enriched = "enriched-payments"
const deadLetters = "payment-events-dlq"

// One undecodable enriched payment, to partition 0: the job dead-letters it, under the same key.
const produceUndecodable = (bootstrap: string, value: string) =>
  Effect.promise(async () => {
    const kafka = new Kafka({ brokers: [bootstrap], logLevel: logLevel.NOTHING })
    const producer = kafka.producer()
    await producer.connect()
    try {
      await producer.send({ topic: enriched, acks: -1, messages: [{ key: "k", value, partition: 0 }] })
    } finally {
      await producer.disconnect()
    }
  })

const sum = (offsets: ReadonlyArray<number>) => offsets.reduce((a, b) => a + b, 0)

// Polls (on the live clock) until `check` holds.
const until = <A, E>(read: Effect.Effect<A, E>, check: (a: A) => boolean) =>
  read.pipe(
    Effect.flatMap((a) => (check(a) ? Effect.succeed(a) : Effect.fail("not yet" as const))),
    Effect.retry({ schedule: Schedule.spaced("20 millis"), while: (e) => e === "not yet" }),
    Effect.timeout("30 seconds"),
    Effect.orDie
  )

describe("--commit-interval", () => {
  it.live("claims large - outputs become visible to read_committed at the interval given, not before", () =>
    Effect.gen(function* () {
      const broker = yield* EmbeddedKafka.make({ port: 0 })
      yield* broker.createTopic(enriched, 6)
      yield* produceUndecodable(broker.bootstrap, "first")

      // The command's clock only moves when adjusted; the broker and the polls here run on the live one.
      const jobClock = yield* Layer.build(TestClock.layer({ warningDelay: "1 minute" }))
      const args = ["large", "--bootstrap-servers", broker.bootstrap, "--metrics-port", "0", "--group-id", "ci"]
      yield* Command.runWith(ClaimsCommand.command, { version: "0" })([
        ...args,
        ...["--processing-guarantee", "exactly-once", "--commit-interval", "2s"]
      ]).pipe(
        Effect.provide(NodeServices.layer),
        Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env: {} })),
        Effect.provideContext(jobClock),
        Effect.forkScoped
      )
      const ends = Effect.map(broker.endOffsets(deadLetters).pipe(Effect.orElseSucceed(() => [])), sum)
      const stable = Effect.map(broker.stableOffsets(deadLetters).pipe(Effect.orDie), sum)

      // The first dead letter is in the open transaction.
      yield* until(ends, (n) => n >= 1)
      yield* TestClock.adjust("1999 millis").pipe(Effect.provideContext(jobClock))
      yield* produceUndecodable(broker.bootstrap, "second")
      yield* until(ends, (n) => n >= 2)
      assert.strictEqual(yield* ends, 2, "both dead letters, no commit marker")
      assert.strictEqual(yield* stable, 0, "nothing visible to read_committed yet")
      assert.isUndefined((yield* broker.committedOffsets("ci-large")).get(enriched)?.get(0))

      yield* TestClock.adjust("1 millis").pipe(Effect.provideContext(jobClock))
      // Both dead letters and the commit marker, all stable; the offsets committed with them.
      yield* until(stable, (n) => n === 3)
      assert.strictEqual(yield* ends, 3)
      assert.strictEqual((yield* broker.committedOffsets("ci-large")).get(enriched)?.get(0), 2)
    })
  )
})
