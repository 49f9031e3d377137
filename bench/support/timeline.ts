/**
 * Latency over the time of a run: the percentiles of each second of inputs,
 * and a text chart of them side by side for several runs. A p95 over the
 * whole run cannot tell a steady tail from a few seconds when the job fell
 * behind and caught up again; a chart of each second can.
 */
import { type Percentiles, percentiles } from "./percentiles.ts"

/** The percentiles of the outputs of one second's inputs. */
export interface Second extends Percentiles {
  /** Seconds since the run's first input. */
  readonly second: number
}

/**
 * Groups `[sentAt, latency]` pairs by the second of `sentAt` since `start`
 * (both in milliseconds) and takes the percentiles of each second.
 */
export const perSecond = (samples: Iterable<readonly [number, number]>, start: number): ReadonlyArray<Second> => {
  const bySecond: Array<Array<number>> = []
  for (const [sentAt, latency] of samples) {
    const second = Math.max(0, Math.floor((sentAt - start) / 1000))
    const values = bySecond[second]
    if (values === undefined) bySecond[second] = [latency]
    else values.push(latency)
  }
  const seconds: Array<Second> = []
  bySecond.forEach((values, second) => {
    if (values !== undefined) seconds.push({ second, ...percentiles(values) })
  })
  return seconds
}

const BAR = 28

/**
 * A text chart of the p95 of each second of several runs, one column per
 * run, bars scaled to the largest p95 shown; seconds before `measuredFrom`
 * (the warm-up) are marked with `w`.
 */
export const chart = (
  runs: ReadonlyArray<{ readonly name: string; readonly seconds: ReadonlyArray<Second> }>,
  measuredFrom: number
): string => {
  const top = Math.max(1, ...runs.flatMap((r) => r.seconds.map((s) => s.p95)))
  const last = Math.max(0, ...runs.flatMap((r) => r.seconds.map((s) => s.second)))
  const cell = (s: Second | undefined) => {
    if (s === undefined) return " ".repeat(BAR + 7)
    const bar = "█".repeat(Math.max(1, Math.round((s.p95 / top) * BAR)))
    return `${bar.padEnd(BAR)} ${String(s.p95).padStart(6)}`
  }
  const header = ["  s  ", ...runs.map((r) => `${r.name} p95 ms`.padEnd(BAR + 7))].join(" ")
  const rows: Array<string> = [header]
  for (let second = 0; second <= last; second++) {
    const mark = second < measuredFrom ? "w" : " "
    rows.push(
      [
        `${String(second).padStart(3)} ${mark}`,
        ...runs.map((r) => cell(r.seconds.find((s) => s.second === second)))
      ].join(" ")
    )
  }
  return rows.join("\n")
}
