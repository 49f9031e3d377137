/**
 * The typed failure of a `StateStore`. As with `PolicyError`, there is one
 * error class whose `reason` says what happened, so a durable store and the
 * in-memory one fail the same way and operators can retry on `isRetryable`.
 *
 * @since 0.2.0
 */
import { Schema } from "effect"

/**
 * Why a state operation failed.
 *
 * - `Io`: the local store could not be read or written.
 * - `Codec`: a value could not be encoded to, or decoded from, bytes.
 * - `Changelog`: the changelog write or restore failed.
 * - `Closed`: the store (or the partition) is closed or not assigned.
 *
 * @since 0.2.0
 * @category models
 */
export type Reason = "Io" | "Codec" | "Changelog" | "Closed"

/**
 * The single error type of every `StateStore` operation.
 *
 * @since 0.2.0
 * @category errors
 */
export class StateError extends Schema.TaggedError<StateError>()("StateError", {
  reason: Schema.Literals(["Io", "Codec", "Changelog", "Closed"]),
  store: Schema.String,
  detail: Schema.String,
  cause: Schema.optionalKey(Schema.Defect())
}) {
  override get message(): string {
    return `state store "${this.store}": ${this.reason}: ${this.detail}`
  }

  /** I/O and changelog failures can clear; a codec mismatch or a closed store cannot. */
  get isRetryable(): boolean {
    return this.reason === "Io" || this.reason === "Changelog"
  }
}
