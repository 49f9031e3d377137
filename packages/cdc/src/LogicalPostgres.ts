/**
 * A private PostgreSQL server with logical replication, for the places that
 * need one to capture from but must not reconfigure the machine's own server
 * (`wal_level` needs a restart): the capture tests and `sluice demo cdc`.
 * It is started from the machine's PostgreSQL server binaries (`initdb`,
 * `postgres`), found on `PATH`, then in Debian's
 * `/usr/lib/postgresql/<version>/bin` (newest version first), or in the
 * directory the caller names. The cluster lives in a temporary directory
 * (data, the server's log and its Unix socket), listens on 127.0.0.1 on a free
 * port with `trust` authentication for the user `postgres`, and is stopped
 * and deleted when the scope closes.
 *
 * `initdb` and `postgres` refuse to run as root: under root the cluster
 * belongs to the `postgres` user (created by the Debian packages) and both
 * run as that user; without one, `make` fails and says so.
 *
 * It lives in `@sluice/cdc` because capture is what needs such a server, and
 * both users (this package's tests and the runner's demo) already depend on
 * it. Data is thrown away with the scope, so durability is off (`fsync=off`):
 * never point anything that matters at it.
 *
 * @since 0.1.0
 */
import { type ChildProcess, execFile, spawn } from "node:child_process"
import {
  accessSync,
  chownSync,
  closeSync,
  constants,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync
} from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { delimiter, join } from "node:path"
import { Effect, Option, Schedule, type Scope } from "effect"
import postgres from "postgres"
import * as CdcError from "./CdcError.ts"

/**
 * How to start the server.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The directory of `initdb` and `postgres`; searched for when absent (see `findBinaries`). */
  readonly binDir?: string | undefined
  /** More server settings (`-c name=value`), after the ones logical replication needs. */
  readonly settings?: Readonly<Record<string, string>> | undefined
  /** How long the server may take to accept connections; default 30 seconds. */
  readonly startTimeout?: number | undefined
}

/**
 * A running server.
 *
 * @since 0.1.0
 * @category models
 */
export interface LogicalPostgres {
  /** `postgres://postgres@127.0.0.1:<port>/postgres`; no password (trust authentication). */
  readonly url: string
  readonly host: string
  readonly port: number
  /** Where `initdb` and `postgres` were taken from. */
  readonly binDir: string
  /** The cluster's directory: `data`, the server's log `server.log`, and its socket. */
  readonly dir: string
  /** The server's `server_version`. */
  readonly version: string
  /** Stops the server (fast shutdown) and starts it again on the same port, with the same data. */
  readonly restart: Effect.Effect<void, CdcError.CdcError>
}

const failure = (detail: string, cause: unknown = undefined) =>
  CdcError.make(new CdcError.Unavailable({ detail, retryable: false, cause }))

const executable = (file: string): boolean => {
  try {
    accessSync(file, constants.X_OK)
    return true
  } catch {
    return false
  }
}

const hasServer = (dir: string) => executable(join(dir, "initdb")) && executable(join(dir, "postgres"))

// Debian installs each major version side by side; the newest is the likeliest wanted.
const debianRoot = "/usr/lib/postgresql"
const debianDirs = (): ReadonlyArray<string> => {
  try {
    return readdirSync(debianRoot)
      .filter((v) => /^\d+(\.\d+)?$/.test(v))
      .sort((a, b) => Number(b) - Number(a))
      .map((v) => join(debianRoot, v, "bin"))
  } catch {
    return []
  }
}

/**
 * The directory holding both `initdb` and `postgres`: `binDir` if given (and
 * only it), else the first of `PATH`'s directories, then Debian's
 * `/usr/lib/postgresql/<version>/bin` newest first.
 *
 * @since 0.1.0
 * @category constructors
 */
export const findBinaries = (binDir?: string): Effect.Effect<string, CdcError.CdcError> =>
  Effect.suspend(() => {
    if (binDir !== undefined) {
      return hasServer(binDir)
        ? Effect.succeed(binDir)
        : Effect.fail(failure(`no executable initdb and postgres in ${binDir}`))
    }
    const path = (process.env.PATH ?? "").split(delimiter).filter((d) => d !== "")
    const found = [...path, ...debianDirs()].find(hasServer)
    return found === undefined
      ? Effect.fail(
          failure(`no PostgreSQL server binaries (initdb, postgres) on PATH or in ${debianRoot}/<version>/bin`)
        )
      : Effect.succeed(found)
  })

interface Account {
  readonly uid: number
  readonly gid: number
}

const run = (file: string, args: ReadonlyArray<string>, account: Account | undefined, cwd?: string) =>
  Effect.callback<string, { readonly message: string; readonly stderr: string }>((resume) => {
    const child = execFile(
      file,
      [...args],
      { timeout: 120_000, maxBuffer: 4 * 1024 * 1024, ...(account ?? {}), ...(cwd === undefined ? {} : { cwd }) },
      (error, stdout, stderr) =>
        resume(error === null ? Effect.succeed(stdout) : Effect.fail({ message: error.message, stderr }))
    )
    return Effect.sync(() => child.kill("SIGKILL"))
  })

const lastLine = (text: string): string =>
  text
    .trim()
    .split("\n")
    .filter((l) => l.trim() !== "")
    .at(-1)
    ?.trim() ?? ""

// initdb and postgres refuse root; the Debian packages' `postgres` user owns clusters there.
const account: Effect.Effect<Account | undefined, CdcError.CdcError> = Effect.suspend(() => {
  if (process.getuid?.() !== 0) return Effect.succeed(undefined)
  const noAccount = failure("running as root, and there is no postgres user to run initdb and postgres as")
  const id = (flag: string) =>
    run("id", [flag, "postgres"], undefined).pipe(
      Effect.mapError(() => noAccount),
      Effect.flatMap((out) => (/^\d+$/.test(out.trim()) ? Effect.succeed(Number(out.trim())) : Effect.fail(noAccount)))
    )
  return Effect.all({ uid: id("-u"), gid: id("-g") })
})

const freePort = Effect.callback<number>((resume) => {
  const server = createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

const exited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null

// Resolves once the process has ended (at once if it has).
const awaitExit = (child: ChildProcess) =>
  Effect.callback<void>((resume) => {
    if (exited(child)) return resume(Effect.void)
    const done = () => resume(Effect.void)
    child.once("exit", done)
    return Effect.sync(() => child.off("exit", done))
  })

/**
 * Starts a server as described in the module's header; stopped (fast
 * shutdown, then immediate) and deleted with its directory when the scope
 * closes. Fails with a `CdcError` (`Unavailable`, not retryable) whose detail
 * is one line saying why: no binaries, no account to run them as, `initdb` or
 * the server failing (with the last line of their output).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<LogicalPostgres, CdcError.CdcError, Scope.Scope> =>
  Effect.gen(function* () {
    const binDir = yield* findBinaries(options.binDir)
    const owner = yield* account
    const dir = yield* Effect.acquireRelease(
      Effect.try({
        try: () => mkdtempSync(join(tmpdir(), "sluice-pg-")),
        catch: (cause) => failure(`cannot create a temporary directory: ${String(cause)}`, cause)
      }),
      (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
    )
    if (owner !== undefined) {
      yield* Effect.try({
        try: () => chownSync(dir, owner.uid, owner.gid),
        catch: (cause) => failure(`cannot hand ${dir} to the postgres user: ${String(cause)}`, cause)
      })
    }
    const data = join(dir, "data")
    yield* run(
      join(binDir, "initdb"),
      ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--no-locale"],
      owner,
      // A directory the account may enter: under root the caller's may be closed to it.
      dir
    ).pipe(Effect.mapError((e) => failure(`initdb failed: ${lastLine(e.stderr) || e.message}`, e)))
    const port = yield* freePort
    const settings: Record<string, string> = {
      listen_addresses: "127.0.0.1",
      wal_level: "logical",
      max_wal_senders: "10",
      max_replication_slots: "10",
      // The data is thrown away with the scope.
      fsync: "off",
      ...options.settings
    }
    const args = [
      "-D",
      data,
      "-p",
      String(port),
      // Its own socket directory: the machine's (/var/run/postgresql) may not be writable, or be another server's.
      "-k",
      dir,
      ...Object.entries(settings).flatMap(([name, value]) => ["-c", `${name}=${value}`])
    ]
    const log = join(dir, "server.log")
    const url = `postgres://postgres@127.0.0.1:${port}/postgres`
    let server: ChildProcess | undefined
    let spawnError: Error | undefined

    const tail = () => {
      try {
        return lastLine(readFileSync(log, "utf8"))
      } catch {
        return ""
      }
    }

    const ask = Effect.tryPromise({
      try: async () => {
        // No type look-up: a connection the starting server resets must not leave
        // postgres.js' own array-types query to reject unhandled.
        const sql = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 2, fetch_types: false })
        try {
          const [row] = await sql<Array<{ server_version: string }>>`SHOW server_version`
          return row?.server_version ?? ""
        } finally {
          await sql.end({ timeout: 1 })
        }
      },
      catch: (cause) => ({ retryable: true as boolean, cause })
    })

    // Spawns the server and waits until it answers; a server that exits first fails at once.
    const launch = Effect.gen(function* () {
      const fd = openSync(log, "a")
      spawnError = undefined
      // Detached: the terminal's Ctrl-C reaches the caller, whose scope then stops the server in order.
      const child = spawn(join(binDir, "postgres"), args, {
        stdio: ["ignore", fd, fd],
        cwd: dir,
        detached: true,
        ...(owner ?? {})
      })
      closeSync(fd)
      child.on("error", (error) => {
        spawnError = error
      })
      child.unref()
      server = child
      const check = Effect.suspend(() =>
        spawnError !== undefined || exited(child)
          ? Effect.fail({ retryable: false as boolean, cause: spawnError })
          : ask
      )
      return yield* check.pipe(
        Effect.retry({ schedule: Schedule.spaced("100 millis"), while: (e) => e.retryable }),
        Effect.timeoutOrElse({
          duration: options.startTimeout ?? 30_000,
          orElse: () => Effect.fail({ retryable: false, cause: undefined })
        }),
        Effect.mapError((e) =>
          failure(
            `postgres did not start: ${spawnError?.message ?? (tail() || (exited(child) ? "it exited" : "no answer"))}`,
            e.cause
          )
        )
      )
    })

    const stop = Effect.gen(function* () {
      const child = server
      if (child === undefined || exited(child)) return
      // SIGINT is PostgreSQL's fast shutdown (clients cut off); SIGQUIT, immediate, if that hangs.
      child.kill("SIGINT")
      const gone = yield* Effect.timeoutOption(awaitExit(child), "15 seconds")
      if (Option.isNone(gone)) {
        child.kill("SIGQUIT")
        yield* Effect.timeoutOption(awaitExit(child), "5 seconds")
      }
    })

    yield* Effect.addFinalizer(() => stop)
    const version = yield* launch
    return {
      url,
      host: "127.0.0.1",
      port,
      binDir,
      dir,
      version,
      restart: Effect.andThen(stop, Effect.asVoid(launch))
    } satisfies LogicalPostgres
  })
