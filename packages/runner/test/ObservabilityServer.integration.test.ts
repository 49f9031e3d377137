import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Metric, Ref } from "effect"
import * as ObservabilityServer from "../src/http/ObservabilityServer.ts"
import * as Readiness from "../src/http/Readiness.ts"

const ServerLive = ObservabilityServer.layer({ port: 0, host: "127.0.0.1" }).pipe(Layer.provideMerge(Readiness.layer))

const baseUrl = Effect.map(ObservabilityServer.boundPort, (port) => `http://127.0.0.1:${port}`)

const get = (url: string) =>
  Effect.promise(async () => {
    const response = await fetch(url)
    return { status: response.status, type: response.headers.get("content-type") ?? "", body: await response.text() }
  })

describe("ObservabilityServer", () => {
  it.live("layer - serves metrics, health, readiness, stats and the dashboard", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      yield* Metric.update(
        Metric.withAttributes(Metric.counter("sluice_records_in_total"), { topic: "payment-events" }),
        42
      )
      yield* Metric.update(Metric.withAttributes(Metric.gauge("sluice_breaker_state"), { policy: "claims-db" }), 1)

      const metrics = yield* get(`${base}/metrics`)
      assert.strictEqual(metrics.status, 200)
      assert.include(metrics.type, "text/plain")
      assert.include(metrics.body, 'sluice_records_in_total{topic="payment-events"} 42')

      const health = yield* get(`${base}/healthz`)
      assert.strictEqual(health.status, 200)

      const database = yield* Ref.make(false)
      const readiness = yield* Readiness.Readiness
      yield* readiness.register(
        "database",
        Effect.flatMap(Ref.get(database), (up) => (up ? Effect.void : Effect.fail("database unreachable")))
      )
      const notReady = yield* get(`${base}/readyz`)
      assert.strictEqual(notReady.status, 503)
      assert.deepStrictEqual(JSON.parse(notReady.body), {
        ready: false,
        checks: [{ name: "database", ok: false, detail: "database unreachable" }]
      })
      yield* Ref.set(database, true)
      const ready = yield* get(`${base}/readyz`)
      assert.strictEqual(ready.status, 200)

      const stats = JSON.parse((yield* get(`${base}/api/stats`)).body)
      assert.strictEqual(stats.recordsIn, 42)
      assert.deepStrictEqual(stats.breakers, { "claims-db": "HALF_OPEN" })

      const page = yield* get(`${base}/`)
      assert.strictEqual(page.status, 200)
      assert.include(page.type, "text/html")
      assert.include(page.body, "api/stats")
    }).pipe(Effect.provide(ServerLive))
  )
})
