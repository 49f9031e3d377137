// Broker restart: while payments are generated and enriched, the broker
// process is killed with SIGKILL and started again on the same port with the
// same data directory. The producer and the enrich job reconnect; every input
// must end up in exactly one output topic.
//
// `brokerRestartExactlyOnce` runs the job with `--processing-guarantee
// exactly-once`. There a transaction that fails because the broker went away
// ends the job's process (non-zero exit, by design): its open transactions are
// aborted by the broker, and the job resumes from the last committed offsets
// once restarted. The scenario plays the supervisor a deployment has (a
// restart policy): each non-zero exit starts the job again, a bounded number
// of times, and the row's note counts the restarts. Read back with
// read_committed, no output may repeat.
import { assert } from "@effect/vitest"
import { Effect } from "effect"
import * as Jobs from "../support/jobs.ts"
import * as Processes from "../support/processes.ts"
import * as Scenario from "../support/scenario.ts"
import * as Supervisor from "../support/supervisor.ts"

const events = 30_000

/** Restarts a supervised job may need: one per broker outage is expected; more means it keeps failing. */
const maxRestarts = 5

const brokerRestartWith = (name: string, flags: ReadonlyArray<string> = []) =>
  Effect.gen(function* () {
    const exactlyOnce = flags.includes("exactly-once")
    const s = yield* Scenario.setup(name.replace(/\W+/g, "_"))
    const first = yield* Jobs.startEnrich("enrich", s.env, flags)
    // At-least-once: the job must ride the restart out in its process, so no supervisor.
    const job = exactlyOnce
      ? yield* Supervisor.supervise(first, Jobs.spawnJob("enrich", Jobs.enrichArgs(flags), s.env), maxRestarts)
      : undefined
    const generate = yield* Jobs.startGenerate(s.env, {
      count: events,
      eventsPerSecond: 1_000,
      seed: 202,
      claims: Scenario.claims,
      invalidRate: 0.01
    })
    yield* Scenario.progressed(s, 5_000 + Math.floor(Math.random() * 10_000), job ?? first)
    const restartedAt = yield* Scenario.outputs(s)
    yield* Processes.kill(s.broker)
    yield* Jobs.startBroker(s.brokerSpec)
    yield* Processes.awaitSuccess(generate, "5 minutes")
    yield* Scenario.drained(s, job ?? first)
    const exit = job === undefined ? yield* Processes.stop(first) : yield* job.stop
    const restarts = job?.restarts() ?? []
    const r = yield* Scenario.reconcile(s)
    const note = [
      `broker SIGKILL + restart at ${restartedAt} outputs`,
      ...(r.repeatedInputs > 0 ? [`${r.repeatedInputs} input(s) repeated by the generator's retries`] : []),
      ...(job === undefined
        ? []
        : [
            `${restarts.length} job restart(s) (exits ${restarts.map((x) => x.exit.status ?? x.exit.signal).join(", ") || "none"})`
          ])
    ].join("; ")
    return {
      row: Scenario.row(name, s, r, note),
      verify: () => {
        Scenario.assertComplete(r)
        assert.strictEqual(exit.status, 0, "the (last) enrich job exits 0 on SIGTERM")
        if (exactlyOnce) {
          assert.strictEqual(r.duplicates, 0, "outputs written twice")
          // A process that ended did so for the failed transaction, and said so.
          for (const x of restarts) {
            assert.match(
              x.reason ?? "",
              /transaction failed/,
              `enrich ${x.pid} exited ${x.exit.status} without saying why`
            )
          }
        }
      }
    }
  })

export const brokerRestart = brokerRestartWith("broker restart")

export const brokerRestartExactlyOnce = brokerRestartWith("broker restart (exactly-once)", [
  "--processing-guarantee",
  "exactly-once"
])

export const brokerRestartMemberTransactions = brokerRestartWith("broker restart (exactly-once, member)", [
  "--processing-guarantee",
  "exactly-once",
  "--transaction-scope",
  "member"
])
