/**
 * The one error type of the test kit. `reason` says which part failed:
 * binding the listening socket, opening or replaying the data directory, or a
 * topic operation requested through the helpers.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * What went wrong.
 *
 * @since 0.1.0
 * @category models
 */
export const Reason = Schema.Literals(["Listen", "Storage", "Topic"])

/**
 * A test kit failure.
 *
 * @since 0.1.0
 * @category errors
 */
export class TestkitError extends Schema.TaggedError<TestkitError>()("TestkitError", {
  reason: Reason,
  message: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {
  /** Listening can succeed on another try (port in use); the rest is deterministic. */
  get isRetryable(): boolean {
    return this.reason === "Listen"
  }
}
