/**
 * The in-flight offsets of one partition, in arrival order, with a done flag
 * each. Offsets arrive in increasing order, so the ring stays sorted and
 * `done` finds its slot by binary search; the committable offset advances
 * when the head is done. Every slot is freed exactly once, by `advance`.
 */
export class PartitionOffsets {
  private offsets: Array<bigint>
  private flags: Uint8Array
  private mask: number
  private head = 0
  size = 0
  /** The last offset tracked, to reject offsets that go backwards. */
  last: bigint | undefined = undefined
  /** One past the highest offset below which every tracked offset is done. */
  committable: bigint | undefined = undefined

  constructor(initialCapacity = 64) {
    let capacity = 1
    while (capacity < initialCapacity) capacity <<= 1
    this.offsets = new Array<bigint>(capacity).fill(0n)
    this.flags = new Uint8Array(capacity)
    this.mask = capacity - 1
  }

  /** Appends an offset; callers guarantee it is greater than `last`. */
  push(offset: bigint): void {
    if (this.size === this.offsets.length) this.grow()
    // Everything before a new head is done (or was never delivered), so it becomes the commit point.
    if (this.size === 0 && this.committable !== undefined) this.committable = offset
    const slot = (this.head + this.size) & this.mask
    this.offsets[slot] = offset
    this.flags[slot] = 0
    this.size++
    this.last = offset
  }

  /**
   * Marks an offset done and returns how many slots were freed from the head:
   * -1 when the offset is unknown or already done, 0 when it is not the head.
   */
  markDone(offset: bigint): number {
    const i = this.indexOf(offset)
    if (i < 0) return -1
    const slot = (this.head + i) & this.mask
    if (this.flags[slot] === 1) return -1
    this.flags[slot] = 1
    return i === 0 ? this.advance() : 0
  }

  private advance(): number {
    let freed = 0
    let lastDone = 0n
    while (this.size > 0 && this.flags[this.head] === 1) {
      lastDone = this.offsets[this.head]!
      this.head = (this.head + 1) & this.mask
      this.size--
      freed++
    }
    // The next tracked offset, not lastDone + 1, marks contiguity: offsets may have gaps.
    this.committable = this.size > 0 ? this.offsets[this.head]! : lastDone + 1n
    return freed
  }

  private indexOf(offset: bigint): number {
    let lo = 0
    let hi = this.size - 1
    // Completion is mostly near the head; check it before searching.
    if (hi >= 0 && this.offsets[this.head] === offset) return 0
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1
      const value = this.offsets[(this.head + mid) & this.mask]!
      if (value === offset) return mid
      if (value < offset) lo = mid + 1
      else hi = mid - 1
    }
    return -1
  }

  private grow(): void {
    const capacity = this.offsets.length * 2
    const offsets = new Array<bigint>(capacity).fill(0n)
    const flags = new Uint8Array(capacity)
    for (let i = 0; i < this.size; i++) {
      const slot = (this.head + i) & this.mask
      offsets[i] = this.offsets[slot]!
      flags[i] = this.flags[slot]!
    }
    this.offsets = offsets
    this.flags = flags
    this.mask = capacity - 1
    this.head = 0
  }
}
