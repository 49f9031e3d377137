/**
 * Structured logging for the runner. In a terminal, log lines are pretty and
 * coloured for people; anywhere else (containers, pipes, files) each line is
 * one JSON object for log collectors. Job code adds context with the
 * annotation helpers below rather than by formatting it into messages, so
 * `job`, `topic`, `partition` and `payment_id` are fields a collector can
 * filter on.
 *
 * @since 0.1.0
 */
import { Effect, Layer, Logger } from "effect"

/**
 * Log line format: `json` (one object per line) or `pretty`.
 *
 * @since 0.1.0
 * @category models
 */
export type Format = "json" | "pretty"

/**
 * The format for an output stream: pretty on a terminal, JSON elsewhere.
 *
 * @since 0.1.0
 * @category constructors
 */
export const formatFor = (stream: { readonly isTTY?: boolean | undefined }): Format =>
  stream.isTTY === true ? "pretty" : "json"

/**
 * A layer that replaces the default logger with the given format.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (format: Format): Layer.Layer<never> =>
  Logger.layer([format === "json" ? Logger.consoleJson : Logger.consolePretty()])

/**
 * The logger for this process: pretty when stdout is a terminal, JSON otherwise.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerAuto: Layer.Layer<never> = Layer.unwrap(Effect.sync(() => layer(formatFor(process.stdout))))

/**
 * Annotates the logs of an effect with the job it belongs to.
 *
 * @since 0.1.0
 * @category annotations
 */
export const withJob: (job: string) => <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R> = (job) =>
  Effect.annotateLogs({ job })

/**
 * Annotates the logs of an effect with the record it is working on.
 *
 * @since 0.1.0
 * @category annotations
 */
export const withRecord = (record: {
  readonly topic: string
  readonly partition: number
  readonly offset?: bigint | undefined
  readonly paymentId?: string | undefined
}): (<A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>) => {
  const annotations: Record<string, unknown> = { topic: record.topic, partition: record.partition }
  if (record.offset !== undefined) annotations.offset = record.offset.toString()
  if (record.paymentId !== undefined) annotations.payment_id = record.paymentId
  return Effect.annotateLogs(annotations)
}
