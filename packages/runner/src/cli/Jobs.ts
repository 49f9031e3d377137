/**
 * The jobs `sluice` runs. This is the one place that knows them: adding a
 * job is adding its folder under `jobs/` and its entry here.
 *
 * @since 0.1.0
 */
import type * as Job from "../Job.ts"
import * as CdcJob from "../jobs/cdc/CdcJob.ts"
import * as ClaimsJob from "../jobs/claims/ClaimsJob.ts"
import * as CommerceJob from "../jobs/commerce/CommerceJob.ts"
import * as TriggerJob from "../jobs/trigger/TriggerJob.ts"

/**
 * Every registered job; the first one's demo is `sluice demo` while it is the only one.
 *
 * @since 0.1.0
 * @category jobs
 */
export const all: ReadonlyArray<Job.Job> = [ClaimsJob.job, TriggerJob.job, CdcJob.job, CommerceJob.job]
