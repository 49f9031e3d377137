/**
 * Partition ownership events, from a source to the stateful operators
 * downstream of it. A consumer group moves partitions between instances; an
 * operator that keeps state per input partition must give a partition up
 * when its source loses it (flush, hand it back to the store, drop what it
 * holds in memory), so that, should the partition come back after another
 * instance owned it, it is restored from the store (the changelog tail the
 * other owner wrote) instead of resuming from stale memory.
 *
 * The source announces revocations (`revoke`, e.g. wired to
 * `KafkaSource.Options.onRevoke`) and waits until every subscribed operator
 * has given the partitions up; operators subscribe while their stream runs.
 * The service is optional: an operator without it in context keeps its
 * partitions for as long as it runs, as before.
 *
 * ```ts
 * const ownership = yield* Ownership.make
 * const records = yield* KafkaSource.make(client, { topics, groupId, onRevoke: ownership.revoke })
 * yield* records.pipe(Keyed.process(options), Stream.runDrain, Effect.provideService(Ownership.Ownership, ownership))
 * ```
 *
 * @since 0.3.0
 */
import { Context, Effect, Layer, type Scope } from "effect"
import type { TopicPartition } from "./OffsetTracker.ts"

/**
 * Told the partitions a source lost; returns once it no longer holds them.
 *
 * @since 0.3.0
 * @category models
 */
export type Listener = (revoked: ReadonlyArray<TopicPartition>) => Effect.Effect<void>

/**
 * @since 0.3.0
 * @category services
 */
export class Ownership extends Context.Service<
  Ownership,
  {
    /** Subscribes `listener` for as long as the scope lives. */
    readonly subscribe: (listener: Listener) => Effect.Effect<void, never, Scope.Scope>
    /** Tells every listener, and waits for all of them. */
    readonly revoke: (revoked: ReadonlyArray<TopicPartition>) => Effect.Effect<void>
  }
>()("@sluice/core/Ownership") {}

/**
 * A new hub with no listener.
 *
 * @since 0.3.0
 * @category constructors
 */
export const make: Effect.Effect<Ownership["Service"]> = Effect.sync(() => {
  const listeners = new Set<Listener>()
  return {
    subscribe: (listener) =>
      Effect.acquireRelease(
        Effect.sync(() => {
          listeners.add(listener)
        }),
        () =>
          Effect.sync(() => {
            listeners.delete(listener)
          })
      ),
    revoke: (revoked) =>
      revoked.length === 0
        ? Effect.void
        : Effect.forEach([...listeners], (listener) => listener(revoked), {
            concurrency: "unbounded",
            discard: true
          })
  }
})

/**
 * @since 0.3.0
 * @category layers
 */
export const layer: Layer.Layer<Ownership> = Layer.effect(Ownership, make)
