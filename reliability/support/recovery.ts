// How fast the partitions of a killed instance move again, read from the
// instances' JSON logs and the group's commits: which input partitions an
// instance owned ("partitions assigned" lines), how many assignments it has
// been through, how long it stood still in rebalances, when its process had
// started up (its first line), and the time until every partition a killed
// instance owned has a commit beyond where it stood at the kill.
import { Effect } from "effect"
import type { Admin } from "kafkajs"
import * as Processes from "./processes.ts"

interface LogLine {
  readonly message?: string
  readonly timestamp?: string
  readonly annotations?: { readonly partitions?: string; readonly group?: string }
}

const logLines = (job: Processes.Sluice): ReadonlyArray<LogLine> =>
  job
    .output()
    .stdout.split("\n")
    .flatMap((l) => {
      if (!l.startsWith("{")) return []
      try {
        return [JSON.parse(l) as LogLine]
      } catch {
        return []
      }
    })

const at = (line: LogLine) => Date.parse(line.timestamp ?? "")

/** When `job` wrote its first log line: the end of its process start-up (module loading). */
export const firstLogAt = (job: Processes.Sluice): number => {
  const first = logLines(job)[0]
  return first === undefined ? Number.NaN : at(first)
}

/**
 * Milliseconds `job` spent in rebalances after `since`: from each "group is
 * rebalancing" line to the next "partitions assigned" (its partitions stand
 * still in between).
 */
export const pausedSince = (job: Processes.Sluice, since: number): number => {
  let paused = 0
  let from: number | undefined
  for (const line of logLines(job)) {
    if (!(at(line) >= since)) continue
    if (line.message === "The group is rebalancing, re-joining" && from === undefined) from = at(line)
    if (line.message === "partitions assigned" && from !== undefined) {
      paused += at(line) - from
      from = undefined
    }
  }
  return paused
}

// A job with several consumer groups (an input and a re-keying topic) logs
// the assignments of each; `group` picks one.
const assignmentLines = (job: Processes.Sluice, group?: string): ReadonlyArray<ReadonlyArray<number>> =>
  logLines(job)
    .filter(
      (line) => line.message === "partitions assigned" && (group === undefined || line.annotations?.group === group)
    )
    .map((line) => {
      const listed = line.annotations?.partitions ?? ""
      // Each entry is `<topic>-<partition>`; topic names may contain dashes.
      return listed === "" ? [] : listed.split(",").map((tp) => Number(tp.slice(tp.lastIndexOf("-") + 1)))
    })

/** The input partitions `job` owned after its latest assignment. */
export const ownedPartitions = (job: Processes.Sluice): ReadonlyArray<number> =>
  [...(assignmentLines(job).at(-1) ?? [])].sort((a, b) => a - b)

/** How many assignments `job` has received so far (its first, plus one per rebalance). */
export const assignments = (job: Processes.Sluice): number => assignmentLines(job).length

/** `ownedPartitions` in one of the job's consumer groups. */
export const ownedPartitionsIn = (job: Processes.Sluice, group: string): ReadonlyArray<number> =>
  [...(assignmentLines(job, group).at(-1) ?? [])].sort((a, b) => a - b)

/** `assignments` in one of the job's consumer groups. */
export const assignmentsIn = (job: Processes.Sluice, group: string): number => assignmentLines(job, group).length

/** The committed offset of each partition of `topic` for `group` (-1 when none). */
export const committed = (admin: Admin, group: string, topic: string) =>
  Effect.tryPromise(() => admin.fetchOffsets({ groupId: group, topics: [topic] })).pipe(
    Effect.map((r) => new Map((r[0]?.partitions ?? []).map((p) => [p.partition, Number(p.offset)])))
  )

/**
 * Milliseconds from `since` until every partition in `partitions` has a
 * committed offset beyond the one in `from`: the killed instance's work is
 * moving again, whoever picked it up.
 */
export const progressedAgain = (
  admin: Admin,
  group: string,
  topic: string,
  partitions: ReadonlyArray<number>,
  from: ReadonlyMap<number, number>,
  since: number
) =>
  Processes.eventually(
    `partitions ${partitions.join(",")} committed again`,
    Effect.gen(function* () {
      const now = yield* committed(admin, group, topic)
      const stuck = partitions.filter((p) => (now.get(p) ?? -1) <= (from.get(p) ?? -1))
      if (stuck.length > 0) return yield* Effect.fail(`partitions ${stuck.join(",")} not committed since the kill`)
      return Date.now() - since
    }),
    "3 minutes",
    "100 millis"
  )
