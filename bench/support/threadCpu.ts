/**
 * CPU time of another process per thread, read from `/proc/<pid>/task`
 * (Linux only): how much of a job's CPU its main thread spends and how much
 * V8's worker threads (concurrent garbage collection, optimizing compiler)
 * and libuv's pool do, grouped by thread name.
 */
import { readdirSync, readFileSync } from "node:fs"

// Clock ticks per second of utime/stime; 100 on every Linux this runs on.
const TICKS_PER_SECOND = 100

/** CPU milliseconds so far per thread name (`node` is the main thread); empty once the process has exited. */
export const byThreadName = (pid: number): Record<string, number> => {
  const out: Record<string, number> = {}
  let tasks: Array<string>
  try {
    tasks = readdirSync(`/proc/${pid}/task`)
  } catch {
    return out
  }
  for (const task of tasks) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${task}/stat`, "utf8")
      // the name is between the first "(" and the last ")", and may hold spaces
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")).trim()
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      const millis = ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND
      out[name] = (out[name] ?? 0) + millis
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return out
}
