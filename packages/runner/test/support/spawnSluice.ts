import { spawn } from "node:child_process"
import { join } from "node:path"

const bin = join(import.meta.dirname, "..", "..", "bin", "sluice.js")

/** Runs the CLI without blocking the event loop, so servers in the test process keep answering. */
export const spawnSluice = (args: ReadonlyArray<string>, env: Record<string, string> = {}) => {
  const { PATH, HOME } = process.env
  const child = spawn(process.execPath, [bin, ...args], { env: { PATH: PATH ?? "", HOME: HOME ?? "", ...env } })
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
