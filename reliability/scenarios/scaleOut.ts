// Scale-out, one instance killed: three enrich instances share the input
// partitions under load; one is killed with SIGKILL and restarted at once (as
// Kubernetes restarts a crashed pod). The others must carry on and nothing may
// be missing. Measured from the kill: until the killed instance's partitions
// are owned by a live member again (the restarted instance is ready), and
// until every one of them has a new commit (which also waits for the replay
// of what the killed instance had not committed).
//
// Without static membership the dead member stays in the group until its
// session (30 s) times out, and the restarted one's join starts a rebalance
// that waits for it: every partition stops until then. With a group instance
// id (KIP-345) the restarted instance takes the dead one's place and
// assignment at the same generation, and the other two never rebalance.
import { assert } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import * as Checks from "../support/checks.ts"
import * as Jobs from "../support/jobs.ts"
import * as Processes from "../support/processes.ts"
import * as Recovery from "../support/recovery.ts"
import * as Scenario from "../support/scenario.ts"

const events = 60_000
const instances = ["enrich-1", "enrich-2", "enrich-3"] as const
const killed = 1

export const scaleOutKill = (membership: "static" | "dynamic") =>
  Effect.gen(function* () {
    const s = yield* Scenario.setup(`scale_out_${membership}`)
    const flags = (name: string) => (membership === "static" ? ["--group-instance-id", name] : [])
    const jobs: Array<Jobs.EnrichJob> = []
    for (const name of instances) jobs.push(yield* Jobs.startEnrich(name, s.env, flags(name)))
    const generate = yield* Jobs.startGenerate(s.env, {
      count: events,
      eventsPerSecond: 1_000,
      seed: 707,
      claims: Scenario.claims,
      invalidRate: 0.01
    })
    yield* Scenario.progressed(s, 12_000, jobs[killed]!)
    // Settled: every instance owns partitions and none is mid-rebalance.
    const owned = Recovery.ownedPartitions(jobs[killed]!)
    assert.isAbove(owned.length, 0, "the instance to kill owns no partition")
    const survivors = jobs.filter((_, i) => i !== killed)
    const assignmentsBefore = survivors.map(Recovery.assignments)

    const killedAtOutputs = yield* Scenario.outputs(s)
    yield* Processes.kill(jobs[killed]!)
    const killedAt = Date.now()
    const from = yield* Recovery.committed(s.admin, Scenario.group, Checks.topics.input)
    const recovery = yield* Effect.forkScoped(
      Recovery.progressedAgain(s.admin, Scenario.group, Checks.topics.input, owned, from, killedAt)
    )
    jobs[killed] = yield* Jobs.startEnrich(instances[killed], s.env, flags(instances[killed]))
    const reassignedMs = Date.now() - killedAt
    const startUpMs = Recovery.firstLogAt(jobs[killed]!) - killedAt
    const recoveredMs = yield* Fiber.join(recovery)
    const othersRebalanced = survivors.some((job, i) => Recovery.assignments(job) > assignmentsBefore[i]!)
    const othersPausedMs = Math.max(...survivors.map((job) => Recovery.pausedSince(job, killedAt)))

    yield* Processes.awaitSuccess(generate, "5 minutes")
    yield* Scenario.drained(s, jobs[0])
    const exits: Array<Processes.Exit> = []
    for (const job of jobs) exits.push(yield* Processes.stop(job))
    const r = yield* Scenario.reconcile(s)
    const note = `instance 2 of 3 SIGKILLed at ${killedAtOutputs} outputs and restarted; its process start-up ${(startUpMs / 1000).toFixed(1)}s; the other two ${othersRebalanced ? `rebalanced (paused ${(othersPausedMs / 1000).toFixed(1)}s)` : "did not rebalance"}`
    return {
      row: {
        ...Scenario.row(`scale-out kill, ${membership}`, s, r, note),
        recovery: { reassignedSeconds: reassignedMs / 1000, committedSeconds: recoveredMs / 1000 }
      },
      verify: () => {
        Scenario.assertComplete(r)
        for (const [i, exit] of exits.entries())
          assert.strictEqual(exit.status, 0, `${instances[i]} exits 0 on SIGTERM`)
        if (membership === "static") {
          assert.isFalse(othersRebalanced, "a static member's return rebalanced the other instances")
          assert.deepStrictEqual(
            Recovery.ownedPartitions(jobs[killed]!),
            owned,
            "the restarted instance owns other partitions"
          )
        }
      }
    }
  })
