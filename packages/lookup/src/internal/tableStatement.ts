/**
 * The SELECT a table source turns into, shared by the SQL lookups: the
 * quoting of identifiers, the check on cast types and the column list are the
 * same everywhere; only how a cast is written and how the batch's keys are
 * matched differ by database.
 */

/** A column to select, as the lookups' `Column` type describes it. */
export type Column = string | { readonly name: string; readonly cast: string }

/** The table variant of a lookup's `Source`: the statement is generated. */
export interface Table {
  /** The table, schema-qualified with a dot if need be. */
  readonly table: string
  readonly keyColumn: string
  readonly columns: ReadonlyArray<Column>
  /** SQL type of the keys (default `text` on PostgreSQL, `VARCHAR` on DuckDB). */
  readonly keyType?: string | undefined
}

/** What one database writes differently. */
export interface Dialect {
  /** The module name that prefixes a rejected type (`PgLookup: not a type name: ...`). */
  readonly module: string
  /** The key type when the source names none. */
  readonly defaultKeyType: string
  /** A quoted column cast to a checked type. */
  readonly cast: (column: string, type: string) => string
  /** What follows `FROM table`: keeps the rows whose key is in the batch, the one parameter `$1`. */
  readonly matchKeys: (keyColumn: string, keyType: string) => string
}

export const quoteIdent = (name: string): string => `"${name.replaceAll('"', '""')}"`

// Casts are written by the developer, not taken from input; still, only type names are accepted.
const TYPE_NAME = /^[A-Za-z_][A-Za-z0-9_ ]*(\(\d+(,\s*\d+)?\))?(\[\])?$/

const checkType = (dialect: Dialect, type: string): string => {
  if (!TYPE_NAME.test(type)) throw new TypeError(`${dialect.module}: not a type name: ${type}`)
  return type
}

export const selectStatement = (dialect: Dialect, source: Table): string => {
  const columns = source.columns
    .map((c) =>
      typeof c === "string"
        ? quoteIdent(c)
        : `${dialect.cast(quoteIdent(c.name), checkType(dialect, c.cast))} AS ${quoteIdent(c.name)}`
    )
    .join(", ")
  const table = source.table
    .split(".")
    .map((part) => quoteIdent(part))
    .join(".")
  const keyType = checkType(dialect, source.keyType ?? dialect.defaultKeyType)
  return `SELECT ${columns} FROM ${table} ${dialect.matchKeys(quoteIdent(source.keyColumn), keyType)}`
}
