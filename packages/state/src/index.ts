/**
 * @since 0.1.0
 */
export * as DurableStateStore from "./DurableStateStore.ts"
/**
 * @since 0.1.0
 */
export * as StateMetrics from "./StateMetrics.ts"
