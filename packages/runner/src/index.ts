/**
 * The `sluice` runner: the job interface, the configuration machinery, the
 * shared services (Kafka, PostgreSQL, the observability server with its
 * dashboard and stats, OpenTelemetry export) and the CLI. Each job lives in
 * its folder under `jobs/` and is imported by its path, e.g.
 * `@sluice/runner/jobs/claims/EnrichJob`.
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as Config from "./Config.ts"
/**
 * @since 0.1.0
 */
export * as Dashboard from "./http/Dashboard.ts"
/**
 * @since 0.1.0
 */
export * as ObservabilityServer from "./http/ObservabilityServer.ts"
/**
 * @since 0.1.0
 */
export * as Readiness from "./http/Readiness.ts"
/**
 * @since 0.1.0
 */
export * as Stats from "./http/Stats.ts"
/**
 * @since 0.1.0
 */
export * as Job from "./Job.ts"
/**
 * @since 0.1.0
 */
export * as Log from "./Log.ts"
/**
 * @since 0.1.0
 */
export * as RunnerError from "./RunnerError.ts"
/**
 * @since 0.1.0
 */
export * as Telemetry from "./Telemetry.ts"
/**
 * @since 0.1.0
 */
export * as TelemetryConfig from "./TelemetryConfig.ts"
