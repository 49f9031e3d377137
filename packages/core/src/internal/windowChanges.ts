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
import type * as Envelope from "../Envelope.ts"
import * as Receipt from "../Receipt.ts"

interface Entry<R> {
  compute: () => R
  readonly closesAt: number
  readonly receipts: Array<Receipt.Receipt>
  trigger: Envelope.Origin | null
}

// One receipt acknowledging all of `receipts`.
const all = (receipts: ReadonlyArray<Receipt.Receipt>): Receipt.Receipt => {
  if (receipts.length === 1) return receipts[0]!
  if (receipts.every((r) => r.ackUnsafe !== undefined)) {
    return Receipt.makeUnsafe(() => {
      for (const r of receipts) r.ackUnsafe!()
    })
  }
  return Receipt.make(Receipt.ackAll(receipts))
}

export class Changes<R> {
  private readonly entries = new Map<string, Entry<R>>()
  private readonly current: Array<Entry<R>> = []
  private firstClose = Number.POSITIVE_INFINITY

  /** Starts a record: the windows it changes are collected until `attach`. */
  begin(): void {
    this.current.length = 0
  }

  /** Window `start` of `slot` changed; `compute` gives its result as it is when called. */
  touch(slot: string, start: number, closesAt: number, compute: () => R): void {
    const id = `${slot}\u0000${start}`
    let e = this.entries.get(id)
    if (e === undefined) {
      e = { compute, closesAt, receipts: [], trigger: null }
      this.entries.set(id, e)
      if (closesAt < this.firstClose) this.firstClose = closesAt
    } else e.compute = compute
    this.current.push(e)
  }

  /** The windows the current record changed. */
  get touched(): number {
    return this.current.length
  }

  /** Gives the i-th window the current record changed `receipts[i]`, and the record as its trigger. */
  attach(receipts: ReadonlyArray<Receipt.Receipt>, trigger: Envelope.Origin): void {
    for (let i = 0; i < this.current.length; i++) {
      const e = this.current[i]!
      e.receipts.push(receipts[i]!)
      e.trigger = trigger
    }
    this.current.length = 0
  }

  /**
   * Emits, in first-change order, the windows that close at or before
   * `watermark` (every window with +Infinity), and forgets them.
   */
  drain(watermark: number, emit: (result: R, receipt: Receipt.Receipt, trigger: Envelope.Origin | null) => void): void {
    if (watermark < this.firstClose) return
    this.firstClose = Number.POSITIVE_INFINITY
    for (const [id, e] of this.entries) {
      if (e.closesAt <= watermark) {
        this.entries.delete(id)
        emit(e.compute(), all(e.receipts), e.trigger)
      } else if (e.closesAt < this.firstClose) this.firstClose = e.closesAt
    }
  }
}
