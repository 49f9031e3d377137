/**
 * Field codecs for `NUMERIC`/`DECIMAL` columns in each of Debezium's
 * `decimal.handling.mode`s. All of them decode to an exact `BigDecimal`; none
 * goes through binary floating point on our side.
 *
 * - `precise(scale)`: the default mode. The value is the unscaled integer as
 *   big-endian two's-complement bytes, base64 in JSON; the scale is a column
 *   property, carried by the Connect schema (`parameters.scale`) when schemas
 *   are enabled and given here for bare payloads.
 * - `variableScale`: `io.debezium.data.VariableScaleDecimal`, a
 *   `{ scale, value }` struct, used in precise mode for `NUMERIC` without a
 *   declared scale.
 * - `string`: the plain decimal text, e.g. `"1234.50"`.
 * - `double`: a JSON number. Debezium has already rounded the column value to
 *   a binary double (about 15–17 significant digits) before writing it, so
 *   this mode cannot carry more; what we do guarantee is that the decimal
 *   Debezium wrote is the one decoded. Records read through
 *   `Debezium.changeEvent(...).decode` keep the number's source text; a value
 *   handed over as an already-parsed JS number is read through `String(n)`.
 *
 * ```ts
 * import { Decimal } from "@sluice/cdc"
 * import { Schema } from "effect"
 *
 * const Order = Schema.Struct({ id: Schema.Int, total: Decimal.precise(2) })
 * ```
 *
 * @since 0.1.0
 */
import { BigDecimal, Option, Result, Schema } from "effect"
import * as ConnectSchema from "./ConnectSchema.ts"
import { fallible } from "./internal/codec.ts"

/**
 * The Connect logical type name of a fixed-scale decimal.
 *
 * @since 0.1.0
 * @category constants
 */
export const DecimalName = "org.apache.kafka.connect.data.Decimal"

/**
 * The Connect logical type name of a decimal whose scale travels with it.
 *
 * @since 0.1.0
 * @category constants
 */
export const VariableScaleDecimalName = "io.debezium.data.VariableScaleDecimal"

const base64Text = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/**
 * Reads base64 big-endian two's-complement bytes as a signed integer (Java's
 * `new BigInteger(bytes)`), or `undefined` if the text is not base64.
 *
 * @since 0.1.0
 * @category encoding
 */
export const unscaledFromBase64 = (text: string): bigint | undefined => {
  if (text.length === 0 || !base64Text.test(text)) return undefined
  const bytes = Buffer.from(text, "base64")
  let n = 0n
  for (const b of bytes) n = (n << 8n) | BigInt(b)
  // The top bit of the first byte is the sign.
  return (bytes[0]! & 0x80) === 0 ? n : n - (1n << BigInt(bytes.length * 8))
}

/**
 * Writes a signed integer as base64 big-endian two's-complement bytes, in the
 * fewest bytes that keep the sign (Java's `BigInteger.toByteArray`).
 *
 * @since 0.1.0
 * @category encoding
 */
export const unscaledToBase64 = (n: bigint): string => {
  let length = 1
  // Grow until n fits in [-2^(8L-1), 2^(8L-1)).
  while (n >= 1n << BigInt(length * 8 - 1) || n < -(1n << BigInt(length * 8 - 1))) length++
  let u = n < 0n ? (1n << BigInt(length * 8)) + n : n
  const bytes = new Uint8Array(length)
  for (let i = length - 1; i >= 0; i--) {
    bytes[i] = Number(u & 0xffn)
    u >>= 8n
  }
  return Buffer.from(bytes).toString("base64")
}

/**
 * Writes a decimal without an exponent, keeping its scale (`1.50` stays
 * `1.50`), as Java's `BigDecimal.toPlainString` does.
 *
 * @since 0.1.0
 * @category formatting
 */
export const toPlainString = (d: BigDecimal.BigDecimal): string => {
  if (d.scale <= 0) return (d.value * 10n ** BigInt(-d.scale)).toString()
  const negative = d.value < 0n
  const digits = (negative ? -d.value : d.value).toString().padStart(d.scale + 1, "0")
  return `${negative ? "-" : ""}${digits.slice(0, -d.scale)}.${digits.slice(-d.scale)}`
}

const decimalText = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/

/**
 * Parses decimal text (plain or with an exponent) exactly.
 *
 * @since 0.1.0
 * @category parsing
 */
export const fromText = (text: string): Result.Result<BigDecimal.BigDecimal, string> => {
  if (!decimalText.test(text)) return Result.fail(`expected decimal text, got ${JSON.stringify(text)}`)
  const parsed = BigDecimal.fromString(text)
  return Option.isSome(parsed) ? Result.succeed(parsed.value) : Result.fail(`expected decimal text, got ${text}`)
}

/**
 * Rescales to exactly `scale` decimal places, refusing to drop digits.
 *
 * @since 0.1.0
 * @category combinators
 */
export const rescaleExact = (d: BigDecimal.BigDecimal, scale: number): Result.Result<bigint, string> => {
  if (d.scale <= scale) return Result.succeed(d.value * 10n ** BigInt(scale - d.scale))
  const factor = 10n ** BigInt(d.scale - scale)
  return d.value % factor === 0n
    ? Result.succeed(d.value / factor)
    : Result.fail(`${toPlainString(d)} has more than ${scale} decimal places`)
}

const ScaledStruct = Schema.Struct({ scale: Schema.Int, value: Schema.String })

const fromScaled = (s: { readonly scale: number; readonly value: string }) => {
  const unscaled = unscaledFromBase64(s.value)
  return unscaled === undefined
    ? Result.fail(`expected base64 two's-complement bytes, got ${JSON.stringify(s.value)}`)
    : Result.succeed(BigDecimal.make(unscaled, s.scale))
}

/**
 * A fixed-scale decimal in `precise` mode. A bare base64 value is read at
 * `scale`; when the record carries a Connect schema, the schema's scale is
 * used (it is the column's). Encoding writes base64 at `scale` and refuses a
 * value with more decimal places.
 *
 * @since 0.1.0
 * @category codecs
 */
export const precise = (scale: number): Schema.Codec<BigDecimal.BigDecimal, string | typeof ScaledStruct.Encoded> =>
  ConnectSchema.annotate(
    fallible(
      Schema.Union([Schema.String, ScaledStruct]),
      Schema.BigDecimal,
      (e) => fromScaled(typeof e === "string" ? { scale, value: e } : e),
      (d) => Result.map(rescaleExact(d, scale), unscaledToBase64)
    ),
    { type: "bytes", name: DecimalName, version: 1, parameters: { scale: String(scale) } }
  )

/**
 * An unconstrained `NUMERIC` in `precise` mode: `{ scale, value }` where
 * `value` is base64 two's-complement bytes of the unscaled integer. Encoding
 * writes the value normalized (no trailing zeros).
 *
 * @since 0.1.0
 * @category codecs
 */
export const variableScale: Schema.Codec<BigDecimal.BigDecimal, typeof ScaledStruct.Encoded> = ConnectSchema.annotate(
  fallible(ScaledStruct, Schema.BigDecimal, fromScaled, (d) => {
    const n = BigDecimal.normalize(d)
    const scaled = n.scale < 0 ? BigDecimal.make(n.value * 10n ** BigInt(-n.scale), 0) : n
    return Result.succeed({ scale: scaled.scale, value: unscaledToBase64(scaled.value) })
  }),
  {
    type: "struct",
    name: VariableScaleDecimalName,
    version: 1,
    fields: [
      { field: "scale", type: "int32" },
      { field: "value", type: "bytes" }
    ]
  }
)

/**
 * A decimal in `string` mode: plain decimal text.
 *
 * @since 0.1.0
 * @category codecs
 */
export const string: Schema.Codec<BigDecimal.BigDecimal, string> = ConnectSchema.annotate(
  fallible(Schema.String, Schema.BigDecimal, fromText, (d) => Result.succeed(toPlainString(d))),
  { type: "string" }
)

const doubles = new WeakSet<object>()

/**
 * A decimal in `double` mode: a JSON number (or its source text, which is how
 * `Debezium.changeEvent` hands it over). Encoding writes the nearest double,
 * so only values with at most 15 significant digits survive a round trip, as
 * in Debezium itself.
 *
 * @since 0.1.0
 * @category codecs
 */
export const double: Schema.Codec<BigDecimal.BigDecimal, number | string> = ConnectSchema.annotate(
  fallible(
    Schema.Union([Schema.Finite, Schema.String]),
    Schema.BigDecimal,
    (e) => fromText(typeof e === "number" ? String(e) : e),
    (d) => {
      const n = Number(toPlainString(d))
      return Number.isFinite(n) ? Result.succeed(n) : Result.fail(`${toPlainString(d)} is out of double range`)
    }
  ),
  { type: "double" }
)
doubles.add(double)

/**
 * Whether a field schema is `double` or `NullOr(double)`, whose source text
 * the envelope decoder keeps.
 *
 * @since 0.1.0
 * @category guards
 */
export const isDouble = (schema: object): boolean => {
  if (doubles.has(schema)) return true
  const members = (schema as { readonly members?: ReadonlyArray<object> }).members
  return Array.isArray(members) && members.some((m) => doubles.has(m))
}
