// The in-memory side of one partition of a durable store: one entry per key
// that is either not on disk yet or recently read, holding the key's newest
// bytes, its decoded value and where its change stands on the way to disk.
// A read or a write is one lookup here; before, a key's newest value was
// looked for in a value cache, the unsent changes, every flush in flight and
// the acknowledged changes, and flushes merged their maps into new ones.
//
// A change moves: unsent (`unsent`, listed in `Table.unsent`) -> taken by a
// flush (`sending` counts the flushes carrying a value of it) ->
// acknowledged by the changelog (`acked`, listed in `Table.acked`, the value
// the changelog holds, which may be older than `bytes` if the key changed
// again meanwhile) -> being written to the local store (`writes`). An entry
// with none of these is clean: it stays only while it holds a decoded value
// (the cache), and the cache's budget evicts such entries first.
import { type Change, NO_TTL } from "./partition.ts"

// Map entry, key and entry object, on a 64-bit heap.
const OVERHEAD = 160

/** The estimated heap cost of a key and the value decoded from `encodedBytes` bytes. */
export const sizeOf = (key: string, encodedBytes: number): number => OVERHEAD + 2 * key.length + 2 * encodedBytes

export class Entry<V> {
  /** The newest bytes while the change is not on disk (`null`: deleted); `undefined` once it is. */
  bytes: Change | undefined = undefined
  /** Whether the key's newest value exists (an expired TTL entry still counts until it is deleted). */
  present = false
  /** Whether `value` holds the decoded newest value (or, with `present` false, the key's absence). */
  cached = false
  value: V | undefined = undefined
  /** The cache bytes charged for `value`. */
  size = 0
  /** Changed since it was last taken by a flush. */
  unsent = false
  /** Flushes carrying a value of the key that the changelog did not answer yet. */
  sending = 0
  /** The newest flush that took the key: an older flush in the same send leaves it to that one. */
  flush = 0
  /** Acknowledged by the changelog, not yet handed to a local write: `acked` is that value. */
  hasAcked = false
  acked: Change | undefined = undefined
  /** Local writes in progress that hold a value of the key. */
  writes = 0

  readonly key: string

  constructor(key: string) {
    this.key = key
  }

  get clean(): boolean {
    return !this.unsent && this.sending === 0 && !this.hasAcked && this.writes === 0
  }
}

/** The decoded values' budget, shared by the tables of a store. */
export class Budget {
  readonly tables = new Set<Table<unknown>>()
  readonly limit: number
  bytes = 0

  constructor(limit: number) {
    this.limit = limit
  }

  // Down to three quarters of the budget at once, not one entry per write:
  // a map iterated from its start walks over the holes its deletes left, so
  // evicting one entry per write would cost a full walk each time. The
  // partition written to goes first: its oldest entries are the likeliest
  // to be cold. A dirty entry only loses its decoded value.
  evict(first: Table<unknown>): void {
    const target = this.limit * 0.75
    for (const table of [first, ...this.tables]) {
      for (const entry of table.entries.values()) {
        if (this.bytes <= target) return
        if (entry.cached) table.uncache(entry)
      }
    }
  }
}

export class Table<V> {
  readonly entries = new Map<string, Entry<V>>()
  /** Entries changed since the last flush took them, each once. */
  unsent: Array<Entry<V>> = []
  /** Entries acknowledged by the changelog and not yet handed to a local write, each once. */
  acked: Array<Entry<V>> = []
  /** The checkpoint that goes with `acked`: the next changelog offset past it. */
  ackedCheckpoint: bigint
  /** Live keys: those on disk, corrected by every change not on disk yet. */
  count: number
  /** Whether a change with a time to live was made: only then can an entry expire before it is on disk. */
  hasTtl = false
  readonly #budget: Budget
  readonly #onDisk: (key: string) => boolean

  constructor(budget: Budget, options: { count: number; checkpoint: bigint; onDisk: (key: string) => boolean }) {
    this.#budget = budget
    this.count = options.count
    this.ackedCheckpoint = options.checkpoint
    this.#onDisk = options.onDisk
    budget.tables.add(this as Table<unknown>)
  }

  /**
   * Records a change of `key` (`null`: a delete). `cache` keeps `value` as
   * its decoded value (a change without a time to live); otherwise a
   * decoded value held is dropped.
   */
  change(key: string, bytes: Change, cache: boolean, value: V | undefined, size: number): void {
    let entry = this.entries.get(key)
    let before: boolean
    if (entry === undefined) {
      // Not read nor written lately: the local store says whether it counted.
      before = this.#onDisk(key)
      entry = new Entry<V>(key)
      this.entries.set(key, entry)
    } else {
      before = entry.present
    }
    const after = bytes !== null
    if (after !== before) this.count += after ? 1 : -1
    entry.present = after
    entry.bytes = bytes
    if (bytes !== null && bytes[0] !== NO_TTL) this.hasTtl = true
    if (!entry.unsent) {
      entry.unsent = true
      this.unsent.push(entry)
    }
    if (cache) this.#cache(entry, value, size)
    else this.uncache(entry)
  }

  /** Keeps what a read found (`present` false: the key is absent) for the next read. */
  remember(entry: Entry<V> | undefined, key: string, present: boolean, value: V | undefined, size: number): void {
    if (size > this.#budget.limit) return
    if (entry === undefined) {
      entry = new Entry<V>(key)
      entry.present = present
      this.entries.set(key, entry)
    }
    this.#cache(entry, value, size)
  }

  /** Drops an entry's decoded value, and the entry itself when it is clean. */
  uncache(entry: Entry<V>): void {
    if (entry.cached) {
      this.#budget.bytes -= entry.size
      entry.cached = false
      entry.value = undefined
      entry.size = 0
    }
    if (entry.clean) this.entries.delete(entry.key)
  }

  /** After a local write of `entry`: a clean entry keeps only its decoded value, if any. */
  settle(entry: Entry<V>): void {
    if (!entry.clean) return
    if (entry.cached) entry.bytes = undefined
    else this.entries.delete(entry.key)
  }

  /** Forgets the table (revoked, or closed): its decoded values leave the budget. */
  drop(): void {
    for (const entry of this.entries.values()) this.#budget.bytes -= entry.size
    this.entries.clear()
    this.#budget.tables.delete(this as Table<unknown>)
  }

  #cache(entry: Entry<V>, value: V | undefined, size: number): void {
    if (size > this.#budget.limit) {
      this.uncache(entry)
      return
    }
    this.#budget.bytes += size - entry.size
    entry.cached = true
    entry.value = value
    entry.size = size
    if (this.#budget.bytes > this.#budget.limit) this.#budget.evict(this as Table<unknown>)
  }
}
