// A supervisor for a job process, as a deployment has one (Kubernetes'
// restartPolicy, systemd's Restart=on-failure): when the process exits
// non-zero it is started again with the same arguments, up to a bounded
// number of restarts. Under exactly-once a failed transaction (the broker
// gone, a fenced producer) ends the job's process by design, and resuming
// from the last committed offsets is the restarted process's work; a
// scenario that breaks the broker has to play that supervisor.
import { Effect, Fiber, type Scope } from "effect"
import type * as Jobs from "./jobs.ts"
import * as Processes from "./processes.ts"

/** One exit the supervisor answered with a restart. */
export interface Restart {
  readonly pid: number
  readonly exit: Processes.Exit
  /** The process's last error-level log message, if it wrote one: why it stopped. */
  readonly reason: string | undefined
}

/** A supervised job: the process running now, and the restarts so far. */
export interface Supervised {
  readonly current: () => Jobs.Job
  readonly restarts: () => ReadonlyArray<Restart>
  /**
   * Dies once the supervisor gave up (more exits than allowed restarts): a
   * defect, as `Processes.alive`, so a poll on it ends at once.
   */
  readonly alive: Effect.Effect<void>
  /** SIGTERM to the current process, with no restart after it; answers its exit. */
  readonly stop: Effect.Effect<Processes.Exit>
}

// Why the process stopped: the message of its last JSON log line at level
// ERROR or FATAL that is its own (the Kafka client's lines carry a `kafka`
// annotation, and it logs many on its way through a broker restart).
const lastError = (job: Processes.Sluice): string | undefined => {
  const lines = job.output().stdout.split("\n").reverse()
  for (const l of lines) {
    if (!l.startsWith("{")) continue
    try {
      const line = JSON.parse(l) as {
        readonly level?: string
        readonly message?: unknown
        readonly annotations?: { readonly kafka?: string }
      }
      if ((line.level === "ERROR" || line.level === "FATAL") && line.annotations?.kafka === undefined) {
        return Array.isArray(line.message) ? line.message.join(": ") : String(line.message)
      }
    } catch {
      // Not a log line.
    }
  }
  return undefined
}

// A process that failed without a JSON error line of its own still printed
// why: the CLI's report of the failure (a plain `ERROR` line with the
// cause's first lines on stdout), or a crash on stderr.
const printedError = (job: Processes.Sluice): string | undefined => {
  const { stdout, stderr } = job.output()
  const lines = stdout.split("\n")
  for (let i = lines.length - 1; i >= 0; i--) {
    if (/^\[[\d:.]+\] (ERROR|FATAL)/.test(lines[i]!)) return lines.slice(i, i + 3).join("\n")
  }
  const tail = stderr.trim().split("\n").slice(-5).join("\n")
  return tail === "" ? undefined : tail
}

/**
 * Supervises the job `spawn` starts: `first` is the process already running;
 * after each non-zero exit `spawn` starts another, at most `maxRestarts`
 * times. A restarted process is not waited for (a supervisor does not wait
 * either); the scenario's own checks (progress, drain) do. Every process is
 * killed when the scope closes.
 */
export const supervise = (
  first: Jobs.Job,
  spawn: Effect.Effect<Jobs.Job, never, Scope.Scope>,
  maxRestarts: number
): Effect.Effect<Supervised, never, Scope.Scope> =>
  Effect.gen(function* () {
    let current = first
    const restarts: Array<Restart> = []
    let stopping = false
    let gaveUp: string | undefined

    const watch = Effect.gen(function* () {
      while (true) {
        const job = current
        const exit = yield* Effect.promise(() => job.exited)
        if (stopping || exit.status === 0) return
        if (restarts.length >= maxRestarts) {
          gaveUp = `${job.name} exited (${exit.status ?? exit.signal}) after ${restarts.length} restarts:\n${job.output().stderr.slice(-4000)}`
          return
        }
        // Spawned and recorded in one uninterruptible step, so `stop` always finds the latest process.
        yield* Effect.uninterruptible(
          Effect.gen(function* () {
            restarts.push({ pid: job.pid, exit, reason: lastError(job) ?? printedError(job) })
            current = yield* spawn
          })
        )
      }
    })
    const watcher = yield* Effect.forkScoped(watch)

    return {
      current: () => current,
      restarts: () => restarts,
      alive: Effect.suspend(() => (gaveUp === undefined ? Effect.void : Effect.die(new Error(gaveUp)))),
      stop: Effect.gen(function* () {
        stopping = true
        yield* Fiber.interrupt(watcher)
        return yield* Processes.stop(current)
      })
    }
  })
