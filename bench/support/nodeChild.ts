/**
 * A Node script run as a child process of the benchmark: the job under test
 * or the broker gets a process of its own, so its CPU time and memory are its
 * own, and its output is kept for the report when it fails.
 */
import { type ChildProcess, spawn } from "node:child_process"

/** A running child with its captured output. */
export interface NodeChild {
  readonly process: ChildProcess
  readonly pid: number
  /** stdout and stderr so far (the last 64 KiB of each). */
  readonly output: () => { readonly stdout: string; readonly stderr: string }
  /** Resolves with the first match of `pattern` in stdout or stderr. */
  readonly waitFor: (pattern: RegExp, timeoutMillis: number) => Promise<RegExpExecArray>
  /** SIGTERM, then SIGKILL after `graceMillis`; resolves with the exit code (null when killed). */
  readonly stop: (graceMillis?: number) => Promise<number | null>
  /** Resolves when the child has exited. */
  readonly exited: Promise<number | null>
}

const KEEP = 64 * 1024

// Children still running, so a benchmark that fails half-way can stop them all.
const running = new Set<NodeChild>()

/** Stops every child started here that is still running (for a `finally`). */
export const stopAll = async (): Promise<void> => {
  await Promise.all([...running].map((c) => c.stop(5_000)))
}

/**
 * Starts `node [nodeFlags] script ...args` with the given environment added to
 * this process's own.
 */
export const spawnNode = (
  script: string,
  args: ReadonlyArray<string>,
  options: { readonly env?: Record<string, string>; readonly nodeFlags?: ReadonlyArray<string> } = {}
): NodeChild => {
  const child = spawn(process.execPath, [...(options.nodeFlags ?? []), script, ...args], {
    env: { ...process.env, ...options.env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let stdout = ""
  let stderr = ""
  const listeners = new Set<() => void>()
  child.stdout!.on("data", (d: Buffer) => {
    stdout = (stdout + d.toString()).slice(-KEEP)
    for (const l of listeners) l()
  })
  child.stderr!.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-KEEP)
    for (const l of listeners) l()
  })
  const exited = new Promise<number | null>((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode)
    else child.once("exit", (code) => resolve(code))
  })
  const waitFor = (pattern: RegExp, timeoutMillis: number) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const check = () => {
        const match = pattern.exec(stdout) ?? pattern.exec(stderr)
        if (match !== null) {
          done()
          resolve(match)
        }
      }
      const timer = setTimeout(() => {
        done()
        reject(new Error(`no ${pattern} from ${script} within ${timeoutMillis} ms:\n${stderr.slice(-2000)}`))
      }, timeoutMillis)
      const onExit = () => {
        done()
        reject(new Error(`${script} exited before printing ${pattern}:\n${stderr.slice(-2000)}`))
      }
      const done = () => {
        clearTimeout(timer)
        listeners.delete(check)
        child.off("exit", onExit)
      }
      listeners.add(check)
      child.once("exit", onExit)
      check()
    })
  const stop = async (graceMillis = 30_000) => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM")
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMillis)
      const code = await exited
      clearTimeout(timer)
      return code
    }
    return child.exitCode
  }
  const handle: NodeChild = {
    process: child,
    pid: child.pid!,
    output: () => ({ stdout, stderr }),
    waitFor,
    stop,
    exited
  }
  running.add(handle)
  void exited.then(() => running.delete(handle))
  return handle
}
