// The windows an input chunk changed, for `emit: "coalesced"`: each window
// comes out once per chunk with its value at the end of the chunk (or just
// before it closes, if the watermark closes it within the chunk), instead of
// once per record. Like Kafka Streams' record cache in front of a KTable,
// this keeps a table written from the results the same while a hopping
// window of 12 panes costs one result per chunk, not 12 per record.
//
// A coalesced result carries the receipts of every record that changed its
// window, so a record is done only once the last result it contributed to is
// acknowledged (at-least-once as with `updates`).

import { Effect } from "effect"
import type * as Envelope from "../Envelope.ts"
import * as Receipt from "../Receipt.ts"

// One record's part in the windows it changed: the record's receipt, acknowledged
// once every one of those windows' results is. One object per record, rather
// than a child receipt (and a closure) per window: a record of a hopping window
// of 12 panes changes 12 windows.
interface Share {
  readonly receipt: Receipt.Receipt
  remaining: number
}

interface Entry<R> {
  // What `compute` makes the result of: the engine's handle on the window.
  ref: unknown
  compute: (ref: never, start: number) => R
  readonly start: number
  readonly closesAt: number
  readonly shares: Array<Share>
  trigger: Envelope.Origin | null
}

// One receipt acknowledging this window's part of each of `shares`.
const all = (shares: ReadonlyArray<Share>): Receipt.Receipt => {
  if (shares.every((s) => s.receipt.ackUnsafe !== undefined)) {
    return Receipt.makeUnsafe(() => {
      for (const s of shares) if (--s.remaining === 0) s.receipt.ackUnsafe!()
    })
  }
  return Receipt.make(
    Effect.forEach(shares, (s) => Effect.suspend(() => (--s.remaining === 0 ? s.receipt.ack : Effect.void)), {
      discard: true
    })
  )
}

export class Changes<R> {
  // slot -> window start -> entry: most records of a chunk touch the windows of one slot.
  private readonly entries = new Map<string, Map<number, Entry<R>>>()
  private readonly current: Array<Entry<R>> = []
  private firstClose = Number.POSITIVE_INFINITY
  private lastSlot: string | undefined
  private lastWindows: Map<number, Entry<R>> | undefined

  /** Starts a record: the windows it changes are collected until `attach`. */
  begin(): void {
    this.current.length = 0
  }

  /**
   * Window `start` of `slot` changed; `compute(ref, start)` gives its result
   * as it is when called (a shared function, not a closure per change).
   */
  touch<Ref>(slot: string, start: number, closesAt: number, ref: Ref, compute: (ref: Ref, start: number) => R): void {
    let windows = slot === this.lastSlot ? this.lastWindows : this.entries.get(slot)
    if (windows === undefined) {
      windows = new Map()
      this.entries.set(slot, windows)
    }
    this.lastSlot = slot
    this.lastWindows = windows
    let e = windows.get(start)
    if (e === undefined) {
      e = { ref, compute, start, closesAt, shares: [], trigger: null }
      windows.set(start, e)
      if (closesAt < this.firstClose) this.firstClose = closesAt
    } else e.ref = ref
    this.current.push(e)
  }

  /** The windows the current record changed. */
  get touched(): number {
    return this.current.length
  }

  /**
   * Gives the windows the current record changed `receipt`, acknowledged once
   * all of their results are, and the record as their trigger.
   */
  attach(receipt: Receipt.Receipt, trigger: Envelope.Origin): void {
    const share: Share = { receipt, remaining: this.current.length }
    for (let i = 0; i < this.current.length; i++) {
      const e = this.current[i]!
      e.shares.push(share)
      e.trigger = trigger
    }
    this.current.length = 0
  }

  /**
   * Emits the windows that close at or before `watermark` (every window with
   * +Infinity), in first-change order per slot, and forgets them.
   */
  drain(watermark: number, emit: (result: R, receipt: Receipt.Receipt, trigger: Envelope.Origin | null) => void): void {
    if (watermark < this.firstClose) return
    this.firstClose = Number.POSITIVE_INFINITY
    for (const [slot, windows] of this.entries) {
      for (const [start, e] of windows) {
        if (e.closesAt <= watermark) {
          windows.delete(start)
          emit(e.compute(e.ref as never, e.start), all(e.shares), e.trigger)
        } else if (e.closesAt < this.firstClose) this.firstClose = e.closesAt
      }
      if (windows.size === 0) {
        this.entries.delete(slot)
        if (this.lastSlot === slot) this.lastSlot = this.lastWindows = undefined
      }
    }
  }
}
