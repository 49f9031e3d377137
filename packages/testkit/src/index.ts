/**
 * @since 0.1.0
 */
export * as FaultProxy from "./FaultProxy.ts"
/**
 * @since 0.1.0
 */
export * as FaultProxyError from "./FaultProxyError.ts"
