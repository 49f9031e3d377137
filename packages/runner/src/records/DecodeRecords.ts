/**
 * Decoding of record values with the runner's own decoders, which tell invalid
 * UTF-8, invalid JSON and invalid fields apart; each failure becomes a dead
 * letter whose kind is that distinction, so the dead-letter metric and the
 * `x-sluice-dlq-kind` header say which one happened.
 *
 * @since 0.1.0
 */
import * as DeadLetter from "@sluice/core/DeadLetter"
import * as Envelope from "@sluice/core/Envelope"
import { Result, Stream } from "effect"
import type { RunnerError } from "../RunnerError.ts"

const utf8 = new TextEncoder()

/**
 * Decodes each record value with `decode`; a failure becomes a dead letter whose kind says which check failed.
 *
 * @since 0.1.0
 * @category combinators
 */
export const decodeRecords =
  <A>(decode: (bytes: Uint8Array) => Result.Result<A, RunnerError>) =>
  <E, R>(
    self: Stream.Stream<Envelope.Envelope<Envelope.Payload>, E, R>
  ): Stream.Stream<Envelope.Envelope<Result.Result<A, DeadLetter.DeadLetter>>, E, R> =>
    Stream.map(self, (e) => Envelope.make(e.origin, decodeOne(decode, e.origin, e.value), e.receipt))

/**
 * Decodes one record value as `decodeRecords` does, for a stage that decodes a chunk in a loop.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeOne = <A>(
  decode: (bytes: Uint8Array) => Result.Result<A, RunnerError>,
  origin: Envelope.Origin,
  value: Envelope.Payload
): Result.Result<A, DeadLetter.DeadLetter> => {
  if (value === null) return Result.fail(DeadLetter.make(origin, value, "no-value", "the record has no value"))
  const decoded = decode(typeof value === "string" ? utf8.encode(value) : value)
  if (Result.isSuccess(decoded)) return Result.succeed(decoded.success)
  const error = decoded.failure
  const kind = error.reason._tag === "InvalidEvent" ? error.reason.kind : "invalid-fields"
  return Result.fail(DeadLetter.make(origin, value, kind, error.message))
}
