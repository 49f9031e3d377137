// The partitions a stateful operator's source lost, as items merged into the
// operator's input: the operator gives them up between two records, in its
// own fiber (never concurrently with a chunk it is processing), and
// completes `done`, which the source waits for before it consumes the
// partition again.
import { Deferred, Effect, Option, Queue, type Scope, Stream } from "effect"
import type { TopicPartition } from "../OffsetTracker.ts"
import * as Ownership from "../Ownership.ts"

export interface Revoke {
  readonly _tag: "Revoke"
  readonly partitions: ReadonlyArray<number>
  readonly done: Deferred.Deferred<void>
}

export const isRevoke = (item: unknown): item is Revoke =>
  typeof item === "object" && item !== null && (item as { readonly _tag?: unknown })._tag === "Revoke"

/**
 * Subscribes to the `Ownership` hub in context, if any, for the revocations
 * of partitions `owns` says the operator holds; returns them as a stream to
 * merge into the operator's input, or `undefined` without a hub.
 */
export const subscribe = (
  owns: (tp: TopicPartition) => boolean
): Effect.Effect<Stream.Stream<Revoke> | undefined, never, Scope.Scope> =>
  Effect.gen(function* () {
    const ownership = yield* Effect.serviceOption(Ownership.Ownership)
    if (Option.isNone(ownership)) return undefined
    const queue = yield* Queue.unbounded<Revoke>()
    yield* ownership.value.subscribe((revoked) =>
      Effect.suspend(() => {
        const partitions = [...new Set(revoked.filter(owns).map((tp) => tp.partition))]
        if (partitions.length === 0) return Effect.void
        const done = Deferred.makeUnsafe<void>()
        return Effect.andThen(Queue.offer(queue, { _tag: "Revoke", partitions, done }), Deferred.await(done))
      })
    )
    return Stream.fromQueue(queue)
  })
