import { assert, layer } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import * as Cluster from "../../cdc/test/support/Cluster.ts"
import * as GenerateCommand from "../src/jobs/cdc/GenerateCommand.ts"
import { setup } from "./CdcCaptureHarness.ts"
import { pollUntil } from "./support/poll.ts"
import { type Sluice, stopSluice } from "./support/spawnSluice.ts"

const load = { seed: 9, count: 3000, eventsPerSecond: 1000, maxBytes: 2048 }

const killHard = (capture: Sluice) =>
  Effect.gen(function* () {
    assert.isNull(capture.child.exitCode, capture.output().stderr)
    yield* Effect.sync(() => process.kill(-capture.child.pid!, "SIGKILL"))
    yield* Effect.promise(() => capture.done)
  })

layer(Cluster.PgCluster.layer, { timeout: 240_000, excludeTestServices: true })("cdc capture, kill -9", (it) => {
  it.effect(
    "killed during the initial snapshot: the restart reads the tables again, every row's key reaches Kafka",
    () =>
      Effect.gen(function* () {
        const t = yield* setup
        // 6,000 rows before the capture's first start: all of them are the snapshot.
        yield* GenerateCommand.run(t.pg.sql, { ...load, eventsPerSecond: 1_000_000 })
        const expected = yield* t.expectedKeys
        assert.strictEqual(expected.size, 6000)
        const first = t.start()
        const { count } = yield* t.waitForRecords(first, 600)
        yield* killHard(first)
        assert.isTrue(count < expected.size, "killed before the snapshot's end")
        const second = t.start()
        yield* Effect.addFinalizer(() => stopSluice(second))
        const keys = yield* t.waitForEveryRow(second, expected)
        assert.isNull(second.child.exitCode, second.output().stderr)
        assert.deepStrictEqual(
          [...keys].filter((k) => !expected.has(k)),
          []
        )
      }).pipe(Effect.scoped),
    240_000
  )

  it.effect(
    "killed while streaming a load: the restart resumes from the slot, every row's key reaches Kafka",
    () =>
      Effect.gen(function* () {
        const t = yield* setup
        const first = t.start()
        // The load starts once the capture streams (its slot in use), so the kill lands in the stream.
        yield* pollUntil("the capture's slot in use", t.slots, (slots) => slots[0]?.active === true, {
          timeoutMs: 90_000
        })
        const generating = yield* Effect.forkScoped(GenerateCommand.run(t.pg.sql, load))
        yield* t.waitForRecords(first, 600)
        yield* killHard(first)
        const second = t.start()
        yield* Effect.addFinalizer(() => stopSluice(second))
        yield* Fiber.join(generating)
        const expected = yield* t.expectedKeys
        assert.strictEqual(expected.size, 6000)
        const keys = yield* t.waitForEveryRow(second, expected)
        assert.isNull(second.child.exitCode, second.output().stderr)
        // Nothing that is not a row, either.
        assert.deepStrictEqual(
          [...keys].filter((k) => !expected.has(k)),
          []
        )
      }).pipe(Effect.scoped),
    240_000
  )
})
