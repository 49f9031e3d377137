import { existsSync, mkdirSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Metric } from "effect"
import { chromium } from "playwright-core"
import * as ObservabilityServer from "../src/http/ObservabilityServer.ts"
import * as Readiness from "../src/http/Readiness.ts"
import * as ClaimsDashboard from "../src/jobs/claims/ClaimsDashboard.ts"

const executablePath = "/usr/bin/chromium"
const hasChromium = existsSync(executablePath)
const inCi = process.env.CI === "true"
const artifacts = join(import.meta.dirname, "..", "..", "..", ".artifacts")

// The claims job's dashboard: its success rate and its breaker panel are what the page is checked for.
const ServerLive = ObservabilityServer.layer({
  port: 0,
  host: "127.0.0.1",
  dashboard: ClaimsDashboard.dashboard
}).pipe(Layer.provideMerge(Readiness.layer))

const browser = Effect.acquireRelease(
  Effect.promise(() =>
    chromium.launch({
      executablePath,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run"
      ]
    })
  ),
  (b) => Effect.promise(() => b.close())
)

describe("Dashboard", () => {
  it.live.skipIf(!hasChromium && !inCi)(
    "page - shows the numbers of /metrics and a breaker opening (skipped without chromium outside CI)",
    () =>
      Effect.gen(function* () {
        // Outside CI a missing browser skips this test; in CI it is an error.
        if (!hasChromium) {
          return yield* Effect.die(new Error(`chromium not found at ${executablePath}: apt-get install -y chromium`))
        }
        const port = yield* ObservabilityServer.boundPort
        const base = `http://127.0.0.1:${port}`
        const breaker = Metric.withAttributes(Metric.gauge("sluice_breaker_state"), { policy: "claims-db" })
        yield* Metric.update(
          Metric.withAttributes(Metric.counter("sluice_records_in_total"), { topic: "payment-events" }),
          1234
        )
        yield* Metric.update(
          Metric.withAttributes(Metric.counter("sluice_records_out_total"), { output: "enriched", status: "SUCCESS" }),
          900
        )
        yield* Metric.update(
          Metric.withAttributes(Metric.counter("sluice_records_out_total"), { output: "failed", status: "DB_ERROR" }),
          100
        )
        yield* Metric.update(breaker, 0)

        const metricsText = yield* Effect.promise(() => fetch(`${base}/metrics`).then((r) => r.text()))
        const recordsIn = /^sluice_records_in_total\{[^}]*\} (\d+)$/m.exec(metricsText)?.[1]
        assert.strictEqual(recordsIn, "1234")

        const b = yield* browser
        const p = yield* Effect.promise(() => b.newPage())
        yield* Effect.promise(() => p.goto(`${base}/`))
        yield* Effect.promise(() =>
          p.waitForFunction(() => document.getElementById("records-in")?.textContent === "1,234", null, {
            timeout: 15_000
          })
        )
        assert.strictEqual(yield* Effect.promise(() => p.textContent("#records-out")), "1,000")
        assert.strictEqual(yield* Effect.promise(() => p.textContent("#success-rate")), "90.0%")
        assert.strictEqual(yield* Effect.promise(() => p.textContent('[data-breaker="claims-db"]')), "CLOSED")

        yield* Metric.update(breaker, 2)
        yield* Effect.promise(() =>
          p.waitForFunction(() => document.querySelector('[data-breaker="claims-db"]')?.textContent === "OPEN", null, {
            timeout: 15_000
          })
        )
        mkdirSync(artifacts, { recursive: true })
        yield* Effect.promise(() => p.screenshot({ path: join(artifacts, "dashboard.png"), fullPage: true }))
      }).pipe(Effect.provide(ServerLive))
  )
})
