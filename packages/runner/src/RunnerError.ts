/**
 * The one error class of the runner. Its `reason` says what went wrong: a
 * configuration value that does not parse, an input record that is not what
 * the job reads, or a start-up check that failed (a port in use, Kafka or the
 * database unreachable). Configuration and start-up errors carry a
 * user-facing message that the CLI prints on its own, one line, without a
 * stack trace.
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
/**
 * A start-up check that failed before the job created or consumed anything:
 * what could not be reached or bound, and the settings that decide it.
 *
 * @since 0.1.0
 * @category models
 */
export class Startup extends Schema.TaggedClass<Startup>()("Startup", {
  /** What failed, e.g. "port 9100 is already in use". */
  detail: Schema.String,
  /** The variables and flags to check, e.g. "METRICS_PORT or --metrics-port". */
  settings: Schema.String
}) {}

export type RunnerErrorReason = InvalidConfig | InvalidEvent | Startup

const describe = (reason: RunnerErrorReason): string => {
  switch (reason._tag) {
    case "InvalidConfig":
      return reason.settings
        .map((s) => `Invalid value for ${s.name}: ${JSON.stringify(s.value)} (expected ${s.expected})`)
        .join("\n")
    case "InvalidEvent":
      return `invalid payment event (${reason.kind}): ${reason.detail}`
    case "Startup":
      return `error: ${reason.detail} (check ${reason.settings})`
  }
}

/**
 * The error type of the runner package.
 *
 * @since 0.1.0
 * @category errors
 */
export class RunnerError extends Schema.TaggedError<RunnerError>()("RunnerError", {
  reason: Schema.Union([InvalidConfig, InvalidEvent, Startup])
}) {
  override get message(): string {
    return describe(this.reason)
  }

  /** Read by the CLI: the message is printed as is, and the process exits with 1. */
  override get [CliError.userMessage](): string {
    return describe(this.reason)
  }

  /** Neither a bad setting, a malformed record nor a failed start gets better by trying again here. */
  get isRetryable(): boolean {
    return false
  }
}
