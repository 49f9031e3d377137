import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Option } from "effect"
import * as ConsumerGroup from "../src/ConsumerGroup.ts"

const withEnv = (env: Record<string, string>) =>
  Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env }))

describe("ConsumerGroup", () => {
  it.effect("load - nothing set leaves the source's defaults; milliseconds or durations", () =>
    Effect.gen(function* () {
      assert.deepStrictEqual(yield* ConsumerGroup.load().pipe(withEnv({})), {})
      const timing = yield* ConsumerGroup.load({ sessionTimeout: Option.some("10s") }).pipe(
        withEnv({
          KAFKA_SESSION_TIMEOUT_MS: "45000",
          KAFKA_HEARTBEAT_INTERVAL_MS: "1000",
          KAFKA_REBALANCE_TIMEOUT_MS: "2m"
        })
      )
      assert.deepStrictEqual(timing, { sessionTimeout: 10_000, heartbeatInterval: 1_000, rebalanceTimeout: 120_000 })
    })
  )

  it.effect("load - fetch sizes from flags or variables, passed as the source takes them", () =>
    Effect.gen(function* () {
      const fetch = yield* ConsumerGroup.load({ fetchMaxWait: Option.some("20ms") }).pipe(
        withEnv({ KAFKA_FETCH_MIN_BYTES: "65536", KAFKA_FETCH_MAX_WAIT_MS: "500", KAFKA_FETCH_IDLE_WAIT_MS: "2s" })
      )
      assert.deepStrictEqual(fetch, { fetchMinBytes: 65_536, fetchMaxWait: 20, fetchIdleWait: 2_000 })
      const bad = yield* Effect.flip(ConsumerGroup.load().pipe(withEnv({ KAFKA_FETCH_MIN_BYTES: "0" })))
      assert.match(bad.message, /^Invalid value for KAFKA_FETCH_MIN_BYTES: "0" \(expected an integer between 1 and/)
    })
  )

  it.effect("load - a bad value names its variable; a heartbeat not below the session fails", () =>
    Effect.gen(function* () {
      const bad = yield* Effect.flip(ConsumerGroup.load().pipe(withEnv({ KAFKA_SESSION_TIMEOUT_MS: "1s" })))
      assert.match(bad.message, /^Invalid value for KAFKA_SESSION_TIMEOUT_MS: "1s" \(expected milliseconds/)
      const slow = yield* Effect.flip(
        ConsumerGroup.load({ heartbeatInterval: Option.some("10s") }).pipe(
          withEnv({ KAFKA_SESSION_TIMEOUT_MS: "10000" })
        )
      )
      assert.strictEqual(
        slow.message,
        "error: the heartbeat interval (10000ms) must be shorter than the session timeout (10000ms) (check KAFKA_HEARTBEAT_INTERVAL_MS or --heartbeat-interval)"
      )
    })
  )

  it.effect("load - the group instance id comes from the flag, then GROUP_INSTANCE_ID, then POD_NAME", () =>
    Effect.gen(function* () {
      const pod = { POD_NAME: "sluice-claims-enrich-2" }
      assert.deepStrictEqual(yield* ConsumerGroup.load().pipe(withEnv(pod)), {
        groupInstanceId: "sluice-claims-enrich-2"
      })
      assert.deepStrictEqual(yield* ConsumerGroup.load().pipe(withEnv({ ...pod, GROUP_INSTANCE_ID: "enrich-a" })), {
        groupInstanceId: "enrich-a"
      })
      assert.deepStrictEqual(
        yield* ConsumerGroup.load({ groupInstanceId: Option.some("enrich-b") }).pipe(
          withEnv({ ...pod, GROUP_INSTANCE_ID: "enrich-a" })
        ),
        { groupInstanceId: "enrich-b" }
      )
      // HOSTNAME is no default, and an empty POD_NAME is none: the member joins dynamically.
      assert.deepStrictEqual(yield* ConsumerGroup.load().pipe(withEnv({ HOSTNAME: "laptop", POD_NAME: " " })), {})
      const blank = yield* Effect.flip(ConsumerGroup.load().pipe(withEnv({ GROUP_INSTANCE_ID: " " })))
      assert.match(blank.message, /GROUP_INSTANCE_ID/)
    })
  )
})
