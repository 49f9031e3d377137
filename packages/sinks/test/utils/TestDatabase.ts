import { Effect } from "effect"
import postgres from "postgres"

export const host = "127.0.0.1"
export const port = 5432

/**
 * A throw-away database on the local server, dropped when the scope closes,
 * with `connect` opening clients on it (ended with the scope too).
 */
export const testDatabase = Effect.gen(function* () {
  const name = `sluice_sinks_${Math.random().toString(36).slice(2, 10)}`
  const admin = yield* Effect.acquireRelease(
    Effect.sync(() => postgres({ host, port, username: "postgres", database: "postgres", max: 1, onnotice: () => {} })),
    (sql) => Effect.promise(() => sql.end({ timeout: 2 }))
  )
  yield* Effect.acquireRelease(
    Effect.promise(() => admin.unsafe(`CREATE DATABASE ${name}`)),
    () => Effect.promise(() => admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`))
  )
  const connect = (options: { host?: string; port?: number; max?: number } = {}) =>
    Effect.acquireRelease(
      Effect.sync(() =>
        postgres({
          host: options.host ?? host,
          port: options.port ?? port,
          username: "postgres",
          database: name,
          max: options.max ?? 2,
          connect_timeout: 1,
          // Reconnect at once when the server is back rather than after a growing wait.
          backoff: () => 0.05,
          onnotice: () => {}
        })
      ),
      (sql) => Effect.promise(() => sql.end({ timeout: 1 }))
    )
  return { name, connect }
})
