// Stream helpers shared by the stateful operators.
import { Array as Arr, Effect, Stream } from "effect"
import type * as Cause from "effect/Cause"

// Maps each chunk to zero or more elements, pulling again on an empty result.
export const mapChunks = <A, E, R, B, E2, R2>(
  self: Stream.Stream<A, E, R>,
  f: (chunk: Arr.NonEmptyReadonlyArray<A>) => Effect.Effect<ReadonlyArray<B>, E2, R2>
): Stream.Stream<B, E | E2, R | R2> =>
  Stream.transformPull(self, (pull) => {
    const loop = (
      chunk: Arr.NonEmptyReadonlyArray<A>
    ): Effect.Effect<Arr.NonEmptyReadonlyArray<B>, E | E2 | Cause.Done, R2> =>
      Effect.flatMap(f(chunk), (out) =>
        Arr.isReadonlyArrayNonEmpty(out) ? Effect.succeed(out) : Effect.flatMap(pull, loop)
      )
    return Effect.succeed(Effect.flatMap(pull, loop))
  })
