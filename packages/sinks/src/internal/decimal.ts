import { BigDecimal } from "effect"

// Plain notation, never exponent form: every target (PostgreSQL `numeric`,
// DynamoDB numbers, JSON readers) reads it, and it is what a person expects.
export const toPlainString = (value: BigDecimal.BigDecimal): string => {
  const n = BigDecimal.normalize(value)
  const negative = n.value < 0n
  const digits = (negative ? -n.value : n.value).toString()
  const sign = negative ? "-" : ""
  if (n.scale <= 0) return n.value === 0n ? "0" : `${sign}${digits}${"0".repeat(-n.scale)}`
  const padded = digits.padStart(n.scale + 1, "0")
  const point = padded.length - n.scale
  return `${sign}${padded.slice(0, point)}.${padded.slice(point)}`
}
