/**
 * The commerce analytics of seed 002 as a `Job`: `sluice commerce
 * sales|segments|migrate|generate`. Its demo and dashboard are not built yet.
 *
 * @since 0.3.0
 */
import { Effect } from "effect"
import { Command } from "effect/cli"
import * as Dashboard from "../../http/Dashboard.ts"
import * as Job from "../../Job.ts"
import { RunnerError, Startup } from "../../RunnerError.ts"
import * as CommerceCommand from "./CommerceCommand.ts"
import * as CommerceConfig from "./CommerceConfig.ts"

/**
 * The commerce job.
 *
 * @since 0.3.0
 * @category jobs
 */
export const job: Job.Job = Job.make({
  name: "commerce",
  description: "commerce analytics over Debezium orders: sales windows, RFM segments, generator",
  commands: [CommerceCommand.command],
  demo: (name) =>
    Command.make(name, {}, () =>
      Effect.fail(
        new RunnerError({
          reason: new Startup({
            detail: "the commerce demo is not built yet",
            settings: "sluice commerce generate, then sluice commerce sales|segments"
          })
        })
      )
    ).pipe(Command.withDescription("The commerce demo (not built yet)")),
  config: {
    settings: CommerceConfig.settings,
    display: (overrides) => Effect.map(CommerceConfig.load(overrides), CommerceConfig.toDisplay)
  },
  dashboard: Dashboard.empty
})
