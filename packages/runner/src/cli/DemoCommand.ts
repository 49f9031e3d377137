/**
 * `sluice demo`: a registered job's zero-infrastructure demo. With one job
 * registered, `sluice demo` is its demo; with several, `sluice demo <job>`
 * runs each one's, and a bare `sluice demo` is still the first one's, so the
 * first job's flags and scripts keep working.
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
  const withDemo = jobs.flatMap((job) => (job.demo === undefined ? [] : [{ name: job.name, demo: job.demo }]))
  const [first, ...rest] = withDemo
  if (first === undefined) throw new Error("sluice: no job registered")
  if (rest.length === 0) return first.demo("demo")
  return first.demo("demo").pipe(Command.withSubcommands(withDemo.map((job) => job.demo(job.name))))
}
