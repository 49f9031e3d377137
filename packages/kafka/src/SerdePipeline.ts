/**
 * Pipeline steps over a `Serde`, for serdes whose decoding is effectful
 * (the schema-registry ones fetch a writer's schema the first time they see
 * its id). `decode(serde)` is the counterpart of core's `Pipeline.decode`: a
 * record the serde cannot read becomes a `DeadLetter` of kind `"decode"`
 * whose reason is the serde's one-line detail (unknown magic byte, unknown
 * schema id, payload not matching its schema...), and the stream goes on;
 * send them on with `Pipeline.deadLetters`. Any other failure, such as a
 * registry that cannot be reached, fails the stream with its `KafkaError`,
 * because dead-lettering readable records would lose them.
 *
 * @since 0.1.0
 */
import { DeadLetter, Envelope } from "@sluice/core"
import { Effect, Result, Stream } from "effect"
import type * as KafkaError from "./KafkaError.ts"
import type { Serde } from "./Serde.ts"

const utf8 = new TextEncoder()

/**
 * Decodes each record value with `serde`, keeping the order of the records.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decode =
  <A>(serde: Serde<A>) =>
  <E, R>(
    self: Stream.Stream<Envelope.Envelope<Envelope.Payload>, E, R>
  ): Stream.Stream<Envelope.Envelope<Result.Result<A, DeadLetter.DeadLetter>>, E | KafkaError.KafkaError, R> =>
    Stream.mapEffect(self, (e) => {
      const bytes = typeof e.value === "string" ? utf8.encode(e.value) : e.value
      return serde.decode(bytes).pipe(
        Effect.map((value): Result.Result<A, DeadLetter.DeadLetter> => Result.succeed(value)),
        Effect.catchIf(
          (error) => error.reason._tag === "Decode",
          (error) =>
            Effect.succeed(
              Result.fail(
                DeadLetter.make(
                  e.origin,
                  e.value,
                  "decode",
                  error.reason._tag === "Decode" ? error.reason.detail : error.message
                )
              )
            )
        ),
        Effect.map((value) => Envelope.make(e.origin, value, e.receipt))
      )
    })
