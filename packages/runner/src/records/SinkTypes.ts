/**
 * The error and service types of a record of sinks, so a job can take sinks
 * that fail differently (a Kafka topic, a file, a test sink) and report the
 * union of their errors.
 *
 * @since 0.1.0
 */
import type { Sink } from "effect"

/**
 * The error type of a sink.
 *
 * @since 0.1.0
 * @category models
 */
export type SinkError<S> = S extends Sink.Sink<infer _A, infer _In, infer _L, infer E, infer _R> ? E : never

/**
 * The services a sink needs.
 *
 * @since 0.1.0
 * @category models
 */
export type SinkServices<S> = S extends Sink.Sink<infer _A, infer _In, infer _L, infer _E, infer R> ? R : never
