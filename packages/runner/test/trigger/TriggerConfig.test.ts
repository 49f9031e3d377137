import { readFileSync } from "node:fs"
import { assert, describe, it } from "@effect/vitest"
import { ScriptFilter } from "@sluice/rules"
import { ConfigProvider, Effect, Option, Result } from "effect"
import * as TriggerConfig from "../../src/jobs/trigger/TriggerConfig.ts"
import * as TriggerFilter from "../../src/jobs/trigger/TriggerFilter.ts"

const example = new URL("../../../../examples/trigger/", import.meta.url)
const withEnv = (env: Record<string, string>) => Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown(env)))

describe("TriggerConfig", () => {
  it.effect("load - the example file, overridden by a variable, overridden by a flag", () =>
    Effect.gen(function* () {
      const path = Option.some(new URL("application.yml", example).pathname)
      const fromFile = yield* TriggerConfig.load({}, path).pipe(withEnv({}))
      assert.strictEqual(fromFile.profileApi.timeoutMs, 5000)
      assert.strictEqual(fromFile.topics.input, "user-tracking-events")
      assert.deepStrictEqual(Option.getOrNull(fromFile.actions.webhook), {
        url: "http://localhost:8081/events",
        timeoutMs: 3000
      })
      assert.isTrue(fromFile.actions.debug)
      const fromEnv = yield* TriggerConfig.load({}, path).pipe(withEnv({ PROFILE_API_TIMEOUT_MS: "1200" }))
      assert.strictEqual(fromEnv.profileApi.timeoutMs, 1200)
      const fromFlag = yield* TriggerConfig.load({ profileApiTimeoutMs: Option.some("900") }, path).pipe(
        withEnv({ PROFILE_API_TIMEOUT_MS: "1200" })
      )
      assert.strictEqual(fromFlag.profileApi.timeoutMs, 900)
    })
  )

  it.effect("fromYaml - reads the seed's nesting of state-ttl-minutes under flink", () =>
    Effect.sync(() => {
      assert.deepStrictEqual(TriggerConfig.fromYaml("flink:\n  state-ttl-minutes: 20\n"), { stateTtlMinutes: "20" })
    })
  )

  it.effect("load - a bad value in the file fails naming its setting", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        TriggerConfig.load({ profileApiUrl: Option.some("not a url") }).pipe(withEnv({}))
      )
      assert.include(error.message, "--profile-api-url")
    })
  )

  it.effect("the example filter compiles against the trigger's environment", () =>
    Effect.sync(() => {
      const text = readFileSync(new URL("filter.cel", example), "utf8")
      assert.isTrue(Result.isSuccess(ScriptFilter.compileResult("filter.cel", TriggerFilter.environment, text)))
      // The README's other examples too.
      for (const other of [
        `user.tier == "premium" && visit.device == "mobile"`,
        `history.exists(h, h.eventType == "purchase")`,
        `event.properties[?"campaign"].orValue("") == "spring"`
      ]) {
        assert.isTrue(Result.isSuccess(ScriptFilter.compileResult("f", TriggerFilter.environment, other)), other)
      }
      // A misspelt event field is caught at compile time.
      assert.isTrue(
        Result.isFailure(ScriptFilter.compileResult("f", TriggerFilter.environment, `event.evntType == "x"`))
      )
    })
  )
})
