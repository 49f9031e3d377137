/**
 * The typed failure of a job whose shape cannot work, found when it starts:
 * for now, two streams joined by key that are not co-partitioned.
 *
 * @since 0.2.0
 */
import { Schema } from "effect"

/**
 * A job's topology is invalid.
 *
 * @since 0.2.0
 * @category errors
 */
export class TopologyError extends Schema.TaggedError<TopologyError>()("TopologyError", {
  reason: Schema.Literals(["NotCoPartitioned"]),
  detail: Schema.String
}) {
  override get message(): string {
    return `${this.reason}: ${this.detail}`
  }

  /** Fixing a topology takes a change to the job or its topics, not a retry. */
  get isRetryable(): boolean {
    return false
  }
}
