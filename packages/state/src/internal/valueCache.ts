// The decoded values of a store's recently read or written keys, so a key
// touched again (a keyed counter's get then set, a hot key) is answered
// without an LMDB read and a decode. It holds the current value of a key
// whatever the flush it is in (buffered, being sent, or on disk): every
// change goes through it, so it never answers with an older value.
//
// Bounded by an estimate of its bytes, store-wide; the oldest entries go
// first (insertion order), which costs nothing per read or write: a slot is
// updated in place, since moving it to the end (a delete and an insert) would
// cost a keyed counter several times the lookup itself.
// Entries with a time to live are not kept: their expiry needs their header.
import { Option } from "effect"

// The value unwrapped, not its Option: a slot outlives many young-generation
// collections, and an Option stored in it for every write was a young object
// referenced from the old generation, copied and promoted by each scavenge
// (with the buffered entries, most of the durable counter's GC time). The
// Option a read returns dies young.
interface Slot<V> {
  present: boolean
  value: V | undefined
  size: number
}

// Map entry, key and slot objects, on a 64-bit heap.
const OVERHEAD = 96

/** The estimated heap cost of a key and the value decoded from `encodedBytes` bytes. */
export const sizeOf = (key: string, encodedBytes: number): number => OVERHEAD + 2 * key.length + 2 * encodedBytes

export class ValueCache<V> {
  readonly #partitions = new Map<number, Map<string, Slot<V>>>()
  readonly #budget: number
  #bytes = 0

  constructor(budget: number) {
    this.#budget = budget
  }

  /** The cached value (`none` for a key known absent), or `undefined` when the key is not cached. */
  get(partition: number, key: string): Option.Option<V> | undefined {
    const slot = this.#partitions.get(partition)?.get(key)
    if (slot === undefined) return undefined
    return slot.present ? Option.some(slot.value as V) : Option.none()
  }

  set(partition: number, key: string, value: Option.Option<V>, size: number): void {
    if (size > this.#budget) {
      this.delete(partition, key)
      return
    }
    let slots = this.#partitions.get(partition)
    if (slots === undefined) {
      slots = new Map()
      this.#partitions.set(partition, slots)
    }
    const old = slots.get(key)
    const present = Option.isSome(value)
    const unwrapped = present ? value.value : undefined
    if (old !== undefined) {
      this.#bytes += size - old.size
      old.present = present
      old.value = unwrapped
      old.size = size
    } else {
      slots.set(key, { present, value: unwrapped, size })
      this.#bytes += size
    }
    if (this.#bytes > this.#budget) this.#evict(slots)
  }

  delete(partition: number, key: string): void {
    const slots = this.#partitions.get(partition)
    const old = slots?.get(key)
    if (old === undefined) return
    this.#bytes -= old.size
    slots!.delete(key)
  }

  /** Forgets a partition (revoked, or restored afresh). */
  drop(partition: number): void {
    const slots = this.#partitions.get(partition)
    if (slots === undefined) return
    for (const slot of slots.values()) this.#bytes -= slot.size
    this.#partitions.delete(partition)
  }

  get bytes(): number {
    return this.#bytes
  }

  // Down to three quarters of the budget at once, not one entry per write:
  // a map iterated from its start walks over the holes its deletes left, so
  // evicting one entry per write would cost a full walk each time. The
  // partition written to goes first: its oldest entries are the likeliest
  // to be cold.
  #evict(first: Map<string, Slot<V>>): void {
    const target = this.#budget * 0.75
    for (const slots of [first, ...this.#partitions.values()]) {
      for (const [key, slot] of slots) {
        if (this.#bytes <= target) return
        slots.delete(key)
        this.#bytes -= slot.size
      }
    }
  }
}
