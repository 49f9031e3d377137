/**
 * Decoder of the `pgoutput` logical replication messages (protocol version 1)
 * carried in the replication stream's XLogData, and encoder of the standby
 * status update that acknowledges a position.
 */

export interface Column {
  readonly key: boolean
  readonly name: string
  readonly typeOid: number
  readonly typeMod: number
}

export interface Relation {
  readonly id: number
  readonly schema: string
  readonly table: string
  readonly replicaIdentity: string
  readonly columns: ReadonlyArray<Column>
}

/** A column value as the server printed it: text, SQL null, or an unchanged TOASTed value. */
export type Cell = string | null | { readonly unchanged: true }

export const unchanged: Cell = { unchanged: true }

export type Message =
  | { readonly _tag: "Begin"; readonly finalLsn: bigint; readonly commitMicros: bigint; readonly xid: number }
  | { readonly _tag: "Commit"; readonly commitLsn: bigint; readonly endLsn: bigint; readonly commitMicros: bigint }
  | { readonly _tag: "Relation"; readonly relation: Relation }
  | { readonly _tag: "Insert"; readonly relationId: number; readonly after: ReadonlyArray<Cell> }
  | {
      readonly _tag: "Update"
      readonly relationId: number
      readonly before: ReadonlyArray<Cell> | null
      readonly after: ReadonlyArray<Cell>
    }
  | { readonly _tag: "Delete"; readonly relationId: number; readonly before: ReadonlyArray<Cell> }
  | { readonly _tag: "Truncate"; readonly relationIds: ReadonlyArray<number> }
  | { readonly _tag: "Other" }

/** Microseconds from the Unix epoch to PostgreSQL's epoch, 2000-01-01. */
export const pgEpochMicros = 946_684_800_000_000n

class Reader {
  offset = 0
  readonly buf: Buffer
  constructor(buf: Buffer) {
    this.buf = buf
  }
  u8(): number {
    return this.buf.readUInt8(this.offset++)
  }
  i16(): number {
    const v = this.buf.readInt16BE(this.offset)
    this.offset += 2
    return v
  }
  i32(): number {
    const v = this.buf.readInt32BE(this.offset)
    this.offset += 4
    return v
  }
  u32(): number {
    const v = this.buf.readUInt32BE(this.offset)
    this.offset += 4
    return v
  }
  u64(): bigint {
    const v = this.buf.readBigUInt64BE(this.offset)
    this.offset += 8
    return v
  }
  i64(): bigint {
    const v = this.buf.readBigInt64BE(this.offset)
    this.offset += 8
    return v
  }
  cstring(): string {
    const end = this.buf.indexOf(0, this.offset)
    const s = this.buf.toString("utf8", this.offset, end)
    this.offset = end + 1
    return s
  }
  tuple(): Array<Cell> {
    const n = this.i16()
    const cells: Array<Cell> = new Array(n)
    for (let i = 0; i < n; i++) {
      const kind = this.u8()
      if (kind === 0x6e /* n */) cells[i] = null
      else if (kind === 0x75 /* u */) cells[i] = unchanged
      else {
        const length = this.i32()
        cells[i] = this.buf.toString("utf8", this.offset, this.offset + length)
        this.offset += length
      }
    }
    return cells
  }
}

export const decode = (buf: Buffer): Message => {
  const r = new Reader(buf)
  const tag = String.fromCharCode(r.u8())
  switch (tag) {
    case "B":
      return { _tag: "Begin", finalLsn: r.u64(), commitMicros: r.i64(), xid: r.u32() }
    case "C": {
      r.u8()
      return { _tag: "Commit", commitLsn: r.u64(), endLsn: r.u64(), commitMicros: r.i64() }
    }
    case "R": {
      const id = r.u32()
      const schema = r.cstring()
      const table = r.cstring()
      const replicaIdentity = String.fromCharCode(r.u8())
      const n = r.i16()
      const columns: Array<Column> = []
      for (let i = 0; i < n; i++) {
        const flags = r.u8()
        columns.push({ key: (flags & 1) === 1, name: r.cstring(), typeOid: r.u32(), typeMod: r.i32() })
      }
      return { _tag: "Relation", relation: { id, schema, table, replicaIdentity, columns } }
    }
    case "I": {
      const relationId = r.u32()
      r.u8() // 'N'
      return { _tag: "Insert", relationId, after: r.tuple() }
    }
    case "U": {
      const relationId = r.u32()
      let kind = r.u8()
      let before: Array<Cell> | null = null
      if (kind === 0x4b /* K */ || kind === 0x4f /* O */) {
        before = r.tuple()
        kind = r.u8()
      }
      return { _tag: "Update", relationId, before, after: r.tuple() }
    }
    case "D": {
      const relationId = r.u32()
      r.u8() // 'K' or 'O'
      return { _tag: "Delete", relationId, before: r.tuple() }
    }
    case "T": {
      const n = r.u32()
      r.u8() // options: CASCADE, RESTART IDENTITY
      const relationIds: Array<number> = []
      for (let i = 0; i < n; i++) relationIds.push(r.u32())
      return { _tag: "Truncate", relationIds }
    }
    default:
      return { _tag: "Other" }
  }
}

/** A standby status update reporting `flush` as written, flushed and applied. */
export const statusUpdate = (flush: bigint, nowMillis: number): Buffer => {
  const b = Buffer.alloc(34)
  b.write("r", 0)
  b.writeBigUInt64BE(flush, 1)
  b.writeBigUInt64BE(flush, 9)
  b.writeBigUInt64BE(flush, 17)
  b.writeBigInt64BE(BigInt(nowMillis) * 1000n - pgEpochMicros, 25)
  b.writeUInt8(0, 33)
  return b
}
