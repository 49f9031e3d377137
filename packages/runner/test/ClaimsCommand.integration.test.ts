import { assert, describe, it } from "@effect/vitest"
import { EmbeddedKafka, FaultProxy } from "@sluice/testkit"
import { ConfigProvider, Duration, Effect, Fiber, Schedule } from "effect"
import * as Readiness from "../src/http/Readiness.ts"
import * as ClaimsCommand from "../src/jobs/claims/ClaimsCommand.ts"
import * as Config from "../src/jobs/claims/ClaimsConfig.ts"
import type * as ClaimsLookup from "../src/jobs/claims/ClaimsLookup.ts"

const options: ClaimsLookup.EnrichOptions = {
  concurrency: 8,
  ordering: "key",
  cacheSize: 0,
  cacheTtl: Duration.minutes(1),
  cacheMissTtl: Duration.seconds(5),
  lookupTimeout: Duration.seconds(5),
  retryAttempts: 0,
  retryBackoff: Duration.millis(100),
  breakerThreshold: 0.5,
  breakerWindow: 20,
  breakerCooldown: Duration.seconds(10),
  onDbUnavailable: "route"
}

describe("ClaimsCommand", () => {
  it.live("runEnrich - not ready while it connects: the partitions check comes before any other", () =>
    Effect.gen(function* () {
      const broker = yield* EmbeddedKafka.make({ port: 0 })
      // A database that accepts connections and never answers holds the job
      // after Kafka is connected and before it joins the group.
      const proxy = yield* FaultProxy.make({ target: { host: "127.0.0.1", port: 5432 } })
      yield* proxy.set(FaultProxy.FaultMode.blackhole)
      const config = yield* Config.load().pipe(
        Effect.provideService(
          ConfigProvider.ConfigProvider,
          ConfigProvider.fromEnv({
            env: {
              KAFKA_BOOTSTRAP_SERVERS: broker.bootstrap,
              DATABASE_URL: `postgres://postgres@${proxy.host}:${proxy.port}/postgres`,
              METRICS_PORT: "0"
            }
          })
        )
      )
      const readiness = yield* Readiness.make()
      const job = yield* Effect.forkScoped(ClaimsCommand.runEnrich(config, options, readiness))
      const results = yield* readiness.run.pipe(
        Effect.flatMap((checks) =>
          checks.some((c) => c.name === "kafka" && c.ok) ? Effect.succeed(checks) : Effect.fail("kafka not yet")
        ),
        Effect.retry(Schedule.spaced("20 millis")),
        Effect.timeout("30 seconds")
      )
      assert.isFalse(Readiness.isReady(results))
      assert.deepStrictEqual(
        results.find((c) => c.name === "partitions"),
        { name: "partitions", ok: false, detail: "no partitions assigned yet" }
      )
      yield* Fiber.interrupt(job)
    })
  )
})
