/**
 * @since 0.1.0
 */
export * as Admin from "./Admin.ts"
/**
 * @since 0.1.0
 */
export * as AvroSerde from "./AvroSerde.ts"
/**
 * @since 0.1.0
 */
export * as ConfluentWire from "./ConfluentWire.ts"
/**
 * @since 0.1.0
 */
export * as JsonSchemaSerde from "./JsonSchemaSerde.ts"
/**
 * @since 0.1.0
 */
export * as KafkaClient from "./KafkaClient.ts"
/**
 * @since 0.1.0
 */
export * as KafkaError from "./KafkaError.ts"
/**
 * @since 0.1.0
 */
export * as KafkaLike from "./KafkaLike.ts"
/**
 * @since 0.1.0
 */
export * as KafkaSink from "./KafkaSink.ts"
/**
 * @since 0.1.0
 */
export * as KafkaSource from "./KafkaSource.ts"
/**
 * @since 0.1.0
 */
export * as MemberTransactions from "./MemberTransactions.ts"
/**
 * @since 0.1.0
 */
export * as SchemaRegistry from "./SchemaRegistry.ts"
/**
 * @since 0.1.0
 */
export * as Serde from "./Serde.ts"
/**
 * @since 0.1.0
 */
export * as SerdePipeline from "./SerdePipeline.ts"
/**
 * @since 0.1.0
 */
export * as TransactionalSink from "./TransactionalSink.ts"
/**
 * @since 0.1.0
 */
export * as Transactions from "./Transactions.ts"
