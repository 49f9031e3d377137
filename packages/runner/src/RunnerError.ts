/**
 * The one error class of the runner. Its `reason` says what went wrong: a
 * configuration value that does not parse, or an input record that is not a
 * payment event. Configuration errors carry a user-facing message that the
 * CLI prints on its own, without a stack trace.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { CliError } from "effect/cli"

/**
 * One setting whose value was rejected, named by its environment variable or flag.
 *
 * @since 0.1.0
 * @category models
 */
export class InvalidSetting extends Schema.Class<InvalidSetting>("InvalidSetting")({
  name: Schema.String,
  value: Schema.String,
  expected: Schema.String
}) {}

/**
 * Configuration values (environment variables or flags) that could not be used.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidConfig extends Schema.TaggedClass<InvalidConfig>()("InvalidConfig", {
  settings: Schema.Array(InvalidSetting)
}) {}

/**
 * An input record that is not a valid payment event. `kind` is stable and
 * short, fit for a dead-letter reason header; `detail` is for people.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidEvent extends Schema.TaggedClass<InvalidEvent>()("InvalidEvent", {
  kind: Schema.Literals(["too-large", "invalid-utf8", "invalid-json", "invalid-fields"]),
  detail: Schema.String
}) {}

/**
 * Why a runner operation failed.
 *
 * @since 0.1.0
 * @category errors
 */
export type RunnerErrorReason = InvalidConfig | InvalidEvent

const describe = (reason: RunnerErrorReason): string => {
  switch (reason._tag) {
    case "InvalidConfig":
      return reason.settings
        .map((s) => `Invalid value for ${s.name}: ${JSON.stringify(s.value)} (expected ${s.expected})`)
        .join("\n")
    case "InvalidEvent":
      return `invalid payment event (${reason.kind}): ${reason.detail}`
  }
}

/**
 * The error type of the runner package.
 *
 * @since 0.1.0
 * @category errors
 */
export class RunnerError extends Schema.TaggedError<RunnerError>()("RunnerError", {
  reason: Schema.Union([InvalidConfig, InvalidEvent])
}) {
  override get message(): string {
    return describe(this.reason)
  }

  /** Read by the CLI: the message is printed as is, and the process exits with 1. */
  override get [CliError.userMessage](): string {
    return describe(this.reason)
  }

  /** Neither a bad setting nor a malformed record gets better by trying again. */
  get isRetryable(): boolean {
    return false
  }
}
