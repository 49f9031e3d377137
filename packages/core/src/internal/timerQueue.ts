/**
 * The pending timers of one partition and time domain, in firing order, held
 * in memory beside the store that makes them durable.
 *
 * A store's `range` reads, merges and sorts every timer of a partition, so a
 * keyed operator that asked it for the due timers at every watermark advance
 * paid for all its pending timers each time: with one pending timer per
 * customer, 100k customers made each advance a pass over 100k entries. The
 * queue is filled from the store once, when the partition is assigned, and
 * then kept in step with every timer set, fired and removed; the due timers
 * come off a binary heap.
 *
 * Entries are ordered as the store orders their keys (`StateStore.timeKey`:
 * whole milliseconds, then the record key), so timers fire in the same order
 * as when they were read from the store. A removed timer is only forgotten by
 * `live`; its heap entry is dropped when it comes to the top, and the heap is
 * rebuilt when such dead entries outnumber the live ones.
 */

interface Entry {
  /** The timer's time, as set. */
  readonly time: number
  /** The order of `StateStore.timeKey`: whole milliseconds, never below 0. */
  readonly order: number
  /** The timer's key in the store (domain prefix + time key). */
  readonly id: string
}

/** @internal */
export interface TimerQueue {
  /** Adds a timer; adding one already pending keeps one. */
  readonly add: (id: string, time: number) => void
  /** Forgets a timer: cancelled, or fired and done. */
  readonly remove: (id: string) => void
  /** The earliest time of a pending timer not yet taken, or +Infinity. */
  readonly peek: () => number
  /**
   * Takes the timers due at `upTo` (time <= upTo), in firing order. A taken timer stays
   * pending (adding it again changes nothing) but is not taken again, until it is removed.
   */
  readonly takeDue: (upTo: number) => Array<readonly [id: string, time: number]>
  /** Pending timers, taken ones included. */
  readonly size: () => number
}

const before = (a: Entry, b: Entry): boolean => a.order < b.order || (a.order === b.order && a.id < b.id)

/** @internal */
export const make = (): TimerQueue => {
  const heap: Array<Entry> = []
  // The pending timers: id → time.
  const live = new Map<string, number>()
  // Pending timers taken by `takeDue`, until removed.
  const taken = new Set<string>()

  const up = (i: number) => {
    const entry = heap[i]!
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!before(entry, heap[parent]!)) break
      heap[i] = heap[parent]!
      i = parent
    }
    heap[i] = entry
  }
  const down = (i: number) => {
    const entry = heap[i]!
    const n = heap.length
    for (;;) {
      const left = 2 * i + 1
      if (left >= n) break
      const right = left + 1
      const child = right < n && before(heap[right]!, heap[left]!) ? right : left
      if (!before(heap[child]!, entry)) break
      heap[i] = heap[child]!
      i = child
    }
    heap[i] = entry
  }
  const pop = () => {
    const last = heap.pop()!
    if (heap.length > 0) {
      heap[0] = last
      down(0)
    }
  }
  const entry = (id: string, time: number): Entry => ({ time, order: Math.max(0, Math.floor(time)), id })
  // A heap entry still counts while its timer is pending at that time and not taken.
  const current = (e: Entry) => live.get(e.id) === e.time && !taken.has(e.id)
  const rebuild = () => {
    heap.length = 0
    for (const [id, time] of live) if (!taken.has(id)) heap.push(entry(id, time))
    for (let i = (heap.length >> 1) - 1; i >= 0; i--) down(i)
  }
  // Drops dead entries from the top, so the top is the earliest timer to fire.
  const settle = () => {
    while (heap.length > 0 && !current(heap[0]!)) pop()
  }

  return {
    add: (id, time) => {
      if (live.get(id) === time) return
      live.set(id, time)
      taken.delete(id)
      heap.push(entry(id, time))
      up(heap.length - 1)
    },
    remove: (id) => {
      taken.delete(id)
      if (!live.delete(id)) return
      if (heap.length > 1_024 && heap.length > 2 * live.size) rebuild()
    },
    peek: () => {
      settle()
      return heap.length === 0 ? Number.POSITIVE_INFINITY : heap[0]!.time
    },
    takeDue: (upTo) => {
      const due: Array<readonly [string, number]> = []
      for (;;) {
        settle()
        const top = heap[0]
        if (top === undefined || top.time > upTo) break
        pop()
        taken.add(top.id)
        due.push([top.id, top.time])
      }
      return due
    },
    size: () => live.size
  }
}
