/**
 * @since 0.2.0
 */
export * as Aggregator from "./Aggregator.ts"
/**
 * @since 0.1.0
 */
export * as DeadLetter from "./DeadLetter.ts"
/**
 * @since 0.1.0
 */
export * as Envelope from "./Envelope.ts"
/**
 * @since 0.1.0
 */
export * as InMemory from "./InMemory.ts"
/**
 * @since 0.2.0
 */
export * as Join from "./Join.ts"
/**
 * @since 0.2.0
 */
export * as Keyed from "./Keyed.ts"
/**
 * @since 0.1.0
 */
export * as Metrics from "./Metrics.ts"
/**
 * @since 0.1.0
 */
export * as OffsetTracker from "./OffsetTracker.ts"
/**
 * @since 0.3.0
 */
export * as Ownership from "./Ownership.ts"
/**
 * @since 0.1.0
 */
export * as Pipeline from "./Pipeline.ts"
/**
 * @since 0.1.0
 */
export * as Policy from "./Policy.ts"
/**
 * @since 0.1.0
 */
export * as PolicyError from "./PolicyError.ts"
/**
 * @since 0.1.0
 */
export * as Receipt from "./Receipt.ts"
/**
 * @since 0.2.0
 */
export * as Repartition from "./Repartition.ts"
/**
 * @since 0.2.0
 */
export * as StateError from "./StateError.ts"
/**
 * @since 0.2.0
 */
export * as StateStore from "./StateStore.ts"
/**
 * @since 0.2.0
 */
export * as TopologyError from "./TopologyError.ts"
/**
 * @since 0.2.0
 */
export * as Watermark from "./Watermark.ts"
/**
 * @since 0.2.0
 */
export * as Window from "./Window.ts"
