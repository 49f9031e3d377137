/**
 * A private PostgreSQL cluster with `wal_level=logical` for the tests of a
 * file (`LogicalPostgres`: the machine's PostgreSQL binaries, a free port,
 * removed after the tests), so the machine's own server is never
 * reconfigured.
 */
import { Context, Effect, Layer, Schedule } from "effect"
import postgres from "postgres"
import * as LogicalPostgres from "../../src/LogicalPostgres.ts"

export interface Cluster {
  readonly url: string
  readonly port: number
  /** Stops the server (fast shutdown) and starts it again on the same port. */
  readonly restart: Effect.Effect<void>
}

/** Starts the cluster; it is stopped and deleted when the scope closes. */
export const start = Effect.gen(function* () {
  const server = yield* Effect.orDie(LogicalPostgres.make())
  return { url: server.url, port: server.port, restart: Effect.orDie(server.restart) } satisfies Cluster
})

/** One cluster shared by the tests of a file. */
export class PgCluster extends Context.Service<PgCluster, Cluster>()("@sluice/cdc/test/PgCluster") {
  static readonly layer = Layer.effect(PgCluster, start)
}

/**
 * A fresh database on the shared cluster, dropped with its replication slots
 * when the scope closes.
 */
export const database = Effect.gen(function* () {
  const cluster = yield* PgCluster
  const name = `cdc_${Math.random().toString(36).slice(2, 10)}`
  const admin = (text: string) =>
    Effect.tryPromise(async () => {
      const sql = postgres(cluster.url, { max: 1, onnotice: () => {} })
      try {
        await sql.unsafe(text)
      } finally {
        await sql.end({ timeout: 1 })
      }
    })
  yield* Effect.orDie(admin(`CREATE DATABASE ${name}`))
  // A killed capture's slot stays active until its server process notices:
  // end those processes, then drop the slots (retried while still active).
  yield* Effect.addFinalizer(() =>
    admin(
      `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE database = '${name}' AND active`
    ).pipe(
      Effect.andThen(
        admin(`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = '${name}'`)
      ),
      Effect.andThen(admin(`DROP DATABASE ${name} WITH (FORCE)`)),
      Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 50 }),
      Effect.ignore
    )
  )
  return { name, url: `postgres://postgres@127.0.0.1:${cluster.port}/${name}`, restart: cluster.restart }
})
