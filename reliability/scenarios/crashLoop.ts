// Crash loop: the enrich job is killed with SIGKILL five times at random
// moments of its work on 50,000 events, and restarted each time. Every input
// must end up in exactly one output topic; replays may repeat an output.
// `crashLoopExactlyOnce` runs the job with `--processing-guarantee
// exactly-once`: read back with read_committed, no output may repeat.
//
// A moment is a random amount of progress (2,000 to 7,000 more outputs) after
// the restarted job is ready, so every kill lands while it is writing. A
// killed member stays in the consumer group until its session times out, so a
// restarted job is ready (partitions assigned) only after that, unless it is a
// static member (a group instance id), which takes its own place back at once.
// The variants differ in those settings only; their maximum commit lag is the
// figure to compare.
import { assert } from "@effect/vitest"
import { Effect } from "effect"
import * as Jobs from "../support/jobs.ts"
import * as Processes from "../support/processes.ts"
import * as Scenario from "../support/scenario.ts"

const events = 50_000
const kills = 5

/** The crash loop with `flags` on every enrich job it starts (none: the defaults). */
export const crashLoopWith = (name: string, flags: ReadonlyArray<string> = []) =>
  Effect.gen(function* () {
    const s = yield* Scenario.setup(name.replace(/\W+/g, "_"))
    let job = yield* Jobs.startEnrich("enrich", s.env, flags)
    const generate = yield* Jobs.startGenerate(s.env, {
      count: events,
      eventsPerSecond: 2_500,
      seed: 101,
      claims: Scenario.claims,
      invalidRate: 0.01
    })
    const killedAt: Array<number> = []
    for (let k = 0; k < kills; k++) {
      const from = yield* Scenario.outputs(s)
      yield* Scenario.progressed(s, from + 2_000 + Math.floor(Math.random() * 5_000), job)
      killedAt.push(yield* Scenario.outputs(s))
      yield* Processes.kill(job)
      job = yield* Jobs.startEnrich("enrich", s.env, flags)
    }
    yield* Processes.awaitSuccess(generate, "5 minutes")
    yield* Scenario.drained(s, job)
    const exit = yield* Processes.stop(job)
    const r = yield* Scenario.reconcile(s)
    return {
      row: Scenario.row(name, s, r, `SIGKILL at ${killedAt.join(", ")} outputs`),
      verify: () => {
        Scenario.assertComplete(r)
        assert.strictEqual(exit.status, 0, "the last enrich job exits 0 on SIGTERM")
        if (flags.includes("exactly-once")) assert.strictEqual(r.duplicates, 0, "outputs written twice")
      }
    }
  })

export const crashLoop = crashLoopWith("crash loop")

export const crashLoopExactlyOnce = crashLoopWith("crash loop (exactly-once)", [
  "--processing-guarantee",
  "exactly-once"
])

// One transaction per member with dynamic membership: each restart takes new
// (random) transactional ids, so the killed member's open transactions stay
// open until the broker aborts them at their 10 s timeout, and the restarted
// member's claims wait for that. Slow (each kill also waits out the session).
export const crashLoopMemberTransactionsDynamic = crashLoopWith("crash loop (exactly-once, member, dynamic)", [
  "--processing-guarantee",
  "exactly-once",
  "--transaction-scope",
  "member"
])

// One transaction per member, as a static member (the deployment that scope
// is for): the restarted member takes the killed one's transactional ids, so
// starting its producers fences the killed member's open transactions and
// aborts them at once.
export const crashLoopMemberTransactions = crashLoopWith("crash loop (exactly-once, member, static)", [
  "--processing-guarantee",
  "exactly-once",
  "--transaction-scope",
  "member",
  "--group-instance-id",
  "enrich-0"
])
