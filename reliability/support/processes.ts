// Process control for the reliability scenarios: every `sluice` process runs
// in a process group of its own, is registered until it exits, and is killed
// (the whole group, SIGKILL) when its scope closes, when the suite process
// exits, or on Ctrl-C, so a failing scenario leaves nothing running. With
// RELIABILITY_LOG_DIR set, each process's output is written there when it ends.
import type { ChildProcess } from "node:child_process"
import { mkdirSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { join } from "node:path"
import { Duration, Effect, Schedule, type Scope } from "effect"
import { spawnSluice } from "../../packages/runner/test/support/spawnSluice.ts"

const running = new Set<ChildProcess>()

// Every process started since the last `resetStarted`: a failed scenario's
// report prints the last lines of each.
let started: Array<Sluice> = []

/** Forgets the processes started so far; the suite calls it before each scenario. */
export const resetStarted = (): void => {
  started = []
}

/** The processes started since the last `resetStarted` (the current scenario's), in order. */
export const startedThisScenario = (): ReadonlyArray<Sluice> => started

const signalGroup = (child: ChildProcess, signal: NodeJS.Signals) => {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return
  try {
    process.kill(-child.pid, signal)
  } catch {
    // The group is already gone.
  }
}

process.once("exit", () => {
  for (const child of running) signalGroup(child, "SIGKILL")
})
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    for (const child of running) signalGroup(child, "SIGKILL")
    process.exit(130)
  })
}

/** How a process ended. */
export interface Exit {
  readonly status: number | null
  readonly signal: NodeJS.Signals | null
}

/** A running `sluice` process. */
export interface Sluice {
  readonly name: string
  readonly pid: number
  readonly child: ChildProcess
  readonly exited: Promise<Exit>
  readonly output: () => { readonly stdout: string; readonly stderr: string }
}

/** Starts `sluice <args>` in its own process group; the group is killed when the scope closes. */
export const start = (
  name: string,
  args: ReadonlyArray<string>,
  env: Record<string, string>
): Effect.Effect<Sluice, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const run = spawnSluice(args, env, { detached: true })
      running.add(run.child)
      const exited = run.done.then(({ status, signal }) => {
        running.delete(run.child)
        return { status, signal }
      })
      const p: Sluice = { name, pid: run.child.pid ?? -1, child: run.child, exited, output: run.output }
      started.push(p)
      return p
    }),
    (p) =>
      Effect.andThen(kill(p), () =>
        Effect.sync(() => {
          const dir = process.env.RELIABILITY_LOG_DIR
          if (dir === undefined || dir === "") return
          mkdirSync(dir, { recursive: true })
          const { stdout, stderr } = p.output()
          writeFileSync(join(dir, `${p.name.replace(/\W+/g, "-")}-${p.pid}.log`), `${stdout}${stderr}`)
        })
      )
  )

const exitOf = (p: Sluice, within: Duration.Input) => Effect.promise(() => p.exited).pipe(Effect.timeoutOption(within))

/** SIGKILL to the process group, then its exit. */
export const kill = (p: Sluice): Effect.Effect<Exit> =>
  Effect.suspend(() => {
    signalGroup(p.child, "SIGKILL")
    return Effect.promise(() => p.exited)
  })

/** SIGTERM, then the exit (0 for a graceful stop); SIGKILL after `within`. */
export const stop = (p: Sluice, within: Duration.Input = "30 seconds"): Effect.Effect<Exit> =>
  Effect.gen(function* () {
    signalGroup(p.child, "SIGTERM")
    const exit = yield* exitOf(p, within)
    if (exit._tag === "Some") return exit.value
    return yield* kill(p)
  })

/** Runs `sluice <args>` to its end; fails with its output unless it exits 0. */
export const runToEnd = (
  name: string,
  args: ReadonlyArray<string>,
  env: Record<string, string>,
  within: Duration.Input = "2 minutes"
) =>
  Effect.scoped(
    Effect.gen(function* () {
      const p = yield* start(name, args, env)
      return yield* awaitSuccess(p, within)
    })
  )

/** Waits for `p` to exit 0; fails with its stderr otherwise. */
export const awaitSuccess = (p: Sluice, within: Duration.Input) =>
  Effect.gen(function* () {
    const exit = yield* exitOf(p, within)
    if (exit._tag === "Some" && exit.value.status === 0) return p.output()
    return yield* Effect.fail(
      new Error(
        `${p.name} ${exit._tag === "None" ? "did not finish in time" : `exited with ${exit.value.status ?? exit.value.signal}`}:\n${p.output().stderr.slice(-4000)}`
      )
    )
  })

/**
 * Polls `check` until it succeeds, failing after `within` with the last error.
 * This waits for a condition, never for a fixed time.
 */
export const eventually = <A, E, R>(
  what: string,
  check: Effect.Effect<A, E, R>,
  within: Duration.Input,
  every: Duration.Input = "200 millis"
): Effect.Effect<A, Error, R> =>
  check.pipe(
    Effect.mapError((e) => (e instanceof Error ? e : new Error(String(e)))),
    Effect.retry(Schedule.spaced(every)),
    Effect.timeoutOption(within),
    Effect.flatMap((a) =>
      a._tag === "Some"
        ? Effect.succeed(a.value)
        : Effect.fail(new Error(`${what}: not reached within ${Duration.format(Duration.fromInputUnsafe(within))}`))
    )
  )

/** Fails at once if `p` has exited, so a poll on a dead process ends early. */
export const alive = (p: Sluice): Effect.Effect<void, Error> =>
  Effect.suspend(() =>
    p.child.exitCode !== null || p.child.signalCode !== null
      ? Effect.die(
          new Error(`${p.name} exited (${p.child.exitCode ?? p.child.signalCode}):\n${p.output().stderr.slice(-4000)}`)
        )
      : Effect.void
  )

/**
 * The last `n` lines `p` logged that are not DEBUG (its stdout and stderr),
 * for a failed scenario's report: what the process was doing when it failed.
 */
export const recentLines = (p: Sluice, n = 15): string => {
  const { stdout, stderr } = p.output()
  const lines = `${stdout}${stderr}`.split("\n").filter((line) => line !== "" && !line.includes('"level":"DEBUG"'))
  return lines
    .slice(-n)
    .map((line) => `  ${line.slice(0, 400)}`)
    .join("\n")
}

/** A TCP port nothing listens on right now (for processes that need a fixed port across restarts). */
export const freePort: Effect.Effect<number> = Effect.promise(
  () =>
    new Promise<number>((resolve, reject) => {
      const server = createServer()
      server.once("error", reject)
      server.listen({ host: "127.0.0.1", port: 0 }, () => {
        const address = server.address()
        const port = typeof address === "object" && address !== null ? address.port : 0
        server.close(() => resolve(port))
      })
    })
)
