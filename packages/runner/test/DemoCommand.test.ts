import { assert, describe, it } from "@effect/vitest"
import { FaultProxy } from "@sluice/testkit"
import { Duration, Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import * as Stats from "../src/http/Stats.ts"
import * as DemoCommand from "../src/jobs/claims/DemoCommand.ts"

describe("DemoCommand", () => {
  it.effect("faultWindow - switches the proxy after `after`, back to pass-through `duration` later", () =>
    Effect.gen(function* () {
      const modes: Array<string> = []
      const lines: Array<string> = []
      const fiber = yield* DemoCommand.faultWindow(
        (mode) => Effect.sync(() => modes.push(mode._tag)),
        {
          after: Duration.seconds(5),
          duration: Duration.seconds(3),
          mode: FaultProxy.FaultMode.latency("10 seconds"),
          label: "database slow"
        },
        (line) => Effect.sync(() => lines.push(line))
      ).pipe(Effect.forkChild)
      yield* Effect.yieldNow
      yield* TestClock.adjust("4999 millis")
      assert.deepStrictEqual(modes, [])
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(modes, ["Latency"])
      assert.deepStrictEqual(lines, ["chaos: database slow for 3s"])
      yield* TestClock.adjust("2999 millis")
      assert.deepStrictEqual(modes, ["Latency"])
      yield* TestClock.adjust("1 millis")
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(modes, ["Latency", "PassThrough"])
      assert.deepStrictEqual(lines, ["chaos: database slow for 3s", "chaos: database back"])
    })
  )

  it("summary - failures by status and dead letters by reason", () => {
    const stats = Stats.fromSnapshot([])
    const text = DemoCommand.summary(
      {
        ...stats,
        outcomesByStatus: { SUCCESS: 90, CLAIM_NOT_FOUND: 6, DB_TIMEOUT: 2 },
        deadLetters: 3,
        deadLettersByReason: { "invalid-json": 2, "too-large": 1 }
      },
      101
    )
    assert.match(text, /events in\s+101\n/)
    assert.match(text, /enriched\s+90\n/)
    assert.match(text, /failed\s+8 \(CLAIM_NOT_FOUND 6, DB_TIMEOUT 2\)\n/)
    assert.match(text, /dead letters\s+3 \(invalid-json 2, too-large 1\)\n/)
  })
})
