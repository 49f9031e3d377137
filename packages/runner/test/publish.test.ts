import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Option } from "effect"
import { TestClock } from "effect/testing"
import type * as Generator from "../src/jobs/claims/Generator.ts"
import * as Publish from "../src/jobs/claims/Publish.ts"

const options = (overrides: Partial<Publish.Options> = {}): Publish.Options => ({
  seed: 7,
  claims: 100,
  validClaimRate: 0.9,
  invalidRate: 0.2,
  eventsPerSecond: 10,
  count: Option.none(),
  duration: Option.none(),
  chunkSize: 5,
  chunkWait: "100 millis",
  topic: "t",
  ...overrides
})

const harness = () => {
  const chunks: Array<ReadonlyArray<Generator.GeneratedRecord>> = []
  const lines: Array<string> = []
  return {
    chunks,
    lines,
    send: (chunk: ReadonlyArray<Generator.GeneratedRecord>) => Effect.sync(() => void chunks.push(chunk)),
    report: (line: string) => Effect.sync(() => void lines.push(line))
  }
}

describe("publish", () => {
  it.effect("run - stops after --duration of paced events, with one progress line per second and a summary", () =>
    Effect.gen(function* () {
      const h = harness()
      const fiber = yield* Effect.forkChild(
        Publish.run(options({ duration: Option.some(Duration.seconds(3)) }), h.send, h.report)
      )
      yield* TestClock.adjust("4 seconds")
      const totals = yield* Fiber.join(fiber)
      const sent = h.chunks.reduce((n, c) => n + c.length, 0)
      assert.strictEqual(totals.sent, sent)
      // 10 per second for 3 seconds, the first one at time 0.
      assert.isAtLeast(sent, 29)
      assert.isAtMost(sent, 31)
      assert.isTrue(h.chunks.every((c) => c.length <= 5))
      const progress = h.lines.filter((l) => l.startsWith("sent "))
      assert.strictEqual(progress.length, 3)
      assert.match(progress[1]!, /^sent \d+ {2}rate 10\/s {2}invalid \d+$/)
      assert.match(h.lines.at(-1)!, new RegExp(`^done: sent ${sent} records to t in 3\\.\\d+s`))
    })
  )

  it.effect("run - --count sends exactly that many and counts the malformed ones as invalid", () =>
    Effect.gen(function* () {
      const h = harness()
      const fiber = yield* Effect.forkChild(
        Publish.run(options({ count: Option.some(40), eventsPerSecond: 1000 }), h.send, h.report)
      )
      yield* TestClock.adjust("1 second")
      const totals = yield* Fiber.join(fiber)
      assert.strictEqual(totals.sent, 40)
      const kinds = h.chunks.flat().map((r) => new TextDecoder().decode(r.headers[0]![1]))
      const invalid = kinds.filter((k) => k !== "valid" && k !== "unknown-claim").length
      assert.strictEqual(totals.invalid, invalid)
      assert.isAbove(invalid, 0)
    })
  )

  it.effect("run - interruption still reports the summary of what was sent", () =>
    Effect.gen(function* () {
      const h = harness()
      const fiber = yield* Effect.forkChild(Publish.run(options(), h.send, h.report))
      yield* TestClock.adjust("2 seconds")
      yield* Fiber.interrupt(fiber)
      const sent = h.chunks.reduce((n, c) => n + c.length, 0)
      assert.isAbove(sent, 0)
      assert.match(h.lines.at(-1)!, new RegExp(`^done: sent ${sent} records`))
    })
  )
})
