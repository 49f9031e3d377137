/**
 * The jobs `sluice` runs. This is the one place that knows them: adding a
 * job is adding its folder under `jobs/` and its entry here. Each entry names
 * the job's top-level commands and imports its module only when asked (see
 * `Job.Entry`), so `sluice cdc route` loads none of the claims, trigger or
 * commerce modules; a test checks that every entry says what its job declares.
 *
 * @since 0.1.0
 */
import * as Job from "../Job.ts"

/**
 * Every registered job; the first one's demo is `sluice demo` while it is the only one.
 *
 * @since 0.1.0
 * @category jobs
 */
export const all: ReadonlyArray<Job.Entry> = [
  Job.entry({
    name: "claims",
    description: "payment-claims enrichment, large claims, replay, generator and claims database",
    commands: ["claims", "replay", "db", "generate"],
    load: () => import("../jobs/claims/ClaimsJob.ts").then((module) => module.job)
  }),
  Job.entry({
    name: "trigger",
    description: "user events enriched from a Profile API, filtered by a CEL script, sent to webhook/debug actions",
    commands: ["trigger"],
    load: () => import("../jobs/trigger/TriggerJob.ts").then((module) => module.job)
  }),
  Job.entry({
    name: "cdc",
    description: "CDC capture from PostgreSQL and rule-based routing",
    commands: ["cdc"],
    load: () => import("../jobs/cdc/CdcJob.ts").then((module) => module.job)
  }),
  Job.entry({
    name: "commerce",
    description:
      "commerce analytics over Debezium orders: sales windows, RFM segments, anomalies, inventory, generator",
    commands: ["commerce"],
    load: () => import("../jobs/commerce/CommerceJob.ts").then((module) => module.job)
  })
]
