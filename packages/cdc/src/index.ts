/**
 * @since 0.1.0
 */
export * as Capture from "./Capture.ts"
/**
 * @since 0.1.0
 */
export * as CdcError from "./CdcError.ts"
/**
 * @since 0.1.0
 */
export * as ChangeEvent from "./ChangeEvent.ts"
/**
 * @since 0.1.0
 */
export * as ConnectSchema from "./ConnectSchema.ts"
/**
 * @since 0.1.0
 */
export * as Debezium from "./Debezium.ts"
/**
 * @since 0.1.0
 */
export * as Decimal from "./Decimal.ts"
/**
 * @since 0.1.0
 */
export * as Json from "./Json.ts"
/**
 * @since 0.1.0
 */
export * as Lsn from "./Lsn.ts"
/**
 * @since 0.1.0
 */
export * as Temporal from "./Temporal.ts"
