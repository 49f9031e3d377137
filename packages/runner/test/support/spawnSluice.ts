import { spawn } from "node:child_process"
import { join } from "node:path"
import { Effect } from "effect"

const bin = join(import.meta.dirname, "..", "..", "bin", "sluice.js")

/**
 * Runs the CLI without blocking the event loop, so servers in the test process keep answering.
 * `detached` starts it in a process group of its own, so a caller can signal the whole group
 * (`process.kill(-pid, signal)`) and the terminal's Ctrl-C does not reach it behind the caller's back.
 */
export const spawnSluice = (
  args: ReadonlyArray<string>,
  env: Record<string, string> = {},
  options: { readonly detached?: boolean } = {}
) => {
  const { PATH, HOME } = process.env
  const child = spawn(process.execPath, [bin, ...args], {
    env: { PATH: PATH ?? "", HOME: HOME ?? "", ...env },
    detached: options.detached ?? false
  })
  let stdout = ""
  let stderr = ""
  child.stdout.on("data", (d) => {
    stdout += d
  })
  child.stderr.on("data", (d) => {
    stderr += d
  })
  const done = new Promise<{ status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>(
    (resolve) => child.on("close", (status, signal) => resolve({ status, signal, stdout, stderr }))
  )
  return { child, done, output: () => ({ stdout, stderr }) }
}

/** A spawned CLI process. */
export type Sluice = ReturnType<typeof spawnSluice>

/**
 * Stops a spawned CLI with SIGTERM and answers its exit code (0 for a graceful
 * stop); SIGKILL after `killAfterMs` so a hung process cannot outlive the test.
 */
export const stopSluice = (sluice: Sluice, killAfterMs = 20_000) =>
  Effect.promise(async () => {
    const { child } = sluice
    if (child.exitCode === null && child.signalCode === null) {
      const kill = setTimeout(() => child.kill("SIGKILL"), killAfterMs)
      child.kill("SIGTERM")
      await sluice.done
      clearTimeout(kill)
    }
    return (await sluice.done).status
  })

/**
 * A long-running CLI command (a job) for the lifetime of the scope: stopped,
 * bounded, when the scope closes, whatever the test did with it.
 */
export const sluiceJob = (args: ReadonlyArray<string>, env: Record<string, string>) =>
  Effect.acquireRelease(
    Effect.sync(() => spawnSluice(args, env)),
    (job) => stopSluice(job)
  )
