/**
 * A `Receipt` is the acknowledgement handle an envelope carries: acking it
 * tells the source that the record's outputs are durable. A source hands out
 * one receipt per record (typically `OffsetTracker.done` for its offset);
 * combinators that fan a record out into several outputs `split` it, and those
 * that drop a record ack it at once, so that an offset is done only when every
 * output derived from it has been acknowledged.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import * as AckBatch from "./internal/ackBatch.ts"

/**
 * The acknowledgement handle of one record or output.
 *
 * @since 0.1.0
 * @category models
 */
export interface Receipt {
  /** Acknowledges this receipt. Acking more than once has no further effect. */
  readonly ack: Effect.Effect<void>
  /**
   * Acknowledges this receipt as plain code, present only on receipts whose
   * acknowledgement runs no effect. `ackAll` uses it so that a sink
   * acknowledging a chunk does not run one effect per record.
   */
  ackUnsafe?(): void
}

/**
 * A receipt that runs `onAck` the first time it is acknowledged.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (onAck: Effect.Effect<void>): Receipt => {
  let acked = false
  return {
    ack: Effect.suspend(() => {
      if (acked) return Effect.void
      acked = true
      return onAck
    })
  }
}

/**
 * A receipt with nothing behind it, for values that do not come from a source.
 *
 * @since 0.1.0
 * @category constructors
 */
export const none: Receipt = { ack: Effect.void, ackUnsafe() {} }

// One object per receipt; the effect is built only if someone asks for `ack`.
class UnsafeReceipt implements Receipt {
  private acked = false
  private readonly onAck: () => void
  constructor(onAck: () => void) {
    this.onAck = onAck
  }
  get ack(): Effect.Effect<void> {
    return Effect.sync(() => this.ackUnsafe())
  }
  ackUnsafe(): void {
    if (this.acked) return
    this.acked = true
    this.onAck()
  }
}

/**
 * A receipt that runs plain code the first time it is acknowledged; it can
 * be acknowledged without running an effect (see `ackAll`). `onAck` must not
 * throw.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeUnsafe = (onAck: () => void): Receipt => new UnsafeReceipt(onAck)

/**
 * Acknowledges every receipt: those that can be acknowledged as plain code
 * at once, in one step, and the others by running their `ack`.
 *
 * The plain-code receipts of one call are acknowledged as one batch: receipts
 * that count or time what they acknowledge (an `OffsetTracker`'s, the
 * outputs of `Pipeline.runRouted`) update their metrics once per call rather
 * than once per record.
 *
 * @since 0.1.0
 * @category combinators
 */
export const ackAll = (receipts: Iterable<Receipt>): Effect.Effect<void> =>
  Effect.suspend(() => {
    const effects: Array<Effect.Effect<void>> = []
    AckBatch.run(() => {
      for (const receipt of receipts) {
        if (receipt.ackUnsafe !== undefined) receipt.ackUnsafe()
        else effects.push(receipt.ack)
      }
    })
    return effects.length === 0 ? Effect.void : Effect.all(effects, { discard: true })
  })

/**
 * Splits a receipt into `n` receipts; the parent is acknowledged when all of
 * them are. With `n = 0` the parent is acknowledged at once.
 *
 * @since 0.1.0
 * @category combinators
 */
export const split = (parent: Receipt, n: number): Effect.Effect<ReadonlyArray<Receipt>> =>
  Effect.suspend(() => {
    if (n <= 0) return Effect.as(parent.ack, [])
    return Effect.succeed(children(parent, n))
  })

/**
 * The `n >= 1` receipts of `split`, made without running anything, for
 * combinators that split many receipts at once.
 *
 * @since 0.1.0
 * @category combinators
 */
export const children = (parent: Receipt, n: number): ReadonlyArray<Receipt> => {
  if (n === 1) return [parent]
  let remaining = n
  if (parent.ackUnsafe !== undefined) {
    const last = () => {
      if (--remaining === 0) parent.ackUnsafe!()
    }
    return Array.from({ length: n }, () => makeUnsafe(last))
  }
  const child = () => make(Effect.suspend(() => (--remaining === 0 ? parent.ack : Effect.void)))
  return Array.from({ length: n }, child)
}

/**
 * A receipt that runs `effect` after `self` is acknowledged (once).
 *
 * @since 0.1.0
 * @category combinators
 */
export const onAck = (self: Receipt, effect: Effect.Effect<void>): Receipt => make(Effect.andThen(self.ack, effect))

/**
 * A receipt that runs plain code after `self` is acknowledged (once). It can
 * be acknowledged without running an effect when `self` can. `f` must not
 * throw.
 *
 * @since 0.1.0
 * @category combinators
 */
export const onAckUnsafe = (self: Receipt, f: () => void): Receipt =>
  self.ackUnsafe === undefined
    ? make(Effect.andThen(self.ack, Effect.sync(f)))
    : makeUnsafe(() => {
        self.ackUnsafe!()
        f()
      })
