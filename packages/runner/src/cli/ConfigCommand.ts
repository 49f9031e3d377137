/**
 * `sluice config`: prints the configuration of the registered jobs as
 * resolved from flags, environment variables and defaults, with the database
 * credentials hidden. Useful to check what a deployment will run with before
 * starting it. Its flags are the settings of every job (a setting two jobs
 * share is one flag).
 *
 * @since 0.1.0
 */
import { Console, Effect } from "effect"
import { Command } from "effect/cli"
import type * as Config from "../Config.ts"
import * as Flags from "../Flags.ts"
import type * as Job from "../Job.ts"

/**
 * The `config` command for `jobs`.
 *
 * @since 0.1.0
 * @category commands
 */
export const make = (jobs: ReadonlyArray<Job.Job>) => {
  const settings: Config.Settings = Object.assign({}, ...jobs.map((job) => job.config.settings))
  return Command.make("config", Flags.settingFlags(settings), (flags) =>
    Effect.gen(function* () {
      const shown: Record<string, unknown> = {}
      for (const job of jobs) Object.assign(shown, yield* job.config.display(flags))
      yield* Console.log(JSON.stringify(shown, null, 2))
    })
  ).pipe(Command.withDescription("Print the resolved job configuration (secrets hidden)"))
}
