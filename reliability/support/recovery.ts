// How fast the partitions of a killed instance move again: which input
// partitions an instance owned (from its "partitions assigned" log lines),
// how many assignments an instance has been through (each one a rebalance it
// took part in), and the time until every partition it owned has a commit
// beyond where it stood at the kill.
import { Effect } from "effect"
import type { Admin } from "kafkajs"
import * as Processes from "./processes.ts"

interface LogLine {
  readonly message?: string
  readonly annotations?: { readonly partitions?: string }
}

const assignmentLines = (job: Processes.Sluice): ReadonlyArray<ReadonlyArray<number>> =>
  job
    .output()
    .stdout.split("\n")
    .filter((l) => l.includes('"partitions assigned"'))
    .flatMap((l) => {
      try {
        const line = JSON.parse(l) as LogLine
        const listed = line.annotations?.partitions ?? ""
        // Each entry is `<topic>-<partition>`; topic names may contain dashes.
        return [listed === "" ? [] : listed.split(",").map((tp) => Number(tp.slice(tp.lastIndexOf("-") + 1)))]
      } catch {
        return []
      }
    })

/** The input partitions `job` owned after its latest assignment. */
export const ownedPartitions = (job: Processes.Sluice): ReadonlyArray<number> =>
  [...(assignmentLines(job).at(-1) ?? [])].sort((a, b) => a - b)

/** How many assignments `job` has received so far (its first, plus one per rebalance). */
export const assignments = (job: Processes.Sluice): number => assignmentLines(job).length

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
