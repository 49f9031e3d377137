/**
 * The bytes of a customer's `Segments.State` in the durable store, written by
 * hand. Each order reads and writes its customer's state, and the schema
 * codec (`StateStore.jsonCodec(Segments.State)`) walks the struct and runs
 * the decimal's transformation as an effect both ways. This one writes the
 * same bytes and reads the same values; anything it does not expect goes
 * through the schema codec, so errors stay the schema's (the store turns
 * them into a `StateError`).
 *
 * @since 0.3.0
 */
import * as StateStore from "@sluice/core/StateStore"
import { BigDecimal, Option } from "effect"
import * as Segments from "./Segments.ts"

const schemaCodec = StateStore.jsonCodec(Segments.State)

/**
 * Writes a state as the schema codec would.
 *
 * @since 0.3.0
 * @category codecs
 */
export const encode = (s: Segments.State): Uint8Array => {
  if (
    !Number.isFinite(s.frequency) ||
    !Number.isFinite(s.asOf) ||
    (s.lastOrderAt !== null && !Number.isFinite(s.lastOrderAt))
  )
    return schemaCodec.encode(s)
  // `BigDecimal.format` writes digits, a sign, a point or an exponent, and `idle` is a literal: nothing JSON escapes.
  return Buffer.from(
    `{"frequency":${s.frequency},"monetary":"${BigDecimal.format(s.monetary)}","lastOrderAt":${s.lastOrderAt},"asOf":${s.asOf},"idle":"${s.idle}"}`,
    "latin1"
  )
}

const isObject = (u: unknown): u is { readonly [k: string]: unknown } => typeof u === "object" && u !== null

/**
 * Reads a state; throws as the schema codec does on what it refuses.
 *
 * @since 0.3.0
 * @category codecs
 */
export const decode = (bytes: Uint8Array): Segments.State => {
  let u: unknown
  try {
    u = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8"))
  } catch {
    return schemaCodec.decode(bytes)
  }
  if (!isObject(u)) return schemaCodec.decode(bytes)
  const { frequency, monetary, lastOrderAt, asOf, idle } = u
  if (
    typeof frequency !== "number" ||
    typeof monetary !== "string" ||
    (lastOrderAt !== null && typeof lastOrderAt !== "number") ||
    typeof asOf !== "number" ||
    (idle !== "active" && idle !== "at-risk" && idle !== "churned")
  )
    return schemaCodec.decode(bytes)
  const decimal = BigDecimal.fromString(monetary)
  if (Option.isNone(decimal)) return schemaCodec.decode(bytes)
  return { frequency, monetary: decimal.value, lastOrderAt, asOf, idle }
}

/**
 * The codec, for `Keyed.process`.
 *
 * @since 0.3.0
 * @category codecs
 */
export const codec: StateStore.Codec<Segments.State> = { encode, decode }
