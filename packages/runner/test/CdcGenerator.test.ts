import { assert, describe, it } from "@effect/vitest"
import type { PgLookup } from "@sluice/lookup"
import { Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import * as CdcGenerator from "../src/jobs/cdc/CdcGenerator.ts"
import * as GenerateCommand from "../src/jobs/cdc/GenerateCommand.ts"

// Records each insert's events; answers at once.
const recordingSql = () => {
  const batches: Array<ReadonlyArray<{ readonly id: string }>> = []
  const sql: PgLookup.PgSql = {
    unsafe: (_query, parameters) => {
      batches.push(JSON.parse(String(parameters?.[0])))
      return Promise.resolve([])
    }
  }
  return { sql, batches }
}

describe("cdc generator", () => {
  it("is deterministic for a seed, with every event type and payloads within the bounds", () => {
    const events = Array.from({ length: 500 }, (_, i) => CdcGenerator.event({ seed: 5 }, i))
    assert.deepStrictEqual(
      events,
      Array.from({ length: 500 }, (_, i) => CdcGenerator.event({ seed: 5 }, i))
    )
    assert.deepStrictEqual(new Set(events.map((e) => e.eventType)), new Set(CdcGenerator.eventTypes))
    const sizes = events.map((e) => JSON.stringify(e.attributes).length)
    assert.isAtLeast(Math.min(...sizes), 300)
    assert.isAtMost(Math.max(...sizes), 65_536 + 512)
    assert.isAbove(Math.max(...sizes), 16_384, "some events are large")
    assert.strictEqual(new Set(events.map((e) => e.id)).size, 500)
  })

  it.effect("inserts at the requested rate, paced by the Clock", () =>
    Effect.gen(function* () {
      const { sql, batches } = recordingSql()
      const fiber = yield* Effect.forkChild(GenerateCommand.run(sql, { seed: 1, count: 300, eventsPerSecond: 100 }))
      yield* TestClock.adjust("1 second")
      // 10 events per insert every 100 ms: the inserts at 0, 100, ..., 1000 ms.
      assert.strictEqual(batches.length, 11)
      yield* TestClock.adjust("2 seconds")
      yield* Fiber.join(fiber)
      assert.strictEqual(batches.length, 30)
      assert.deepStrictEqual(
        batches.flat().map((e) => e.id),
        Array.from({ length: 300 }, (_, i) => CdcGenerator.event({ seed: 1 }, i).id)
      )
    })
  )
})
