// Avro logical types mapped onto Effect values: `decimal` (bytes or fixed)
// to an exact BigDecimal, `timestamp-millis` to a DateTime.Utc.
import avro from "avsc"
import { BigDecimal, DateTime } from "effect"

const attribute = (schema: unknown, name: string): unknown =>
  typeof schema === "object" && schema !== null && name in schema
    ? (schema as Record<string, unknown>)[name]
    : undefined

// Two's complement, big-endian, as the Avro specification stores a decimal's
// unscaled value, in the fewest bytes (or exactly `size` for a fixed).
// Values of up to 6 bytes, every amount of money in practice, take Node's
// integer writers; larger ones the BigInt loop.
const smallLimit = 2n ** 47n

const toTwosComplement = (value: bigint, size?: number): Buffer => {
  let length = 1
  while (value >= 1n << BigInt(8 * length - 1) || value < -(1n << BigInt(8 * length - 1))) length++
  const width = size ?? length
  if (length > width) throw new Error(`decimal does not fit in ${width} bytes`)
  if (width <= 6 && value < smallLimit && value >= -smallLimit) {
    const out = Buffer.allocUnsafe(width)
    out.writeIntBE(Number(value), 0, width)
    return out
  }
  const out = Buffer.alloc(width, value < 0n ? 0xff : 0)
  let rest = BigInt.asUintN(8 * width, value)
  for (let i = width - 1; i >= 0; i--) {
    out[i] = Number(rest & 0xffn)
    rest >>= 8n
  }
  return out
}

const fromTwosComplement = (bytes: Buffer): bigint => {
  if (bytes.length === 0) return 0n
  if (bytes.length <= 6) return BigInt(bytes.readIntBE(0, bytes.length))
  let value = 0n
  for (const byte of bytes) value = (value << 8n) | BigInt(byte)
  return BigInt.asIntN(8 * bytes.length, value)
}

const digits = (value: bigint): number => (value < 0n ? -value : value).toString().length

/** `decimal(precision, scale)` over `bytes` or `fixed`: values are BigDecimals, written exactly or refused. */
export class DecimalType extends avro.types.LogicalType {
  readonly precision: number
  readonly scale: number
  readonly size: number | undefined

  constructor(schema: avro.Schema, opts?: Partial<avro.ForSchemaOptions>) {
    super(schema, opts)
    const precision = attribute(schema, "precision")
    const scale = attribute(schema, "scale") ?? 0
    if (typeof precision !== "number" || !Number.isInteger(precision) || precision < 1) {
      throw new Error("decimal needs a positive integer precision")
    }
    if (typeof scale !== "number" || !Number.isInteger(scale) || scale < 0 || scale > precision) {
      throw new Error("decimal scale must be an integer between 0 and the precision")
    }
    this.precision = precision
    this.scale = scale
    const size = attribute(schema, "size")
    this.size = typeof size === "number" ? size : undefined
  }

  protected override _fromValue(value: unknown): BigDecimal.BigDecimal {
    return BigDecimal.make(fromTwosComplement(value as Buffer), this.scale)
  }

  protected override _toValue(value: unknown): Buffer | undefined {
    if (!BigDecimal.isBigDecimal(value)) return undefined
    const scaled = value.scale === this.scale ? value : BigDecimal.scale(value, this.scale)
    // Refuse rather than round: 12.345 is not a decimal(10, 2).
    if (scaled !== value && !BigDecimal.equals(scaled, value)) return undefined
    if (digits(scaled.value) > this.precision) return undefined
    return toTwosComplement(scaled.value, this.size)
  }

  protected override _resolve(type: avro.Type): ((value: unknown) => unknown) | undefined {
    if (type instanceof DecimalType && type.scale === this.scale && type.precision <= this.precision) {
      return (value) => value
    }
    return undefined
  }

  protected override _export(schema: avro.Schema): void {
    Object.assign(schema, { precision: this.precision, scale: this.scale })
  }
}

/** `timestamp-millis` over `long`: values are DateTime.Utc; numbers (epoch millis) and Dates are accepted when writing. */
export class TimestampMillisType extends avro.types.LogicalType {
  protected override _fromValue(value: unknown): DateTime.Utc {
    return DateTime.makeUnsafe(value as number)
  }

  protected override _toValue(value: unknown): number | undefined {
    if (DateTime.isDateTime(value)) return DateTime.toEpochMillis(value)
    if (value instanceof Date) return value.getTime()
    if (typeof value === "number" && Number.isSafeInteger(value)) return value
    return undefined
  }

  protected override _resolve(type: avro.Type): ((value: unknown) => unknown) | undefined {
    if (type instanceof TimestampMillisType) return (value) => value
    if (avro.Type.isType(type, "long", "int")) return (value) => this._fromValue(value)
    return undefined
  }
}

/** The options every Avro type of the serde is built with; fresh each time, as avsc keeps its registry of names in them. */
export const forSchemaOptions = (): Partial<avro.ForSchemaOptions> => ({
  logicalTypes: { decimal: DecimalType, "timestamp-millis": TimestampMillisType },
  // Unions such as ["null", "string"] read as the value or null, as JSON does.
  wrapUnions: false
})
