import type { DuckDBValue } from "@duckdb/node-api"
import type { DuckDbConnection, DuckDbParameter, DuckDbSql, DuckDbStatement } from "../DuckDbLookup.ts"

// Prepared statements kept per connection; a lookup prepares one per batch
// size, so this bounds the cache at a few lookups' worth of sizes.
const MAX_PREPARED = 1_024

interface Slot {
  readonly connection: DuckDbConnection
  readonly prepared: Map<string, Promise<DuckDbStatement>>
}

const interrupted = (): Error => new Error("INTERRUPT Error: the caller gave up before a connection was free")

/**
 * A fixed set of connections of one database, handed out one query at a time:
 * a DuckDB connection runs one statement at a time, and the engine runs
 * several connections' statements in parallel on its own threads.
 */
export const make = (
  connections: ReadonlyArray<DuckDbConnection>,
  toValue: (parameter: DuckDbParameter) => DuckDBValue
): DuckDbSql & { readonly close: () => void } => {
  const idle: Array<Slot> = connections.map((connection) => ({ connection, prepared: new Map() }))
  const waiting: Array<{ readonly take: (slot: Slot) => void; readonly fail: (error: Error) => void }> = []
  let closed = false

  const release = (slot: Slot): void => {
    const next = waiting.shift()
    if (next === undefined) idle.push(slot)
    else next.take(slot)
  }

  const acquire = (signal: AbortSignal | undefined): Promise<Slot> => {
    if (closed) return Promise.reject(new Error("Connection Error: the DuckDB client is closed"))
    const slot = idle.pop()
    if (slot !== undefined) return Promise.resolve(slot)
    return new Promise((resolve, reject) => {
      const take = (slot: Slot) => {
        signal?.removeEventListener("abort", onAbort)
        resolve(slot)
      }
      const waiter = { take, fail: reject }
      const onAbort = () => {
        const at = waiting.indexOf(waiter)
        if (at !== -1) waiting.splice(at, 1)
        reject(interrupted())
      }
      signal?.addEventListener("abort", onAbort, { once: true })
      waiting.push(waiter)
    })
  }

  const statement = (slot: Slot, text: string): Promise<DuckDbStatement> => {
    let prepared = slot.prepared.get(text)
    if (prepared === undefined) {
      if (slot.prepared.size >= MAX_PREPARED) slot.prepared.clear()
      prepared = slot.connection.prepare(text)
      // A statement that failed to prepare (a bad query) is not kept.
      prepared.catch(() => slot.prepared.delete(text))
      slot.prepared.set(text, prepared)
    }
    return prepared
  }

  const query: DuckDbSql["query"] = async (text, parameters = [], options = {}) => {
    const signal = options.signal
    const slot = await acquire(signal)
    // Interrupting the connection stops the statement inside the engine, so a
    // caller that gave up (a timeout) does not leave a thread scanning.
    const onAbort = () => slot.connection.interrupt()
    signal?.addEventListener("abort", onAbort, { once: true })
    try {
      if (signal?.aborted) throw interrupted()
      const prepared = await statement(slot, text)
      prepared.bind(parameters.map(toValue))
      const reader = await prepared.runAndReadAll()
      return reader.getRowObjects()
    } finally {
      signal?.removeEventListener("abort", onAbort)
      release(slot)
    }
  }

  const close = () => {
    closed = true
    for (const waiter of waiting.splice(0)) waiter.fail(new Error("Connection Error: the DuckDB client is closed"))
    for (const slot of idle.splice(0)) {
      try {
        slot.connection.closeSync()
      } catch {
        // already closed
      }
    }
  }

  return { query, close }
}
