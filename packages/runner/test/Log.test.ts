import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestConsole } from "effect/testing"
import * as Log from "../src/Log.ts"

describe("Log", () => {
  it("formatFor - pretty on a terminal, JSON otherwise", () => {
    assert.strictEqual(Log.formatFor({ isTTY: true }), "pretty")
    assert.strictEqual(Log.formatFor({ isTTY: false }), "json")
    assert.strictEqual(Log.formatFor({}), "json")
  })

  it.effect("layer - json writes one object per line with the record annotations", () =>
    Effect.gen(function* () {
      yield* Effect.logInfo("enriched").pipe(
        Log.withRecord({ topic: "payment-events", partition: 3, offset: 42n, paymentId: "PAY-1" }),
        Log.withJob("claims-enrich"),
        Effect.provide(Log.layer("json"))
      )
      const lines = yield* TestConsole.logLines
      assert.strictEqual(lines.length, 1)
      const line = JSON.parse(String(lines[0]))
      assert.strictEqual(line.level, "INFO")
      assert.deepStrictEqual(line.annotations, {
        job: "claims-enrich",
        topic: "payment-events",
        partition: 3,
        offset: "42",
        payment_id: "PAY-1"
      })
    }).pipe(Effect.provide(TestConsole.layer))
  )
})
