import { assert, describe, it } from "@effect/vitest"
import * as Dashboard from "../src/http/Dashboard.ts"
import * as ClaimsDashboard from "../src/jobs/claims/ClaimsDashboard.ts"

const script = (html: string) => {
  const match = /<script>([\s\S]*)<\/script>/.exec(html)
  assert.isNotNull(match)
  return match![1]!
}

describe("Dashboard", () => {
  it("page - the common panels only: no job panel, a script that parses", () => {
    const html = Dashboard.page(Dashboard.empty)
    assert.include(html, 'id="success-rate"')
    assert.notInclude(html, 'id="breakers"')
    assert.doesNotThrow(() => new Function(script(html)))
  })

  it("page - a job's panels and success statuses are in the page, and its script parses", () => {
    const html = Dashboard.page(ClaimsDashboard.dashboard)
    for (const id of ["latency-lookup", "cache-hit-ratio", "breakers"]) assert.include(html, `id="${id}"`)
    assert.include(html, 'const SUCCESS = ["SUCCESS"];')
    assert.doesNotThrow(() => new Function(script(html)))
  })

  it("combine - the panels of several jobs once each, their outcomes together", () => {
    const other: Dashboard.Spec = {
      outcomes: { outputs: ["routed"], success: ["ROUTED"] },
      panels: [Dashboard.breakers]
    }
    const both = Dashboard.combine([ClaimsDashboard.dashboard, other])
    assert.deepStrictEqual(
      both.panels.map((p) => p.title),
      ClaimsDashboard.dashboard.panels.map((p) => p.title)
    )
    assert.deepStrictEqual(both.outcomes, {
      outputs: ["enriched", "failed", "routed"],
      success: ["SUCCESS", "ROUTED"]
    })
  })
})
