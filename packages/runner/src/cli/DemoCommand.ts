/**
 * `sluice demo`: a registered job's zero-infrastructure demo. With one job
 * registered, `sluice demo` is its demo; with several, `sluice demo` is still
 * the first one's and `sluice demo <job>` the others'.
 *
 * @since 0.1.0
 */
import { Command } from "effect/cli"
import type * as Job from "../Job.ts"

/**
 * The `demo` command for `jobs`.
 *
 * @since 0.1.0
 * @category commands
 */
export const make = (jobs: ReadonlyArray<Job.Job>): Command.Command.Any => {
  const [first, ...rest] = jobs
  if (first === undefined) throw new Error("sluice: no job registered")
  if (rest.length === 0) return first.demo("demo")
  // `sluice demo` stays the first job's demo, so its flags and scripts keep working.
  return first.demo("demo").pipe(Command.withSubcommands(rest.map((job) => job.demo(job.name))))
}
