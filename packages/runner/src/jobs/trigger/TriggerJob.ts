/**
 * The event trigger of seed 004 as a `Job`: `sluice trigger run`, its
 * configuration and its dashboard.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import * as Job from "../../Job.ts"
import * as ToolCommands from "./ToolCommands.ts"
import * as TriggerCommand from "./TriggerCommand.ts"
import * as TriggerConfig from "./TriggerConfig.ts"
import * as TriggerDashboard from "./TriggerDashboard.ts"

/**
 * The trigger job.
 *
 * @since 0.1.0
 * @category jobs
 */
export const job: Job.Job = Job.make({
  name: "trigger",
  description: "user events enriched from a Profile API, filtered by a CEL script, sent to webhook/debug actions",
  commands: [TriggerCommand.command(ToolCommands.commands)],
  demo: ToolCommands.demo,
  config: {
    settings: TriggerConfig.settings,
    display: (overrides) => Effect.map(TriggerConfig.load(overrides), TriggerConfig.toDisplay)
  },
  dashboard: TriggerDashboard.dashboard
})
