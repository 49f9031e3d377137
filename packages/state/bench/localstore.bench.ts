/**
 * Chooses the local embedded store of `@sluice/state` by measurement: lmdb,
 * node:sqlite and classic-level (LevelDB), on this machine, same data, same
 * run. Each candidate writes `keys` entries of 200 bytes in batches of
 * `batch` with a synced commit per batch (what a flush of a state store does),
 * reads random keys one by one, scans a key prefix, then closes and reopens.
 *
 *   node packages/state/bench/localstore.bench.ts [keys] [batch]
 *
 * Results go to stdout and to `bench/results/state-localstore.json`.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { DatabaseSync } from "node:sqlite"
import { ClassicLevel } from "classic-level"
import { open as openLmdb } from "lmdb"

const keys = Number(process.argv[2] ?? 200_000)
const batch = Number(process.argv[3] ?? 1_000)
const gets = Math.min(keys, 100_000)
const value = Buffer.alloc(200, 7)
const keyOf = (i: number) => `user-${String(i % 1000).padStart(4, "0")}/${String(i).padStart(8, "0")}`
const randomKeys = Array.from({ length: gets }, (_, i) => keyOf((i * 7919) % keys))
const prefix = "user-0042/"

interface Candidate {
  readonly name: string
  open(dir: string): Promise<Handle>
}
interface Handle {
  writeBatch(from: number, to: number): Promise<void>
  get(key: string): Promise<unknown>
  prefixCount(prefix: string): Promise<number>
  close(): Promise<void>
}

const lmdb: Candidate = {
  name: "lmdb",
  open: async (dir) => {
    const db = openLmdb<Buffer, string>({ path: dir, encoding: "binary" })
    return {
      writeBatch: (from, to) =>
        db.transaction(() => {
          for (let i = from; i < to; i++) db.put(keyOf(i), value)
        }) as Promise<void>,
      get: async (key) => db.get(key),
      prefixCount: async (p) => {
        let n = 0
        for (const _ of db.getRange({ start: p, end: `${p}\uffff` })) n++
        return n
      },
      close: () => db.close()
    }
  }
}

const sqlite: Candidate = {
  name: "node:sqlite",
  open: async (dir) => {
    const db = new DatabaseSync(join(dir, "db.sqlite"))
    db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL")
    db.exec("CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v BLOB) WITHOUT ROWID")
    const put = db.prepare("INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)")
    const get = db.prepare("SELECT v FROM kv WHERE k = ?")
    const range = db.prepare("SELECT k, v FROM kv WHERE k >= ? AND k < ? ORDER BY k")
    return {
      writeBatch: async (from, to) => {
        db.exec("BEGIN")
        for (let i = from; i < to; i++) put.run(keyOf(i), value)
        db.exec("COMMIT")
      },
      get: async (key) => get.get(key),
      prefixCount: async (p) => range.all(p, `${p}\uffff`).length,
      close: async () => db.close()
    }
  }
}

const level: Candidate = {
  name: "classic-level",
  open: async (dir) => {
    const db = new ClassicLevel<string, Buffer>(dir, { valueEncoding: "buffer" })
    await db.open()
    return {
      writeBatch: (from, to) => {
        const ops: Array<{ type: "put"; key: string; value: Buffer }> = []
        for (let i = from; i < to; i++) ops.push({ type: "put", key: keyOf(i), value })
        return db.batch(ops, { sync: true })
      },
      get: (key) => db.get(key),
      prefixCount: async (p) => (await db.keys({ gte: p, lt: `${p}\uffff` }).all()).length,
      close: () => db.close()
    }
  }
}

const seconds = (start: number) => (performance.now() - start) / 1000
const rows: Array<Record<string, string | number>> = []
for (const candidate of [lmdb, sqlite, level]) {
  const dir = mkdtempSync(join(tmpdir(), `sluice-store-${candidate.name.replace(":", "-")}-`))
  try {
    let handle = await candidate.open(dir)
    let start = performance.now()
    for (let i = 0; i < keys; i += batch) await handle.writeBatch(i, Math.min(keys, i + batch))
    const writes = keys / seconds(start)
    start = performance.now()
    for (const key of randomKeys)
      if ((await handle.get(key)) === undefined) throw new Error(`${candidate.name}: ${key} missing`)
    const reads = gets / seconds(start)
    start = performance.now()
    let scanned = 0
    for (let r = 0; r < 20; r++) scanned += await handle.prefixCount(prefix)
    const scan = (seconds(start) * 1000) / 20
    await handle.close()
    start = performance.now()
    handle = await candidate.open(dir)
    await handle.get(keyOf(0))
    const reopen = seconds(start) * 1000
    await handle.close()
    rows.push({
      store: candidate.name,
      "synced writes/s": Math.round(writes),
      "point gets/s": Math.round(reads),
      [`prefix scan ms (${scanned / 20} keys)`]: Number(scan.toFixed(2)),
      "reopen ms": Number(reopen.toFixed(1))
    })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
console.log(`local stores: ${keys} keys x 200 B, synced batches of ${batch}, ${gets} random gets`)
console.table(rows)
mkdirSync(join(import.meta.dirname, "../../../bench/results"), { recursive: true })
writeFileSync(
  join(import.meta.dirname, "../../../bench/results/state-localstore.json"),
  `${JSON.stringify({ keys, batch, rows }, null, 2)}\n`
)
