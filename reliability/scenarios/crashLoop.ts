// Crash loop: the enrich job is killed with SIGKILL five times at random
// moments while 50,000 events are generated, and restarted each time. Every
// input must end up in exactly one output topic; replays may repeat an output.
//
// A killed member stays in the consumer group until its session times out, so
// each restart waits for the group to hand its partitions over; the generator
// is paced to keep producing across all five kills.
import { assert } from "@effect/vitest"
import { Effect } from "effect"
import * as Jobs from "../support/jobs.ts"
import * as Processes from "../support/processes.ts"
import * as Scenario from "../support/scenario.ts"

const events = 50_000
const kills = 5

export const crashLoop = Effect.gen(function* () {
  const s = yield* Scenario.setup("crash_loop")
  let job = yield* Jobs.startEnrich("enrich", s.env)
  const generate = yield* Jobs.startGenerate(s.env, {
    count: events,
    eventsPerSecond: 400,
    seed: 101,
    claims: Scenario.claims,
    invalidRate: 0.01
  })
  const killedAt: Array<number> = []
  for (let k = 0; k < kills; k++) {
    // A random moment: 1 to 5 seconds of work after the job is (again) ready.
    yield* Effect.sleep(`${1_000 + Math.floor(Math.random() * 4_000)} millis`)
    killedAt.push(yield* Scenario.outputs(s))
    yield* Processes.kill(job)
    job = yield* Jobs.startEnrich("enrich", s.env)
  }
  yield* Processes.awaitSuccess(generate, "5 minutes")
  yield* Scenario.drained(s, job)
  const exit = yield* Processes.stop(job)
  const r = yield* Scenario.reconcile(s)
  return {
    row: Scenario.row("crash loop", s, r, `SIGKILL at ${killedAt.join(", ")} outputs`),
    verify: () => {
      Scenario.assertComplete(r)
      assert.isBelow(killedAt[kills - 1]!, r.events, "the last kill came before the job was done")
      assert.strictEqual(exit.status, 0, "the last enrich job exits 0 on SIGTERM")
    }
  }
})
