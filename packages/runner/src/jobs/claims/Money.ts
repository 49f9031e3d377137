/**
 * Exact money amounts. Amounts are `BigDecimal`s in memory, never binary
 * floating point. On the wire they are accepted as a JSON number or a JSON
 * string; a number is read through its source text (see `PaymentEvent.decode`),
 * so `0.1000000000000000001` is not silently rounded to `0.1` and then accepted.
 *
 * Accepted amounts: non-negative, below 10^10, at most two decimal places
 * after dropping trailing zeros (`1.50`, `1.500` and `1.5` are the same amount;
 * `1.505` is rejected rather than rounded). The claims table stores
 * DECIMAL(10,2), which fits inside these bounds.
 *
 * Amounts are written back with exactly two decimals (`1500.00`, `0.10`).
 *
 * @since 0.1.0
 */
import { BigDecimal, Effect, Option, Schema, SchemaGetter, SchemaIssue } from "effect"

/**
 * The largest accepted amount is just below this bound.
 *
 * @since 0.1.0
 * @category constants
 */
export const upperBound: BigDecimal.BigDecimal = BigDecimal.fromBigInt(10_000_000_000n)

/**
 * Decimal places kept and written.
 *
 * @since 0.1.0
 * @category constants
 */
export const scale = 2

// The grammar of a JSON number; strings must look like one too.
const decimalText = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/

/**
 * Parses decimal text into an amount, or says why it is not one.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse = (text: string): { readonly amount: BigDecimal.BigDecimal } | { readonly error: string } => {
  const cents = plainCents.exec(text)
  if (cents !== null) return { amount: fromDigits(cents[1]!, cents[2] ?? "") }
  return parseSlow(text)
}

// The amounts DECIMAL(10,2) holds, written plainly: at most ten integer
// digits and two decimals, no sign or exponent. Every such text is a valid
// amount, so it skips the general checks.
const plainCents = /^(0|[1-9]\d{0,9})(?:\.(\d{1,2}))?$/

// The normalized amount of `whole.fraction` (what `BigDecimal.fromString`
// and `normalize` give), built from the digits without parsing them twice.
const fromDigits = (whole: string, fraction: string): BigDecimal.BigDecimal => {
  let digits = whole === "0" ? fraction : whole + fraction
  let places = fraction.length
  let end = digits.length
  while (end > 0 && digits.charCodeAt(end - 1) === 48) end--
  if (end === 0) return BigDecimal.normalize(BigDecimal.make(0n, 0))
  places -= digits.length - end
  digits = digits.slice(0, end)
  return BigDecimal.normalize(BigDecimal.make(BigInt(digits), places))
}

// Any decimal text: the JSON number grammar, then the amount rules on the exact value.
const parseSlow = (text: string): { readonly amount: BigDecimal.BigDecimal } | { readonly error: string } => {
  if (!decimalText.test(text)) return { error: "expected a decimal number" }
  const parsed = BigDecimal.fromString(text)
  if (Option.isNone(parsed)) return { error: "expected a decimal number" }
  const amount = BigDecimal.normalize(parsed.value)
  if (BigDecimal.isNegative(amount)) return { error: "must not be negative" }
  if (amount.scale > scale) return { error: `must have at most ${scale} decimal places` }
  if (BigDecimal.isGreaterThanOrEqualTo(amount, upperBound)) return { error: "must be below 10000000000" }
  return { amount }
}

/**
 * Writes an amount with exactly two decimals, e.g. `1500.00`.
 *
 * @since 0.1.0
 * @category formatting
 */
export const format = (amount: BigDecimal.BigDecimal): string => {
  // An amount of at most two decimals whose cents fit a double exactly is
  // written from a number of cents, without bigint arithmetic.
  if (amount.scale <= scale && amount.scale >= -8) {
    const units = Number(amount.value)
    if (Number.isSafeInteger(units)) {
      const cents = units * 10 ** (scale - amount.scale)
      if (Number.isSafeInteger(cents)) return formatCents(cents)
    }
  }
  return formatSlow(amount)
}

// `cents` as text with two decimals; a safe integer.
const formatCents = (cents: number): string => {
  const magnitude = Math.abs(cents)
  const fraction = magnitude % 100
  return `${cents < 0 ? "-" : ""}${(magnitude - fraction) / 100}.${fraction < 10 ? "0" : ""}${fraction}`
}

const formatSlow = (amount: BigDecimal.BigDecimal): string => {
  const scaled = BigDecimal.scale(amount, scale).value
  const negative = scaled < 0n
  const digits = (negative ? -scaled : scaled).toString().padStart(scale + 1, "0")
  return `${negative ? "-" : ""}${digits.slice(0, -scale)}.${digits.slice(-scale)}`
}

/**
 * An amount decoded from a JSON number or string and encoded as two-decimal text.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Money = Schema.Union([Schema.String, Schema.Finite]).pipe(
  Schema.decodeTo(Schema.BigDecimal, {
    decode: SchemaGetter.transformEffect((input: string | number, options) => {
      const result = parse(typeof input === "number" ? String(input) : input)
      return "amount" in result
        ? Effect.succeed(result.amount)
        : Effect.fail(new SchemaIssue.InvalidValue({ message: `amount ${result.error}` }, input, options))
    }),
    encode: SchemaGetter.transform(format)
  })
)

/**
 * The fields of the claims records that hold amounts: their JSON numbers are
 * read and written through their decimal text, never a double.
 *
 * @since 0.1.0
 * @category constants
 */
export const decimalFields: ReadonlySet<string> = new Set(["payment_amount", "claim_amount"])
