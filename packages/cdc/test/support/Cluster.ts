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
import { Effect, Schedule } from "effect"
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
  const child = spawn(file, args, { stdio: "ignore" })
  yield* Effect.addFinalizer(() =>
    Effect.gen(function* () {
      const pidFile = join(data, "postmaster.pid")
      const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, "utf8").split("\n")[0]) : undefined
      // SIGINT is PostgreSQL's fast shutdown.
      if (pid !== undefined && alive(pid)) process.kill(pid, "SIGINT")
      child.kill("SIGINT")
      yield* Effect.sync(() => pid === undefined || !alive(pid)).pipe(
        Effect.repeat({ schedule: Schedule.spaced("50 millis"), until: (gone) => gone, times: 200 })
      )
      rmSync(dir, { recursive: true, force: true })
    })
  )
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`
  yield* Effect.tryPromise(async () => {
    const sql = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 2 })
    try {
      await sql`SELECT 1`
    } finally {
      await sql.end({ timeout: 1 })
    }
  }).pipe(Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 150 }), Effect.orDie)
  return { url, port } satisfies Cluster
})
