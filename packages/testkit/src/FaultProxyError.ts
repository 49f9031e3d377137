/**
 * The failures of the fault proxy itself (as opposed to the faults it
 * injects): its listening socket could not be opened, either at start or when
 * it reopens on the same port after `Refuse`.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * Why the proxy failed.
 *
 * @since 0.1.0
 * @category errors
 */
export const FaultProxyErrorReason = Schema.Literals(["Listen", "Relisten"])

/**
 * @since 0.1.0
 * @category errors
 */
export type FaultProxyErrorReason = typeof FaultProxyErrorReason.Type

/**
 * The proxy could not listen on `host:port`.
 *
 * @since 0.1.0
 * @category errors
 */
export class FaultProxyError extends Schema.TaggedError<FaultProxyError>()("FaultProxyError", {
  reason: FaultProxyErrorReason,
  host: Schema.String,
  port: Schema.Number,
  cause: Schema.Defect()
}) {
  override get message(): string {
    const detail = this.cause instanceof Error ? `: ${this.cause.message}` : ""
    return this.reason === "Listen"
      ? `fault proxy could not listen on ${this.host}:${this.port}${detail}`
      : `fault proxy could not listen again on ${this.host}:${this.port} after Refuse${detail}`
  }
}
