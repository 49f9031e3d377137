import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Exit, Option, Redacted } from "effect"
import * as Config from "../src/jobs/claims/ClaimsConfig.ts"
import * as Parse from "../src/Parse.ts"

const withEnv = (env: Record<string, string>) =>
  Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env }))

describe("ClaimsConfig", () => {
  it.effect("load - defaults when nothing is set", () =>
    Effect.gen(function* () {
      const config = yield* Config.load().pipe(withEnv({}))
      assert.deepStrictEqual(config.bootstrapServers, ["localhost:9092"])
      assert.deepStrictEqual(config.topics, {
        input: "payment-events",
        enriched: "enriched-payments",
        failed: "failed-payments",
        deadLetter: "payment-events-dlq",
        largeClaims: "large-claims"
      })
      assert.isTrue(Option.isNone(config.databaseUrl))
      assert.strictEqual(config.metricsPort, 9100)
    })
  )

  it.effect("load - reads the seed documents' variables and a flag wins over its variable", () =>
    Effect.gen(function* () {
      const config = yield* Config.load({ metricsPort: Option.some("9300") }).pipe(
        withEnv({
          KAFKA_BOOTSTRAP_SERVERS: "k1:9092, k2:9093",
          PAYMENT_EVENTS_TOPIC: "payments.in",
          ENRICHED_PAYMENTS_TOPIC: "payments.ok",
          FAILED_PAYMENTS_TOPIC: "payments.ko",
          DATABASE_URL: "postgres://app:secret@db:5432/claims",
          METRICS_PORT: "9200",
          GROUP_ID: "g1"
        })
      )
      assert.deepStrictEqual(config.bootstrapServers, ["k1:9092", "k2:9093"])
      assert.strictEqual(config.topics.input, "payments.in")
      assert.strictEqual(config.topics.enriched, "payments.ok")
      assert.strictEqual(config.topics.failed, "payments.ko")
      assert.strictEqual(config.metricsPort, 9300)
      assert.strictEqual(config.groupId, "g1")
      assert.strictEqual(Redacted.value(Option.getOrThrow(config.databaseUrl)), "postgres://app:secret@db:5432/claims")
      assert.strictEqual(Config.toDisplay(config).databaseUrl, "postgres://<redacted>@db:5432/claims")
      assert.notInclude(JSON.stringify(Config.toDisplay(config)), "secret")
    })
  )

  it.effect("load - every invalid value is reported in one error naming its variable", () =>
    Effect.gen(function* () {
      const exit = yield* Config.load().pipe(
        withEnv({ METRICS_PORT: "http", KAFKA_BOOTSTRAP_SERVERS: "nope", DATABASE_URL: "mysql://u:pw@h/db" }),
        Effect.exit
      )
      assert.isTrue(Exit.isFailure(exit))
      const error = yield* Config.load().pipe(
        withEnv({ METRICS_PORT: "http", KAFKA_BOOTSTRAP_SERVERS: "nope", DATABASE_URL: "mysql://u:pw@h/db" }),
        Effect.flip
      )
      const lines = error.message.split("\n")
      assert.strictEqual(lines.length, 3)
      assert.match(lines[0]!, /^Invalid value for KAFKA_BOOTSTRAP_SERVERS: "nope" \(expected /)
      assert.match(lines[1]!, /^Invalid value for DATABASE_URL: "<redacted>"/)
      assert.match(lines[2]!, /^Invalid value for METRICS_PORT: "http" \(expected a port number/)
      assert.notInclude(error.message, "pw@")
    })
  )

  it.effect("load - an invalid flag is named as the flag", () =>
    Effect.gen(function* () {
      const error = yield* Config.load({ inputTopic: Option.some("a b") }).pipe(withEnv({}), Effect.flip)
      assert.match(error.message, /^Invalid value for --input-topic: "a b"/)
    })
  )

  it("Parse - durations, fractions and ports", () => {
    assert.strictEqual(Duration.toMillis(Parse.unsafe(Parse.duration, "500ms")), 500)
    assert.strictEqual(Duration.toMillis(Parse.unsafe(Parse.duration, "2m")), 120_000)
    assert.isFalse(Parse.duration("5 parsecs").ok)
    assert.isFalse(Parse.fraction("1.5").ok)
    assert.isTrue(Parse.fraction("0.95").ok)
    assert.isFalse(Parse.port("65536").ok)
    assert.isFalse(Parse.int(1)("1.5").ok)
  })

  it("Parse - positive durations refuse zero and what is not a duration", () => {
    assert.strictEqual(Duration.toMillis(Parse.unsafe(Parse.positiveDuration, "50ms")), 50)
    assert.strictEqual(Duration.toMillis(Parse.unsafe(Parse.positiveDuration, "2s")), 2_000)
    for (const text of ["0ms", "0s", "0", "-5s", "soon", ""]) {
      assert.deepStrictEqual(Parse.positiveDuration(text), {
        ok: false,
        expected: "a duration above 0 such as 50ms, 5s, 2m or 1h"
      })
    }
  })
})
