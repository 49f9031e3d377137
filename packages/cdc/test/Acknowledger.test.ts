import { assert, describe, it } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import { TestClock } from "effect/testing"
import * as Acknowledger from "../src/internal/acknowledger.ts"
import * as Pgoutput from "../src/internal/pgoutput.ts"

// What the server would read from each standby status update.
const decode = (m: Buffer) => ({
  flush: m.readBigUInt64BE(9),
  clientMicros: m.readBigInt64BE(25)
})

const harness = Effect.gen(function* () {
  const sent: Array<{ flush: bigint; clientMicros: bigint }> = []
  const progress = Acknowledger.make()
  yield* progress.attach((m) => {
    assert.strictEqual(m.length, 34)
    assert.strictEqual(String.fromCharCode(m[0]!), "r")
    sent.push(decode(m))
  })
  return { sent, progress }
})

describe("Acknowledger", () => {
  it.effect("acknowledge - the confirmed position moves only when the caller acknowledges", () =>
    Effect.gen(function* () {
      const { sent, progress } = yield* harness
      progress.inTransaction(true)
      progress.emitted(100n)
      progress.inTransaction(false)
      progress.emitted(200n)
      // The server asks, but nothing is durable yet: no position is confirmed.
      yield* progress.keepalive(500n, true)
      assert.deepStrictEqual(sent, [])
      yield* progress.acknowledge(100n)
      assert.deepStrictEqual(
        sent.map((s) => s.flush),
        [101n]
      )
      // Still a record in flight: a keepalive does not move past it.
      yield* progress.keepalive(500n, true)
      assert.deepStrictEqual(
        sent.map((s) => s.flush),
        [101n, 101n]
      )
      // An older acknowledgement never moves the position back.
      yield* progress.acknowledge(50n)
      yield* progress.acknowledge(200n)
      assert.deepStrictEqual(
        sent.map((s) => s.flush),
        [101n, 101n, 201n]
      )
      assert.strictEqual(yield* progress.acknowledged, 200n)
    })
  )

  it.effect("keepalive - with everything acknowledged and no open transaction, the slot follows the server", () =>
    Effect.gen(function* () {
      const { sent, progress } = yield* harness
      progress.emitted(100n)
      yield* progress.acknowledge(100n)
      yield* progress.keepalive(900n, false)
      progress.inTransaction(true)
      yield* progress.keepalive(1000n, true)
      assert.deepStrictEqual(
        sent.map((s) => s.flush),
        [101n, 900n, 900n]
      )
    })
  )

  it.effect("attach - a status never goes below the slot's position (a snapshot acknowledged in part)", () =>
    Effect.gen(function* () {
      const sent: Array<bigint> = []
      const progress = Acknowledger.make()
      // Snapshot records before a slot starting at 1000: 998, and 999 for the last.
      progress.emitted(998n)
      yield* progress.acknowledge(998n)
      yield* progress.attach((m) => sent.push(decode(m).flush), 1000n)
      yield* progress.acknowledge(999n)
      yield* progress.acknowledge(1500n)
      assert.deepStrictEqual(sent, [1000n, 1501n])
    })
  )

  it.effect("tick - repeats the status on the schedule, stamped with the Clock's time", () =>
    Effect.gen(function* () {
      const { sent, progress } = yield* harness
      yield* progress.tick.pipe(Effect.repeat(Schedule.spaced("10 seconds")), Effect.forkScoped)
      // Nothing confirmed yet: nothing to say.
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual(sent.length, 0)
      yield* progress.acknowledge(41n)
      yield* TestClock.adjust("10 seconds")
      yield* TestClock.adjust("10 seconds")
      assert.deepStrictEqual(
        sent.map((s) => s.flush),
        [42n, 42n, 42n]
      )
      // Microseconds since 2000-01-01, from the test clock (30 s after the epoch).
      assert.strictEqual(sent[2]!.clientMicros, 30_000_000n - Pgoutput.pgEpochMicros)
      yield* progress.detach
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual(sent.length, 3)
    })
  )
})
