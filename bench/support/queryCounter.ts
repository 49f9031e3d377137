/**
 * Statements a database served, counted at the server from its cumulative
 * statistics, so that every query counts however the client sent it.
 *
 * - `transactions`: `pg_stat_database.xact_commit + xact_rollback` of the
 *   database, read over a connection to the maintenance database (so reading
 *   does not count itself). Every statement outside an explicit transaction is
 *   one, whether sent as a simple query or as a prepared statement
 *   (Parse/Bind/Execute/Sync); opening a connection adds a few.
 * - `tableScans`: `idx_scan + seq_scan` of one table. This needs a connection
 *   to the database itself, and scans are not statements: a btree lookup of
 *   `= ANY($1)` can count one scan per array element. The benchmark calibrates
 *   both counters against a known number of statements before choosing one.
 *
 * Backends publish their counters lazily (at the latest when they exit):
 * read after the client's connections have closed (`waitForNoBackends`).
 */
import postgres from "postgres"

/** Reads the counters of `database`; `close` ends its connection to the maintenance database. */
export const make = (adminUrl: string, database: string) => {
  const sql = postgres(adminUrl, { max: 1, onnotice: () => {} })
  return {
    /** Committed plus rolled back transactions of the database so far. */
    transactions: async (): Promise<number> => {
      // Each read is its own transaction, so the per-transaction statistics snapshot is fresh.
      const [row] = await sql<Array<{ xacts: string }>>`
        SELECT (xact_commit + xact_rollback)::text AS xacts FROM pg_stat_database WHERE datname = ${database}`
      return Number(row?.xacts ?? 0)
    },
    /** Resolves once no client is connected to the database (their counters are then published). */
    waitForNoBackends: async (timeoutMillis = 15_000): Promise<void> => {
      const deadline = performance.now() + timeoutMillis
      while (performance.now() < deadline) {
        const [row] = await sql<Array<{ n: string }>>`
          SELECT count(*)::text AS n FROM pg_stat_activity WHERE datname = ${database} AND pid <> pg_backend_pid()`
        if (Number(row?.n ?? 0) === 0) return
        await new Promise((r) => setTimeout(r, 100))
      }
    },
    close: () => sql.end()
  }
}

/** `idx_scan + seq_scan` of `table`, read over a short-lived connection to the database itself. */
export const tableScans = async (databaseUrl: string, table: string): Promise<number> => {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} })
  try {
    const [row] = await sql<Array<{ scans: string }>>`
      SELECT (coalesce(idx_scan, 0) + coalesce(seq_scan, 0))::text AS scans
        FROM pg_stat_user_tables WHERE relname = ${table}`
    return Number(row?.scans ?? 0)
  } finally {
    await sql.end()
  }
}
