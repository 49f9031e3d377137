/**
 * @since 0.1.0
 */
export * as Admin from "./Admin.ts"
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
export * as Serde from "./Serde.ts"
