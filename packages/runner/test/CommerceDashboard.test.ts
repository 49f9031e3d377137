import { assert, describe, it } from "@effect/vitest"
import { Metrics } from "@sluice/core"
import { Effect, Metric } from "effect"
import { PrometheusMetrics } from "effect/observability"
import * as Dashboard from "../src/http/Dashboard.ts"
import * as Stats from "../src/http/Stats.ts"
import * as CommerceDashboard from "../src/jobs/commerce/CommerceDashboard.ts"
import * as CommerceMetrics from "../src/jobs/commerce/CommerceMetrics.ts"
import { picks, rows, runPage, script, tally } from "./support/dashboardPage.ts"

const fmt = (n: number) => n.toLocaleString("en-US")
const expected = (counts: Map<string, number>) => Object.fromEntries([...counts].map(([k, n]) => [k, fmt(n)]))

describe("CommerceDashboard", () => {
  it("page - the commerce panels are in the page, and its script parses", () => {
    const html = Dashboard.page(CommerceDashboard.dashboard)
    for (const id of [
      "commerce-in",
      "commerce-dead-reasons",
      "commerce-results",
      "commerce-alerts-severity",
      "commerce-changes-to"
    ]) {
      assert.include(html, `id="${id}"`)
    }
    assert.doesNotThrow(() => new Function(script(html)))
  })

  it.effect(
    "page - records in, dead letters, results per output, alerts and segment changes, as the counters say",
    () =>
      Effect.gen(function* () {
        const inputs = picks(
          ["dbserver.public.orders", "dbserver.public.orders", "commerce-segments-by-customer"],
          1311,
          1
        )
        const dead = picks(["decode", "decode", "schema", "invalid"], 97, 2)
        // output/status, as runRouted counts them: a segment change's status is the segment moved to.
        const outs = picks(
          [
            "segments/ok",
            "segments/ok",
            "changes/New",
            "changes/Regular",
            "changes/VIP",
            "changes/At-Risk",
            "alerts/ok",
            "topic/large_order",
            "topic/rapid_orders"
          ],
          1733,
          3
        )
        const alerts = picks(
          [
            "large_order/medium",
            "large_order/high",
            "order_spike/high",
            "rapid_orders/medium",
            "statistical_outlier/medium"
          ],
          259,
          4
        )
        for (const t of inputs) yield* Metrics.countIn(t)
        for (const r of dead) yield* Metrics.countDeadLetter(r)
        for (const o of outs) {
          const [output, status] = o.split("/") as [string, string]
          yield* Metrics.countOut(output, status)
        }
        for (const a of alerts) {
          const [rule, severity] = a.split("/") as [string, string]
          yield* CommerceMetrics.countAlert(rule, severity)
        }
        const html = Dashboard.page(CommerceDashboard.dashboard)
        const stats = Stats.fromSnapshot(yield* Metric.snapshot, CommerceDashboard.dashboard.outcomes)
        const page = yield* runPage(html, stats, yield* PrometheusMetrics.format())
        // Every element the script wrote is one the page has.
        for (const id of page.keys()) assert.include(html, `id="${id}"`)
        const el = (id: string) => page.get(id)!

        assert.strictEqual(el("commerce-in").textContent, fmt(inputs.length))
        assert.deepStrictEqual(rows(el("commerce-in-topics")), expected(tally(inputs)))
        assert.strictEqual(el("commerce-dead").textContent, fmt(dead.length))
        assert.deepStrictEqual(rows(el("commerce-dead-reasons")), expected(tally(dead)))

        assert.deepStrictEqual(rows(el("commerce-results")), expected(tally(outs.map((o) => o.split("/")[0]!))))

        const severities = tally(alerts.map((a) => a.split("/")[1]!))
        assert.strictEqual(el("commerce-alerts").textContent, fmt(alerts.length))
        assert.deepStrictEqual(rows(el("commerce-alerts-severity")), {
          high: fmt(severities.get("high") ?? 0),
          medium: fmt(severities.get("medium") ?? 0),
          low: "0"
        })
        assert.deepStrictEqual(rows(el("commerce-alerts-rule")), expected(tally(alerts.map((a) => a.split("/")[0]!))))

        const changes = outs.filter((o) => o.startsWith("changes/")).map((o) => o.slice("changes/".length))
        const to = tally(changes)
        assert.strictEqual(el("commerce-changes").textContent, fmt(changes.length))
        assert.deepStrictEqual(
          rows(el("commerce-changes-to")),
          Object.fromEntries(
            ["New", "Regular", "VIP", "At-Risk", "Churned"].map((s) => [`to ${s}`, fmt(to.get(s) ?? 0)])
          )
        )
      })
  )
})
