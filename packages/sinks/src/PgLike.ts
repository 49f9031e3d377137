/**
 * The part of a PostgreSQL client that the sinks use, as structural
 * interfaces. A postgres.js `Sql` instance satisfies them as is; tests can
 * hand in small fakes, and a change of client library stays in the code that
 * builds the client.
 *
 * @since 0.1.0
 */

/**
 * Runs one statement with positional parameters and resolves with its rows.
 *
 * @since 0.1.0
 * @category models
 */
export interface PgQueryable {
  unsafe(
    query: string,
    parameters?: Array<ReadonlyArray<string | null>>,
    options?: { prepare?: boolean }
  ): PromiseLike<ReadonlyArray<object>>
}

/**
 * A client with transactions: `begin` runs `f` inside `BEGIN … COMMIT` and
 * rolls back if `f` rejects.
 *
 * @since 0.1.0
 * @category models
 */
export interface PgLike extends PgQueryable {
  begin(f: (tx: PgQueryable) => Promise<void>): PromiseLike<unknown>
}
