/**
 * The CDC platform of seed 003 as a `Job`: capture from PostgreSQL logical
 * replication, rule-based routing to consumer topics, the seed's tables, the
 * event generator, its demo and its dashboard.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import * as Job from "../../Job.ts"
import * as CdcCommand from "./CdcCommand.ts"
import * as CdcConfig from "./CdcConfig.ts"
import * as CdcDashboard from "./CdcDashboard.ts"
import * as DemoCommand from "./DemoCommand.ts"

/**
 * The CDC job.
 *
 * @since 0.1.0
 * @category jobs
 */
export const job: Job.Job = Job.make({
  name: "cdc",
  description: "CDC capture from PostgreSQL and rule-based routing",
  commands: [CdcCommand.command],
  demo: DemoCommand.make,
  config: {
    settings: CdcConfig.settings,
    display: (overrides) => Effect.map(CdcConfig.load(overrides), CdcConfig.toDisplay)
  },
  dashboard: CdcDashboard.dashboard
})
