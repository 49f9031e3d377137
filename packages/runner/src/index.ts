/**
 * The `sluice` runner: the claims enrichment and large-claims jobs, their
 * models and decisions, the event generator, the job configuration, the
 * observability server, OpenTelemetry export and the CLI.
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
export * as EnrichedPayment from "./claims/EnrichedPayment.ts"
/**
 * @since 0.1.0
 */
export * as EnrichJob from "./claims/EnrichJob.ts"
/**
 * @since 0.1.0
 */
export * as Enrichment from "./claims/Enrichment.ts"
/**
 * @since 0.1.0
 */
export * as Generator from "./claims/Generator.ts"
/**
 * @since 0.1.0
 */
export * as LargeClaims from "./claims/LargeClaims.ts"
/**
 * @since 0.1.0
 */
export * as LargeClaimsJob from "./claims/LargeClaimsJob.ts"
/**
 * @since 0.1.0
 */
export * as Money from "./claims/Money.ts"
/**
 * @since 0.1.0
 */
export * as PaymentEvent from "./claims/PaymentEvent.ts"
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
