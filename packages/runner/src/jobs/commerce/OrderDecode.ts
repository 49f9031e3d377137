/**
 * The contributions of an `orders` record, read by hand when the record has
 * the shape Debezium's PostgreSQL connector writes without `schemas.enable`:
 * a bare envelope, ops `c`/`r`/`u`/`d`, rows of plain integers, a base64
 * decimal and an integer micro timestamp. Every record went through the
 * schema decoder (`Model.orders`: the envelope, both rows, the source block,
 * each field's transformation as an effect) and, before it, `Json.parse`'s
 * scan for long digit runs; in a profile of the sales job the two were the
 * largest share of its CPU after Effect's runtime.
 *
 * `deltas` answers only when it is sure the schema path would accept the
 * record and give the same contributions; for anything else (a Connect
 * schema, the unwrapped form, a truncate, a number that may be
 * inexact, a field of another type, an uncountable change) it answers
 * `undefined` and the caller takes the schema path, so dead letters and their
 * messages stay the schema's. Tests hold the two paths to each other on
 * valid, altered and junk records.
 *
 * @since 0.3.0
 */
import { Decimal } from "@sluice/cdc"
import { BigDecimal } from "effect"
import type * as OrderDelta from "./OrderDelta.ts"

type Obj = { readonly [k: string]: unknown }

const isObject = (u: unknown): u is Obj => typeof u === "object" && u !== null && !Array.isArray(u)

const textDecoder = new TextDecoder("utf-8", { fatal: true })

/** The Connect scale of `orders.total_amount` (`Model.Order`'s `Decimal.precise(2)`). */
const AMOUNT_SCALE = 2

const isSafeInt = (u: unknown): u is number => typeof u === "number" && Number.isSafeInteger(u)
const isFiniteNumber = (u: unknown): u is number => typeof u === "number" && Number.isFinite(u)
// A `Schema.Finite` field: the exact parse makes an integer past 2^53 a bigint, which it refuses.
const isExactFinite = (u: unknown): u is number =>
  isFiniteNumber(u) && (Number.isSafeInteger(u) || !Number.isInteger(u))
const isString = (u: unknown): u is string => typeof u === "string"
// `Int64` in `ChangeEvent.Source`: a finite number (a bigint only comes from the exact parse, not taken here).
const isNullOrString = (u: unknown) => u === null || typeof u === "string"
const isNullOrInt64 = (u: unknown) => u === null || isFiniteNumber(u)
const isSnapshot = (u: unknown) => u === null || typeof u === "string" || typeof u === "boolean"

/** What `ChangeEvent.Source` accepts for each of its keys; other keys are ignored, as by the schema. */
const sourceChecks: { readonly [k: string]: (u: unknown) => boolean } = {
  version: isString,
  connector: isString,
  name: isString,
  ts_ms: isExactFinite,
  ts_us: isFiniteNumber,
  ts_ns: isFiniteNumber,
  snapshot: isSnapshot,
  db: isString,
  sequence: isNullOrString,
  schema: isString,
  table: isString,
  txId: isNullOrInt64,
  lsn: isNullOrInt64,
  xmin: isNullOrInt64
}

const sourceIsValid = (source: Obj): boolean => {
  for (const k in sourceChecks) {
    // An own key only: the schema reads own properties, and JSON gives nothing else.
    if (Object.hasOwn(source, k) && !sourceChecks[k]!(source[k])) return false
  }
  return true
}

/** Floor division by 1000 of a safe integer, exactly (`Temporal.toEpochMillis` of micros). */
const microsToMillis = (micros: number): number => {
  const rest = ((micros % 1000) + 1000) % 1000
  // `+ 0`: the schema path goes through a bigint, which has no -0.
  return (micros - rest) / 1000 + 0
}

/** One row as a contribution, or `undefined` if any field is not plainly what the schema takes. */
const contribution = (row: unknown, sign: 1 | -1, change: "c" | "u" | "d"): OrderDelta.OrderDelta | undefined => {
  if (!isObject(row)) return undefined
  const { id, customer_id, status, total_amount, order_date } = row
  if (!isSafeInt(id) || !isSafeInt(customer_id) || typeof status !== "string") return undefined
  if (typeof total_amount !== "string" || !isSafeInt(order_date)) return undefined
  const unscaled = Decimal.unscaledFromBase64(total_amount)
  if (unscaled === undefined) return undefined
  return {
    order_id: id,
    customer_id,
    amount: BigDecimal.make(unscaled, AMOUNT_SCALE),
    sign,
    change,
    at: microsToMillis(order_date)
  }
}

const fromPayload = (payload: Obj): ReadonlyArray<OrderDelta.OrderDelta> | undefined => {
  const { op, before, after, source } = payload
  if (!isObject(source) || !sourceIsValid(source)) return undefined
  if (Object.hasOwn(payload, "ts_ms") && !isExactFinite(payload.ts_ms)) return undefined
  // A transaction block is left to the schema (its own struct); null is what the connector writes without one.
  if (Object.hasOwn(payload, "transaction") && payload.transaction !== null) return undefined
  switch (op) {
    case "c":
    case "r": {
      if (before !== null) return undefined
      const added = contribution(after, 1, "c")
      return added === undefined ? undefined : [added]
    }
    case "u": {
      const taken = contribution(before, -1, "u")
      const added = contribution(after, 1, "u")
      return taken === undefined || added === undefined ? undefined : [taken, added]
    }
    case "d": {
      if (after !== null) return undefined
      const taken = contribution(before, -1, "d")
      return taken === undefined ? undefined : [taken]
    }
    default:
      return undefined
  }
}

/**
 * The contributions of a record value, or `undefined` when the schema path
 * must decide.
 *
 * @since 0.3.0
 * @category decoding
 */
export const deltas = (value: Uint8Array | string | null): ReadonlyArray<OrderDelta.OrderDelta> | undefined => {
  // A tombstone (after a delete) contributes nothing.
  if (value === null || value.length === 0) return []
  let parsed: unknown
  try {
    // Plain `JSON.parse`: a number it may have rounded (an integer past 2^53)
    // fails `isSafeInt` above, or is in a field whose value is not used
    // (source positions), where the exact parse's bigint is accepted too.
    parsed = JSON.parse(typeof value === "string" ? value : textDecoder.decode(value))
  } catch {
    return undefined
  }
  // The bare envelope only: `{schema, payload}` carries the column's scale, the unwrapped form has no `op`+`source` pair.
  if (!isObject(parsed) || typeof parsed.op !== "string" || !isObject(parsed.source)) return undefined
  return fromPayload(parsed)
}
