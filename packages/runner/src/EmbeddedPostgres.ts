/**
 * A PostgreSQL to fall back on when none is configured: PGlite (PostgreSQL
 * compiled to WebAssembly, in memory) served over the wire protocol on a free
 * local port, so postgres.js connects to it like to any server.
 * `resolveDatabaseUrl` picks the database in order: `DATABASE_URL`, a server
 * answering on 127.0.0.1:5432, then an embedded one that lives as long as the
 * scope.
 *
 * @since 0.1.0
 */
import * as Net from "node:net"
import { LookupError, Unavailable } from "@sluice/lookup/LookupError"
import type { Scope } from "effect"
import { Config, type Duration, Effect, Option, Redacted } from "effect"

/**
 * A running embedded server.
 *
 * @since 0.1.0
 * @category models
 */
export interface EmbeddedPostgres {
  readonly host: string
  readonly port: number
  readonly url: Redacted.Redacted<string>
}

const unavailable = (detail: string, cause: unknown) =>
  new LookupError({ reason: new Unavailable({ lookup: "EmbeddedPostgres", retryable: false, detail, cause }) })

/**
 * Starts an in-memory PGlite and serves it on `127.0.0.1` on a free port;
 * both are stopped when the scope closes. PGlite runs one statement at a time,
 * so keep client pools small (a few connections).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: { readonly maxConnections?: number | undefined } = {}
): Effect.Effect<EmbeddedPostgres, LookupError, Scope.Scope> =>
  Effect.gen(function* () {
    const db = yield* Effect.acquireRelease(
      Effect.tryPromise({
        // Loaded here, not at the top: PGlite is large, and only a process
        // without a configured database needs it.
        try: () => import("@electric-sql/pglite").then(({ PGlite }) => PGlite.create()),
        catch: (cause) => unavailable("PGlite did not start", cause)
      }),
      (db) =>
        Effect.ignore(
          Effect.timeout(
            Effect.promise(() => db.close()),
            "5 seconds"
          )
        )
    )
    const server = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: async () => {
          const { PGLiteSocketServer } = await import("@electric-sql/pglite-socket")
          const server = new PGLiteSocketServer({
            db,
            host: "127.0.0.1",
            port: 0,
            maxConnections: options.maxConnections ?? 8
          })
          await server.start()
          return server
        },
        catch: (cause) => unavailable("PGlite socket server did not start", cause)
      }),
      (server) =>
        Effect.ignore(
          Effect.timeout(
            Effect.promise(() => server.stop()),
            "5 seconds"
          )
        )
    )
    const [host, port] = server.getServerConn().split(":") as [string, string]
    return {
      host,
      port: Number(port),
      url: Redacted.make(`postgres://postgres@${host}:${port}/postgres?sslmode=disable`)
    }
  })

/**
 * Whether something accepts TCP connections at `host:port` within `timeout`.
 *
 * @since 0.1.0
 * @category utils
 */
export const probe = (host: string, port: number, timeout: Duration.Input = "500 millis"): Effect.Effect<boolean> =>
  Effect.callback<boolean>((resume) => {
    const socket = Net.connect({ host, port })
    const done = (ok: boolean) => {
      socket.destroy()
      resume(Effect.succeed(ok))
    }
    socket.once("connect", () => done(true))
    socket.once("error", () => done(false))
    return Effect.sync(() => socket.destroy())
  }).pipe(
    Effect.timeoutOption(timeout),
    Effect.map((answer) => Option.getOrElse(answer, () => false))
  )

/**
 * The database URL to use: `DATABASE_URL` if set, else the local server on
 * 127.0.0.1:5432 if it answers, else an embedded server held open by the
 * scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const resolveDatabaseUrl: Effect.Effect<Redacted.Redacted<string>, LookupError, Scope.Scope> = Effect.gen(
  function* () {
    const configured = yield* Config.option(Config.Redacted("DATABASE_URL")).pipe(
      Effect.orElseSucceed(() => Option.none<Redacted.Redacted<string>>())
    )
    if (Option.isSome(configured)) return configured.value
    if (yield* probe("127.0.0.1", 5432)) {
      return Redacted.make("postgres://postgres@127.0.0.1:5432/postgres")
    }
    yield* Effect.logInfo("no PostgreSQL configured or on 127.0.0.1:5432: starting an embedded one")
    return (yield* make()).url
  }
)
