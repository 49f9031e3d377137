/**
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as DuckDbLookup from "./DuckDbLookup.ts"
/**
 * @since 0.1.0
 */
export * as HttpLookup from "./HttpLookup.ts"
/**
 * @since 0.1.0
 */
export * as Lookup from "./Lookup.ts"
/**
 * @since 0.1.0
 */
export * as LookupCache from "./LookupCache.ts"
/**
 * @since 0.1.0
 */
export * as LookupError from "./LookupError.ts"
/**
 * @since 0.1.0
 */
export * as LookupMetrics from "./LookupMetrics.ts"
/**
 * @since 0.1.0
 */
export * as PgLookup from "./PgLookup.ts"
/**
 * @since 0.1.0
 */
export * as RowDecoder from "./RowDecoder.ts"
