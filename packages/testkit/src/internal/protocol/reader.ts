/**
 * A cursor over a request frame. Every read checks bounds and throws
 * `ProtocolError` on underflow, so a truncated or lying frame can never read
 * past its end; the connection handler turns that into a closed connection.
 */

/** Raised for frames that do not follow the protocol. */
export class ProtocolError extends Error {
  override readonly name = "ProtocolError"
}

export class Reader {
  readonly buf: Buffer
  offset: number
  readonly end: number

  constructor(buf: Buffer, offset = 0, end = buf.length) {
    this.buf = buf
    this.offset = offset
    this.end = end
  }

  get remaining(): number {
    return this.end - this.offset
  }

  private need(n: number): number {
    const at = this.offset
    if (n < 0 || at + n > this.end) throw new ProtocolError(`frame truncated: need ${n} bytes at ${at}`)
    this.offset = at + n
    return at
  }

  int8(): number {
    return this.buf.readInt8(this.need(1))
  }
  int16(): number {
    return this.buf.readInt16BE(this.need(2))
  }
  int32(): number {
    return this.buf.readInt32BE(this.need(4))
  }
  uint32(): number {
    return this.buf.readUInt32BE(this.need(4))
  }
  int64(): bigint {
    return this.buf.readBigInt64BE(this.need(8))
  }
  /** An int64 that fits a JS number (offsets, timestamps, producer ids). */
  int64n(): number {
    return Number(this.buf.readBigInt64BE(this.need(8)))
  }
  bool(): boolean {
    return this.int8() !== 0
  }

  uvarint(): number {
    let value = 0
    let shift = 0
    for (;;) {
      if (shift > 28) throw new ProtocolError("varint too long")
      const b = this.buf[this.need(1)]!
      value |= (b & 0x7f) << shift
      if ((b & 0x80) === 0) return value >>> 0
      shift += 7
    }
  }
  varint(): number {
    const u = this.uvarint()
    return (u >>> 1) ^ -(u & 1)
  }
  varlong(): number {
    let value = 0n
    let shift = 0n
    for (;;) {
      if (shift > 63n) throw new ProtocolError("varlong too long")
      const b = this.buf[this.need(1)]!
      value |= BigInt(b & 0x7f) << shift
      if ((b & 0x80) === 0) break
      shift += 7n
    }
    return Number((value >> 1n) ^ -(value & 1n))
  }

  private text(len: number): string {
    const at = this.need(len)
    return this.buf.toString("utf8", at, at + len)
  }
  string(): string {
    const len = this.int16()
    if (len < 0) throw new ProtocolError("null where a string is required")
    return this.text(len)
  }
  nullableString(): string | null {
    const len = this.int16()
    return len < 0 ? null : this.text(len)
  }
  compactString(): string {
    const len = this.uvarint() - 1
    if (len < 0) throw new ProtocolError("null where a compact string is required")
    return this.text(len)
  }
  compactNullableString(): string | null {
    const len = this.uvarint() - 1
    return len < 0 ? null : this.text(len)
  }
  /** A slice sharing memory with the frame. */
  bytes(): Buffer {
    const len = this.int32()
    if (len < 0) throw new ProtocolError("null where bytes are required")
    const at = this.need(len)
    return this.buf.subarray(at, at + len)
  }
  nullableBytes(): Buffer | null {
    const len = this.int32()
    if (len < 0) return null
    const at = this.need(len)
    return this.buf.subarray(at, at + len)
  }

  /** Array length; a negative count is `null`. Guards against absurd counts. */
  arrayLength(minElementBytes = 1): number {
    const n = this.int32()
    if (n < 0) return -1
    if (n * minElementBytes > this.remaining) throw new ProtocolError(`array of ${n} cannot fit the frame`)
    return n
  }
  array<A>(item: (r: Reader) => A, minElementBytes = 1): Array<A> {
    const n = this.arrayLength(minElementBytes)
    if (n < 0) throw new ProtocolError("null where an array is required")
    const out = new Array<A>(n)
    for (let i = 0; i < n; i++) out[i] = item(this)
    return out
  }
  nullableArray<A>(item: (r: Reader) => A, minElementBytes = 1): Array<A> | null {
    const n = this.arrayLength(minElementBytes)
    if (n < 0) return null
    const out = new Array<A>(n)
    for (let i = 0; i < n; i++) out[i] = item(this)
    return out
  }
  compactArray<A>(item: (r: Reader) => A): Array<A> | null {
    const n = this.uvarint() - 1
    if (n < 0) return null
    if (n > this.remaining) throw new ProtocolError(`compact array of ${n} cannot fit the frame`)
    const out = new Array<A>(n)
    for (let i = 0; i < n; i++) out[i] = item(this)
    return out
  }
  /** Skips a tagged-field section (flexible versions); no tags are understood. */
  taggedFields(): void {
    const n = this.uvarint()
    for (let i = 0; i < n; i++) {
      this.uvarint()
      const size = this.uvarint()
      this.need(size)
    }
  }
}
