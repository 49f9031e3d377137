// One partition of one store on local disk: an LMDB environment with three
// databases. `data` holds the entries (key -> header + codec bytes, exactly
// the bytes of the changelog record), `ttl` indexes entries that expire
// (`<domain><16-digit time>/<key>`), `meta` holds the checkpoint: the next
// changelog offset that the entries do not reflect yet, written in the same
// transaction as the entries it covers.
import { rmSync } from "node:fs"
import { type Database, open, type RootDatabase } from "lmdb"

export const NO_TTL = 0
export const PROCESSING_TIME = 1
export const EVENT_TIME = 2

/** An entry's bytes, or `null` for a delete (a tombstone in the changelog). */
export type Change = Uint8Array | null

export interface Header {
  readonly domain: number
  readonly expiresAt: number
}

export const header = (bytes: Uint8Array): Header => {
  const domain = bytes[0] ?? NO_TTL
  if (domain === NO_TTL) return { domain, expiresAt: Number.POSITIVE_INFINITY }
  return { domain, expiresAt: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getFloat64(1) }
}

export const body = (bytes: Uint8Array): Uint8Array => bytes.subarray(bytes[0] === NO_TTL ? 1 : 9)

// From Buffer's pool (no zeroing, no backing store of its own): an entry is
// made for every change, and kafkajs and LMDB take it as it is.
export const entry = (domain: number, expiresAt: number, value: Uint8Array): Buffer => {
  if (domain === NO_TTL) {
    const out = Buffer.allocUnsafe(value.length + 1)
    out[0] = NO_TTL
    out.set(value, 1)
    return out
  }
  const out = Buffer.allocUnsafe(value.length + 9)
  out[0] = domain
  out.writeDoubleBE(expiresAt, 1)
  out.set(value, 9)
  return out
}

/** The bytes as a Buffer, without a copy: an entry already is one, restored bytes too. */
export const asBuffer = (bytes: Uint8Array): Buffer =>
  Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)

const ttlKey = (domain: number, expiresAt: number, key: string): string =>
  `${domain}${String(Math.max(0, Math.floor(expiresAt))).padStart(16, "0")}/${key}`

export class LocalPartition {
  readonly #root: RootDatabase
  readonly #data: Database<Buffer, string>
  readonly #ttl: Database<string, string>
  readonly #meta: Database<string, string>
  /** Whether the TTL index may hold entries: once true, it stays true while open. */
  #indexed: boolean

  private constructor(root: RootDatabase) {
    this.#root = root
    this.#data = root.openDB<Buffer, string>({ name: "data", encoding: "binary" })
    this.#ttl = root.openDB<string, string>({ name: "ttl", encoding: "string" })
    this.#meta = root.openDB<string, string>({ name: "meta", encoding: "string" })
    const stats = this.#ttl.getStats() as { readonly entryCount?: number }
    this.#indexed = (stats.entryCount ?? 0) > 0
  }

  /** Opens (creating) the partition's environment; throws when it is unreadable. */
  static open(path: string): LocalPartition {
    const partition = new LocalPartition(open({ path, maxDbs: 4, noMemInit: true }))
    // Reading the checkpoint touches every database, so a damaged file fails here, not later.
    partition.checkpoint()
    return partition
  }

  /** Removes a partition's files. */
  static remove(path: string): void {
    rmSync(path, { recursive: true, force: true })
  }

  /** The next changelog offset the entries do not reflect (0 for an empty store). */
  checkpoint(): bigint {
    const raw = this.#meta.get("checkpoint")
    return raw === undefined ? 0n : BigInt(raw)
  }

  /** The highest event time seen on the partition, for event-time TTL. */
  eventTime(): number {
    const raw = this.#meta.get("eventTime")
    return raw === undefined ? Number.NEGATIVE_INFINITY : Number(raw)
  }

  get(key: string): Uint8Array | undefined {
    return this.#data.get(key)
  }

  /** Whether `key` has an entry, without copying its value out. */
  has(key: string): boolean {
    return this.#data.doesExist(key)
  }

  /** Entries whose key starts with `prefix`, in key order. */
  *range(prefix: string): Generator<readonly [string, Uint8Array]> {
    for (const { key, value } of this.#data.getRange({ start: prefix })) {
      if (!key.startsWith(prefix)) return
      yield [key, value]
    }
  }

  /** Keys whose TTL in `domain` is at or before `time`. */
  expiredKeys(domain: number, time: number): Array<string> {
    const out: Array<string> = []
    const prefix = String(domain)
    for (const key of this.#ttl.getKeys({ start: prefix, end: ttlKey(domain, time + 1, "") })) {
      out.push(key.slice(18))
    }
    return out
  }

  /** Entries on disk, from LMDB's statistics (no scan). */
  count(): number {
    const stats = this.#data.getStats() as { readonly entryCount?: number }
    return stats.entryCount ?? 0
  }

  /**
   * Applies changes and moves the checkpoint to `checkpoint`, in one
   * transaction: a crash leaves either all of it or none.
   */
  apply(changes: Iterable<readonly [string, Change]>, checkpoint: bigint, eventTime?: number): Promise<unknown> {
    return this.#root.transaction(() => {
      // The old value is read only to drop its TTL index entry: with no entry
      // in the index (a store without TTLs) there is none to drop, and the
      // read, one per change, is most of a flush's local cost.
      for (const [key, value] of changes) {
        if (this.#indexed) {
          const old = this.#data.get(key)
          if (old !== undefined && old[0] !== NO_TTL) {
            const h = header(old)
            this.#ttl.remove(ttlKey(h.domain, h.expiresAt, key))
          }
        }
        if (value === null) this.#data.remove(key)
        else {
          this.#data.put(key, asBuffer(value))
          if (value[0] !== NO_TTL) {
            const h = header(value)
            this.#ttl.put(ttlKey(h.domain, h.expiresAt, key), "")
            this.#indexed = true
          }
        }
      }
      this.#meta.put("checkpoint", checkpoint.toString())
      if (eventTime !== undefined && Number.isFinite(eventTime)) this.#meta.put("eventTime", String(eventTime))
    })
  }

  close(): Promise<void> {
    return this.#root.close()
  }
}
