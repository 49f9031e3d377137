import * as Http from "node:http"
import { assert, describe, it } from "@effect/vitest"
import { PgLookup } from "@sluice/lookup"
import { Effect, Exit, Option, Redacted } from "effect"
import { TestConsole } from "effect/testing"
import * as Readiness from "../src/http/Readiness.ts"
import * as Log from "../src/Log.ts"
import * as Services from "../src/Services.ts"
import { freshDatabase } from "./support/database.ts"

describe("Services", () => {
  it.live("observability - on port 0 the log line names the port the server got", () =>
    Effect.gen(function* () {
      const server = yield* Services.observability(0)
      const lines = (yield* TestConsole.logLines).map((line) => JSON.parse(String(line)))
      const listening = lines.find((line) => line.message === "observability server listening")
      assert.isDefined(listening)
      assert.strictEqual(listening.annotations.metricsPort, server.port)
      assert.notStrictEqual(server.port, 0)
      const health = yield* Effect.promise(() => fetch(`http://127.0.0.1:${server.port}/healthz`))
      assert.strictEqual(health.status, 200)
    }).pipe(Effect.scoped, Effect.provide([Log.layer("json"), TestConsole.layer]))
  )

  it.live("observabilityLayer - provides the readiness checks and the bound port for as long as it is provided", () =>
    Effect.gen(function* () {
      const port = yield* Effect.gen(function* () {
        const port = yield* Services.MetricsPort
        const readiness = yield* Readiness.Readiness
        yield* readiness.register("probe", Effect.fail("not yet"))
        const ready = yield* Effect.promise(() => fetch(`http://127.0.0.1:${port}/readyz`))
        assert.strictEqual(ready.status, 503)
        assert.include(yield* Effect.promise(() => ready.text()), "probe")
        return port
      }).pipe(Effect.provide(Services.observabilityLayer(0)))
      assert.notStrictEqual(port, 0)
      // Closed with the layer's scope: the port no longer answers.
      const after = yield* Effect.exit(Effect.tryPromise(() => fetch(`http://127.0.0.1:${port}/healthz`)))
      assert.isTrue(Exit.isFailure(after))
    }).pipe(Effect.provide([Log.layer("json"), TestConsole.layer]))
  )

  it.live("observabilityLayer - a port in use fails the layer with one line naming METRICS_PORT", () =>
    Effect.gen(function* () {
      const taken = yield* Effect.acquireRelease(
        Effect.callback<Http.Server>((resume) => {
          const server = Http.createServer()
          server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
        }),
        (server) => Effect.callback<void>((resume) => void server.close(() => resume(Effect.void)))
      )
      const address = taken.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      const error = yield* Effect.flip(
        Effect.provide(
          Effect.gen(function* () {
            return yield* Services.MetricsPort
          }),
          Services.observabilityLayer(port)
        )
      )
      assert.strictEqual(error.reason._tag, "Startup")
      assert.strictEqual(error.message, `error: port ${port} is already in use (check METRICS_PORT or --metrics-port)`)
    }).pipe(Effect.scoped, Effect.provide([Log.layer("json"), TestConsole.layer]))
  )

  it.live(
    "databaseLayer - provides the pool and its readiness check; a missing database fails naming DATABASE_URL",
    () =>
      Effect.gen(function* () {
        const db = yield* freshDatabase("sluice_services")
        const config = (url: string) => ({ databaseUrl: Option.some(Redacted.make(url)), clientId: "services-test" })
        const readiness = yield* Readiness.make()
        const answered = yield* Effect.gen(function* () {
          const pg = yield* PgLookup.PgClient
          const rows = yield* Effect.promise(() => pg.sql.unsafe("SELECT current_database() AS name"))
          return {
            name: (rows[0] as { readonly name?: string } | undefined)?.name,
            checks: (yield* readiness.run).map((r) => [r.name, r.ok])
          }
        }).pipe(
          Effect.provide(Services.databaseLayer(config(db.url))),
          Effect.provideService(Readiness.Readiness, readiness)
        )
        assert.strictEqual(answered.name, db.name)
        assert.deepStrictEqual(answered.checks, [["database", true]])

        const missing = new URL(db.url)
        missing.pathname = `/${db.name}_missing`
        const error = yield* Effect.flip(
          Effect.provide(
            Effect.gen(function* () {
              return yield* PgLookup.PgClient
            }),
            Services.databaseLayer(config(missing.toString()))
          ).pipe(Effect.provideService(Readiness.Readiness, readiness))
        )
        assert.strictEqual(error.reason._tag, "Startup")
        assert.match(
          error.message,
          /^error: the database at 127\.0\.0\.1:\d+\/\w+ does not answer: .+ \(check DATABASE_URL or --database-url\)$/
        )
      }).pipe(Effect.scoped, Effect.provide([Log.layer("json"), TestConsole.layer]))
  )
})
