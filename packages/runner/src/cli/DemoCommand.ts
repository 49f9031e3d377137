/**
 * `sluice demo`: a registered job's zero-infrastructure demo. With one job
 * registered, `sluice demo` is its demo; with several, `sluice demo <job>`.
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
  return Command.make("demo").pipe(
    Command.withDescription("Run a job's whole system locally on embedded defaults"),
    Command.withSubcommands([first.demo(first.name), ...rest.map((job) => job.demo(job.name))])
  )
}
