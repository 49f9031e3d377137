// Broker restart: while payments are generated and enriched, the broker
// process is killed with SIGKILL and started again on the same port with the
// same data directory. The producer and the enrich job reconnect; every input
// must end up in exactly one output topic. `brokerRestartExactlyOnce` runs the
// job with `--processing-guarantee exactly-once`: the transactions open at the
// kill are aborted (or time out), and read back with read_committed no output
// may repeat.
import { assert } from "@effect/vitest"
import { Effect } from "effect"
import * as Jobs from "../support/jobs.ts"
import * as Processes from "../support/processes.ts"
import * as Scenario from "../support/scenario.ts"

const events = 30_000

const brokerRestartWith = (name: string, flags: ReadonlyArray<string> = []) =>
  Effect.gen(function* () {
    const s = yield* Scenario.setup(name.replace(/\W+/g, "_"))
    const job = yield* Jobs.startEnrich("enrich", s.env, flags)
    const generate = yield* Jobs.startGenerate(s.env, {
      count: events,
      eventsPerSecond: 1_000,
      seed: 202,
      claims: Scenario.claims,
      invalidRate: 0.01
    })
    yield* Scenario.progressed(s, 5_000 + Math.floor(Math.random() * 10_000), job)
    const restartedAt = yield* Scenario.outputs(s)
    yield* Processes.kill(s.broker)
    yield* Jobs.startBroker(s.brokerSpec)
    yield* Processes.awaitSuccess(generate, "5 minutes")
    yield* Scenario.drained(s, job)
    const exit = yield* Processes.stop(job)
    const r = yield* Scenario.reconcile(s)
    return {
      row: Scenario.row(name, s, r, `broker SIGKILL + restart at ${restartedAt} outputs`),
      verify: () => {
        Scenario.assertComplete(r)
        assert.strictEqual(exit.status, 0, "the enrich job survives the restart and exits 0 on SIGTERM")
        if (flags.includes("exactly-once")) assert.strictEqual(r.duplicates, 0, "outputs written twice")
      }
    }
  })

export const brokerRestart = brokerRestartWith("broker restart")

export const brokerRestartExactlyOnce = brokerRestartWith("broker restart (exactly-once)", [
  "--processing-guarantee",
  "exactly-once"
])
