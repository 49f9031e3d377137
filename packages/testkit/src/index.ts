/**
 * @since 0.1.0
 */
export * as EmbeddedKafka from "./EmbeddedKafka.ts"
/**
 * @since 0.1.0
 */
export * as FaultProxy from "./FaultProxy.ts"
/**
 * @since 0.1.0
 */
export * as FaultProxyError from "./FaultProxyError.ts"
/**
 * @since 0.1.0
 */
export * as SchemaRegistry from "./SchemaRegistry.ts"
/**
 * @since 0.1.0
 */
export * as TestkitError from "./TestkitError.ts"
