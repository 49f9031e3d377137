/**
 * Decoders for the rows a batch query returns, built once per lookup and run
 * once per batch. A `Schema` decodes a row by walking its AST field by field,
 * which costs more per row than the query that fetched it; `struct` instead
 * compiles a fixed list of field decoders into one loop, and each field decoder
 * is a plain function with no allocation beyond the value it returns.
 *
 * Decoding is strict: a field that does not have the expected type fails the
 * whole batch with a message naming the row and the field. `decimal` reads the
 * text PostgreSQL prints for a `numeric` into an exact `BigDecimal`; no binary
 * floating point is involved.
 *
 * ```ts
 * import { RowDecoder } from "@sluice/lookup"
 *
 * const member = RowDecoder.struct({
 *   member_id: RowDecoder.string,
 *   balance: RowDecoder.decimal,
 *   joined: RowDecoder.nullOr(RowDecoder.utcFromMillis)
 * })
 * ```
 *
 * @since 0.1.0
 */
import { BigDecimal, DateTime, Result, Schema } from "effect"

/**
 * Decodes every row of a batch, or says why one did not match.
 *
 * @since 0.1.0
 * @category models
 */
export interface RowDecoder<A> {
  readonly decodeRows: (rows: ReadonlyArray<unknown>) => Result.Result<Array<A>, string>
}

const invalid: unique symbol = Symbol.for("@sluice/lookup/RowDecoder/invalid")

/**
 * Returned by a field decoder for a value it does not accept.
 *
 * @since 0.1.0
 * @category models
 */
export type Invalid = typeof invalid

/**
 * Decodes one column value; `expected` names what it accepts in error messages.
 *
 * @since 0.1.0
 * @category models
 */
export interface Field<A> {
  readonly expected: string
  readonly decode: (value: unknown) => A | Invalid
}

/**
 * The value type of a field decoder.
 *
 * @since 0.1.0
 * @category models
 */
export type FieldType<F> = F extends Field<infer A> ? A : never

/**
 * A text column.
 *
 * @since 0.1.0
 * @category fields
 */
export const string: Field<string> = {
  expected: "a string",
  decode: (value) => (typeof value === "string" ? value : invalid)
}

/**
 * A finite number column (integers and `float8`).
 *
 * @since 0.1.0
 * @category fields
 */
export const number: Field<number> = {
  expected: "a finite number",
  decode: (value) => (typeof value === "number" && Number.isFinite(value) ? value : invalid)
}

// What PostgreSQL prints for a finite numeric: sign, digits, optional fraction.
const DECIMAL_TEXT = /^-?\d+(?:\.\d+)?$/

/**
 * A `numeric` column read as text (`amount::text`, or postgres.js's default
 * for `numeric`), decoded to an exact `BigDecimal` with the scale the text
 * has: `"12.50"` is 1250 × 10⁻².
 *
 * @since 0.1.0
 * @category fields
 */
export const decimal: Field<BigDecimal.BigDecimal> = {
  expected: "a decimal string",
  decode: (value) => {
    if (typeof value !== "string" || !DECIMAL_TEXT.test(value)) return invalid
    const dot = value.indexOf(".")
    return dot === -1
      ? BigDecimal.make(BigInt(value), 0)
      : BigDecimal.make(BigInt(value.slice(0, dot) + value.slice(dot + 1)), value.length - dot - 1)
  }
}

// The range a JavaScript Date can hold.
const MAX_EPOCH_MILLIS = 8_640_000_000_000_000

/**
 * UTC epoch milliseconds (an integer) as a `DateTime.Utc`.
 *
 * @since 0.1.0
 * @category fields
 */
export const utcFromMillis: Field<DateTime.Utc> = {
  expected: "integer epoch milliseconds",
  decode: (value) =>
    typeof value === "number" && Number.isSafeInteger(value) && Math.abs(value) <= MAX_EPOCH_MILLIS
      ? DateTime.makeUnsafe(value)
      : invalid
}

/**
 * Accepts SQL `NULL` (`null`) besides what `field` accepts.
 *
 * @since 0.1.0
 * @category fields
 */
export const nullOr = <A>(field: Field<A>): Field<A | null> => ({
  expected: `${field.expected} or null`,
  decode: (value) => (value === null ? null : field.decode(value))
})

const describe = (value: unknown): string => {
  if (typeof value === "string") return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)
  if (value === undefined) return "nothing (no such column)"
  if (typeof value === "bigint") return `${value}n`
  return typeof value === "object" && value !== null ? "an object" : String(value)
}

/**
 * A row decoder for an object with exactly these fields, read from the
 * columns of the same names. The field list is fixed once here; decoding a
 * row is one pass over it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const struct = <const Fields extends Record<string, Field<unknown>>>(
  fields: Fields
): RowDecoder<{ readonly [K in keyof Fields]: FieldType<Fields[K]> }> => {
  type Out = { readonly [K in keyof Fields]: FieldType<Fields[K]> }
  const names = Object.keys(fields)
  const decoders = names.map((name) => fields[name]!.decode)
  const count = names.length
  // Every decoded row starts as a copy of this one, so all rows share one shape
  // from the start and the field stores below only overwrite.
  const template: Record<string, unknown> = {}
  for (const name of names) template[name] = null
  return {
    decodeRows: (rows) => {
      const out: Array<Out> = new Array(rows.length)
      for (let r = 0; r < rows.length; r++) {
        const row = rows[r]
        if (typeof row !== "object" || row === null) return Result.fail(`row ${r}: expected an object`)
        const source = row as Record<string, unknown>
        const value: Record<string, unknown> = { ...template }
        for (let f = 0; f < count; f++) {
          const name = names[f]!
          const decoded = decoders[f]!(source[name])
          if (decoded === invalid) {
            return Result.fail(`row ${r}: ${name}: expected ${fields[name]!.expected}, got ${describe(source[name])}`)
          }
          value[name] = decoded
        }
        out[r] = value as Out
      }
      return Result.succeed(out)
    }
  }
}

/**
 * A row decoder that runs `schema` over the whole batch at once (the generic,
 * slower path, for rows `struct` cannot describe).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromSchema = <A>(schema: Schema.Decoder<A>): RowDecoder<A> => {
  const decode = Schema.decodeUnknownResult(Schema.Array(schema))
  return {
    decodeRows: (rows) =>
      Result.mapBoth(decode(rows), { onSuccess: (values) => values as Array<A>, onFailure: (error) => error.message })
  }
}
