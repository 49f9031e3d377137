import { assert, describe, it } from "@effect/vitest"
import { Effect, Metric } from "effect"
import { PrometheusMetrics } from "effect/observability"
import * as Dashboard from "../../src/http/Dashboard.ts"
import * as Stats from "../../src/http/Stats.ts"
import * as TriggerDashboard from "../../src/jobs/trigger/TriggerDashboard.ts"
import * as TriggerMetrics from "../../src/jobs/trigger/TriggerMetrics.ts"
import { picks, rows, runPage, script, tally } from "../support/dashboardPage.ts"

describe("TriggerDashboard", () => {
  it("page - the trigger's panels are in the page, and its script parses", () => {
    const html = Dashboard.page(TriggerDashboard.dashboard)
    for (const id of ["trigger-state-hit", "trigger-api", "trigger-filter-pass", "trigger-actions", "breakers"]) {
      assert.include(html, `id="${id}"`)
    }
    assert.doesNotThrow(() => new Function(script(html)))
  })

  it.effect("page - state hit rate, API answers, filter pass rate and actions, as the counters say", () =>
    Effect.gen(function* () {
      const state = picks(["hit", "hit", "hit", "miss", "retry"] as const, 397, 3)
      const calls = picks(["ok", "ok", "not_found", "failed"] as const, 81, 1)
      const filter = picks(["pass", "reject", "reject", "error"] as const, 397, 2)
      const actions = picks(
        ["webhook/delivered", "webhook/delivered", "webhook/failed", "debug/delivered"] as const,
        150,
        4
      )
      for (const o of state) yield* TriggerMetrics.count(TriggerMetrics.stateLookups, { outcome: o })
      for (const o of calls) yield* TriggerMetrics.count(TriggerMetrics.profileCalls, { outcome: o })
      for (const o of filter) yield* TriggerMetrics.count(TriggerMetrics.filterDecisions, { outcome: o })
      for (const a of actions) {
        const [action, outcome] = a.split("/") as [string, string]
        yield* TriggerMetrics.count(TriggerMetrics.actions, { action, outcome })
      }
      const html = Dashboard.page(TriggerDashboard.dashboard)
      const stats = Stats.fromSnapshot(yield* Metric.snapshot, TriggerDashboard.dashboard.outcomes)
      const page = yield* runPage(html, stats, yield* PrometheusMetrics.format())
      // Every element the script wrote is one the page has.
      for (const id of page.keys()) assert.include(html, `id="${id}"`)
      const el = (id: string) => page.get(id)!
      const pct = (part: number, total: number) => `${((part / total) * 100).toFixed(1)}%`
      const s = tally(state)
      assert.strictEqual(el("trigger-state-hit").textContent, pct(s.get("hit")!, state.length))
      assert.strictEqual(el("trigger-state-misses").textContent, String(s.get("miss")))
      assert.strictEqual(el("trigger-state-retries").textContent, String(s.get("retry")))
      const c = tally(calls)
      assert.deepStrictEqual(rows(el("trigger-api")), {
        "API ok": String(c.get("ok")),
        "API not_found": String(c.get("not_found")),
        "API failed": String(c.get("failed"))
      })
      const f = tally(filter)
      assert.strictEqual(el("trigger-filter-pass").textContent, pct(f.get("pass")!, filter.length))
      assert.deepStrictEqual(rows(el("trigger-filter")), {
        pass: String(f.get("pass")),
        reject: String(f.get("reject")),
        "error (rejected)": String(f.get("error"))
      })
      const a = tally(actions)
      assert.deepStrictEqual(rows(el("trigger-actions")), {
        "debug delivered": String(a.get("debug/delivered")),
        "debug failed": "0",
        "webhook delivered": String(a.get("webhook/delivered")),
        "webhook failed": String(a.get("webhook/failed"))
      })
    })
  )
})
