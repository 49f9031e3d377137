import { spawn } from "node:child_process"
import { join } from "node:path"

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
