// Acknowledges the receipts of records whose effect is only on state once
// the flushes covering them complete, off the processing path: a stateful
// operator starts its stores' flushes (`flushAsync`), hands the waits and
// the receipts here and goes on with the next chunk, so a durable store's
// changelog round trip overlaps processing instead of stalling it.
//
// Receipts are acknowledged in the order their flushes were handed in, and
// never before every wait of theirs succeeded (at-least-once: an offset is
// committed only after the changelog writes of the records it covers). After
// a failed wait nothing is acknowledged any more and the operator fails with
// that error at its next chunk (or at the end of its input).
import { Deferred, Effect, Queue, type Scope } from "effect"
import * as Receipt from "../Receipt.ts"
import type { StateError } from "../StateError.ts"
import * as StateStore from "../StateStore.ts"

type Item =
  | {
      readonly _tag: "Acks"
      readonly waits: ReadonlyArray<Effect.Effect<void, StateError>>
      readonly receipts: ReadonlyArray<Receipt.Receipt>
    }
  | { readonly _tag: "Drain"; readonly done: Deferred.Deferred<void> }

export interface DurableAcks {
  /** Starts the flushes of `stores` for `partitions` and acknowledges `receipts` once they all succeed. */
  readonly flushThenAck: (
    stores: ReadonlyArray<Pick<StateStore.Store<unknown>, "flush" | "flushAsync">>,
    partitions: ReadonlySet<number>,
    receipts: ReadonlyArray<Receipt.Receipt>
  ) => Effect.Effect<void, StateError>
  /** Waits until every receipt handed in so far is acknowledged; fails if a flush failed. */
  readonly drain: Effect.Effect<void, StateError>
}

/**
 * At most `depth` chunks wait for their flushes at once: past that, the
 * operator waits for the oldest (backpressure, and a bound on the records
 * whose receipts are held).
 */
export const make = (depth = 16): Effect.Effect<DurableAcks, never, Scope.Scope> =>
  Effect.gen(function* () {
    const queue = yield* Queue.bounded<Item>(depth)
    let failure: StateError | undefined
    const failed = Effect.suspend(() => (failure === undefined ? Effect.void : Effect.fail(failure)))

    yield* Effect.forkScoped(
      Effect.forever(
        Effect.flatMap(Queue.take(queue), (item) => {
          if (item._tag === "Drain") return Deferred.succeed(item.done, undefined)
          if (failure !== undefined) return Effect.void
          return Effect.forEach(item.waits, (wait) => wait, { discard: true }).pipe(
            Effect.andThen(Receipt.ackAll(item.receipts)),
            Effect.catch((error) =>
              Effect.sync(() => {
                failure = error
              })
            )
          )
        })
      )
    )

    return {
      flushThenAck: (stores, partitions, receipts) =>
        Effect.gen(function* () {
          yield* failed
          if (partitions.size === 0 && receipts.length === 0) return
          const waits: Array<Effect.Effect<void, StateError>> = []
          for (const store of stores) waits.push(yield* StateStore.flushAsync(store, partitions))
          yield* Queue.offer(queue, { _tag: "Acks", waits, receipts })
        }),
      drain: Effect.gen(function* () {
        const done = yield* Deferred.make<void>()
        yield* Queue.offer(queue, { _tag: "Drain", done })
        yield* Deferred.await(done)
        yield* failed
      })
    }
  })
