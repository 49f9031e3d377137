// Rebalance under load: a second enrich instance joins the group while
// payments flow, takes over some partitions, and later leaves on SIGTERM,
// handing them back. Nothing may be missing; both instances exit 0.
// `rebalanceExactlyOnce` runs both with `--processing-guarantee exactly-once`:
// each partition's transactions are fenced as it moves, and read back with
// read_committed no output may repeat.
import { assert } from "@effect/vitest"
import { Effect } from "effect"
import * as Jobs from "../support/jobs.ts"
import * as Processes from "../support/processes.ts"
import * as Scenario from "../support/scenario.ts"

const events = 40_000

const rebalanceWith = (name: string, flags: ReadonlyArray<string> = []) =>
  Effect.gen(function* () {
    const s = yield* Scenario.setup(name.replace(/\W+/g, "_"))
    const first = yield* Jobs.startEnrich("enrich-1", s.env, flags)
    const generate = yield* Jobs.startGenerate(s.env, {
      count: events,
      eventsPerSecond: 1_000,
      seed: 606,
      claims: Scenario.claims,
      invalidRate: 0.01
    })
    yield* Scenario.progressed(s, 8_000, first)
    const joinedAt = yield* Scenario.outputs(s)
    const second = yield* Jobs.startEnrich("enrich-2", s.env, flags)
    yield* Scenario.progressed(s, joinedAt + 10_000, second)
    const leftAt = yield* Scenario.outputs(s)
    const secondExit = yield* Processes.stop(second)
    yield* Processes.awaitSuccess(generate, "5 minutes")
    yield* Scenario.drained(s, first)
    const firstExit = yield* Processes.stop(first)
    const r = yield* Scenario.reconcile(s)
    return {
      row: Scenario.row(name, s, r, `2nd instance joined at ${joinedAt}, left at ${leftAt} outputs`),
      verify: () => {
        Scenario.assertComplete(r)
        assert.strictEqual(secondExit.status, 0, "the leaving instance exits 0 on SIGTERM")
        assert.strictEqual(firstExit.status, 0, "the remaining instance exits 0 on SIGTERM")
        if (flags.includes("exactly-once")) assert.strictEqual(r.duplicates, 0, "outputs written twice")
      }
    }
  })

export const rebalance = rebalanceWith("rebalance")

export const rebalanceExactlyOnce = rebalanceWith("rebalance (exactly-once)", [
  "--processing-guarantee",
  "exactly-once"
])

// One transaction per member: each rebalance revokes all of a member's
// partitions (kafkajs' eager protocol), so its open transactions are aborted
// or committed before the partitions move.
export const rebalanceMemberTransactions = rebalanceWith("rebalance (exactly-once, member)", [
  "--processing-guarantee",
  "exactly-once",
  "--transaction-scope",
  "member"
])
