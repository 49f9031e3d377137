/**
 * A growable big-endian encoder for response bodies. One instance is reused
 * per connection, so steady-state encoding allocates only the final slice.
 */

export class Writer {
  buf: Buffer
  offset = 0

  constructor(initial = 1024) {
    this.buf = Buffer.allocUnsafe(initial)
  }

  reset(): this {
    this.offset = 0
    return this
  }

  private ensure(n: number): number {
    const at = this.offset
    if (at + n > this.buf.length) {
      const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, at + n))
      this.buf.copy(next, 0, 0, at)
      this.buf = next
    }
    this.offset = at + n
    return at
  }

  int8(v: number): this {
    const at = this.ensure(1)
    this.buf.writeInt8(v, at)
    return this
  }
  int16(v: number): this {
    const at = this.ensure(2)
    this.buf.writeInt16BE(v, at)
    return this
  }
  int32(v: number): this {
    const at = this.ensure(4)
    this.buf.writeInt32BE(v, at)
    return this
  }
  uint32(v: number): this {
    const at = this.ensure(4)
    this.buf.writeUInt32BE(v, at)
    return this
  }
  int64(v: number | bigint): this {
    const at = this.ensure(8)
    this.buf.writeBigInt64BE(BigInt(v), at)
    return this
  }
  bool(v: boolean): this {
    return this.int8(v ? 1 : 0)
  }
  uvarint(v: number): this {
    let x = v >>> 0
    while (x >= 0x80) {
      const at = this.ensure(1)
      this.buf[at] = (x & 0x7f) | 0x80
      x >>>= 7
    }
    const at = this.ensure(1)
    this.buf[at] = x
    return this
  }
  varint(v: number): this {
    return this.uvarint((v << 1) ^ (v >> 31))
  }
  varlong(v: number): this {
    let x = BigInt.asUintN(64, (BigInt(v) << 1n) ^ (BigInt(v) >> 63n))
    while (x >= 0x80n) {
      const at = this.ensure(1)
      this.buf[at] = Number(x & 0x7fn) | 0x80
      x >>= 7n
    }
    const at = this.ensure(1)
    this.buf[at] = Number(x)
    return this
  }
  raw(b: Uint8Array): this {
    const at = this.ensure(b.length)
    this.buf.set(b, at)
    return this
  }
  string(s: string): this {
    const len = Buffer.byteLength(s)
    this.int16(len)
    const at = this.ensure(len)
    this.buf.write(s, at, len, "utf8")
    return this
  }
  nullableString(s: string | null): this {
    return s === null ? this.int16(-1) : this.string(s)
  }
  compactString(s: string): this {
    const len = Buffer.byteLength(s)
    this.uvarint(len + 1)
    const at = this.ensure(len)
    this.buf.write(s, at, len, "utf8")
    return this
  }
  compactNullableString(s: string | null): this {
    return s === null ? this.uvarint(0) : this.compactString(s)
  }
  bytes(b: Uint8Array): this {
    this.int32(b.length)
    return this.raw(b)
  }
  nullableBytes(b: Uint8Array | null): this {
    return b === null ? this.int32(-1) : this.bytes(b)
  }
  array<A>(items: ReadonlyArray<A>, item: (w: Writer, a: A) => void): this {
    this.int32(items.length)
    for (const a of items) item(this, a)
    return this
  }
  nullableArray<A>(items: ReadonlyArray<A> | null, item: (w: Writer, a: A) => void): this {
    return items === null ? this.int32(-1) : this.array(items, item)
  }
  compactArray<A>(items: ReadonlyArray<A>, item: (w: Writer, a: A) => void): this {
    this.uvarint(items.length + 1)
    for (const a of items) item(this, a)
    return this
  }
  /** An empty tagged-field section. */
  taggedFields(): this {
    return this.uvarint(0)
  }
  /** A copy of what was written: the buffer is reused. */
  toBuffer(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.offset))
  }
}
