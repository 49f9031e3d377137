/**
 * ISO-8601 UTC text of an epoch-milliseconds instant, as
 * `Date.prototype.toISOString` writes it (`2024-01-15T10:30:00.000Z`), by
 * arithmetic on the number: about a third of the cost of building a `Date`
 * and formatting it, which shows when every output record carries two
 * timestamps. Years outside 0000-9999, which ISO writes with a sign and six
 * digits, go through `Date`.
 *
 * @since 0.1.0
 */

const msPerDay = 86_400_000
// 9999-12-31T23:59:59.999Z
const lastFourDigitYear = 253_402_300_799_999

const two = (n: number): string => (n < 10 ? `0${n}` : `${n}`)
const three = (n: number): string => (n < 10 ? `00${n}` : n < 100 ? `0${n}` : `${n}`)
const four = (n: number): string => (n < 10 ? `000${n}` : n < 100 ? `00${n}` : n < 1000 ? `0${n}` : `${n}`)

/**
 * `new Date(millis).toISOString()` for a finite, integral `millis`.
 *
 * @since 0.1.0
 * @category formatting
 */
export const isoTimestamp = (millis: number): string => {
  if (!(millis >= 0 && millis <= lastFourDigitYear) || !Number.isInteger(millis)) {
    return new Date(millis).toISOString()
  }
  const days = Math.floor(millis / msPerDay)
  let rest = millis - days * msPerDay
  // Days since 1970-01-01 to a proleptic Gregorian date, counting in 400-year
  // eras that start on 0000-03-01 so the leap day ends each year.
  const shifted = days + 719_468
  const era = Math.floor(shifted / 146_097)
  const dayOfEra = shifted - era * 146_097
  const yearOfEra = Math.floor(
    (dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36_524) - Math.floor(dayOfEra / 146_096)) / 365
  )
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100))
  const monthFromMarch = Math.floor((5 * dayOfYear + 2) / 153)
  const day = dayOfYear - Math.floor((153 * monthFromMarch + 2) / 5) + 1
  const month = monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9
  const year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
  const hours = Math.floor(rest / 3_600_000)
  rest -= hours * 3_600_000
  const minutes = Math.floor(rest / 60_000)
  rest -= minutes * 60_000
  const seconds = Math.floor(rest / 1000)
  return `${four(year)}-${two(month)}-${two(day)}T${two(hours)}:${two(minutes)}:${two(seconds)}.${three(rest - seconds * 1000)}Z`
}
