/**
 * The commerce analytics of seed 002 as a `Job`: `sluice commerce
 * sales|segments|anomalies|inventory|migrate|generate` and
 * `sluice demo commerce`. Its dashboard panels are
 * `CommerceDashboard`'s.
 *
 * @since 0.3.0
 */
import { Effect } from "effect"
import * as Job from "../../Job.ts"
import * as CommerceCommand from "./CommerceCommand.ts"
import * as CommerceConfig from "./CommerceConfig.ts"
import * as CommerceDashboard from "./CommerceDashboard.ts"
import * as DemoCommand from "./DemoCommand.ts"

/**
 * The commerce job.
 *
 * @since 0.3.0
 * @category jobs
 */
export const job: Job.Job = Job.make({
  name: "commerce",
  description: "commerce analytics over Debezium orders: sales windows, RFM segments, anomalies, inventory, generator",
  commands: [CommerceCommand.command],
  demo: DemoCommand.make,
  config: {
    settings: CommerceConfig.settings,
    display: (overrides) => Effect.map(CommerceConfig.load(overrides), CommerceConfig.toDisplay)
  },
  dashboard: CommerceDashboard.dashboard
})
