import { createServer } from "node:net"
import { Effect } from "effect"

/** One sample of the Prometheus text format. */
export interface Sample {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

const sampleLine = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/
const labelPair = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g

/** Parses the Prometheus text exposition format (comments skipped). */
export const parsePrometheus = (text: string): ReadonlyArray<Sample> =>
  text.split("\n").flatMap((line) => {
    const m = sampleLine.exec(line)
    if (m === null || line.startsWith("#")) return []
    const labels: Record<string, string> = {}
    for (const [, k, v] of (m[2] ?? "").matchAll(labelPair)) labels[k!] = v!
    return [{ name: m[1]!, labels, value: Number(m[3]) }]
  })

/** The sum of the samples of `name` whose labels include `labels`. */
export const metricValue = (
  samples: ReadonlyArray<Sample>,
  name: string,
  labels: Readonly<Record<string, string>> = {}
): number =>
  samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0)

/**
 * The `/metrics` of a job's observability port; no samples while the server
 * is not up yet, so a poll can start before the process has.
 */
export const scrape = (port: number): Effect.Effect<ReadonlyArray<Sample>> =>
  Effect.promise(async () => {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/metrics`)
      return response.ok ? parsePrometheus(await response.text()) : []
    } catch {
      return []
    }
  })

/**
 * A port that was free a moment ago, for a child process's server whose port
 * the test must know (a job does not print the port it got for 0).
 */
export const freePort = (): Effect.Effect<number> =>
  Effect.promise(
    () =>
      new Promise<number>((resolve, reject) => {
        const server = createServer()
        server.once("error", reject)
        server.listen(0, "127.0.0.1", () => {
          const address = server.address()
          const port = typeof address === "object" && address !== null ? address.port : 0
          server.close(() => resolve(port))
        })
      })
  )
