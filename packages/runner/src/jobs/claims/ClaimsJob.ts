/**
 * The payment-claims system of seeds 000 and 001 as a `Job`: the enrich and
 * large-claims jobs (`sluice claims enrich|large`), the replay of database
 * failures (`sluice replay`), the payment generator (`sluice generate`), the
 * claims table (`sluice db migrate|seed`), its demo and its dashboard.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import * as Job from "../../Job.ts"
import * as ClaimsCommand from "./ClaimsCommand.ts"
import * as ClaimsConfig from "./ClaimsConfig.ts"
import * as ClaimsDashboard from "./ClaimsDashboard.ts"
import * as DbCommand from "./DbCommand.ts"
import * as DemoCommand from "./DemoCommand.ts"
import * as GenerateCommand from "./GenerateCommand.ts"
import * as ReplayCommand from "./ReplayCommand.ts"

/**
 * The claims job.
 *
 * @since 0.1.0
 * @category jobs
 */
export const job: Job.Job = Job.make({
  name: "claims",
  description: "payment-claims enrichment, large claims, replay, generator and claims database",
  commands: [ClaimsCommand.command, ReplayCommand.command, DbCommand.command, GenerateCommand.command],
  demo: DemoCommand.make,
  config: {
    settings: ClaimsConfig.settings,
    display: (overrides) => Effect.map(ClaimsConfig.load(overrides), ClaimsConfig.toDisplay)
  },
  dashboard: ClaimsDashboard.dashboard
})
