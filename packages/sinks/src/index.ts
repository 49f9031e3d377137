/**
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as DynamoDbSink from "./DynamoDbSink.ts"
/**
 * @since 0.1.0
 */
export * as DynamoLike from "./DynamoLike.ts"
export * as PgLike from "./PgLike.ts"
/**
 * @since 0.1.0
 */
export * as PgUpsertSink from "./PgUpsertSink.ts"
/**
 * @since 0.1.0
 */
export * as SinkError from "./SinkError.ts"
/**
 * @since 0.1.0
 */
export * as WebhookSink from "./WebhookSink.ts"
