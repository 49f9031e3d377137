/**
 * Memory and CPU of another process, read from `/proc` (Linux only), so a job
 * running as a child is measured on its own and not with the benchmark that
 * drives it.
 */
import { readFileSync } from "node:fs"

/** What `/proc/<pid>` says about a process at one moment. */
export interface ProcessSample {
  /** Peak resident set size so far (`VmHWM`), in bytes. */
  readonly peakRssBytes: number
  /** Current resident set size (`VmRSS`), in bytes. */
  readonly rssBytes: number
  /** User + system CPU time consumed so far, in milliseconds. */
  readonly cpuMillis: number
}

const kilobytes = (status: string, field: string): number => {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)
  return match === null ? 0 : Number(match[1]) * 1024
}

// Clock ticks per second of utime/stime; 100 on every Linux this runs on.
const TICKS_PER_SECOND = 100

/** Reads the process's memory and CPU figures; `undefined` once it has exited. */
export const sample = (pid: number): ProcessSample | undefined => {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8")
    // The command name may contain spaces and parentheses: fields start after the last ")".
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    const ticks = Number(fields[11]) + Number(fields[12])
    return {
      peakRssBytes: kilobytes(status, "VmHWM"),
      rssBytes: kilobytes(status, "VmRSS"),
      cpuMillis: (ticks * 1000) / TICKS_PER_SECOND
    }
  } catch {
    return undefined
  }
}

/**
 * Samples `pid` every `intervalMillis` and keeps the last figures read, so the
 * peak survives the process's exit (`VmHWM` only grows; the last sample before
 * exit is the peak up to that moment). CPU time is kept as a timeline, so the
 * CPU spent between two instants (say, a job's first and last output, leaving
 * out its start-up) can be read afterwards.
 */
export const watch = (pid: number, intervalMillis = 250) => {
  let last: ProcessSample | undefined = sample(pid)
  const timeline: Array<{ readonly at: number; readonly cpuMillis: number }> = []
  const record = () => {
    const now = sample(pid)
    if (now === undefined) return
    last = now
    timeline.push({ at: Date.now(), cpuMillis: now.cpuMillis })
  }
  record()
  const timer = setInterval(record, intervalMillis)
  timer.unref()
  /** CPU milliseconds at epoch time `at`, interpolated between samples. */
  const cpuAt = (at: number): number => {
    if (timeline.length === 0) return Number.NaN
    let i = 0
    while (i < timeline.length && timeline[i]!.at < at) i++
    if (i === 0) return timeline[0]!.cpuMillis
    if (i === timeline.length) return timeline[i - 1]!.cpuMillis
    const a = timeline[i - 1]!
    const b = timeline[i]!
    return a.cpuMillis + ((b.cpuMillis - a.cpuMillis) * (at - a.at)) / Math.max(1, b.at - a.at)
  }
  return {
    /** CPU milliseconds the process used between epoch times `from` and `to`. */
    cpuBetween: (from: number, to: number): number => cpuAt(to) - cpuAt(from),
    /** The latest figures (sampled now if the process is still there). */
    current: (): ProcessSample | undefined => {
      last = sample(pid) ?? last
      return last
    },
    stop: (): ProcessSample | undefined => {
      clearInterval(timer)
      last = sample(pid) ?? last
      return last
    }
  }
}
