import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Logger, Option } from "effect"
import { TestConsole } from "effect/testing"
import * as Sluice from "../src/cli/Sluice.ts"
import * as ProcessingGuarantee from "../src/ProcessingGuarantee.ts"

const withEnv = (env: Record<string, string>) =>
  Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env }))

// Runs `load`, keeping what it logged as "<LEVEL> <message>".
const loadLogged = (overrides: Parameters<typeof ProcessingGuarantee.load>[0], env: Record<string, string> = {}) =>
  Effect.gen(function* () {
    const lines: Array<string> = []
    const logger = Logger.make<unknown, void>(({ logLevel, message }) => {
      lines.push(`${logLevel.toUpperCase()} ${(Array.isArray(message) ? message : [message]).join(" ")}`)
    })
    const loaded = yield* ProcessingGuarantee.load(overrides).pipe(withEnv(env), Effect.provide(Logger.layer([logger])))
    return { loaded, lines }
  })

describe("ProcessingGuarantee", () => {
  it.effect("load - absent: at-least-once and no interval, so each job keeps its default", () =>
    Effect.gen(function* () {
      const { loaded, lines } = yield* loadLogged({})
      assert.deepStrictEqual(loaded, { guarantee: "at-least-once", commitInterval: undefined })
      assert.deepStrictEqual(lines, [])
      const exactlyOnce = yield* loadLogged({}, { PROCESSING_GUARANTEE: "exactly-once" })
      assert.deepStrictEqual(exactlyOnce.loaded, { guarantee: "exactly-once", commitInterval: undefined })
    })
  )

  it.effect("load - the interval from the flag, then COMMIT_INTERVAL", () =>
    Effect.gen(function* () {
      const fromEnv = yield* loadLogged({}, { PROCESSING_GUARANTEE: "exactly-once", COMMIT_INTERVAL: "250ms" })
      assert.strictEqual(fromEnv.loaded.guarantee, "exactly-once")
      assert.strictEqual(Duration.toMillis(fromEnv.loaded.commitInterval!), 250)
      assert.deepStrictEqual(fromEnv.lines, [])
      const fromFlag = yield* loadLogged(
        { processingGuarantee: Option.some("exactly-once"), commitInterval: Option.some("2s") },
        { COMMIT_INTERVAL: "250ms" }
      )
      assert.strictEqual(Duration.toMillis(fromFlag.loaded.commitInterval!), 2_000)
    })
  )

  it.effect("load - zero, garbage or too long fails with one line naming the flag or variable", () =>
    Effect.gen(function* () {
      const zero = yield* Effect.flip(
        ProcessingGuarantee.load({ commitInterval: Option.some("0ms") }).pipe(withEnv({}))
      )
      assert.strictEqual(
        zero.message,
        'Invalid value for --commit-interval: "0ms" (expected a duration above 0 such as 50ms, 5s, 2m or 1h)'
      )
      const garbage = yield* Effect.flip(ProcessingGuarantee.load().pipe(withEnv({ COMMIT_INTERVAL: "often" })))
      assert.strictEqual(
        garbage.message,
        'Invalid value for COMMIT_INTERVAL: "often" (expected a duration above 0 such as 50ms, 5s, 2m or 1h)'
      )
      // Past the transaction timeout the broker would abort every transaction.
      const long = yield* Effect.flip(ProcessingGuarantee.load({ commitInterval: Option.some("1m") }).pipe(withEnv({})))
      assert.strictEqual(
        long.message,
        'Invalid value for --commit-interval: "1m" (expected a duration above 0 and at most 30s, well below the 60s transaction timeout)'
      )
      assert.strictEqual(
        Duration.toMillis(
          (yield* ProcessingGuarantee.load({ commitInterval: Option.some("30s") }).pipe(withEnv({}))).commitInterval!
        ),
        30_000
      )
    })
  )

  it.effect("load - an interval with at-least-once is not an error, but one warning says it is ignored", () =>
    Effect.gen(function* () {
      const { loaded, lines } = yield* loadLogged({ commitInterval: Option.some("2s") })
      assert.strictEqual(loaded.guarantee, "at-least-once")
      assert.deepStrictEqual(lines, [
        "WARN the commit interval applies only to --processing-guarantee exactly-once; ignored under at-least-once"
      ])
    })
  )

  it.effect("flags - every command with --processing-guarantee lists --commit-interval in its help", () =>
    Effect.gen(function* () {
      const commands = [
        ["claims", "enrich"],
        ["claims", "large"],
        ["replay"],
        ["demo", "claims"],
        ...["sales", "segments", "anomalies", "inventory"].map((job) => ["commerce", job]),
        ["trigger", "run"]
      ]
      for (const command of commands) {
        const help = yield* Sluice.run([...command, "--help"]).pipe(
          Effect.andThen(TestConsole.logLines),
          Effect.provide(TestConsole.layer)
        )
        const text = help.join("\n")
        assert.include(text, "--processing-guarantee", command.join(" "))
        assert.include(text, "--commit-interval", command.join(" "))
        assert.include(text, "(env COMMIT_INTERVAL)", command.join(" "))
      }
    }).pipe(Effect.provide(NodeServices.layer))
  )
})
