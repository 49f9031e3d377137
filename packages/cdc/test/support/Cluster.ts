/**
 * A private PostgreSQL cluster with `wal_level=logical`, started from the
 * machine's PostgreSQL binaries on a free port for one test and removed after
 * it, so the machine's own server is never reconfigured. `initdb` refuses to
 * run as root; under root (as in CI) the cluster belongs to the `postgres`
 * user and its commands run through `runuser`.
 */
import { execFileSync, spawn } from "node:child_process"
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Context, Effect, Layer, Schedule } from "effect"
import postgres from "postgres"

const binaries = ["/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin"]
const bin = (name: string) => join(binaries.find((d) => existsSync(join(d, name))) ?? binaries[0]!, name)

const asRoot = process.getuid?.() === 0
const command = (file: string, args: ReadonlyArray<string>): [string, Array<string>] =>
  asRoot ? ["runuser", ["-u", "postgres", "--", file, ...args]] : [file, [...args]]

const freePort = () =>
  Effect.callback<number>((resume) => {
    const server = createServer()
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resume(Effect.succeed(port)))
    })
  })

export interface Cluster {
  readonly url: string
  readonly port: number
  /** Stops the server (fast shutdown) and starts it again on the same port. */
  readonly restart: Effect.Effect<void>
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Starts the cluster; it is stopped and deleted when the scope closes. */
export const start = Effect.gen(function* () {
  const dir = mkdtempSync(join(tmpdir(), "sluice-cdc-"))
  if (asRoot) {
    const uid = Number(execFileSync("id", ["-u", "postgres"]).toString().trim())
    const gid = Number(execFileSync("id", ["-g", "postgres"]).toString().trim())
    chownSync(dir, uid, gid)
  }
  const data = join(dir, "data")
  const [initdb, initArgs] = command(bin("initdb"), [
    "-D",
    data,
    "-A",
    "trust",
    "-U",
    "postgres",
    "--no-sync",
    "-E",
    "UTF8"
  ])
  execFileSync(initdb, initArgs, { stdio: "ignore" })
  const port = yield* freePort()
  const [file, args] = command(bin("postgres"), [
    "-D",
    data,
    "-p",
    String(port),
    "-k",
    dir,
    "-c",
    "listen_addresses=127.0.0.1",
    "-c",
    "wal_level=logical",
    "-c",
    "fsync=off",
    "-c",
    "max_wal_senders=8",
    "-c",
    "max_replication_slots=8"
  ])
  const pidFile = join(data, "postmaster.pid")
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`
  const launch = Effect.gen(function* () {
    spawn(file, args, { stdio: "ignore" }).unref()
    yield* Effect.tryPromise(async () => {
      const sql = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 2 })
      try {
        await sql`SELECT 1`
      } finally {
        await sql.end({ timeout: 1 })
      }
    }).pipe(Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 150 }), Effect.orDie)
  })
  const stop = Effect.gen(function* () {
    const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, "utf8").split("\n")[0]) : undefined
    // SIGINT is PostgreSQL's fast shutdown: clients are cut off, data is kept.
    if (pid !== undefined && alive(pid)) process.kill(pid, "SIGINT")
    yield* Effect.sync(() => pid === undefined || !alive(pid)).pipe(
      Effect.repeat({ schedule: Schedule.spaced("50 millis"), until: (gone) => gone, times: 200 })
    )
  })
  yield* Effect.addFinalizer(() =>
    stop.pipe(Effect.andThen(Effect.sync(() => rmSync(dir, { recursive: true, force: true }))))
  )
  yield* launch
  const restart = Effect.andThen(stop, launch)
  return { url, port, restart } satisfies Cluster
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
