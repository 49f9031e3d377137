/**
 * What a client pipe (`kafkajsPipe.ts`, `platformaticPipe.ts`) measures of
 * itself and prints as one JSON line: the span from the first record it
 * received to the acknowledgement of the produce request carrying the last
 * one, the process's CPU time over that span, then its CPU while idle (no
 * traffic) for a few seconds. The driver reads the line; the pipe keeps
 * running until SIGTERM.
 */
import { parseArgs } from "node:util"

/** The line a pipe prints when it has piped `count` records. */
export interface PipeReport {
  readonly records: number
  readonly millis: number
  readonly cpuMicros: number
  readonly idleMillis: number
  readonly idleCpuMicros: number
  /** Produce requests the pipe sent (one per batch it handled). */
  readonly sends: number
}

/** The command line both pipes take. */
export const args = () => {
  const { values } = parseArgs({
    options: {
      brokers: { type: "string" },
      input: { type: "string" },
      output: { type: "string" },
      group: { type: "string" },
      count: { type: "string" },
      "idle-seconds": { type: "string", default: "5" }
    }
  })
  const v = values as Record<string, string>
  return {
    brokers: v.brokers!.split(","),
    input: v.input!,
    output: v.output!,
    group: v.group!,
    count: Number(v.count),
    idleSeconds: Number(v["idle-seconds"])
  }
}

const cpuNow = () => {
  const u = process.cpuUsage()
  return u.user + u.system
}

/** Counts piped records; prints the report once `count` have been acknowledged. */
export const meter = (count: number, idleSeconds: number) => {
  let started: { readonly at: number; readonly cpu: number } | undefined
  let piped = 0
  let sends = 0
  return {
    /** Call when a batch arrives, before any work on it. */
    received: () => {
      started ??= { at: performance.now(), cpu: cpuNow() }
    },
    /** Call when the produce request of `n` records is acknowledged. */
    sent: (n: number) => {
      sends++
      piped += n
      if (piped < count || started === undefined || piped - n >= count) return
      const millis = performance.now() - started.at
      const cpuMicros = cpuNow() - started.cpu
      const idleFrom = { at: performance.now(), cpu: cpuNow() }
      setTimeout(() => {
        const report: PipeReport = {
          records: piped,
          millis,
          cpuMicros,
          idleMillis: performance.now() - idleFrom.at,
          idleCpuMicros: cpuNow() - idleFrom.cpu,
          sends
        }
        console.log(`report ${JSON.stringify(report)}`)
      }, idleSeconds * 1000)
    }
  }
}
