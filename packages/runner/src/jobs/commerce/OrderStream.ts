/**
 * The first stage every commerce job over `orders` shares: decode each record
 * as a Debezium change event, send what does not decode, or cannot be
 * counted (`OrderDelta.fromRecord`), to the dead-letter sink, and hand on the
 * order's contributions, one envelope each. The record is done once all of
 * its contributions are, and at once when it has none (a tombstone).
 *
 * @since 0.3.0
 */

import { CdcError } from "@sluice/cdc"
import * as DeadLetter from "@sluice/core/DeadLetter"
import * as Envelope from "@sluice/core/Envelope"
import * as Pipeline from "@sluice/core/Pipeline"
import * as Receipt from "@sluice/core/Receipt"
import { Array as Arr, type Cause, Effect, Result, type Sink, Stream } from "effect"
import * as Model from "./Model.ts"
import * as OrderDecode from "./OrderDecode.ts"
import * as OrderDelta from "./OrderDelta.ts"

const decodeOne = (
  e: Envelope.Envelope<Envelope.Payload>
): Effect.Effect<Result.Result<ReadonlyArray<OrderDelta.OrderDelta>, DeadLetter.DeadLetter>> =>
  Model.orders.decode(e.value).pipe(
    Effect.map((record) =>
      Result.mapError(OrderDelta.fromRecord(record), (detail) =>
        DeadLetter.make(e.origin, e.value, "uncountable", detail)
      )
    ),
    Effect.catch((error: CdcError.CdcError) =>
      Effect.succeed(Result.fail(CdcError.toDeadLetter(error, e.origin, e.value)))
    )
  )

/**
 * The values `decode` makes of each record (none, one or several), with the
 * records it refuses sent to `deadLetters`; shared by the jobs over other
 * tables (the inventory's `products` and `order_items`).
 *
 * @since 0.3.0
 * @category combinators
 */
export const decodeEach =
  <A>(
    decode: (
      e: Envelope.Envelope<Envelope.Payload>
    ) => Effect.Effect<Result.Result<ReadonlyArray<A>, DeadLetter.DeadLetter>>
  ) =>
  <E2, R2>(deadLetters: Sink.Sink<unknown, Envelope.Envelope<DeadLetter.DeadLetter>, unknown, E2, R2>) =>
  <E, R>(
    records: Stream.Stream<Envelope.Envelope<Envelope.Payload>, E, R>
  ): Stream.Stream<Envelope.Envelope<A>, E | E2, R | R2> => {
    const decoded = Stream.mapEffect(records, (e) =>
      Effect.map(decode(e), (value) => Envelope.make(e.origin, value, e.receipt))
    )
    const valid: Stream.Stream<Envelope.Envelope<ReadonlyArray<A>>, E | E2, R | R2> = Pipeline.deadLetters(deadLetters)(
      decoded
    )
    return Stream.flatMap(valid, (e) => {
      if (e.value.length === 0) return Stream.fromEffectDrain(e.receipt.ack)
      const receipts = Receipt.children(e.receipt, e.value.length)
      return Stream.fromIterable(e.value.map((value, i) => Envelope.make(e.origin, value, receipts[i]!)))
    })
  }

/**
 * `decodeEach`, keeping the source's chunks: `Stream.mapEffect` and
 * `Stream.flatMap` hand on one record per chunk, and the operators and sinks
 * downstream work per chunk (one upsert transaction, one state flush each),
 * so with them every record paid for a whole transaction. The orders' jobs
 * use this one; the inventory keeps `decodeEach` (its restart test has not
 * been checked with chunks of several records).
 *
 * @since 0.3.0
 * @category combinators
 */
export const decodeChunks =
  <A>(
    decode: (
      e: Envelope.Envelope<Envelope.Payload>
    ) => Effect.Effect<Result.Result<ReadonlyArray<A>, DeadLetter.DeadLetter>>,
    fast?: (value: Envelope.Payload) => ReadonlyArray<A> | undefined
  ) =>
  <E2, R2>(deadLetters: Sink.Sink<unknown, Envelope.Envelope<DeadLetter.DeadLetter>, unknown, E2, R2>) =>
  <E, R>(
    records: Stream.Stream<Envelope.Envelope<Envelope.Payload>, E, R>
  ): Stream.Stream<Envelope.Envelope<A>, E | E2, R | R2> => {
    type Decoded = Envelope.Envelope<Result.Result<ReadonlyArray<A>, DeadLetter.DeadLetter>>
    const slow = (e: Envelope.Envelope<Envelope.Payload>) =>
      Effect.map(decode(e), (value): Decoded => Envelope.make(e.origin, value, e.receipt))
    const decoded = Stream.mapArrayEffect(records, (chunk) => {
      // The records `fast` reads need no effect; an effect runs only for the others.
      const out: Array<Decoded | undefined> = []
      let pending: Array<number> | undefined
      for (let i = 0; i < chunk.length; i++) {
        const e = chunk[i]!
        const value = fast?.(e.value)
        if (value === undefined) {
          pending ??= []
          pending.push(i)
          out.push(undefined)
        } else out.push(Envelope.make(e.origin, Result.succeed(value), e.receipt))
      }
      const complete = (): Effect.Effect<Arr.NonEmptyReadonlyArray<Decoded>> => {
        const done = out as Array<Decoded>
        // One output per record of a non-empty chunk: never empty.
        return Arr.isReadonlyArrayNonEmpty(done) ? Effect.succeed(done) : Effect.die(new Error("empty decoded chunk"))
      }
      if (pending === undefined) return complete()
      const at = pending
      return Effect.flatMap(
        Effect.forEach(at, (i) => slow(chunk[i]!)),
        (values) => {
          for (let j = 0; j < at.length; j++) out[at[j]!] = values[j]!
          return complete()
        }
      )
    })
    const valid: Stream.Stream<Envelope.Envelope<ReadonlyArray<A>>, E | E2, R | R2> = Pipeline.deadLetters(deadLetters)(
      decoded
    )
    const expand = (chunk: Arr.NonEmptyReadonlyArray<Envelope.Envelope<ReadonlyArray<A>>>) =>
      Effect.gen(function* () {
        const out: Array<Envelope.Envelope<A>> = []
        for (const e of chunk) {
          // A record without contributions (a tombstone) is done at once.
          if (e.value.length === 0) {
            yield* e.receipt.ack
            continue
          }
          const receipts = Receipt.children(e.receipt, e.value.length)
          for (let i = 0; i < e.value.length; i++) out.push(Envelope.make(e.origin, e.value[i]!, receipts[i]!))
        }
        return out
      })
    // A chunk of tombstones only gives nothing: pull the next one rather than hand on an empty chunk.
    return Stream.transformPull(valid, (pull) => {
      const loop = (
        chunk: Arr.NonEmptyReadonlyArray<Envelope.Envelope<ReadonlyArray<A>>>
      ): Effect.Effect<Arr.NonEmptyReadonlyArray<Envelope.Envelope<A>>, E | E2 | Cause.Done> =>
        Effect.flatMap(expand(chunk), (out) =>
          Arr.isReadonlyArrayNonEmpty(out) ? Effect.succeed(out) : Effect.flatMap(pull, loop)
        )
      return Effect.succeed(Effect.flatMap(pull, loop))
    })
  }

/**
 * The contributions of the `orders` records; dead letters go to `deadLetters`.
 *
 * @since 0.3.0
 * @category combinators
 */
export const deltas = decodeChunks(decodeOne, OrderDecode.deltas)
