/**
 * Field codecs for Debezium's time types. Debezium writes temporal columns as
 * numbers counted from the epoch or from midnight, or as ISO text for the
 * zoned types; the unit depends on the column's precision and on
 * `time.precision.mode`. These codecs read each of them exactly:
 *
 * | Debezium type | JSON | decoded as |
 * |---|---|---|
 * | `io.debezium.time.Date` | days since epoch | `DateTime.Utc` at midnight |
 * | `Time`, `MicroTime`, `NanoTime` | ms / µs / ns since midnight | `Duration` |
 * | `ZonedTime` | `"13:37:03.123456Z"` | `Duration` since midnight UTC |
 * | `Timestamp`, `MicroTimestamp`, `NanoTimestamp` | ms / µs / ns since epoch | `Instant` |
 * | `ZonedTimestamp` | `"2026-12-05T14:30:34.123456Z"` | `Instant` |
 *
 * An `Instant` is a `bigint` of nanoseconds since the epoch: `DateTime` holds
 * milliseconds only, and a `MicroTimestamp` must not lose its microseconds on
 * the way through a job. `toEpochMillis` and `toDateTime` convert for event
 * time and display.
 *
 * @since 0.1.0
 */
import { DateTime, Duration, Result, Schema } from "effect"
import * as ConnectSchema from "./ConnectSchema.ts"
import { fallible } from "./internal/codec.ts"

/**
 * Nanoseconds since 1970-01-01T00:00:00Z.
 *
 * @since 0.1.0
 * @category models
 */
export type Instant = bigint

const msPerDay = 86_400_000
const nsPerMs = 1_000_000n
const nsPerDay = 86_400_000_000_000n

/**
 * Milliseconds since the epoch, rounded down.
 *
 * @since 0.1.0
 * @category conversions
 */
export const toEpochMillis = (instant: Instant): number => {
  const q = instant / nsPerMs
  return Number(instant < 0n && q * nsPerMs !== instant ? q - 1n : q)
}

/**
 * The instant as a `DateTime.Utc` (millisecond precision, rounded down).
 *
 * @since 0.1.0
 * @category conversions
 */
export const toDateTime = (instant: Instant): DateTime.Utc => DateTime.makeUnsafe(toEpochMillis(instant))

/**
 * The instant of a `DateTime`.
 *
 * @since 0.1.0
 * @category conversions
 */
export const fromDateTime = (dateTime: DateTime.DateTime): Instant => BigInt(DateTime.toEpochMillis(dateTime)) * nsPerMs

// An int64 arrives as a number, or as a bigint past 2^53 (see Json.parse).
const Int64 = Schema.Union([Schema.Finite, Schema.BigInt])
type Int64 = number | bigint

const toBigInt = (n: Int64): Result.Result<bigint, string> =>
  typeof n === "bigint"
    ? Result.succeed(n)
    : Number.isInteger(n)
      ? Result.succeed(BigInt(n))
      : Result.fail(`expected an integer, got ${n}`)

// Numbers stay numbers while they are exact, so the JSON looks like Debezium's.
const fromBigInt = (n: bigint): Int64 =>
  n <= BigInt(Number.MAX_SAFE_INTEGER) && n >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(n) : n

const divExact = (n: bigint, d: bigint, what: string): Result.Result<bigint, string> =>
  n % d === 0n ? Result.succeed(n / d) : Result.fail(`${what} has more precision than the column`)

const debezium = (name: string, type: string): ConnectSchema.ConnectType => ({
  type,
  name: `io.debezium.time.${name}`,
  version: 1
})

/**
 * `io.debezium.time.Date`: days since the epoch, as midnight UTC.
 *
 * @since 0.1.0
 * @category codecs
 */
export const date: Schema.Codec<DateTime.Utc, number> = ConnectSchema.annotate(
  fallible(
    Schema.Int,
    Schema.DateTimeUtc,
    (days) => Result.succeed(DateTime.makeUnsafe(days * msPerDay)),
    (d) => {
      const ms = DateTime.toEpochMillis(d)
      return ms % msPerDay === 0 ? Result.succeed(ms / msPerDay) : Result.fail(`${DateTime.formatIso(d)} is not a date`)
    }
  ),
  debezium("Date", "int32")
)

const timeOfDay = (unit: bigint, name: string, type: string): Schema.Codec<Duration.Duration, Int64> =>
  ConnectSchema.annotate(
    fallible(
      Int64,
      Schema.Duration,
      (n) =>
        Result.flatMap(toBigInt(n), (v) =>
          v < 0n || v * unit >= nsPerDay
            ? Result.fail(`${v} is not a time of day`)
            : Result.succeed(Duration.nanos(v * unit))
        ),
      (d) => Result.map(divExact(Duration.toNanosUnsafe(d), unit, "time"), fromBigInt)
    ),
    debezium(name, type)
  )

/**
 * `io.debezium.time.Time`: milliseconds since midnight.
 *
 * @since 0.1.0
 * @category codecs
 */
export const time: Schema.Codec<Duration.Duration, Int64> = timeOfDay(nsPerMs, "Time", "int32")

/**
 * `io.debezium.time.MicroTime`: microseconds since midnight.
 *
 * @since 0.1.0
 * @category codecs
 */
export const microTime: Schema.Codec<Duration.Duration, Int64> = timeOfDay(1_000n, "MicroTime", "int64")

/**
 * `io.debezium.time.NanoTime`: nanoseconds since midnight.
 *
 * @since 0.1.0
 * @category codecs
 */
export const nanoTime: Schema.Codec<Duration.Duration, Int64> = timeOfDay(1n, "NanoTime", "int64")

const epoch = (unit: bigint, name: string): Schema.Codec<Instant, Int64> =>
  ConnectSchema.annotate(
    fallible(
      Int64,
      Schema.BigInt,
      (n) => Result.map(toBigInt(n), (v) => v * unit),
      (i) => Result.map(divExact(i, unit, "timestamp"), fromBigInt)
    ),
    debezium(name, "int64")
  )

/**
 * `io.debezium.time.Timestamp`: milliseconds since the epoch.
 *
 * @since 0.1.0
 * @category codecs
 */
export const timestamp: Schema.Codec<Instant, Int64> = epoch(nsPerMs, "Timestamp")

/**
 * `io.debezium.time.MicroTimestamp`: microseconds since the epoch.
 *
 * @since 0.1.0
 * @category codecs
 */
export const microTimestamp: Schema.Codec<Instant, Int64> = epoch(1_000n, "MicroTimestamp")

/**
 * `io.debezium.time.NanoTimestamp`: nanoseconds since the epoch.
 *
 * @since 0.1.0
 * @category codecs
 */
export const nanoTimestamp: Schema.Codec<Instant, Int64> = epoch(1n, "NanoTimestamp")

const fractionNanos = (fraction: string | undefined): bigint =>
  fraction === undefined ? 0n : BigInt(fraction.padEnd(9, "0"))

const offsetNanos = (zone: string): bigint => {
  if (zone === "Z") return 0n
  const sign = zone[0] === "-" ? -1n : 1n
  const minutes = BigInt(Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)))
  return sign * minutes * 60_000_000_000n
}

// Java's ISO formatter prints as many fraction digits as needed, none for zero.
const formatFraction = (nanos: bigint): string =>
  nanos === 0n ? "" : `.${nanos.toString().padStart(9, "0").replace(/0+$/, "")}`

const zonedTimestampText = /^(-?\d{4,})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/

/**
 * Parses ISO-8601 text with an offset into an `Instant`, keeping nanoseconds.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseZonedTimestamp = (text: string): Result.Result<Instant, string> => {
  const m = zonedTimestampText.exec(text)
  if (m === null) return Result.fail(`expected an ISO timestamp with offset, got ${JSON.stringify(text)}`)
  const [, y, mo, d, h, mi, s, fraction, zone] = m as unknown as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
    string | undefined,
    string
  ]
  const ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s))
  if (
    !Number.isFinite(ms) ||
    Number(mo) > 12 ||
    Number(d) > 31 ||
    Number(h) > 23 ||
    Number(mi) > 59 ||
    Number(s) > 59
  ) {
    return Result.fail(`${text} is not a valid timestamp`)
  }
  return Result.succeed(BigInt(ms) * nsPerMs + fractionNanos(fraction) - offsetNanos(zone))
}

/**
 * Writes an `Instant` as ISO-8601 text in UTC (`2026-12-05T14:30:34.123456Z`).
 *
 * @since 0.1.0
 * @category formatting
 */
export const formatZonedTimestamp = (instant: Instant): string => {
  const ms = toEpochMillis(instant)
  const subSecond = instant - BigInt(Math.floor(ms / 1000)) * 1_000_000_000n
  const iso = DateTime.formatIso(DateTime.makeUnsafe(ms))
  return `${iso.slice(0, iso.indexOf("."))}${formatFraction(subSecond)}Z`
}

/**
 * `io.debezium.time.ZonedTimestamp`: ISO-8601 text with an offset.
 *
 * @since 0.1.0
 * @category codecs
 */
export const zonedTimestamp: Schema.Codec<Instant, string> = ConnectSchema.annotate(
  fallible(Schema.String, Schema.BigInt, parseZonedTimestamp, (i) => Result.succeed(formatZonedTimestamp(i))),
  debezium("ZonedTimestamp", "string")
)

const zonedTimeText = /^(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/

/**
 * `io.debezium.time.ZonedTime`: a time of day with an offset, as the time
 * since midnight UTC.
 *
 * @since 0.1.0
 * @category codecs
 */
export const zonedTime: Schema.Codec<Duration.Duration, string> = ConnectSchema.annotate(
  fallible(
    Schema.String,
    Schema.Duration,
    (text) => {
      const m = zonedTimeText.exec(text)
      if (m === null) return Result.fail(`expected an ISO time with offset, got ${JSON.stringify(text)}`)
      const [, h, mi, s, fraction, zone] = m as unknown as [string, string, string, string, string | undefined, string]
      if (Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) return Result.fail(`${text} is not a valid time`)
      const local = BigInt((Number(h) * 60 + Number(mi)) * 60 + Number(s)) * 1_000_000_000n + fractionNanos(fraction)
      const utc = (((local - offsetNanos(zone)) % nsPerDay) + nsPerDay) % nsPerDay
      return Result.succeed(Duration.nanos(utc))
    },
    (d) => {
      const n = Duration.toNanosUnsafe(d)
      if (n < 0n || n >= nsPerDay) return Result.fail("not a time of day")
      const seconds = Number(n / 1_000_000_000n)
      const two = (v: number) => String(v).padStart(2, "0")
      const hms = `${two(Math.floor(seconds / 3600))}:${two(Math.floor(seconds / 60) % 60)}:${two(seconds % 60)}`
      return Result.succeed(`${hms}${formatFraction(n % 1_000_000_000n)}Z`)
    }
  ),
  debezium("ZonedTime", "string")
)
