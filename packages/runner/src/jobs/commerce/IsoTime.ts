/**
 * Event times (epoch ms, UTC) as ISO 8601 text, for row keys, table cells
 * and JSON records. Effect's `DateTime.formatIso(DateTime.makeUnsafe(ms))`
 * builds a `DateTime` and a `Date` per call and ends in `Date#toISOString`;
 * the sales and segments jobs format one to three times per output row,
 * where it was 3.5% of the segments job's CPU, and `toISOString` alone still
 * 2.4%. The jobs' times come roughly in order, so the date part is kept
 * for the last day seen and only the time of day is computed.
 *
 * @since 0.3.0
 */

const DAY = 86_400_000
// Years 0000 to 9999: the text is `YYYY-MM-DDTHH:MM:SS.mmmZ`; outside them `Date` writes a sign and six digits.
const FIRST = -62_167_219_200_000
const END = 253_402_300_800_000

let cachedDay = Number.NaN
let cachedDate = ""

const two = (n: number) => (n < 10 ? `0${n}` : `${n}`)
const three = (n: number) => (n < 10 ? `00${n}` : n < 100 ? `0${n}` : `${n}`)

/**
 * The ISO 8601 text of an epoch-ms time in UTC (`2026-01-01T00:00:00.000Z`),
 * the text `DateTime.formatIso` gives; throws a `RangeError` on a time no
 * `Date` can hold, as `DateTime.makeUnsafe` throws.
 *
 * @since 0.3.0
 * @category formatting
 */
export const format = (epochMillis: number): string => {
  if (!(epochMillis >= FIRST && epochMillis < END && Number.isInteger(epochMillis))) {
    return new Date(epochMillis).toISOString()
  }
  const day = Math.floor(epochMillis / DAY)
  if (day !== cachedDay) {
    cachedDate = new Date(day * DAY).toISOString().slice(0, 11)
    cachedDay = day
  }
  const inDay = epochMillis - day * DAY
  const seconds = Math.floor(inDay / 1000)
  return `${cachedDate}${two(Math.floor(seconds / 3600))}:${two(Math.floor(seconds / 60) % 60)}:${two(seconds % 60)}.${three(inDay % 1000)}Z`
}
