import { assert, layer } from "@effect/vitest"
import { Effect, Fiber, Schedule } from "effect"
import * as Cluster from "../../cdc/test/support/Cluster.ts"
import * as CdcGenerator from "../src/jobs/cdc/CdcGenerator.ts"
import * as GenerateCommand from "../src/jobs/cdc/GenerateCommand.ts"
import { setup } from "./CdcCaptureHarness.ts"
import { pollUntil } from "./support/poll.ts"
import { stopSluice } from "./support/spawnSluice.ts"

const options = { seed: 11, maxBytes: 2048 }
const events = 3000
const batch = 50

layer(Cluster.PgCluster.layer, { timeout: 240_000, excludeTestServices: true })(
  "cdc capture, PostgreSQL restart",
  (it) => {
    it.effect(
      "PostgreSQL restarted under a running `sluice cdc capture`: it reconnects and every row's key reaches Kafka",
      () =>
        Effect.gen(function* () {
          const t = yield* setup
          const capture = t.start()
          yield* Effect.addFinalizer(() => stopSluice(capture))
          yield* pollUntil("the capture's slot in use", t.slots, (slots) => slots[0]?.active === true, {
            timeoutMs: 90_000
          })
          // The load goes on through the restart: a batch the server refused is
          // inserted again once it is back (the statement is an upsert).
          const load = Effect.gen(function* () {
            for (let from = 0; from < events; from += batch) {
              const rows = Array.from({ length: batch }, (_, i) => CdcGenerator.event(options, from + i))
              yield* GenerateCommand.insert(t.pg.sql, rows).pipe(
                Effect.retry({ schedule: Schedule.spaced("200 millis"), times: 300 })
              )
              yield* Effect.sleep("50 millis")
            }
          })
          const loading = yield* Effect.forkScoped(load)
          yield* t.waitForRecords(capture, 600)
          yield* t.db.restart
          yield* Fiber.join(loading)

          const expected = yield* t.expectedKeys
          assert.strictEqual(expected.size, 2 * events)
          const keys = yield* t.waitForEveryRow(capture, expected)
          assert.isNull(capture.child.exitCode, capture.output().stderr)
          assert.deepStrictEqual(
            [...keys].filter((k) => !expected.has(k)),
            []
          )
          // It came back through the reconnection schedule, not by luck.
          assert.include(capture.output().stdout, "cdc capture lost PostgreSQL, reconnecting")
        }).pipe(Effect.scoped),
      240_000
    )
  }
)
