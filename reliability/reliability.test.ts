// The reliability suite: each scenario runs the real `sluice` processes (the
// embedded broker, the enrich job, the generator) against PostgreSQL, injects
// one kind of failure, then reconciles the output topics with the input. The
// summary table is printed at the end; run with `pnpm test:reliability`
// (`-t <name>` picks scenarios).
import { afterAll, describe, it } from "@effect/vitest"
import { Cause, Effect, type Scope } from "effect"
import { badInputStorm } from "./scenarios/badInputStorm.ts"
import { brokerRestart, brokerRestartExactlyOnce, brokerRestartMemberTransactions } from "./scenarios/brokerRestart.ts"
import { commerce } from "./scenarios/commerce.ts"
import {
  crashLoop,
  crashLoopExactlyOnce,
  crashLoopMemberTransactions,
  crashLoopMemberTransactionsDynamic,
  crashLoopWith
} from "./scenarios/crashLoop.ts"
import { databaseOutage, slowDatabase } from "./scenarios/databaseFaults.ts"
import { rebalance, rebalanceExactlyOnce, rebalanceMemberTransactions } from "./scenarios/rebalance.ts"
import { scaleOutKill } from "./scenarios/scaleOut.ts"
import * as Processes from "./support/processes.ts"
import { failedRow, type Row, render } from "./support/table.ts"

type Scenario = Effect.Effect<{ readonly row: Row; readonly verify: () => void }, unknown, Scope.Scope>

// Run on request only (`RELIABILITY_EXTENDED=1`), to keep CI's time down:
// the crash loop's group-timing variants, measured for the README's table,
// whose commit lag does not tell them apart, the member-transaction crash loop
// with dynamic membership (each restart waits out a transaction timeout and a
// session), and the commerce scenario under at-least-once, whose checks are bounds.
const extended: ReadonlyArray<readonly [string, Scenario]> = [
  ["commerce", commerce("at-least-once")],
  ["crash loop (exactly-once, member, dynamic)", crashLoopMemberTransactionsDynamic],
  ["crash loop, 10 s session", crashLoopWith("crash loop, 10 s session", ["--session-timeout", "10s"])],
  [
    "crash loop, static, 10 s session",
    crashLoopWith("crash loop, static, 10 s session", ["--group-instance-id", "enrich-0", "--session-timeout", "10s"])
  ]
]

const scenarios: ReadonlyArray<readonly [string, Scenario]> = [
  ["crash loop", crashLoop],
  ["crash loop (exactly-once)", crashLoopExactlyOnce],
  ["crash loop (exactly-once, member, static)", crashLoopMemberTransactions],
  ["broker restart", brokerRestart],
  ["broker restart (exactly-once)", brokerRestartExactlyOnce],
  ["broker restart (exactly-once, member)", brokerRestartMemberTransactions],
  ["database outage", databaseOutage],
  ["slow database", slowDatabase],
  ["bad input storm", badInputStorm],
  ["rebalance under load", rebalance],
  ["rebalance under load (exactly-once)", rebalanceExactlyOnce],
  ["rebalance under load (exactly-once, member)", rebalanceMemberTransactions],
  ["scale-out kill, dynamic", scaleOutKill("dynamic")],
  ["scale-out kill, static", scaleOutKill("static")],
  ["commerce (exactly-once)", commerce("exactly-once")],
  ...(process.env.RELIABILITY_EXTENDED === "1" ? extended : [])
]

const rows: Array<Row> = []
const started = Date.now()

describe("reliability", () => {
  for (const [name, scenario] of scenarios) {
    it.live(name, () =>
      Effect.scoped(
        Effect.gen(function* () {
          Processes.resetStarted()
          const result = yield* scenario
          rows.push(result.row)
          result.verify()
        }).pipe(
          // A scenario that breaks before its reconciliation still gets a row,
          // and the report shows what each of its processes said last.
          Effect.tapCause((cause) =>
            Effect.sync(() => {
              rows.push(failedRow(name, Cause.squash(cause)))
              for (const p of Processes.startedThisScenario()) {
                console.log(`${name}: the last lines of ${p.name} (pid ${p.pid})\n${Processes.recentLines(p)}`)
              }
            })
          )
        )
      )
    )
  }

  afterAll(() => {
    const minutes = ((Date.now() - started) / 60_000).toFixed(1)
    console.log(`\nReliability summary (${minutes} min)\n\n${render(rows)}\n`)
  })
})
