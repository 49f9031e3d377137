import { assert, describe, it } from "@effect/vitest"
import { EmbeddedKafka } from "@sluice/testkit"
import { Effect, Schedule } from "effect"
import { spawnSluice } from "./support/spawnSluice.ts"

describe("sluice generate", () => {
  it.live(
    "generate - publishes exactly --count records across the created partitions and exits 0",
    () =>
      Effect.gen(function* () {
        const broker = yield* EmbeddedKafka.make({ port: 0, defaultPartitions: 1 })
        const run = yield* Effect.promise(
          () =>
            spawnSluice(["generate", "--count", "1000", "--events-per-second", "5000", "--partitions", "4"], {
              KAFKA_BOOTSTRAP_SERVERS: broker.bootstrap,
              PAYMENT_EVENTS_TOPIC: "payments-in"
            }).done
        )
        assert.strictEqual(run.status, 0, run.stderr)
        const offsets = yield* broker.endOffsets("payments-in")
        assert.strictEqual(offsets.length, 4)
        assert.strictEqual(
          offsets.reduce((a, b) => a + b, 0),
          1000
        )
        assert.include(run.stderr, "done: sent 1000 records to payments-in")
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "generate - prints progress every second and on SIGINT stops with a summary matching the topic, exit 0",
    () =>
      Effect.gen(function* () {
        const broker = yield* EmbeddedKafka.make({ port: 0 })
        const run = spawnSluice(["generate", "--events-per-second", "200", "--partitions", "2"], {
          KAFKA_BOOTSTRAP_SERVERS: broker.bootstrap
        })
        yield* Effect.sync(() => /sent \d+ +rate \d+\/s +invalid \d+/.test(run.output().stderr)).pipe(
          Effect.flatMap((seen) => (seen ? Effect.void : Effect.fail("no progress line yet"))),
          Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 200 }),
          Effect.ensuring(Effect.sync(() => run.child.kill("SIGINT")))
        )
        const exit = yield* Effect.promise(() => run.done)
        assert.strictEqual(exit.status, 0, exit.stderr)
        const sent = Number(/done: sent (\d+) records to payment-events/.exec(exit.stderr)?.[1])
        assert.isAbove(sent, 0)
        const offsets = yield* broker.endOffsets("payment-events")
        assert.strictEqual(
          offsets.reduce((a, b) => a + b, 0),
          sent
        )
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "generate - a broker that is not there fails with one error line and a non-zero exit",
    () =>
      Effect.gen(function* () {
        const run = yield* Effect.promise(
          () =>
            spawnSluice(["generate", "--count", "10"], {
              KAFKA_BOOTSTRAP_SERVERS: "127.0.0.1:1"
            }).done
        )
        assert.notStrictEqual(run.status, 0)
        const errors = run.stderr.split("\n").filter((l) => l.startsWith("error: "))
        assert.strictEqual(errors.length, 1, run.stderr)
        // kafkajs reports the refusal, or, on a loaded machine, its retries outlast the connect timeout.
        assert.match(errors[0]!, /ECONNREFUSED|timed out/)
        assert.notInclude(run.stderr, "    at ")
      }),
    60_000
  )
})
