/**
 * The decoded shape of a Debezium change event. A record on a Debezium topic
 * is either a change (`op` `c` create, `u` update, `d` delete, `r` read during
 * a snapshot, `t` truncate) with the row `before` and `after` it and the
 * `source` position it came from, or a tombstone: the null value Debezium
 * writes after a delete so that log compaction can drop the key.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * The operation codes.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Op = Schema.Literals(["c", "u", "d", "r", "t"])

/**
 * An operation: create, update, delete, read (snapshot) or truncate.
 *
 * @since 0.1.0
 * @category models
 */
export type Op = typeof Op.Type

const Int64 = Schema.Union([Schema.Finite, Schema.BigInt])

/**
 * The `source` block: where in the database the change happened. Every field
 * is optional because connectors differ and the unwrapped form carries only
 * the fields it was configured to add; PostgreSQL's connector fills all of
 * them but `xmin`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Source = Schema.Struct({
  version: Schema.optionalKey(Schema.String),
  connector: Schema.optionalKey(Schema.String),
  name: Schema.optionalKey(Schema.String),
  ts_ms: Schema.optionalKey(Schema.Finite),
  ts_us: Schema.optionalKey(Int64),
  ts_ns: Schema.optionalKey(Int64),
  snapshot: Schema.optionalKey(Schema.NullOr(Schema.Union([Schema.String, Schema.Boolean]))),
  db: Schema.optionalKey(Schema.String),
  sequence: Schema.optionalKey(Schema.NullOr(Schema.String)),
  schema: Schema.optionalKey(Schema.String),
  table: Schema.optionalKey(Schema.String),
  txId: Schema.optionalKey(Schema.NullOr(Int64)),
  lsn: Schema.optionalKey(Schema.NullOr(Int64)),
  xmin: Schema.optionalKey(Schema.NullOr(Int64))
})

/**
 * The decoded `source` block.
 *
 * @since 0.1.0
 * @category models
 */
export type Source = typeof Source.Type

/**
 * The `transaction` block written when `provide.transaction.metadata` is on.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Transaction = Schema.Struct({
  id: Schema.String,
  total_order: Int64,
  data_collection_order: Int64
})

/**
 * The decoded `transaction` block.
 *
 * @since 0.1.0
 * @category models
 */
export type Transaction = typeof Transaction.Type

/**
 * A change to one row (or, for `t`, to a whole table).
 *
 * @since 0.1.0
 * @category models
 */
export interface ChangeEvent<Row, Before = Row> {
  readonly _tag: "ChangeEvent"
  readonly op: Op
  /**
   * The row before the change: `null` for creates, reads and truncates, and
   * for updates unless the replica identity is `FULL`. Under the default
   * replica identity a delete carries only the key columns, so `Before` may
   * be a narrower type than `Row`.
   */
  readonly before: Before | null
  /** The row after the change: `null` for deletes and truncates. */
  readonly after: Row | null
  readonly source: Source
  /** When the connector processed the change (not when the database made it: that is `source.ts_ms`). */
  readonly ts_ms?: number
  readonly transaction?: Transaction | null
}

/**
 * The null value written after a delete.
 *
 * @since 0.1.0
 * @category models
 */
export interface Tombstone {
  readonly _tag: "Tombstone"
}

/**
 * Whatever a Debezium record's value decodes to.
 *
 * @since 0.1.0
 * @category models
 */
export type Record<Row, Before = Row> = ChangeEvent<Row, Before> | Tombstone

/**
 * The tombstone.
 *
 * @since 0.1.0
 * @category constructors
 */
export const tombstone: Tombstone = { _tag: "Tombstone" }

/**
 * Builds a change event.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <Row, Before = Row>(fields: Omit<ChangeEvent<Row, Before>, "_tag">): ChangeEvent<Row, Before> => ({
  _tag: "ChangeEvent",
  ...fields
})

/**
 * Whether a record is a tombstone.
 *
 * @since 0.1.0
 * @category guards
 */
export const isTombstone = <Row, Before>(record: Record<Row, Before>): record is Tombstone =>
  record._tag === "Tombstone"

/**
 * The row as it is now: `after`, or `before` for a delete.
 *
 * @since 0.1.0
 * @category getters
 */
export const row = <Row, Before>(event: ChangeEvent<Row, Before>): Row | Before | null => event.after ?? event.before
