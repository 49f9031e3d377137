/**
 * The text form of `OrderDelta` on the segments job's re-keying topic,
 * written by hand. Every contribution of an order crosses that topic once
 * each way, and the schema codec (`OrderDelta.OrderDeltaJson`) walks the
 * struct and runs the decimal's transformation as an effect for each, which
 * was a visible share of the job's CPU per event. This one writes the same
 * text, byte for byte, and reads the same values; anything it does not
 * expect (a non-finite number, a missing or extra-typed field) goes through
 * the schema codec, so errors and edge cases stay the schema's.
 *
 * @since 0.3.0
 */
import type * as Repartition from "@sluice/core/Repartition"
import { BigDecimal, Option, Schema } from "effect"
import * as OrderDelta from "./OrderDelta.ts"

const schemaEncode = Schema.encodeSync(OrderDelta.OrderDeltaJson)
const schemaDecode = Schema.decodeUnknownSync(OrderDelta.OrderDeltaJson)

/**
 * Writes a contribution as the schema codec would.
 *
 * @since 0.3.0
 * @category codecs
 */
export const encode = (d: OrderDelta.OrderDelta): string => {
  if (!Number.isFinite(d.at) || !Number.isSafeInteger(d.order_id) || !Number.isSafeInteger(d.customer_id))
    return schemaEncode(d)
  // `BigDecimal.format` writes digits, a sign, a point or an exponent: nothing JSON escapes.
  return `{"order_id":${d.order_id},"customer_id":${d.customer_id},"amount":"${BigDecimal.format(d.amount)}","sign":${d.sign},"change":"${d.change}","at":${d.at}}`
}

const isObject = (u: unknown): u is { readonly [k: string]: unknown } => typeof u === "object" && u !== null

/**
 * Reads a contribution; throws as the schema codec does on what it refuses.
 *
 * @since 0.3.0
 * @category codecs
 */
export const decode = (text: string): OrderDelta.OrderDelta => {
  let u: unknown
  try {
    u = JSON.parse(text)
  } catch {
    return schemaDecode(text)
  }
  if (!isObject(u)) return schemaDecode(text)
  const { order_id, customer_id, amount, sign, change, at } = u
  if (
    typeof order_id !== "number" ||
    !Number.isSafeInteger(order_id) ||
    typeof customer_id !== "number" ||
    !Number.isSafeInteger(customer_id) ||
    typeof amount !== "string" ||
    (sign !== 1 && sign !== -1) ||
    (change !== "c" && change !== "u" && change !== "d") ||
    typeof at !== "number"
  )
    return schemaDecode(text)
  const decimal = BigDecimal.fromString(amount)
  if (Option.isNone(decimal)) return schemaDecode(text)
  return { order_id, customer_id, amount: decimal.value, sign, change, at }
}

/**
 * The codec, for `Pipeline.repartition`.
 *
 * @since 0.3.0
 * @category codecs
 */
export const codec: Repartition.TextCodec<OrderDelta.OrderDelta> = { encodeText: encode, decodeText: decode }
