/**
 * The HTTP server every `sluice` job runs beside its pipeline: Prometheus
 * metrics for scraping, liveness and readiness for Kubernetes probes, the
 * dashboard's JSON and the dashboard itself.
 *
 * | path | answer |
 * | --- | --- |
 * | `/metrics` | Prometheus text of the process's metric registry |
 * | `/healthz` | 200 while the process serves requests (liveness) |
 * | `/readyz` | 200 when every registered readiness check passes, 503 otherwise, with the check results |
 * | `/api/stats` | the dashboard's numbers (`Stats`) |
 * | `/` | the dashboard page |
 *
 * The success rate and the job's own panels are what the running job
 * registered (`Dashboard.Spec`); the server knows no job.
 *
 * @since 0.1.0
 */

import { createServer } from "node:http"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Effect, Layer, Metric } from "effect"
import { HttpRouter, HttpServer, HttpServerResponse } from "effect/http"
import { PrometheusMetrics } from "effect/observability"
import * as Dashboard from "./Dashboard.ts"
import * as Readiness from "./Readiness.ts"
import * as Stats from "./Stats.ts"

const noStore = { "cache-control": "no-store" }

/**
 * The routes, for mounting on an existing router.
 *
 * @since 0.1.0
 * @category layers
 */
export const routes = (dashboard: Dashboard.Spec = Dashboard.empty) => {
  const html = Dashboard.page(dashboard)
  return Layer.mergeAll(
    HttpRouter.add(
      "GET",
      "/metrics",
      Effect.map(PrometheusMetrics.format(), (body) =>
        HttpServerResponse.text(body, { contentType: "text/plain; version=0.0.4; charset=utf-8", headers: noStore })
      )
    ),
    HttpRouter.add(
      "GET",
      "/healthz",
      Effect.succeed(HttpServerResponse.jsonUnsafe({ status: "ok" }, { headers: noStore }))
    ),
    HttpRouter.add(
      "GET",
      "/readyz",
      Effect.gen(function* () {
        const readiness = yield* Readiness.Readiness
        const checks = yield* readiness.run
        const ready = Readiness.isReady(checks)
        return HttpServerResponse.jsonUnsafe({ ready, checks }, { status: ready ? 200 : 503, headers: noStore })
      })
    ),
    HttpRouter.add(
      "GET",
      "/api/stats",
      Effect.map(Metric.snapshot, (snapshot) =>
        HttpServerResponse.jsonUnsafe(Stats.fromSnapshot(snapshot, dashboard.outcomes), { headers: noStore })
      )
    ),
    HttpRouter.add(
      "GET",
      "/",
      Effect.sync(() => HttpServerResponse.html(html))
    )
  )
}

/**
 * Serves the routes on `host:port` (port 0 picks a free port; read it from
 * `HttpServer.HttpServer`'s `address`). Needs the `Readiness` service.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: {
  readonly port: number
  readonly host?: string | undefined
  /** What the running job registered for the dashboard; the common panels only by default. */
  readonly dashboard?: Dashboard.Spec | undefined
}): Layer.Layer<HttpServer.HttpServer, unknown, Readiness.Readiness> =>
  HttpRouter.serve(routes(options.dashboard), { disableLogger: true, disableListenLog: true }).pipe(
    Layer.provideMerge(NodeHttpServer.layer(createServer, { port: options.port, host: options.host ?? "0.0.0.0" }))
  )

/**
 * The port the server is bound to (useful after asking for port 0).
 *
 * @since 0.1.0
 * @category getters
 */
export const boundPort: Effect.Effect<number, never, HttpServer.HttpServer> = Effect.map(
  HttpServer.HttpServer,
  (server) => ("port" in server.address ? server.address.port : 0)
)
